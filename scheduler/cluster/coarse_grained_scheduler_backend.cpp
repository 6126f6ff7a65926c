// SPDX-License-Identifier: Apache-2.0
#include "scheduler/cluster/coarse_grained_scheduler_backend.hpp"

#include "rpc/log.hpp"
#include "scheduler/cluster/cluster_codec.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/cluster/driver_endpoint.hpp"

#include <fmt/format.h>

namespace ember::scheduler {

CoarseGrainedSchedulerBackend::CoarseGrainedSchedulerBackend(rpc::RpcEnv& env, TaskSchedulerImpl& scheduler,
                                                             ListenerBus& bus, const Conf& conf, std::string app_id)
    : env_(env),
      scheduler_(scheduler),
      bus_(bus),
      conf_(conf),
      app_id_(std::move(app_id)),
      revive_interval_(conf.get_time_ms("ember.scheduler.revive.interval", "1s")) {}

CoarseGrainedSchedulerBackend::~CoarseGrainedSchedulerBackend() { revive_timer_.stop(); }

void CoarseGrainedSchedulerBackend::start() {
    driver_ref_ = env_.setup_endpoint(std::string(kEndpointName), std::make_unique<DriverEndpoint>(*this)).value();
    // Periodic revive (Spark: spark.scheduler.revive.interval): picks up offers nothing else
    // triggered, such as cores freed by a lost task.
    struct Reviver {
        static void arm(CoarseGrainedSchedulerBackend* self) {
            self->revive_timer_.schedule(self->revive_interval_, [self] {
                if (self->post([self] { self->make_offers(); })) arm(self);
            });
        }
    };
    Reviver::arm(this);
}

void CoarseGrainedSchedulerBackend::stop() {
    {
        std::lock_guard lk(mu_);
        if (stopped_) return;
        stopped_ = true;
    }
    revive_timer_.stop();
    post([this] {
        for (auto& [id, data] : executors_) data.ref.send<wire::StopExecutor>();
    });
}

bool CoarseGrainedSchedulerBackend::post(std::function<void()> fn) { return env_.post_task(driver_ref_, std::move(fn)); }

std::optional<std::string> CoarseGrainedSchedulerBackend::wait_for_executors(
    int n, std::chrono::milliseconds timeout, const std::function<std::optional<std::string>()>& failure) {
    auto until = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lk(mu_);
    for (;;) {
        if (registered_ >= n) return std::nullopt;
        lk.unlock();
        if (auto f = failure()) return f;
        lk.lock();
        if (std::chrono::steady_clock::now() >= until) {
            return fmt::format("only {} of {} executors registered within {} ms "
                               "(ember.scheduler.maxRegisteredResourcesWaitingTime)",
                               registered_, n, timeout.count());
        }
        cv_.wait_for(lk, std::chrono::milliseconds(20));
    }
}

int CoarseGrainedSchedulerBackend::registered_executors() const {
    std::lock_guard lk(mu_);
    return registered_;
}

std::optional<std::string> CoarseGrainedSchedulerBackend::registration_refusal(const std::string& executor_id) const {
    std::lock_guard lk(mu_);
    auto it = refusals_.find(executor_id);
    if (it == refusals_.end()) return std::nullopt;
    return it->second;
}

void CoarseGrainedSchedulerBackend::executor_exited(const std::string& executor_id, const std::string& description) {
    post([this, executor_id, description] {
        if (executors_.count(executor_id)) remove_executor(executor_id, "Executor process " + description);
    });
}

void CoarseGrainedSchedulerBackend::revive_offers() { make_offers(); }

int CoarseGrainedSchedulerBackend::default_parallelism() const {
    if (auto p = conf_.get("ember.default.parallelism")) return static_cast<int>(conf_.get_int("ember.default.parallelism", 2));
    std::lock_guard lk(mu_);
    return std::max(total_cores_, 2);
}

void CoarseGrainedSchedulerBackend::kill_task(std::int64_t task_id, const std::string& executor_id, bool interrupt,
                                              const std::string& reason) {
    auto it = executors_.find(executor_id);
    if (it == executors_.end()) return;
    it->second.ref.send<wire::KillTask>([&](wire::KillTask::Builder b) {
        b.setTaskId(task_id);
        b.setExecutorId(executor_id);
        b.setInterruptThread(interrupt);
        b.setReason(reason);
    });
}

void CoarseGrainedSchedulerBackend::make_offers(const std::string* only_executor) {
    std::vector<WorkerOffer> offers;
    for (auto& [id, data] : executors_) {
        if (only_executor && id != *only_executor) continue;
        if (data.free_cores > 0) offers.push_back(WorkerOffer{id, data.host, data.free_cores});
    }
    if (offers.empty()) return;
    auto launches = scheduler_.resource_offers(std::move(offers));
    if (launches.empty()) return;
    std::map<std::string, std::vector<TaskLaunch*>> by_executor;
    for (auto& l : launches) by_executor[l.desc.executor_id].push_back(&l);
    for (auto& [id, tasks] : by_executor) {
        auto& data = executors_.at(id);
        std::vector<TaskLaunch*> new_stages;
        for (auto* t : tasks) {
            auto key = std::make_pair(t->desc.stage_id, t->desc.stage_attempt);
            if (data.sent_stages.insert(key).second) new_stages.push_back(t);
        }
        auto msg = rpc::OutgoingMessage::make<wire::LaunchTask>();
        auto b = msg.payload<wire::LaunchTask>();
        auto stages = b.initStages(static_cast<unsigned>(new_stages.size()));
        for (unsigned i = 0; i < new_stages.size(); ++i) {
            stages[i].setStageId(new_stages[i]->desc.stage_id);
            stages[i].setStageAttempt(new_stages[i]->desc.stage_attempt);
            const std::string& bin = *new_stages[i]->binary;
            stages[i].setBinary(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(bin.data()), bin.size()));
        }
        auto list = b.initTasks(static_cast<unsigned>(tasks.size()));
        for (unsigned i = 0; i < tasks.size(); ++i) to_wire(list[i], tasks[i]->desc);
        data.free_cores -= static_cast<int>(tasks.size()) * scheduler_.cpus_per_task();
        data.ref.send(std::move(msg));
    }
}

void CoarseGrainedSchedulerBackend::remove_executor(const std::string& executor_id, const std::string& reason) {
    auto it = executors_.find(executor_id);
    if (it == executors_.end()) return;
    int cores = it->second.total_cores;
    executors_.erase(it);
    removed_executors_.insert(executor_id);
    bool stopping;
    {
        std::lock_guard lk(mu_);
        --registered_;
        total_cores_ -= cores;
        stopping = stopped_;
    }
    // After stop() executors leave because we asked them to: not a loss worth a warning.
    log::get("scheduler")->log(stopping ? spdlog::level::info : spdlog::level::warn, "Lost executor {}: {}",
                               executor_id, reason);
    scheduler_.executor_lost(executor_id, reason);
    bus_.post(SparkListenerExecutorRemoved{now_ms(), executor_id, reason});
}

}  // namespace ember::scheduler
