// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// HealthTracker: executors and nodes excluded for the whole application after repeated task
/// failures (Spark's HealthTracker, formerly BlacklistTracker).

#include "scheduler/task_set_excludelist.hpp"

#include <compare>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ember::scheduler {

class ListenerBus;

/// Application-level excludeOnFailure (ember.excludeOnFailure.enabled).
///
/// When a task set succeeds, the failures its TaskSetExcludelist recorded are added to each
/// executor's application record, where each failed task (stage, attempt, index) counts once
/// and expires ember.excludeOnFailure.timeout after it happened. An executor with
/// application.maxFailedTasksPerExecutor (2) live failures is excluded until the timeout
/// (SparkListenerExecutorExcluded); a node with application.maxFailedExecutorsPerNode (2)
/// excluded executors is excluded too (SparkListenerNodeExcluded). With
/// application.fetchFailure.enabled a fetch failure excludes the executor that served it at
/// once. apply_exclude_on_failure_timeout() lifts exclusions whose time has come
/// (ExecutorUnexcluded / NodeUnexcluded). With killExcludedExecutors the `kill` callbacks stop
/// excluded executors (and every executor of an excluded node).
///
/// Threading: confined to the scheduler loop.
class HealthTracker {
public:
    /// Stops an executor: (executor id, reason for the log).
    using KillExecutor = std::function<void(const std::string&, const std::string&)>;
    /// Stops every executor on a host: (host, reason).
    using KillExecutorsOnHost = std::function<void(const std::string&, const std::string&)>;

    /// `bus` may be null (no events); `clock` gives milliseconds.
    HealthTracker(const ExcludeOnFailureSettings& settings, ListenerBus* bus, ExcludeClock clock);

    void set_kill_executor(KillExecutor kill) { kill_executor_ = std::move(kill); }
    void set_kill_executors_on_host(KillExecutorsOnHost kill) { kill_on_host_ = std::move(kill); }

    /// Lifts the exclusions that have timed out and forgets expired failures.
    void apply_exclude_on_failure_timeout();
    /// Adds the failures of a successful task set and excludes executors and nodes that now have
    /// too many (Spark's updateExcludedForSuccessfulTaskSet).
    void update_excluded_for_successful_task_set(int stage_id, int stage_attempt,
                                                 const std::map<std::string, ExecutorFailuresInTaskSet>& failures);
    /// A fetch from `executor_id` on `host` failed: excludes it when fetchFailure is enabled.
    void update_excluded_for_fetch_failure(const std::string& host, const std::string& executor_id);
    /// The executor is gone: its failure record is dropped (an exclusion stays until it times out).
    void handle_removed_executor(const std::string& executor_id);
    /// Kills an idle executor that no pending task can use, so the cluster manager may replace it
    /// (Spark's killExcludedIdleExecutor; it kills whether or not killExcludedExecutors is set).
    void kill_excluded_idle_executor(const std::string& executor_id);

    bool is_executor_excluded(const std::string& executor_id) const {
        return executor_to_excluded_.count(executor_id) > 0;
    }
    bool is_node_excluded(const std::string& host) const { return node_to_expiry_.count(host) > 0; }
    std::set<std::string> excluded_executors() const;
    std::set<std::string> excluded_nodes() const;
    /// Live (unexpired) failed tasks counted against `executor_id`.
    int failures_of(const std::string& executor_id) const;

private:
    struct ExcludedExecutor {
        std::string node;
        std::int64_t expiry_ms;
    };
    struct FailedTask {
        int stage_id;
        int stage_attempt;
        int index;
        auto operator<=>(const FailedTask&) const = default;
    };

    void update_next_expiry_time();
    void kill_excluded_executor(const std::string& executor_id);
    /// Adds `executor_id` (on `node`) to the node's excluded executors; excludes the node when
    /// enough are.
    void exclude_executor(const std::string& executor_id, const std::string& node, int failures, std::int64_t now);

    ExcludeOnFailureSettings settings_;
    ListenerBus* bus_;
    ExcludeClock clock_;
    KillExecutor kill_executor_;
    KillExecutorsOnHost kill_on_host_;
    /// executor -> failed task -> expiry (ms)
    std::map<std::string, std::map<FailedTask, std::int64_t>> executor_failures_;
    std::map<std::string, ExcludedExecutor> executor_to_excluded_;
    std::map<std::string, std::int64_t> node_to_expiry_;
    std::map<std::string, std::set<std::string>> node_to_excluded_execs_;
    std::int64_t next_expiry_ms_ = std::numeric_limits<std::int64_t>::max();
};

}  // namespace ember::scheduler
