// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ExcludeOnFailureSettings (the ember.excludeOnFailure.* keys) and TaskSetExcludelist, the
/// executors and nodes one stage attempt no longer uses (Spark's TaskSetExcludelist).

#include "rpc/conf.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

namespace ember::scheduler {

class ListenerBus;

/// Milliseconds on some clock (the epoch clock, or a test's fake one).
using ExcludeClock = std::function<std::int64_t()>;

/// The excludeOnFailure configuration (Spark 3.3 keys and defaults, `ember.` prefix).
struct ExcludeOnFailureSettings {
    bool enabled = false;                            ///< ember.excludeOnFailure.enabled
    int max_task_attempts_per_executor = 1;          ///< ember.excludeOnFailure.task.maxTaskAttemptsPerExecutor
    int max_task_attempts_per_node = 2;              ///< ember.excludeOnFailure.task.maxTaskAttemptsPerNode
    int stage_max_failed_tasks_per_executor = 2;     ///< ember.excludeOnFailure.stage.maxFailedTasksPerExecutor
    int stage_max_failed_executors_per_node = 2;     ///< ember.excludeOnFailure.stage.maxFailedExecutorsPerNode
    int app_max_failed_tasks_per_executor = 2;       ///< ember.excludeOnFailure.application.maxFailedTasksPerExecutor
    int app_max_failed_executors_per_node = 2;       ///< ember.excludeOnFailure.application.maxFailedExecutorsPerNode
    std::int64_t timeout_ms = 3'600'000;             ///< ember.excludeOnFailure.timeout (1h)
    bool kill_excluded_executors = false;            ///< ember.excludeOnFailure.killExcludedExecutors
    bool fetch_failure_enabled = false;              ///< ember.excludeOnFailure.application.fetchFailure.enabled
    /// ember.scheduler.excludeOnFailure.unschedulableTaskSetTimeout (120s): how long a task set
    /// whose pending task is excluded everywhere waits for a new executor before it is aborted.
    std::int64_t unschedulable_task_set_timeout_ms = 120'000;

    /// Reads the keys and, when enabled, checks them as Spark's validateExcludeOnFailureConfs
    /// does: every count and the timeout must be > 0, and maxTaskAttemptsPerNode must be below
    /// ember.task.maxFailures (else one bad node could fail every job). Throws
    /// std::invalid_argument with a message naming the key.
    static ExcludeOnFailureSettings from_conf(const Conf& conf);
};

/// One executor's task failures within one task set: per task index, how often it failed
/// there and when it last did (Spark's ExecutorFailuresInTaskSet).
struct ExecutorFailuresInTaskSet {
    std::string node;
    /// index -> {failures, last failure time (ms)}
    std::map<int, std::pair<int, std::int64_t>> task_to_failure_count_and_time;

    int failures_of(int index) const {
        auto it = task_to_failure_count_and_time.find(index);
        return it == task_to_failure_count_and_time.end() ? 0 : it->second.first;
    }
    /// Distinct task indexes that failed here.
    int unique_tasks_with_failures() const { return static_cast<int>(task_to_failure_count_and_time.size()); }
};

/// Exclusions within one stage attempt (Spark's TaskSetExcludelist): a task index is excluded
/// on an executor after task.maxTaskAttemptsPerExecutor failures there, on a node after
/// task.maxTaskAttemptsPerNode failures on its executors; the whole stage stops using an
/// executor after stage.maxFailedTasksPerExecutor distinct failed tasks on it, and a node after
/// stage.maxFailedExecutorsPerNode of its executors were so excluded. The stage-level
/// exclusions post SparkListenerExecutorExcludedForStage / NodeExcludedForStage. Exclusions last
/// as long as the task set (no timeout).
///
/// Threading: confined to the scheduler loop (owned by its TaskSetManager).
class TaskSetExcludelist {
public:
    /// `bus` may be null (no events).
    TaskSetExcludelist(const ExcludeOnFailureSettings& settings, ListenerBus* bus, int stage_id, int stage_attempt,
                       ExcludeClock clock);

    /// Records a failure of task `index` on `executor_id` at `host`; `failure` is its error
    /// string (kept as the latest failure reason for the abort message).
    void update_excluded_for_failed_task(const std::string& host, const std::string& executor_id, int index,
                                         const std::string& failure);

    bool is_executor_excluded_for_task(const std::string& executor_id, int index) const;
    bool is_node_excluded_for_task(const std::string& host, int index) const;
    bool is_executor_excluded_for_task_set(const std::string& executor_id) const {
        return excluded_execs_.count(executor_id) > 0;
    }
    bool is_node_excluded_for_task_set(const std::string& host) const { return excluded_nodes_.count(host) > 0; }

    /// The error string of the most recent failure recorded.
    const std::string& latest_failure_reason() const noexcept { return latest_failure_reason_; }
    /// Every executor with failures in this task set (for HealthTracker).
    const std::map<std::string, ExecutorFailuresInTaskSet>& exec_to_failures() const noexcept {
        return exec_to_failures_;
    }

private:
    ExcludeOnFailureSettings settings_;
    ListenerBus* bus_;
    int stage_id_;
    int stage_attempt_;
    ExcludeClock clock_;
    std::map<std::string, ExecutorFailuresInTaskSet> exec_to_failures_;
    std::map<std::string, std::set<std::string>> node_to_execs_with_failures_;
    std::map<std::string, std::set<int>> node_to_excluded_task_indexes_;
    std::set<std::string> excluded_execs_;
    std::set<std::string> excluded_nodes_;
    std::string latest_failure_reason_;
};

}  // namespace ember::scheduler
