// SPDX-License-Identifier: Apache-2.0
#include "scheduler/health_tracker.hpp"

#include "rpc/log.hpp"
#include "scheduler/listener.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace ember::scheduler {

HealthTracker::HealthTracker(const ExcludeOnFailureSettings& settings, ListenerBus* bus, ExcludeClock clock)
    : settings_(settings), bus_(bus), clock_(std::move(clock)) {}

void HealthTracker::apply_exclude_on_failure_timeout() {
    std::int64_t now = clock_();
    if (now <= next_expiry_ms_) return;
    // Executors first, then the nodes; an unexcluded executor no longer counts for its node.
    for (auto it = executor_to_excluded_.begin(); it != executor_to_excluded_.end();) {
        if (it->second.expiry_ms >= now) {
            ++it;
            continue;
        }
        log::get("scheduler")->info("Removing executor {} from the exclude list: its timeout has passed", it->first);
        if (auto n = node_to_excluded_execs_.find(it->second.node); n != node_to_excluded_execs_.end()) {
            n->second.erase(it->first);
            if (n->second.empty()) node_to_excluded_execs_.erase(n);
        }
        if (bus_) bus_->post(SparkListenerExecutorUnexcluded{now, it->first});
        it = executor_to_excluded_.erase(it);
    }
    for (auto it = node_to_expiry_.begin(); it != node_to_expiry_.end();) {
        if (it->second >= now) {
            ++it;
            continue;
        }
        log::get("scheduler")->info("Removing node {} from the exclude list: its timeout has passed", it->first);
        if (bus_) bus_->post(SparkListenerNodeUnexcluded{now, it->first});
        it = node_to_expiry_.erase(it);
    }
    for (auto& [_, failures] : executor_failures_) std::erase_if(failures, [&](auto& f) { return f.second < now; });
    std::erase_if(executor_failures_, [](auto& e) { return e.second.empty(); });
    update_next_expiry_time();
}

void HealthTracker::update_next_expiry_time() {
    next_expiry_ms_ = std::numeric_limits<std::int64_t>::max();
    for (auto& [_, e] : executor_to_excluded_) next_expiry_ms_ = std::min(next_expiry_ms_, e.expiry_ms);
    for (auto& [_, expiry] : node_to_expiry_) next_expiry_ms_ = std::min(next_expiry_ms_, expiry);
}

void HealthTracker::update_excluded_for_successful_task_set(
    int stage_id, int stage_attempt, const std::map<std::string, ExecutorFailuresInTaskSet>& failures) {
    std::int64_t now = clock_();
    for (const auto& [executor_id, in_task_set] : failures) {
        auto& app_failures = executor_failures_[executor_id];
        for (const auto& [index, count_and_time] : in_task_set.task_to_failure_count_and_time) {
            std::int64_t expiry = count_and_time.second + settings_.timeout_ms;
            auto& slot = app_failures[FailedTask{stage_id, stage_attempt, index}];
            slot = std::max(slot, expiry);
        }
        std::erase_if(app_failures, [&](auto& f) { return f.second < now; });
        int total = static_cast<int>(app_failures.size());
        if (total < settings_.app_max_failed_tasks_per_executor || executor_to_excluded_.count(executor_id)) continue;
        log::get("scheduler")->info("Excluding executor id: {} because it has {} task failures in successful task sets",
                                    executor_id, total);
        executor_failures_.erase(executor_id);  // in_task_set stays valid: it is the caller's
        exclude_executor(executor_id, in_task_set.node, total, now);
    }
}

void HealthTracker::exclude_executor(const std::string& executor_id, const std::string& node, int failures,
                                     std::int64_t now) {
    std::int64_t expiry = now + settings_.timeout_ms;
    executor_to_excluded_[executor_id] = ExcludedExecutor{node, expiry};
    if (bus_) bus_->post(SparkListenerExecutorExcluded{now, executor_id, failures});
    update_next_expiry_time();
    kill_excluded_executor(executor_id);
    auto& on_node = node_to_excluded_execs_[node];
    on_node.insert(executor_id);
    int excluded = static_cast<int>(on_node.size());
    if (excluded >= settings_.app_max_failed_executors_per_node && !node_to_expiry_.count(node)) {
        log::get("scheduler")->info("Excluding node {} because it has {} executors excluded", node, excluded);
        node_to_expiry_[node] = expiry;
        if (bus_) bus_->post(SparkListenerNodeExcluded{now, node, excluded});
        update_next_expiry_time();
        if (settings_.kill_excluded_executors && kill_on_host_) {
            kill_on_host_(node, fmt::format("Killing all executors on excluded host {} since "
                                            "ember.excludeOnFailure.killExcludedExecutors is set.",
                                            node));
        }
    }
}

void HealthTracker::update_excluded_for_fetch_failure(const std::string& host, const std::string& executor_id) {
    if (!settings_.fetch_failure_enabled || executor_to_excluded_.count(executor_id)) return;
    log::get("scheduler")->info("Excluding executor {} due to fetch failure", executor_id);
    std::int64_t now = clock_();
    executor_to_excluded_[executor_id] = ExcludedExecutor{host, now + settings_.timeout_ms};
    // Spark counts a fetch failure as one task failure: it is never retried on the executor.
    if (bus_) bus_->post(SparkListenerExecutorExcluded{now, executor_id, 1});
    update_next_expiry_time();
    kill_excluded_executor(executor_id);
    node_to_excluded_execs_[host].insert(executor_id);
}

void HealthTracker::handle_removed_executor(const std::string& executor_id) { executor_failures_.erase(executor_id); }

void HealthTracker::kill_excluded_executor(const std::string& executor_id) {
    if (!settings_.kill_excluded_executors) return;
    if (!kill_executor_) {
        log::get("scheduler")->info("Not attempting to kill excluded executor id {}: no way to kill executors here",
                                    executor_id);
        return;
    }
    kill_executor_(executor_id, fmt::format("Killing excluded executor id {} since "
                                            "ember.excludeOnFailure.killExcludedExecutors is set.",
                                            executor_id));
}

void HealthTracker::kill_excluded_idle_executor(const std::string& executor_id) {
    if (!kill_executor_) return;
    kill_executor_(executor_id, fmt::format("Killing excluded idle executor id {} because of task unschedulability "
                                            "and trying to acquire a new executor.",
                                            executor_id));
}

std::set<std::string> HealthTracker::excluded_executors() const {
    std::set<std::string> out;
    for (auto& [id, _] : executor_to_excluded_) out.insert(id);
    return out;
}

std::set<std::string> HealthTracker::excluded_nodes() const {
    std::set<std::string> out;
    for (auto& [host, _] : node_to_expiry_) out.insert(host);
    return out;
}

int HealthTracker::failures_of(const std::string& executor_id) const {
    auto it = executor_failures_.find(executor_id);
    return it == executor_failures_.end() ? 0 : static_cast<int>(it->second.size());
}

}  // namespace ember::scheduler
