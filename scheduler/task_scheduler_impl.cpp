// SPDX-License-Identifier: Apache-2.0
#include "scheduler/task_scheduler_impl.hpp"

#include "rpc/log.hpp"
#include "scheduler/dag_scheduler.hpp"
#include "scheduler/scheduler_backend.hpp"
#include "scheduler/task_result_getter.hpp"

#include <algorithm>
#include <random>

namespace ember::scheduler {

TaskSchedulerImpl::TaskSchedulerImpl(const Conf& conf, int max_task_failures, ListenerBus& bus)
    : bus_(bus),
      max_result_size_(scheduler::max_result_size(conf)),
      max_task_failures_(max_task_failures),
      cpus_per_task_(static_cast<int>(std::max<std::int64_t>(1, conf.get_int("ember.task.cpus", 1)))),
      short_task_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(
                         conf.get_time_us("ember.scheduler.shortTaskDuration", "1ms"))
                         .count()) {}

TaskSchedulerImpl::~TaskSchedulerImpl() = default;

void TaskSchedulerImpl::submit_tasks(TaskSet ts) {
    int stage = ts.stage_id;
    int attempt = ts.stage_attempt;
    auto& attempts = by_stage_[stage];
    for (auto& [_, tsm] : attempts) tsm->make_zombie();
    attempts[attempt] = std::make_unique<TaskSetManager>(*this, std::move(ts), max_task_failures_);
    if (backend_) backend_->revive_offers();
}

std::vector<TaskLaunch> TaskSchedulerImpl::resource_offers(std::vector<WorkerOffer> offers) {
    for (auto& o : offers) executor_host_.try_emplace(o.executor_id, o.host);
    thread_local std::mt19937 rng(std::random_device{}());
    std::shuffle(offers.begin(), offers.end(), rng);

    // FIFO: lower job id first, then lower stage id.
    std::vector<TaskSetManager*> order;
    for (auto& [_, attempts] : by_stage_) {
        for (auto& [__, tsm] : attempts) {
            if (!tsm->is_zombie()) order.push_back(tsm.get());
        }
    }
    std::sort(order.begin(), order.end(), [](TaskSetManager* a, TaskSetManager* b) {
        auto ka = std::make_pair(a->task_set().job_id, a->task_set().stage_id);
        auto kb = std::make_pair(b->task_set().job_id, b->task_set().stage_id);
        return ka < kb;
    });

    std::vector<TaskLaunch> launches;
    for (TaskSetManager* tsm : order) {
        bool launched = true;
        while (launched) {
            launched = false;
            for (auto& o : offers) {
                bool on_core = o.cores >= cpus_per_task_;
                if (!on_core && (o.queue_slots <= 0 || !tsm->short_tasks())) continue;
                auto task = tsm->resource_offer(o.executor_id, o.host, next_task_id_);
                if (!task) break;
                ++next_task_id_;
                if (on_core) {
                    o.cores -= cpus_per_task_;
                } else {
                    --o.queue_slots;
                }
                tid_to_tsm_[task->desc.task_id] = tsm;
                tid_to_executor_[task->desc.task_id] = o.executor_id;
                launches.push_back(std::move(*task));
                launched = true;
            }
        }
    }
    return launches;
}

void TaskSchedulerImpl::status_update(std::int64_t tid, TaskState state, std::string result,
                                      std::optional<TaskEndReason> reason, const TaskMetrics& metrics,
                                      std::optional<IndirectTaskResult> indirect) {
    auto it = tid_to_tsm_.find(tid);
    if (it == tid_to_tsm_.end()) {
        if (is_finished(state)) {
            log::get("scheduler")->debug("Ignoring update with state {} for TID {}: the task is not running",
                                         static_cast<int>(state), tid);
        }
        return;
    }
    if (!is_finished(state)) return;
    if (state == TaskState::finished) {
        // The task stays known (and its TaskSetManager alive) until its result is in.
        if (result_getter_) {
            result_getter_->enqueue_successful_task(tid, std::move(result), std::move(indirect), metrics);
        } else {
            handle_successful_task(tid, std::move(result), metrics);
        }
        return;
    }
    handle_failed_task(tid, state, reason ? std::move(*reason) : TaskEndReason{ExceptionFailure{"ember.UnknownReason", "the task failed without a reason", {}}}, metrics);
}

