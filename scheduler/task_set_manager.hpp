// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// TaskSetManager: schedules the tasks of one stage attempt and tracks their attempts
/// (Spark's TaskSetManager).

#include "scheduler/listener.hpp"
#include "scheduler/task_end_reason.hpp"
#include "scheduler/task_metrics.hpp"
#include "scheduler/task_set.hpp"

#include <cstdint>
#include <map>
#include <unordered_map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ember::scheduler {

class TaskSchedulerImpl;

/// Hands out pending tasks (lowest index first), retries failed ones up to
/// ember.task.maxFailures, and aborts the task set with Spark's message when a task fails that
/// often. It becomes a zombie (launches nothing more) when every task succeeded, when a task
/// hit FetchFailed, or when aborted; zombies still track their running tasks.
///
/// Threading: confined to the scheduler loop.
class TaskSetManager {
public:
    TaskSetManager(TaskSchedulerImpl& sched, TaskSet ts, int max_task_failures);

    const TaskSet& task_set() const noexcept { return ts_; }
    bool is_zombie() const noexcept { return zombie_; }
    void make_zombie() noexcept { zombie_ = true; }
    std::size_t running_tasks() const noexcept { return running_.size(); }
    std::vector<std::int64_t> running_task_ids() const { return {running_.begin(), running_.end()}; }
    /// True once two or more tasks succeeded and their average executor time (deserialize plus
    /// run) is under the scheduler's short_task_ns(): such task sets are pipelined.
    bool short_tasks() const noexcept;

    /// A task for one core of `executor_id`, with id `task_id`, or nullopt if none is pending.
    std::optional<TaskLaunch> resource_offer(const std::string& executor_id, const std::string& host,
                                             std::int64_t task_id);
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
    void forget_unlaunched(std::int64_t tid) {
        if (running_.erase(tid)) --copies_running_[static_cast<std::size_t>(infos_[tid].index)];
    }
    /// Aborts the task set: it becomes a zombie and the DAGScheduler fails the stage.
    void abort(const std::string& message);

private:
    TaskSchedulerImpl& sched_;
    TaskSet ts_;
    int max_task_failures_;
    std::vector<int> pending_;  // stack of task indexes; back() is launched next
    std::vector<bool> successful_;
    std::vector<int> num_failures_;
    std::vector<int> attempts_;  // attempts launched per index
    std::vector<std::int64_t> succeeded_tid_;
    std::vector<int> copies_running_;  // running attempts per index (Spark's copiesRunning)
    std::unordered_map<std::int64_t, TaskInfo> infos_;
    std::set<std::int64_t> running_;
    int tasks_successful_ = 0;
    std::int64_t timed_tasks_ = 0;   // successes with executor times, for short_tasks()
    std::int64_t timed_ns_ = 0;
    bool zombie_ = false;
    std::uint64_t total_result_size_ = 0;  // canFetchMoreResults
    int calculated_tasks_ = 0;
};

}  // namespace ember::scheduler
