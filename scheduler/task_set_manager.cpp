// SPDX-License-Identifier: Apache-2.0
#include "scheduler/task_set_manager.hpp"

#include "rpc/log.hpp"
#include "scheduler/dag_scheduler.hpp"
#include "scheduler/task_scheduler_impl.hpp"

#include <fmt/format.h>

namespace ember::scheduler {

TaskSetManager::TaskSetManager(TaskSchedulerImpl& sched, TaskSet ts, int max_task_failures)
    : sched_(sched),
      ts_(std::move(ts)),
      max_task_failures_(max_task_failures),
      successful_(ts_.tasks.size(), false),
      num_failures_(ts_.tasks.size(), 0),
      attempts_(ts_.tasks.size(), 0),
      succeeded_tid_(ts_.tasks.size(), -1),
      copies_running_(ts_.tasks.size(), 0) {
    // Pushed in reverse so that low indexes launch first (Spark).
    for (int i = static_cast<int>(ts_.tasks.size()) - 1; i >= 0; --i) pending_.push_back(i);
}

std::optional<TaskLaunch> TaskSetManager::resource_offer(const std::string& executor_id, const std::string& host,
                                                         std::int64_t task_id) {
    while (!zombie_ && !pending_.empty()) {
        int index = pending_.back();
        pending_.pop_back();
        if (successful_[static_cast<std::size_t>(index)]) continue;
        if (copies_running_[static_cast<std::size_t>(index)] > 0) continue;

        const auto& spec = ts_.tasks[static_cast<std::size_t>(index)];
        int attempt = attempts_[static_cast<std::size_t>(index)]++;
        TaskInfo info;
        info.task_id = task_id;
        info.index = index;
        info.attempt = attempt;
        info.partition_id = spec.partition;
        info.launch_time = now_ms();
        info.executor_id = executor_id;
        info.host = host;
        infos_[task_id] = info;
        running_.insert(task_id);
        ++copies_running_[static_cast<std::size_t>(index)];

        TaskLaunch launch;
        auto& d = launch.desc;
        d.task_id = task_id;
        d.attempt_number = attempt;
        d.executor_id = executor_id;
        d.name = fmt::format("task {}.{} in stage {} (TID {})", index, attempt, ts_.name(), task_id);
        d.index = index;
        d.partition_id = spec.partition;
        d.stage_id = ts_.stage_id;
        d.stage_attempt = ts_.stage_attempt;
        d.job_id = ts_.job_id;
        d.epoch = ts_.epoch;
        d.cpus = sched_.cpus_per_task();
        d.shuffle_map = ts_.shuffle_map;
        launch.binary = ts_.binary;
        sched_.dag().task_started(ts_, info);
        return launch;
    }
    return std::nullopt;
}

bool TaskSetManager::short_tasks() const noexcept {
    std::int64_t limit = sched_.short_task_ns();
    return limit > 0 && timed_tasks_ >= 2 && timed_ns_ < limit * timed_tasks_;
}

void TaskSetManager::handle_successful_task(std::int64_t tid, std::string result, const TaskMetrics& metrics) {
    auto it = infos_.find(tid);
    if (it == infos_.end() || !running_.count(tid)) return;
    TaskInfo& info = it->second;
    info.finish_time = now_ms();
    running_.erase(tid);
    --copies_running_[static_cast<std::size_t>(info.index)];
    auto index = static_cast<std::size_t>(info.index);
    if (successful_[index]) {
        // Another attempt already succeeded: this result is not used.
        log::get("scheduler")->info("Ignoring result of TID {}: task {} in stage {} already succeeded", tid,
                                    info.index, ts_.name());
        sched_.dag().task_ended(ts_, info.index, TaskKilled{"another attempt succeeded"}, {}, metrics, info);
        return;
    }
    successful_[index] = true;
    succeeded_tid_[index] = tid;
    ++timed_tasks_;
    timed_ns_ += static_cast<std::int64_t>(metrics.executor_run_time_ns + metrics.executor_deserialize_time_ns);
    num_failures_[index] = 0;
    ++tasks_successful_;
    if (tasks_successful_ == static_cast<int>(ts_.tasks.size())) zombie_ = true;
    sched_.dag().task_ended(ts_, info.index, Success{}, std::move(result), metrics, info);
}

void TaskSetManager::handle_task_getting_result(std::int64_t tid) {
    auto it = infos_.find(tid);
    if (it == infos_.end()) return;
    it->second.getting_result_time = now_ms();
    sched_.bus().post(SparkListenerTaskGettingResult{it->second});
}

bool TaskSetManager::can_fetch_more_results(std::uint64_t size) {
    total_result_size_ += size;
    ++calculated_tasks_;
    std::uint64_t max = sched_.max_result_size();
    if (ts_.shuffle_map || max == 0 || total_result_size_ <= max) return true;
    auto message = fmt::format("Total size of serialized results of {} tasks ({}) is bigger than "
                               "ember.driver.maxResultSize ({})",
                               calculated_tasks_, bytes_to_string(total_result_size_), bytes_to_string(max));
    log::get("scheduler")->error("{}", message);
    abort(message);
    return false;
}

void TaskSetManager::handle_failed_task(std::int64_t tid, TaskState state, TaskEndReason reason,
                                        const TaskMetrics& metrics) {
    auto it = infos_.find(tid);
    if (it == infos_.end() || !running_.count(tid)) return;
    TaskInfo& info = it->second;
    info.finish_time = now_ms();
    info.failed = state != TaskState::killed;
    info.killed = state == TaskState::killed;
    running_.erase(tid);
    --copies_running_[static_cast<std::size_t>(info.index)];
    auto index = static_cast<std::size_t>(info.index);
    std::string error = to_error_string(reason);
    log::get("scheduler")->warn("Lost task {}.{} in stage {} (TID {}) ({} executor {}): {}", info.index, info.attempt,
                                ts_.name(), tid, info.host, info.executor_id, error);
    bool fetch_failed = std::holds_alternative<FetchFailed>(reason);
    bool counts = counts_towards_task_failures(reason);
    if (fetch_failed) {
        // The DAGScheduler regenerates the map output and resubmits the stage as a new attempt.
        if (!successful_[index]) {
            successful_[index] = true;
            ++tasks_successful_;
        }
        zombie_ = true;
    }
    sched_.dag().task_ended(ts_, info.index, std::move(reason), {}, metrics, info);
    if (fetch_failed) return;
    if (counts) {
        int failures = ++num_failures_[index];
        if (failures >= max_task_failures_) {
            abort(fmt::format("Task {} in stage {} failed {} times, most recent failure: Lost task {}.{} in stage {} "
                              "(TID {}) ({} executor {}): {}",
                              info.index, ts_.name(), failures, info.index, info.attempt, ts_.name(), tid, info.host,
                              info.executor_id, error));
            return;
        }
    }
    if (!successful_[index] && !zombie_) pending_.push_back(info.index);
}

void TaskSetManager::executor_lost(const std::string& executor_id, const std::string& reason) {
    for (auto tid : running_task_ids()) {
        if (infos_[tid].executor_id != executor_id) continue;
        handle_failed_task(tid, TaskState::failed, ExecutorLostFailure{executor_id, true, reason}, TaskMetrics{});
    }
    if (!ts_.shuffle_map || zombie_) return;
    // Finished map tasks wrote their output on that executor; it is gone with it.
    for (std::size_t i = 0; i < successful_.size(); ++i) {
        if (!successful_[i] || succeeded_tid_[i] < 0) continue;
        const TaskInfo& info = infos_[succeeded_tid_[i]];
        if (info.executor_id != executor_id) continue;
        successful_[i] = false;
        succeeded_tid_[i] = -1;
        --tasks_successful_;
        pending_.push_back(static_cast<int>(i));
        sched_.dag().task_ended(ts_, static_cast<int>(i), Resubmitted{}, {}, TaskMetrics{}, info);
    }
}

void TaskSetManager::mark_partition_completed(int partition) {
    for (std::size_t i = 0; i < ts_.tasks.size(); ++i) {
        if (ts_.tasks[i].partition == partition && !successful_[i]) {
            successful_[i] = true;
            ++tasks_successful_;
        }
    }
    if (tasks_successful_ == static_cast<int>(ts_.tasks.size())) zombie_ = true;
}

void TaskSetManager::abort(const std::string& message) {
    if (zombie_ && tasks_successful_ == static_cast<int>(ts_.tasks.size())) return;
    zombie_ = true;
    pending_.clear();
    sched_.dag().task_set_failed(ts_, message);
}

}  // namespace ember::scheduler
