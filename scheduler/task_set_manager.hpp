// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// TaskSetManager: schedules the tasks of one stage attempt and tracks their attempts
/// (Spark's TaskSetManager).

#include "scheduler/listener.hpp"
#include "scheduler/task_end_reason.hpp"
#include "scheduler/task_set_excludelist.hpp"
#include "scheduler/task_metrics.hpp"
#include "scheduler/task_set.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ember::scheduler {

class TaskSchedulerImpl;

/// Delay-scheduling settings (Spark's spark.locality.wait*, spark.speculation*), read once.
struct TaskSetSettings {
    int max_task_failures = 4;
    std::int64_t wait_process_ms = 3000;  ///< ember.locality.wait.process
    std::int64_t wait_node_ms = 3000;     ///< ember.locality.wait.node
    std::int64_t wait_rack_ms = 3000;     ///< ember.locality.wait.rack
    bool legacy_locality_reset = false;   ///< ember.locality.wait.legacyResetOnTaskLaunch
    double speculation_quantile = 0.75;   ///< ember.speculation.quantile
    double speculation_multiplier = 1.5;  ///< ember.speculation.multiplier
    std::int64_t speculation_min_runtime_ms = 100;        ///< ember.speculation.minTaskRuntime
    std::optional<std::int64_t> speculation_threshold_ms;  ///< ember.speculation.task.duration.threshold
    int slots_per_executor = 1;  ///< ember.executor.cores / ember.task.cpus, at least 1
};

/// Hands out pending tasks, retries failed ones up to ember.task.maxFailures, and aborts the
/// task set with Spark's message when a task fails that often. It becomes a zombie (launches
/// nothing more) when every task succeeded, when a task hit FetchFailed, or when aborted;
/// zombies still track their running tasks.
///
/// Placement follows Spark: pending tasks sit in stacks per preferred executor, per preferred
/// host, without preference, and "all" (lowest index launched first). The locality levels a
/// set uses are those its tasks can reach on live executors (PROCESS_LOCAL, NODE_LOCAL,
/// NO_PREF, ANY; ember has no racks). Delay scheduling: a task set offered a less local slot
/// waits ember.locality.wait (3s) per level before it takes it, unless no task is left at the
/// current level. Speculation (check_speculatable_tasks) copies tasks that run much longer than
/// the median; the first attempt to succeed wins and the others are killed ("another attempt
/// succeeded").
///
/// excludeOnFailure (when the scheduler has a HealthTracker): a TaskSetExcludelist records
/// where tasks failed; offers from executors or nodes excluded for the task set are declined,
/// and a task is not handed to an executor or node it is excluded on. When a finished set
/// succeeded, its failures go to the HealthTracker.
///
/// Threading: confined to the scheduler loop.
class TaskSetManager {
public:
    TaskSetManager(TaskSchedulerImpl& sched, TaskSet ts, const TaskSetSettings& settings);

    const TaskSet& task_set() const noexcept { return ts_; }
    /// "TaskSet_<stage>.<attempt>" (Spark's name; the FAIR tie-breaker).
    const std::string& name() const noexcept { return name_; }
    bool is_zombie() const noexcept { return zombie_; }
    void make_zombie() noexcept { zombie_ = true; }
    std::size_t running_tasks() const noexcept { return running_.size(); }
    std::vector<std::int64_t> running_task_ids() const { return {running_.begin(), running_.end()}; }
    /// True once two or more tasks succeeded and their average executor time (deserialize plus
    /// run) is under the scheduler's short_task_ns(): such task sets are pipelined.
    bool short_tasks() const noexcept;

    /// The locality levels this set's tasks can use, most local first; ANY is always last.
    const std::vector<TaskLocality>& locality_levels() const noexcept { return levels_; }
    /// Recomputes the levels after executors came or went (Spark's recomputeLocality).
    void recompute_locality();

    /// What resource_offer gives back.
    struct Offer {
        std::optional<TaskLaunch> launch;
        TaskLocality locality = TaskLocality::any;  ///< of the launched task
        /// Nothing launched although tasks are pending and the offer allowed ANY: delay
        /// scheduling held the tasks back (Spark's hasScheduleDelayReject).
        bool delay_rejected = false;
    };
    /// A task for one core of `executor_id` at `max_locality` at most, with id `task_id`.
    Offer resource_offer(const std::string& executor_id, const std::string& host, TaskLocality max_locality,
                         std::int64_t task_id);
    /// Restarts the locality wait at `min_locality` (Spark's resetDelayScheduleTimer).
    void reset_delay_timer(std::optional<TaskLocality> min_locality);
    /// Whether no delay-scheduling reject happened since the timer was last reset (Spark's
    /// noRejectsSinceLastReset, kept here rather than in a map of the TaskScheduler).
    bool no_rejects_since_reset = true;

