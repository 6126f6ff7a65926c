// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// TaskSchedulerImpl: turns task sets into task launches on free executor cores (Spark's
/// TaskSchedulerImpl).

#include "rpc/conf.hpp"
#include "scheduler/health_tracker.hpp"
#include "scheduler/listener.hpp"
#include "scheduler/pool.hpp"
#include "scheduler/task_end_reason.hpp"
#include "scheduler/task_result.hpp"
#include "scheduler/task_set.hpp"
#include "scheduler/task_set_manager.hpp"
#include "scheduler/timer.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace ember::scheduler {

class DAGScheduler;
class SchedulerBackend;
class TaskResultGetter;

/// Free cores of one executor.
struct WorkerOffer {
    std::string executor_id;
    std::string host;
    int cores = 0;
    /// Tasks the executor may queue behind its busy cores, given only to task sets of short
    /// tasks (TaskSetManager::short_tasks): ember's pipelining, which Spark does not have.
    int queue_slots = 0;
};

/// Offers go to task sets in pool order (Pools: FIFO by job id then stage id, or FAIR), and for
/// each task set level by level from its most local one (TaskSetManager: delay scheduling), one
/// task per executor per round so that tasks spread over executors; offers are shuffled first,
/// as Spark does, then (ember's, not Spark's) the executor that last finished a task
/// successfully is moved to the front. A round still gives every executor one task, so only a
/// task set smaller than a round changes placement: a lone task goes to the executor whose I/O
/// and task threads are still awake rather than to one that sleeps, which on an idle machine
/// costs a wake-up of each (task-latency, README).
///
/// Speculation (ember.speculation, off by default; not in local mode): every
/// ember.speculation.interval (100ms) each task set looks for tasks running longer than
/// ember.speculation.multiplier (1.5) times the median of its finished ones, once
/// ember.speculation.quantile (0.75) of its tasks finished, and at least
/// ember.speculation.minTaskRuntime (100ms); copies of them are launched on other executors.
/// With ember.speculation.task.duration.threshold set, a task set no larger than one
/// executor's slots (ember.executor.cores / ember.task.cpus) is speculated past that runtime
/// even before the quantile is reached.
///
/// Pipelining (ember's, for throughput of tiny tasks): Spark gives an executor one task per free
/// core, so each core idles for a driver round trip between tasks. A task set whose finished
/// tasks average under ember.scheduler.shortTaskDuration (1ms) may also fill an offer's
/// queue_slots: up to ember.scheduler.shortTaskQueueDepth (32) tasks per core wait on the
/// executor, and cores go from task to task without waiting. Longer tasks are placed one per
/// free core, as in Spark, so load balance and locality are unchanged for them.
///
/// excludeOnFailure (ember.excludeOnFailure.enabled, off by default; see HealthTracker and
/// TaskSetExcludelist): offers from executors and nodes excluded for the application are
/// dropped; when a task set launches nothing in a round because its pending task is excluded on
/// every live executor, it is aborted ("cannot run anywhere due to node and executor
/// excludeOnFailure") at once if every executor is busy; otherwise an idle executor is killed
/// (local-cluster starts a replacement, as Spark's standalone master does) and the task set is
/// aborted after ember.scheduler.excludeOnFailure.unschedulableTaskSetTimeout (120s) unless
/// some task set launches a task in the meantime. The timer is checked at each offer round
/// (every ember.scheduler.revive.interval at least).
///
/// Threading: confined to the scheduler loop.
class TaskSchedulerImpl {
public:
    /// Throws std::invalid_argument (bad ember.scheduler.mode) or std::runtime_error (an
    /// unreadable or malformed ember.scheduler.allocation.file).
    TaskSchedulerImpl(const Conf& conf, int max_task_failures, ListenerBus& bus);
    ~TaskSchedulerImpl();

    void set_dag_scheduler(DAGScheduler* dag) noexcept { dag_ = dag; }
    void set_backend(SchedulerBackend* backend) noexcept { backend_ = backend; }
    /// Where FINISHED results go (sizes checked, indirect ones fetched); without one, results
    /// are taken as they come (direct only).
    void set_result_getter(TaskResultGetter* getter) noexcept { result_getter_ = getter; }
    /// ember.driver.maxResultSize in bytes; 0 = unlimited.
    std::uint64_t max_result_size() const noexcept { return max_result_size_; }
    DAGScheduler& dag() noexcept { return *dag_; }
    ListenerBus& bus() noexcept { return bus_; }
    int cpus_per_task() const noexcept { return cpus_per_task_; }
    /// Average task time under which a task set counts as short (pipelined); 0 disables.
    std::int64_t short_task_ns() const noexcept { return short_task_ns_; }

    /// Registers a stage attempt's tasks; earlier attempts of the stage become zombies.
    void submit_tasks(TaskSet ts);
    /// Starts the speculation timer if ember.speculation is on; `post` runs a closure on the
    /// scheduler loop (false once it is gone).
    void start_speculation(std::function<bool(std::function<void()>)> post);
    void stop();

