// SPDX-License-Identifier: Apache-2.0
#include "scheduler/executor/coarse_grained_executor_backend.hpp"

#include "rpc/log.hpp"
#include "rpc/sim/simulation.hpp"
#include "scheduler/cluster/cluster_codec.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/cluster/heartbeat_receiver.hpp"
#include "scheduler/executor/process_metrics.hpp"
#include "scheduler/registry.hpp"
#include "scheduler/util/sim_clock.hpp"
#include "shuffle/map_output_tracker.hpp"
#include "shuffle/map_status.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

#include <unistd.h>

namespace ember::scheduler {

CoarseGrainedExecutorBackend::CoarseGrainedExecutorBackend(std::string executor_id, rpc::RpcEndpointRef driver,
                                                           std::string hostname, int cores, ExecutorServices& services,
                                                           shuffle::MapOutputTrackerWorker* tracker,
                                                           std::function<void(int, const std::string&)> on_exit)
    : executor_id_(std::move(executor_id)),
      driver_(std::move(driver)),
      hostname_(std::move(hostname)),
      cores_(cores),
      services_(services),
      tracker_(tracker),
      on_exit_(std::move(on_exit)) {}

CoarseGrainedExecutorBackend::~CoarseGrainedExecutorBackend() = default;

void CoarseGrainedExecutorBackend::exit_executor(int code, const std::string& why) { on_exit_(code, why); }

void CoarseGrainedExecutorBackend::on_start() {
    auto msg = rpc::OutgoingMessage::make<wire::RegisterExecutor>();
    auto b = msg.payload<wire::RegisterExecutor>();
    b.setExecutorId(executor_id_);
    rpc::write_ref(b.initExecutorRef(), self());
    b.setHostname(hostname_);
    b.setCores(cores_);
    b.setBuildId(build_id());
    b.setPid(static_cast<std::int32_t>(::getpid()));
    shuffle::to_wire(b.initBlockManagerId(), services_.block_manager.id());
    driver_.ask(std::move(msg), [this](rpc::RpcResult<rpc::Message> r) {
        if (!r) {
            exit_executor(1, "Cannot register with driver " + driver_.to_string() + ": " + r.error().message);
            return;
        }
        // Spark: the executor sends itself RegisteredExecutor, builds the Executor, then tells
        // the driver it is ready.
        // The task reaper ends this process as Spark's System.exit: at once, since the task
        // that would not stop keeps the orderly exit (which joins task threads) from finishing.
        executor_ = std::make_shared<Executor>(executor_id_, cores_, services_, *this, tracker_,
                                               [this](int code, const std::string&) {
                                                   log::get("scheduler")->flush();
                                                   services_.block_manager.stop();  // its local dirs
                                                   std::fflush(nullptr);
                                                   ::_exit(code);
                                               });
        if (sim::Simulation::current()) {
            executor_->set_simulated_env(env());
        } else {
            executor_->set_io_env(env());  // an idle task thread reads the next LaunchTask itself
        }
        start_heartbeater();
        driver_.send<wire::LaunchedExecutor>([&](wire::LaunchedExecutor::Builder l) { l.setExecutorId(executor_id_); });
    });
}

void CoarseGrainedExecutorBackend::start_heartbeater() {
    const Conf& conf = services_.conf;
    auto interval = conf.get_time_ms("ember.executor.heartbeatInterval", "10s");
    struct State {
        rpc::RpcEndpointRef receiver;
        rpc::RpcTimeout timeout;
        std::chrono::milliseconds interval;
        int max_failures;
        std::atomic<int> failures{0};
        std::string executor_id;
        storage::BlockManagerId block_manager;
        std::function<void(int, const std::string&)> exit;
        std::function<int()> active_tasks;
        std::function<std::int64_t()> storage_memory;
    };
    auto st = std::make_shared<State>();
    st->receiver = env().endpoint_ref(driver_.address(), "HeartbeatReceiver");
    st->timeout = rpc::RpcTimeout{interval, "ember.executor.heartbeatInterval"};
    st->interval = interval;
    st->max_failures = static_cast<int>(conf.get_int("ember.executor.heartbeat.maxFailures", 60));
    st->executor_id = executor_id_;
    st->block_manager = services_.block_manager.id();
    st->exit = on_exit_;
    Executor* executor = executor_.get();
    st->active_tasks = [executor] { return executor->active_tasks(); };
    storage::BlockManager* bm = &services_.block_manager;
    st->storage_memory = [bm] { return static_cast<std::int64_t>(bm->memory_store().memory_used()); };
    // In a simulation (master sim[...]) the beats are events on its virtual clock and the first
    // delay comes from its seed, so a run replays exactly.
    auto* sim = sim::Simulation::current();
    std::shared_ptr<util::Clock> clock;
    if (sim) clock = std::make_shared<util::SimClock>(*sim, util::SimClock::kDefaultEpochMs, &env());
    heartbeater_ = std::make_unique<Timer>("driver-heartbeater", clock);
    // Recurring: each beat schedules the next. The Timer (and so every beat) stops in on_stop,
    // before executor_ goes away.
    struct Beat {
        static void schedule(Timer* timer, std::shared_ptr<State> st, std::chrono::milliseconds delay) {
            timer->schedule(delay, [timer, st] {
                auto msg = rpc::OutgoingMessage::make<wire::Heartbeat>();
                auto b = msg.payload<wire::Heartbeat>();
                b.setExecutorId(st->executor_id);
                shuffle::to_wire(b.initBlockManagerId(), st->block_manager);
                b.setRunningTasks(st->active_tasks());
                // Spark's Heartbeat carries the executor's ExecutorMetrics, sampled as it is sent.
                auto metrics = sample_process_metrics();
                metrics.storage_memory_bytes = st->storage_memory();
                // execution_memory_bytes stays 0: task buffers are budgeted per task, not counted
                // per process (peaks are in each task's TaskMetrics).
                to_wire(b.initMetrics(), metrics);
                st->receiver.ask(std::move(msg), st->timeout, [st](rpc::RpcResult<rpc::Message> r) {
                    if (!r) {
                        int n = ++st->failures;
                        log::get("scheduler")->warn("Issue communicating with driver in heartbeater ({} of {}): {}", n,
                                                    st->max_failures, r.error().message);
                        if (n >= st->max_failures) {
                            st->exit(56, fmt::format("Exit as unable to send heartbeats to driver more than {} times",
                                                     st->max_failures));
                        }
                        return;
                    }
                    st->failures = 0;
                    if (auto resp = r->try_get<wire::HeartbeatResponse>(); resp && resp->getExecutorRemoved()) {
                        st->exit(1, fmt::format("Executor {} was removed by the driver (no heartbeat within "
                                                "ember.network.timeout); exiting",
                                                st->executor_id));
                    }
                });
                schedule(timer, st, st->interval);
            });
        }
    };
    // Spark: the first heartbeat after a random delay of one to two intervals, so that
    // executors started together do not beat together.
    std::mt19937 rng(sim ? static_cast<std::mt19937::result_type>(sim->random().next()) : std::random_device{}());
    auto first = interval + std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(0, interval.count())(rng));
    Beat::schedule(heartbeater_.get(), st, first);
}