    void handle_successful_task(std::int64_t tid, std::string result, const TaskMetrics& metrics);
    /// The driver started fetching `tid`'s indirect result: posts SparkListenerTaskGettingResult.
    void handle_task_getting_result(std::int64_t tid);
    /// Spark's canFetchMoreResults: adds a result's size to this task set's total; for a result
    /// stage whose total passes ember.driver.maxResultSize (> 0), aborts the task set with
    /// "Total size of serialized results of N tasks (X) is bigger than
    /// ember.driver.maxResultSize (Y)" and returns false. Map stages are not limited.
    bool can_fetch_more_results(std::uint64_t size);
    void handle_failed_task(std::int64_t tid, TaskState state, TaskEndReason reason, const TaskMetrics& metrics);
    /// Fails the executor's running tasks; for a map stage, re-queues its finished tasks (their
    /// output died with it) and reports them Resubmitted.
    void executor_lost(const std::string& executor_id, const std::string& reason);
    /// A partition finished in another attempt of this stage: do not run it here.
    void mark_partition_completed(int partition);
    /// Drops a task that was offered but never sent (it will never report).
    void forget_unlaunched(std::int64_t tid);
    /// Aborts the task set: it becomes a zombie and the DAGScheduler fails the stage.
    void abort(const std::string& message);
    /// Marks tasks running longer than the speculation threshold speculatable; true if any was
    /// (Spark's checkSpeculatableTasks). `now` in ms since the epoch.
    bool check_speculatable_tasks(std::int64_t now);

    /// The excludeOnFailure state of this task set; null when excludeOnFailure is off.
    const TaskSetExcludelist* excludelist() const noexcept { return excludelist_ ? &*excludelist_ : nullptr; }
    /// A pending task that no live executor may run (each is excluded for it, for this task set
    /// or for the application), if any: Spark's getCompletelyExcludedTaskIfAny, which looks
    /// only at the pending task most recently put back. `hosts`: host -> its live executors.
    /// Always nullopt when excludeOnFailure is off or no executor is known.
    std::optional<int> completely_excluded_task(const std::map<std::string, std::set<std::string>>& hosts) const;
    /// Aborts with Spark's "Aborting TaskSet x.y because task i (partition p) cannot run anywhere
    /// due to node and executor excludeOnFailure. Most recent failure: ..." message.
    void abort_since_completely_excluded(int index);

private:
    /// Why the result of a finished shuffle map task is not a MapStatus for this task (decodes,
    /// one size per reduce partition, its own executor, map index and attempt); nullopt if it is.
    std::optional<std::string> invalid_map_status(const TaskInfo& info, std::string_view result) const;

    struct Location {
        std::string host;
        std::string executor_id;  ///< empty for a host preference
    };
    /// Spark's PendingTasksByLocality: stacks of task indexes; entries go stale when a task
    /// launches from another list and are dropped lazily.
    struct PendingTasks {
        std::unordered_map<std::string, std::vector<int>> for_executor;
        std::unordered_map<std::string, std::vector<int>> for_host;
        std::vector<int> no_prefs;
        std::vector<int> all;
    };
    struct Dequeued {
        int index;
        TaskLocality locality;
        bool speculative;
    };

    void add_pending_task(int index, bool speculative);
    std::optional<Dequeued> dequeue_task(const std::string& executor_id, const std::string& host,
                                         TaskLocality max_locality);
    std::optional<int> dequeue_from(std::vector<int>& list, const std::string& executor_id, const std::string& host,
                                    bool speculative);
    bool needs_scheduling(int index, bool speculative) const;
    bool more_tasks_in(std::unordered_map<std::string, std::vector<int>>& lists);
    bool more_tasks_in(std::vector<int>& list);
    TaskLocality allowed_locality(std::int64_t now);
    std::size_t locality_index(TaskLocality l) const;
    std::int64_t locality_wait(TaskLocality l) const;
    bool has_attempt_on(int index, const std::string& executor_id, const std::string& host) const;
    bool excluded_on(int index, const std::string& executor_id, const std::string& host) const;
    /// Once every task succeeded and none runs, hands the failures to the HealthTracker (once).
    void maybe_finish_task_set();
    /// Kills the other running attempts of `index` once one of them succeeded.
    void kill_other_attempts(int index, std::int64_t winner);

    TaskSchedulerImpl& sched_;
    TaskSet ts_;
    TaskSetSettings settings_;
    std::string name_;
    std::vector<std::vector<Location>> locations_;  // per index, parsed preferred_locations
    PendingTasks pending_;
    PendingTasks speculative_;
    std::set<int> speculatable_;  // indexes with a speculative copy wanted or running
    std::vector<TaskLocality> levels_;
    std::size_t current_level_ = 0;
    std::int64_t last_reset_ms_ = 0;

    std::vector<bool> successful_;
    std::vector<int> num_failures_;
    std::vector<int> attempts_;  // attempts launched per index
    std::vector<std::int64_t> succeeded_tid_;
    std::vector<int> copies_running_;  // running attempts per index (Spark's copiesRunning)
    std::vector<std::vector<std::int64_t>> task_attempts_;  // TIDs per index
    std::unordered_map<std::int64_t, TaskInfo> infos_;
    std::set<std::int64_t> running_;
    std::vector<std::int64_t> successful_durations_ms_;  // for the speculation median
    int tasks_successful_ = 0;
    std::int64_t timed_tasks_ = 0;   // successes with executor times, for short_tasks()
    std::int64_t timed_ns_ = 0;
    bool zombie_ = false;
    std::uint64_t total_result_size_ = 0;  // canFetchMoreResults
    int calculated_tasks_ = 0;
    std::optional<TaskSetExcludelist> excludelist_;
    bool reported_to_health_tracker_ = false;
};

}  // namespace ember::scheduler
