// SPDX-License-Identifier: Apache-2.0
#include "scheduler/local/local_scheduler_backend.hpp"

namespace ember::scheduler {
namespace {

/// The loop's endpoint: it receives no messages, only posted tasks.
class LocalEndpoint final : public rpc::RpcEndpoint {};

}  // namespace

LocalSchedulerBackend::LocalSchedulerBackend(rpc::RpcEnv& env, TaskSchedulerImpl& scheduler, int cores,
                                             ExecutorServices& services)
    : env_(env), scheduler_(scheduler), cores_(cores), free_cores_(cores), services_(services) {}

LocalSchedulerBackend::~LocalSchedulerBackend() { stop(); }

void LocalSchedulerBackend::start() {
    loop_ = env_.setup_endpoint(std::string(kEndpointName), std::make_unique<LocalEndpoint>()).value();
    executor_ = std::make_unique<Executor>(services_.executor_id, cores_, services_, *this, nullptr);
    post([this] { scheduler_.executor_added(services_.executor_id, "localhost"); });
}

void LocalSchedulerBackend::stop() {
    if (executor_) executor_->stop();
}

bool LocalSchedulerBackend::post(std::function<void()> fn) { return env_.post_task(loop_, std::move(fn)); }

void LocalSchedulerBackend::revive_offers() {
    if (free_cores_ <= 0) return;
    auto launches = scheduler_.resource_offers({WorkerOffer{services_.executor_id, "localhost", free_cores_}});
    for (auto& l : launches) {
        free_cores_ -= scheduler_.cpus_per_task();
        executor_->add_stage_binary(l.desc.stage_id, l.desc.stage_attempt, l.binary);
        executor_->launch_task(std::move(l.desc));
    }
}

void LocalSchedulerBackend::stage_attempt_finished(int stage_id, int stage_attempt) {
    if (executor_) executor_->remove_stage_binary(stage_id, stage_attempt);
}

void LocalSchedulerBackend::kill_task(std::int64_t task_id, const std::string&, bool, const std::string& reason) {
    executor_->kill_task(task_id, reason);
}

void LocalSchedulerBackend::status_update(std::int64_t task_id, TaskState state, std::string result,
                                          std::optional<TaskEndReason> reason, const TaskMetrics& metrics,
                                          std::optional<IndirectTaskResult> indirect) {
    if (indirect) indirect->location = services_.block_manager.id();
    post([this, task_id, state, result = std::move(result), reason = std::move(reason), metrics,
          indirect = std::move(indirect)]() mutable {
        scheduler_.status_update(task_id, state, std::move(result), std::move(reason), metrics, std::move(indirect));
        if (is_finished(state)) {
            free_cores_ += scheduler_.cpus_per_task();
            revive_offers();
        }
    });
}

}  // namespace ember::scheduler