    /// Tasks to launch on these free cores (ember.task.cpus each). `all_free`: the offers are
    /// every executor's free cores (a periodic or revive round), not one executor's freed ones;
    /// it decides when the delay-scheduling timer restarts (Spark's isAllFreeResources).
    std::vector<TaskLaunch> resource_offers(std::vector<WorkerOffer> offers, bool all_free = true);
    /// A state change reported by an executor. `reason` is set for failed/killed tasks;
    /// `indirect` for a finished task whose result stayed in the executor's BlockManager.
    void status_update(std::int64_t tid, TaskState state, std::string result, std::optional<TaskEndReason> reason,
                       const TaskMetrics& metrics, std::optional<IndirectTaskResult> indirect = std::nullopt);
    /// True if task `tid` was launched on executor `executor_id` and has not ended.
    bool task_runs_on(std::int64_t tid, const std::string& executor_id) const;
    void executor_added(const std::string& executor_id, const std::string& host);
    /// The executor is gone: its running tasks fail, its map outputs are lost.
    void executor_lost(const std::string& executor_id, const std::string& reason);
    /// Kills the running tasks of every attempt of a stage and aborts their task sets.
    void cancel_tasks(int stage_id, const std::string& reason);
    /// A partition of a map stage finished in some attempt: later attempts skip it.
    void mark_partition_completed(int stage_id, int partition);
    bool has_executor(const std::string& executor_id) const { return executor_host_.count(executor_id) > 0; }
    bool has_executors_on_host(const std::string& host) const { return hosts_.count(host) > 0; }
    /// True while every known executor runs on one host (e.g. local-cluster).
    bool single_host() const noexcept { return hosts_.size() <= 1; }

    /// Aborts the task set of tasks that could not be sent to their executor, forgetting them.
    void abort_task_set_of(const std::vector<std::int64_t>& unsent, const std::string& message);

    // -- for TaskResultGetter (Spark's handleSuccessfulTask etc.); unknown tids are ignored -----
    void handle_successful_task(std::int64_t tid, std::string result, const TaskMetrics& metrics);
    void handle_failed_task(std::int64_t tid, TaskState state, TaskEndReason reason, const TaskMetrics& metrics);
    void handle_task_getting_result(std::int64_t tid);
    /// Adds `size` to the task set's total of result sizes; false (and the task set aborted)
    /// when that passes ember.driver.maxResultSize. True for unknown tids.
    bool can_fetch_more_results(std::int64_t tid, std::uint64_t size);

    /// The application's HealthTracker; null when excludeOnFailure is off.
    HealthTracker* health_tracker() noexcept { return health_tracker_.get(); }
    const HealthTracker* health_tracker() const noexcept { return health_tracker_.get(); }
    const ExcludeOnFailureSettings& exclude_settings() const noexcept { return exclude_settings_; }
    /// The clock of exclusion timeouts (ms since the epoch unless a test replaced it).
    const ExcludeClock& exclude_clock() const noexcept { return exclude_clock_; }
    /// Replaces the exclusion clock (tests); call before any task set is submitted.
    void set_exclude_clock(ExcludeClock clock);
    /// The clock of locality waits, speculation, task times and (unless set_exclude_clock
    /// replaced it) exclusion timeouts: util::system_clock() unless set_clock() gave another.
    util::Clock& clock() const noexcept { return *clock_; }
    const std::shared_ptr<util::Clock>& clock_ptr() const noexcept { return clock_; }
    /// Replaces the clock (Spark's TaskSchedulerImpl `clock` argument, a ManualClock in tests);
    /// also becomes the exclusion clock. Call before start_speculation() and any submit_tasks().
    void set_clock(std::shared_ptr<util::Clock> clock);

    // -- for TaskSetManager --------------------------------------------------------------------
    void kill_task(std::int64_t tid, const std::string& reason);
    void forget_task(std::int64_t tid);

private:
    void remove_finished_task_sets();
    void add_executor_host(const std::string& executor_id, const std::string& host);
    void recompute_locality();
    void check_speculatable_tasks();
    /// After a task set launched nothing in a round: abort it or start its abort timer if a
    /// pending task of it is excluded everywhere (Spark's resourceOffers, unschedulable part).
    void check_unschedulable(TaskSetManager* tsm);
    bool executor_busy(const std::string& executor_id) const;
    void make_health_tracker();

    ListenerBus& bus_;
    DAGScheduler* dag_ = nullptr;
    SchedulerBackend* backend_ = nullptr;
    TaskResultGetter* result_getter_ = nullptr;
    std::uint64_t max_result_size_;
    TaskSetSettings settings_;
    Pools pools_;
    int cpus_per_task_;
    std::int64_t short_task_ns_;
    std::int64_t next_task_id_ = 0;
    std::map<int, std::map<int, std::unique_ptr<TaskSetManager>>> by_stage_;  // stage -> attempt -> TSM
    std::unordered_map<std::int64_t, TaskSetManager*> tid_to_tsm_;
    std::unordered_map<std::int64_t, std::string> tid_to_executor_;
    std::string last_finished_executor_;  // of the last successful task: goes first in resource_offers
    std::map<std::string, std::string> executor_host_;
    std::map<std::string, std::set<std::string>> hosts_;  // host -> its executors
    bool speculation_ = false;
    std::chrono::milliseconds speculation_interval_{100};
    std::unique_ptr<Timer> speculation_timer_;
    ExcludeOnFailureSettings exclude_settings_;
    std::shared_ptr<util::Clock> clock_;
    ExcludeClock exclude_clock_;
    std::unique_ptr<HealthTracker> health_tracker_;
    /// Task sets whose pending task is excluded everywhere -> {abort time (ms), task index}.
    std::map<TaskSetManager*, std::pair<std::int64_t, int>> unschedulable_;
};

}  // namespace ember::scheduler
