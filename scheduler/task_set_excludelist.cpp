// SPDX-License-Identifier: Apache-2.0
#include "scheduler/task_set_excludelist.hpp"

#include "rpc/log.hpp"
#include "scheduler/listener.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace ember::scheduler {

ExcludeOnFailureSettings ExcludeOnFailureSettings::from_conf(const Conf& conf) {
    ExcludeOnFailureSettings s;
    s.enabled = conf.get_bool("ember.excludeOnFailure.enabled", false);
    auto count = [&](const char* key, int fallback) {
        auto v = conf.get_int(key, fallback);
        if (s.enabled && v <= 0) throw std::invalid_argument(fmt::format("{} was {}, but must be > 0.", key, v));
        return static_cast<int>(v);
    };
    s.max_task_attempts_per_executor = count("ember.excludeOnFailure.task.maxTaskAttemptsPerExecutor", 1);
    s.max_task_attempts_per_node = count("ember.excludeOnFailure.task.maxTaskAttemptsPerNode", 2);
    s.stage_max_failed_tasks_per_executor = count("ember.excludeOnFailure.stage.maxFailedTasksPerExecutor", 2);
    s.stage_max_failed_executors_per_node = count("ember.excludeOnFailure.stage.maxFailedExecutorsPerNode", 2);
    s.app_max_failed_tasks_per_executor = count("ember.excludeOnFailure.application.maxFailedTasksPerExecutor", 2);
    s.app_max_failed_executors_per_node = count("ember.excludeOnFailure.application.maxFailedExecutorsPerNode", 2);
    s.timeout_ms = conf.get_time_ms("ember.excludeOnFailure.timeout", "1h").count();
    s.kill_excluded_executors = conf.get_bool("ember.excludeOnFailure.killExcludedExecutors", false);
    s.fetch_failure_enabled = conf.get_bool("ember.excludeOnFailure.application.fetchFailure.enabled", false);
    s.unschedulable_task_set_timeout_ms =
        conf.get_time_ms("ember.scheduler.excludeOnFailure.unschedulableTaskSetTimeout", "120s").count();
    if (!s.enabled) return s;
    if (s.timeout_ms <= 0) {
        throw std::invalid_argument(
            fmt::format("ember.excludeOnFailure.timeout was {} ms, but must be > 0.", s.timeout_ms));
    }
    auto max_task_failures = conf.get_int("ember.task.maxFailures", 4);
    if (s.max_task_attempts_per_node >= max_task_failures) {
        throw std::invalid_argument(fmt::format(
            "ember.excludeOnFailure.task.maxTaskAttemptsPerNode ( = {}) was >= ember.task.maxFailures ( = {} ). "
            "Though excludeOnFailure is enabled, with this configuration, ember will not be robust to one bad "
            "node. Decrease ember.excludeOnFailure.task.maxTaskAttemptsPerNode, increase ember.task.maxFailures, "
            "or disable excludeOnFailure with ember.excludeOnFailure.enabled",
            s.max_task_attempts_per_node, max_task_failures));
    }
    return s;
}

TaskSetExcludelist::TaskSetExcludelist(const ExcludeOnFailureSettings& settings, ListenerBus* bus, int stage_id,
                                       int stage_attempt, ExcludeClock clock)
    : settings_(settings), bus_(bus), stage_id_(stage_id), stage_attempt_(stage_attempt), clock_(std::move(clock)) {}

void TaskSetExcludelist::update_excluded_for_failed_task(const std::string& host, const std::string& executor_id,
                                                         int index, const std::string& failure) {
    latest_failure_reason_ = failure;
    std::int64_t now = clock_();
    auto& exec_failures = exec_to_failures_[executor_id];
    exec_failures.node = host;
    auto& [count, time] = exec_failures.task_to_failure_count_and_time[index];
    ++count;
    time = now;

    // The task on this node: failures of this index summed over the node's executors.
    auto& execs_on_node = node_to_execs_with_failures_[host];
    execs_on_node.insert(executor_id);
    int node_failures = 0;
    for (const auto& e : execs_on_node) node_failures += exec_to_failures_[e].failures_of(index);
    if (node_failures >= settings_.max_task_attempts_per_node) node_to_excluded_task_indexes_[host].insert(index);

    // The executor, then its node, for the whole stage.
    int failed_tasks = exec_failures.unique_tasks_with_failures();
    if (failed_tasks >= settings_.stage_max_failed_tasks_per_executor && !excluded_execs_.count(executor_id)) {
        log::get("scheduler")->info("Excluding executor {} for stage {}.{}: {} of its tasks failed", executor_id,
                                    stage_id_, stage_attempt_, failed_tasks);
        excluded_execs_.insert(executor_id);
        if (bus_) {
            bus_->post(SparkListenerExecutorExcludedForStage{now, executor_id, failed_tasks, stage_id_, stage_attempt_});
        }
        int excluded_on_node = 0;
        for (const auto& e : execs_on_node) excluded_on_node += excluded_execs_.count(e) ? 1 : 0;
        if (excluded_on_node >= settings_.stage_max_failed_executors_per_node && !excluded_nodes_.count(host)) {
            log::get("scheduler")->info("Excluding node {} for stage {}.{}: {} of its executors are excluded", host,
                                        stage_id_, stage_attempt_, excluded_on_node);
            excluded_nodes_.insert(host);
            if (bus_) {
                bus_->post(SparkListenerNodeExcludedForStage{now, host, excluded_on_node, stage_id_, stage_attempt_});
            }
        }
    }
}

bool TaskSetExcludelist::is_executor_excluded_for_task(const std::string& executor_id, int index) const {
    auto it = exec_to_failures_.find(executor_id);
    return it != exec_to_failures_.end() && it->second.failures_of(index) >= settings_.max_task_attempts_per_executor;
}

bool TaskSetExcludelist::is_node_excluded_for_task(const std::string& host, int index) const {
    auto it = node_to_excluded_task_indexes_.find(host);
    return it != node_to_excluded_task_indexes_.end() && it->second.count(index) > 0;
}

}  // namespace ember::scheduler