void TaskSchedulerImpl::handle_successful_task(std::int64_t tid, std::string result, const TaskMetrics& metrics) {
    auto it = tid_to_tsm_.find(tid);
    if (it == tid_to_tsm_.end()) return;
    TaskSetManager* tsm = it->second;
    forget_task(tid);
    tsm->handle_successful_task(tid, std::move(result), metrics);
    remove_finished_task_sets();
}

void TaskSchedulerImpl::handle_failed_task(std::int64_t tid, TaskState state, TaskEndReason reason,
                                           const TaskMetrics& metrics) {
    auto it = tid_to_tsm_.find(tid);
    if (it == tid_to_tsm_.end()) return;
    TaskSetManager* tsm = it->second;
    forget_task(tid);
    tsm->handle_failed_task(tid, state, std::move(reason), metrics);
    remove_finished_task_sets();
}

void TaskSchedulerImpl::handle_task_getting_result(std::int64_t tid) {
    if (auto it = tid_to_tsm_.find(tid); it != tid_to_tsm_.end()) it->second->handle_task_getting_result(tid);
}

bool TaskSchedulerImpl::can_fetch_more_results(std::int64_t tid, std::uint64_t size) {
    auto it = tid_to_tsm_.find(tid);
    return it == tid_to_tsm_.end() || it->second->can_fetch_more_results(size);
}

void TaskSchedulerImpl::forget_task(std::int64_t tid) {
    tid_to_tsm_.erase(tid);
    tid_to_executor_.erase(tid);
}

void TaskSchedulerImpl::executor_added(const std::string& executor_id, const std::string& host) {
    executor_host_[executor_id] = host;
    dag_->executor_added(executor_id, host);
}

void TaskSchedulerImpl::executor_lost(const std::string& executor_id, const std::string& reason) {
    if (!executor_host_.erase(executor_id)) return;
    for (auto it = tid_to_executor_.begin(); it != tid_to_executor_.end();) {
        if (it->second == executor_id) {
            tid_to_tsm_.erase(it->first);
            it = tid_to_executor_.erase(it);
        } else {
            ++it;
        }
    }
    std::vector<TaskSetManager*> all;
    for (auto& [_, attempts] : by_stage_) {
        for (auto& [__, tsm] : attempts) all.push_back(tsm.get());
    }
    for (auto* tsm : all) tsm->executor_lost(executor_id, reason);
    dag_->executor_lost(executor_id, reason);
    remove_finished_task_sets();
    if (backend_) backend_->revive_offers();
}

void TaskSchedulerImpl::cancel_tasks(int stage_id, const std::string& reason) {
    auto it = by_stage_.find(stage_id);
    if (it == by_stage_.end()) return;
    for (auto& [_, tsm] : it->second) {
        for (auto tid : tsm->running_task_ids()) kill_task(tid, reason);
        tsm->make_zombie();
    }
}

void TaskSchedulerImpl::kill_task(std::int64_t tid, const std::string& reason) {
    auto it = tid_to_executor_.find(tid);
    if (it == tid_to_executor_.end() || !backend_) return;
    backend_->kill_task(tid, it->second, true, reason);
}

void TaskSchedulerImpl::abort_task_set_of(const std::vector<std::int64_t>& unsent, const std::string& message) {
    if (unsent.empty()) return;
    auto it = tid_to_tsm_.find(unsent.front());
    if (it == tid_to_tsm_.end()) return;
    TaskSetManager* tsm = it->second;
    // These tasks never reached an executor and will never report: forget them.
    for (auto tid : unsent) {
        tsm->forget_unlaunched(tid);
        forget_task(tid);
    }
    tsm->abort(message);
    remove_finished_task_sets();
}

void TaskSchedulerImpl::mark_partition_completed(int stage_id, int partition) {
    auto it = by_stage_.find(stage_id);
    if (it == by_stage_.end()) return;
    for (auto& [_, tsm] : it->second) tsm->mark_partition_completed(partition);
}

void TaskSchedulerImpl::remove_finished_task_sets() {
    for (auto sit = by_stage_.begin(); sit != by_stage_.end();) {
        auto& attempts = sit->second;
        for (auto ait = attempts.begin(); ait != attempts.end();) {
            if (ait->second->is_zombie() && ait->second->running_tasks() == 0) {
                ait = attempts.erase(ait);
            } else {
                ++ait;
            }
        }
        sit = attempts.empty() ? by_stage_.erase(sit) : std::next(sit);
    }
}

}  // namespace ember::scheduler