bool CoarseGrainedExecutorBackend::from_driver(const rpc::Message& msg) {
    if (msg.came_over(driver_)) return true;
    // An executor obeys only its driver: the connection it opened to the driver's address,
    // authenticated when ember.authenticate is on, whatever an envelope claims.
    refused_.log(msg.sender_address().host_port(), [&](std::uint64_t suppressed) {
        log::get("scheduler")->warn("Ignoring {} from {}: only the driver's connection may send it{}", msg.type_name(),
                                    msg.sender_address().host_port(), log::suppressed_suffix(suppressed));
    });
    return false;
}

void CoarseGrainedExecutorBackend::receive(const rpc::Message& msg) {
    if ((msg.is<wire::LaunchTask>() || msg.is<wire::KillTask>() || msg.is<wire::StopExecutor>()) && !from_driver(msg)) {
        return;
    }
    if (auto lt = msg.try_get<wire::LaunchTask>()) {
        if (!executor_) {
            exit_executor(1, "Received LaunchTask command but executor was null");
            return;
        }
        for (auto s : lt->getStages()) {
            auto bin = s.getBinary();
            executor_->add_stage_binary(s.getStageId(), s.getStageAttempt(),
                                        std::make_shared<const std::string>(reinterpret_cast<const char*>(bin.begin()),
                                                                            bin.size()));
        }
        for (auto t : lt->getTasks()) executor_->launch_task(from_wire(t));
        for (auto r : lt->getRemoveStages()) executor_->remove_stage_binary(r.getStageId(), r.getStageAttempt());
        return;
    }
    if (auto kt = msg.try_get<wire::KillTask>()) {
        if (executor_) executor_->kill_task(kt->getTaskId(), kt->getReason());
        return;
    }
    if (msg.is<wire::StopExecutor>()) {
        log::get("scheduler")->info("Driver commanded a shutdown");
        exit_executor(0, "");
        return;
    }
    RpcEndpoint::receive(msg);
}

