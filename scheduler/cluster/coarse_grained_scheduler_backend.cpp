// SPDX-License-Identifier: Apache-2.0
#include "scheduler/cluster/coarse_grained_scheduler_backend.hpp"

#include "rpc/log.hpp"
#include "rpc/sim/simulation.hpp"
#include "scheduler/cluster/cluster_codec.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/cluster/driver_endpoint.hpp"
#include "scheduler/util/sim_wait.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <future>
#include <span>
#include <tuple>

namespace ember::scheduler {
namespace {

void set_stages_to_remove(wire::LaunchTask::Builder b, const std::vector<std::pair<int, int>>& stages) {
    auto list = b.initRemoveStages(static_cast<unsigned>(stages.size()));
    for (unsigned i = 0; i < stages.size(); ++i) {
        list[i].setStageId(stages[i].first);
        list[i].setStageAttempt(stages[i].second);
    }
}

}  // namespace

CoarseGrainedSchedulerBackend::CoarseGrainedSchedulerBackend(rpc::RpcEnv& env, TaskSchedulerImpl& scheduler,
                                                             ListenerBus& bus, const Conf& conf, std::string app_id)
    : env_(env),
      scheduler_(scheduler),
      bus_(bus),
      conf_(conf),
      app_id_(std::move(app_id)),
      revive_timer_("revive-offers", scheduler.clock_ptr()),
      loss_timer_("executor-loss", scheduler.clock_ptr()),
      revive_interval_(conf.get_time_ms("ember.scheduler.revive.interval", "1s")),
      queue_depth_(static_cast<int>(std::max<std::int64_t>(0, conf.get_int("ember.scheduler.shortTaskQueueDepth", 32)))),
      max_frame_(static_cast<std::size_t>(conf.get_size_bytes("ember.rpc.message.maxSize", "128", "m"))) {}

CoarseGrainedSchedulerBackend::~CoarseGrainedSchedulerBackend() {
    revive_timer_.stop();
    loss_timer_.stop();
}

void CoarseGrainedSchedulerBackend::start() {
    driver_ref_ = env_.setup_endpoint(std::string(kEndpointName), std::make_unique<DriverEndpoint>(*this)).value();
    // Periodic revive (Spark: spark.scheduler.revive.interval): picks up offers nothing else
    // triggered, such as cores freed by a lost task.
    struct Reviver {
        static void arm(CoarseGrainedSchedulerBackend* self) {
            self->revive_timer_.schedule(self->revive_interval_, [self] {
                if (self->post([self] {
                        self->make_offers();
                        self->send_stage_removals();
                    })) {
                    arm(self);
                }
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
    loss_timer_.stop();
    // StopExecutor is asked, not sent: an executor that has acknowledged it exits 0 even when it
    // sees the driver's connections close right after (they are separate TCP connections, so a
    // plain send could arrive after the disconnect).
    auto pending = std::make_shared<std::atomic<int>>(0);
    auto done = std::make_shared<std::promise<void>>();
    auto all_done = done->get_future();
    auto stop_timeout = rpc::RpcTimeout::from(conf_, {"ember.executor.stopTimeout"}, "10s");
    bool posted = post([this, pending, done, stop_timeout] {
        if (executors_.empty()) {
            done->set_value();
            return;
        }
        pending->store(static_cast<int>(executors_.size()));
        for (auto& entry : executors_) {
            // (Not a structured binding: clang before 16 cannot capture one in a lambda.)
            const std::string& id = entry.first;
            // The callback runs on this loop, before the executor's disconnect is seen here.
            entry.second.ref.ask(rpc::OutgoingMessage::make<wire::StopExecutor>(),
                             stop_timeout,
                             [this, id, pending, done](rpc::RpcResult<rpc::Message> r) {
                                 if (auto it = executors_.find(id); r && it != executors_.end()) {
                                     it->second.stop_acknowledged = true;
                                 }
                                 if (pending->fetch_sub(1) == 1) done->set_value();
                             });
        }
    });
    if (posted) util::wait_future_for(all_done, stop_timeout.duration + std::chrono::seconds(5));
}

bool CoarseGrainedSchedulerBackend::post(std::function<void()> fn) { return env_.post_task(driver_ref_, std::move(fn)); }

std::optional<std::string> CoarseGrainedSchedulerBackend::wait_for_executors(
    int n, std::chrono::milliseconds timeout, const std::function<std::optional<std::string>()>& failure) {
    // In a simulation (master sim[...]) the wait runs it, in virtual time.
    auto* sim = sim::Simulation::current();
    if (sim && !sim->can_block()) sim = nullptr;
    auto now = [sim] {
        return sim ? std::chrono::steady_clock::time_point(sim->now()) : std::chrono::steady_clock::now();
    };
    auto until = now() + timeout;
    std::unique_lock lk(mu_);
    for (;;) {
        if (launched_ >= n) return std::nullopt;
        lk.unlock();
        if (auto f = failure()) return f;
        if (sim) {
            sim->schedule(std::chrono::milliseconds(20), [] {});  // the next look, even if all is quiet
            sim->wait_until([&] { std::lock_guard g(mu_); return launched_ >= n; }, std::chrono::milliseconds(20));
        }
        lk.lock();
        if (now() >= until) {
            return fmt::format("only {} of {} executors registered ({} ready for tasks) within {} ms "
                               "(ember.scheduler.maxRegisteredResourcesWaitingTime)",
                               registered_, n, launched_, timeout.count());
        }
        if (!sim) cv_.wait_for(lk, std::chrono::milliseconds(20));
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

void CoarseGrainedSchedulerBackend::executor_exited(const std::string& executor_id, const std::string& description,
                                                    const std::string& log_tail) {
    post([this, executor_id, description, log_tail] {
        auto it = executors_.find(executor_id);
        if (it == executors_.end()) return;
        std::string reason = fmt::format("executor {} {}", executor_id, description);
        const auto& running = it->second.running_tasks;
        for (auto t = running.begin(); t != running.end(); ++t) {
            reason += t == running.begin() ? " while running " : ", ";
            reason += t->second;
        }
        if (!log_tail.empty()) reason += "; last lines of its log:\n" + log_tail;
        remove_executor(executor_id, std::move(reason));
    });
}

void CoarseGrainedSchedulerBackend::executor_disconnected(const std::string& executor_id) {
    static constexpr std::string_view kNetworkReason =
        "Remote RPC client disassociated. Likely due to containers exceeding thresholds, or network issues. Check "
        "driver logs for WARN messages.";
    auto it = executors_.find(executor_id);
    if (it == executors_.end() || it->second.loss_pending) return;
    bool stopping;
    {
        std::lock_guard lk(mu_);
        stopping = stopped_;
    }
    if (exit_report_wait_.count() <= 0 || stopping || it->second.stop_acknowledged ||
        it->second.killed_by_driver) {
        remove_executor(executor_id, std::string(kNetworkReason));
        return;
    }
    // The process is probably gone and its exit status is on the way (the socket closes before
    // the launcher reaps the child): wait for it, offering the executor nothing meanwhile.
    it->second.loss_pending = true;
    log::get("scheduler")->info("Executor {} disconnected; waiting up to {} ms for its exit status", executor_id,
                                exit_report_wait_.count());
    loss_timer_.schedule(exit_report_wait_, [this, executor_id] {
        post([this, executor_id] {
            auto e = executors_.find(executor_id);
            if (e != executors_.end() && e->second.loss_pending) remove_executor(executor_id, std::string(kNetworkReason));
        });
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

bool CoarseGrainedSchedulerBackend::kill_executor(const std::string& executor_id, const std::string& reason) {
    auto it = executors_.find(executor_id);
    if (it == executors_.end()) return false;
    if (it->second.killed_by_driver) return true;
    log::get("scheduler")->info("Requesting to kill executor {}: {}", executor_id, reason);
    it->second.killed_by_driver = true;
    it->second.ref.send(rpc::OutgoingMessage::make<wire::StopExecutor>());
    return true;
}

void CoarseGrainedSchedulerBackend::make_offers(const std::string* only_executor) {
    std::vector<WorkerOffer> offers;
    for (auto& [id, data] : executors_) {
        if (only_executor && id != *only_executor) continue;
        if (!data.launched || data.loss_pending || data.killed_by_driver) continue;
        // Queue capacity in cores: queue_depth_ tasks per core may wait behind running ones.
        int queue_cores = data.total_cores * queue_depth_ + std::min(data.free_cores, 0);
        WorkerOffer o{id, data.host, std::max(data.free_cores, 0), std::max(queue_cores, 0) / scheduler_.cpus_per_task()};
        if (o.cores > 0 || o.queue_slots > 0) offers.push_back(std::move(o));
    }
    if (offers.empty()) return;
    auto launches = scheduler_.resource_offers(std::move(offers), only_executor == nullptr);
    if (launches.empty()) return;
    // One LaunchTask per executor and stage: the launches sorted into runs of the same
    // (executor, stage, attempt), without a map per round (most rounds launch one task).
    std::vector<TaskLaunch*> order;
    order.reserve(launches.size());
    for (auto& l : launches) order.push_back(&l);
    auto key = [](const TaskLaunch* l) {
        return std::tie(l->desc.executor_id, l->desc.stage_id, l->desc.stage_attempt);
    };
    if (order.size() > 1) {
        std::stable_sort(order.begin(), order.end(), [&](auto* a, auto* b) { return key(a) < key(b); });
    }
    // A run is cut where its tasks' own partition data (parallelize's slices) would take the
    // message past the frame limit, so tasks that fit one by one are never refused together.
    auto task_bytes = [](const TaskLaunch* l) {
        constexpr std::size_t kDescriptionBytes = 1024;  // a TaskDescription's fields, generously
        return kDescriptionBytes + l->desc.name.size() + (l->desc.partition_data ? l->desc.partition_data->size() : 0);
    };
    for (std::size_t begin = 0, end = 0; begin < order.size(); begin = end) {
        auto& data = executors_.at(order[begin]->desc.executor_id);
        const std::pair<int, int> stage{order[begin]->desc.stage_id, order[begin]->desc.stage_attempt};
        // The stage's binary goes with its first tasks on this executor.
        const bool with_binary = !data.sent_stages.count(stage);
        end = begin + 1;
        std::size_t run_bytes = task_bytes(order[begin]) + (with_binary ? order[begin]->binary->size() : 0);
        while (end < order.size() && key(order[end]) == key(order[begin]) &&
               run_bytes + task_bytes(order[end]) <= max_frame_) {
            run_bytes += task_bytes(order[end]);
            ++end;
        }
        std::span<TaskLaunch* const> stage_tasks(order.data() + begin, end - begin);
        auto msg = rpc::OutgoingMessage::make<wire::LaunchTask>();
        auto b = msg.payload<wire::LaunchTask>();
        if (!data.stages_to_remove.empty()) {
            set_stages_to_remove(b, data.stages_to_remove);
            data.stages_to_remove.clear();
        }
        if (with_binary) {
            auto s = b.initStages(1)[0];
            s.setStageId(stage.first);
            s.setStageAttempt(stage.second);
            const std::string& bin = *stage_tasks.front()->binary;
            s.setBinary(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(bin.data()), bin.size()));
        }
        auto list = b.initTasks(static_cast<unsigned>(stage_tasks.size()));
        for (unsigned i = 0; i < stage_tasks.size(); ++i) to_wire(list[i], stage_tasks[i]->desc);
        std::size_t bytes = msg.frame_bytes();
        if (bytes > max_frame_) {
            // Spark: the task set is aborted rather than sent (it could never arrive).
            auto& first = stage_tasks.front()->desc;
            std::vector<std::int64_t> unsent;
            for (auto* t : stage_tasks) unsent.push_back(t->desc.task_id);
            scheduler_.abort_task_set_of(
                unsent,
                fmt::format("Serialized task {}:{} was {} bytes, which exceeds max allowed: "
                            "ember.rpc.message.maxSize ({} bytes). Consider increasing ember.rpc.message.maxSize "
                            "or using smaller values in parallelize() and closures.",
                            first.task_id, first.index, bytes, max_frame_));
            continue;
        }
        if (with_binary) data.sent_stages.insert(stage);
        for (auto* t : stage_tasks) data.running_tasks[t->desc.task_id] = t->desc.name;
        data.free_cores -= static_cast<int>(stage_tasks.size()) * scheduler_.cpus_per_task();
        data.ref.send(std::move(msg));
    }
}

void CoarseGrainedSchedulerBackend::stage_attempt_finished(int stage_id, int stage_attempt) {
    const std::pair<int, int> stage{stage_id, stage_attempt};
    for (auto& [_, data] : executors_) {
        if (data.sent_stages.erase(stage)) data.stages_to_remove.push_back(stage);
    }
}

void CoarseGrainedSchedulerBackend::send_stage_removals() {
    for (auto& [_, data] : executors_) {
        if (data.stages_to_remove.empty()) continue;
        auto msg = rpc::OutgoingMessage::make<wire::LaunchTask>();
        set_stages_to_remove(msg.payload<wire::LaunchTask>(), data.stages_to_remove);
        data.stages_to_remove.clear();
        data.ref.send(std::move(msg));
    }
}

bool CoarseGrainedSchedulerBackend::is_executor_connection(const std::string& executor_id,
                                                           const rpc::Message& msg) const {
    rpc::RpcEndpointRef ref;
    {
        std::lock_guard lk(mu_);
        auto it = executor_refs_.find(executor_id);
        if (it == executor_refs_.end()) return false;
        ref = it->second;
    }
    return msg.came_over(ref);
}

void CoarseGrainedSchedulerBackend::remove_executor(std::string executor_id, std::string reason) {
    auto it = executors_.find(executor_id);
    if (it == executors_.end()) return;
    int cores = it->second.total_cores;
    bool launched = it->second.launched;
    if (it->second.stop_acknowledged) reason = std::string(kStoppedByDriver);
    if (it->second.killed_by_driver) reason = std::string(kKilledByDriver);
    executors_.erase(it);
    removed_executors_.insert(executor_id);
    bool stopping;
    {
        std::lock_guard lk(mu_);
        executor_refs_.erase(executor_id);
        --registered_;
        if (launched) --launched_;
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