void CoarseGrainedExecutorBackend::receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) {
    if (msg.is<wire::StopExecutor>() && !from_driver(msg)) {
        ctx.send_failure(rpc::RpcError{rpc::RpcErrc::remote_failure, "StopExecutor is accepted from the driver only"});
        return;
    }
    if (msg.is<wire::StopExecutor>()) {
        log::get("scheduler")->info("Driver commanded a shutdown");
        ctx.reply<ember::rpc_wire::Ack>();
        exit_executor(0, "");
        return;
    }
    RpcEndpoint::receive_and_reply(msg, std::move(ctx));
}

void CoarseGrainedExecutorBackend::on_disconnected(const rpc::RpcAddress& remote) {
    if (remote == driver_.address()) {
        exit_executor(1, fmt::format("Driver {} disassociated! Shutting down.", remote.host_port()));
    }
}

void CoarseGrainedExecutorBackend::on_stop() {
    if (heartbeater_) heartbeater_->stop();
    if (executor_) {
        executor_->stop();
        // An executor's task thread may run this handler from a wait inside its task (it drives
        // the env's loop there); this backend is destroyed right after, the Executor only once
        // that task has returned.
        Executor::outlive_owner(std::move(executor_));
    }
}

void CoarseGrainedExecutorBackend::status_update(std::int64_t task_id, TaskState state, std::string result,
                                                 std::optional<TaskEndReason> reason, const TaskMetrics& metrics,
                                                 std::optional<IndirectTaskResult> indirect) {
    auto msg = rpc::OutgoingMessage::make<wire::StatusUpdate>();
    auto b = msg.payload<wire::StatusUpdate>();
    b.setExecutorId(executor_id_);
    auto u = b.initUpdates(1)[0];
    u.setTaskId(task_id);
    u.setState(to_wire(state));
    u.setResult(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(result.data()), result.size()));
    if (reason) to_wire(u.initFailure(), *reason);
    if (indirect) {
        u.setIndirect(true);
        u.setResultSize(indirect->size);
        u.setResultBlockId(storage::name(indirect->block_id));
    }
    metrics.to_wire(u.initMetrics());
    if (!metrics.accumulator_updates.empty()) {
        auto list = u.initAccumUpdates(static_cast<unsigned>(metrics.accumulator_updates.size()));
        for (unsigned i = 0; i < list.size(); ++i) {
            const auto& a = metrics.accumulator_updates[i];
            list[i].setId(a.id);
            list[i].setType(a.type);
            list[i].setValue(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(a.value.data()), a.value.size()));
        }
    }
    driver_.send(std::move(msg));
}

}  // namespace ember::scheduler
