// SPDX-License-Identifier: Apache-2.0
#include "scheduler/cluster/driver_endpoint.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/security/security_config.hpp"
#include "scheduler/cluster/cluster_codec.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/cluster/coarse_grained_scheduler_backend.hpp"
#include "scheduler/registry.hpp"
#include "scheduler/task_end_reason.hpp"
#include "shuffle/map_status.hpp"

#include <fmt/format.h>

namespace ember::scheduler {

void DriverEndpoint::receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) {
    auto& b = backend_;
    if (msg.is<wire::RetrieveSparkAppConfig>()) {
        auto reply = rpc::OutgoingMessage::make<wire::SparkAppConfig>();
        auto r = reply.payload<wire::SparkAppConfig>();
        r.setAppId(b.app_id_);
        std::vector<std::pair<std::string, std::string>> props;
        for (auto& [k, v] : b.conf_.entries()) {
            // Never a secret: executors have theirs from their launcher (the environment).
            if (k.starts_with("ember.") && !rpc::security::is_secret_key(k)) props.emplace_back(k, v);
        }
        auto list = r.initSparkProperties(static_cast<unsigned>(props.size()));
        for (unsigned i = 0; i < props.size(); ++i) {
            list[i].setKey(props[i].first);
            list[i].setValue(props[i].second);
        }
        ctx.reply(std::move(reply));
        return;
    }
    if (auto reg = msg.try_get<wire::RegisterExecutor>()) {
        std::string id = reg->getExecutorId();
        std::string build = reg->getBuildId();
        auto refuse = [&](std::string why) {
            log::get("scheduler")->info("Refusing executor {}: {}", id, why);
            {
                std::lock_guard lk(b.mu_);
                b.refusals_[id] = why;
            }
            ctx.send_failure(std::move(why));
        };
        if (build != build_id()) {
            // The ids go to the driver's log only: a peer learns nothing it could replay.
            log::get("scheduler")->info("Executor {} is build {}, the driver is build {}", id, build, build_id());
            refuse(fmt::format("Executor {} is a different build than the driver: executors must run the driver's "
                               "executable",
                               id));
            return;
        }
        if (b.executors_.count(id) || b.removed_executors_.count(id)) {
            refuse("Duplicate executor ID: " + id);
            return;
        }
        // excludeOnFailure: no executor joins on a node, or under an id, excluded for the app.
        if (const HealthTracker* ht = b.scheduler_.health_tracker();
            ht && (ht->is_node_excluded(std::string(reg->getHostname())) || ht->is_executor_excluded(id))) {
            refuse("Executor is excluded due to failures: " + id);
            return;
        }
        ExecutorData data;
        // Everything for this executor goes over the connection it registered on: the one it
        // opened to the driver, the only one it obeys.
        data.ref = msg.connection_ref(reg->getExecutorRef());
        data.address = data.ref.address().empty() ? ctx.sender_address() : data.ref.address();
        // Normalised (RpcAddress::normalize_host) as every host locality compares with.
        data.host = rpc::RpcAddress::normalize_host(reg->getHostname());
        data.total_cores = reg->getCores();
        data.pid = reg->getPid();
        data.block_manager_id = shuffle::from_wire(reg->getBlockManagerId());
        data.block_manager_id.host = rpc::RpcAddress::normalize_host(std::move(data.block_manager_id.host));
        {
            std::lock_guard lk(b.mu_);
            b.executor_refs_[id] = data.ref;
        }
        b.executors_.emplace(id, std::move(data));
        log::get("scheduler")->info("Registered executor {} ({}) with {} core(s)", id,
                                    b.executors_.at(id).address.host_port(), reg->getCores());
        b.scheduler_.executor_added(id, b.executors_.at(id).host);
        b.bus_.post(SparkListenerExecutorAdded{now_ms(), id, b.executors_.at(id).host, reg->getCores()});
        {
            // Counted after the event: once SparkContext's constructor sees every executor
            // registered, its listeners have heard of each.
            std::lock_guard lk(b.mu_);
            ++b.registered_;
            b.total_cores_ += reg->getCores();
        }
        b.cv_.notify_all();
        ctx.reply<wire::RegisteredExecutor>([&](wire::RegisteredExecutor::Builder r) { r.setAppId(b.app_id_); });
        return;
    }
    RpcEndpoint::receive_and_reply(msg, std::move(ctx));
}

void DriverEndpoint::receive(const rpc::Message& msg) {
    auto& b = backend_;
    if (auto su = msg.try_get<wire::StatusUpdate>()) {
        std::string exec_id = su->getExecutorId();
        if (!b.is_executor_connection(exec_id, msg)) {
            refused(msg, fmt::format("StatusUpdate claiming executor {}: not sent by that executor's connection", exec_id));
            return;
        }
        int freed = 0;
        for (auto w : su->getUpdates()) {
            TaskStatusUpdate u = from_wire(w);
            if (!b.scheduler_.task_runs_on(u.task_id, exec_id)) {
                // Executors report only their own tasks: an update for another's is ignored.
                refused(msg, fmt::format("StatusUpdate from executor {} for TID {}, which is not running there",
                                         exec_id, u.task_id));
                continue;
            }
            TaskState state = u.state;
            std::optional<IndirectTaskResult> indirect;
            if (u.indirect) {
                auto it = b.executors_.find(exec_id);
                if (u.result_block && it != b.executors_.end()) {
                    indirect = IndirectTaskResult{*u.result_block, u.result_size, it->second.block_manager_id};
                } else {
                    // Nowhere to fetch it from: the result is lost.
                    state = TaskState::failed;
                    u.reason = TaskResultLost{};
                }
            }
            b.scheduler_.status_update(u.task_id, state, std::move(u.result), std::move(u.reason), u.metrics,
                                       std::move(indirect));
            if (is_finished(state)) {
                freed += b.scheduler_.cpus_per_task();
                if (auto it = b.executors_.find(exec_id); it != b.executors_.end()) it->second.running_tasks.erase(u.task_id);
            }
        }
        if (auto it = b.executors_.find(exec_id); it != b.executors_.end() && freed > 0) {
            it->second.free_cores = std::min(it->second.total_cores, it->second.free_cores + freed);
            b.make_offers(&exec_id);
        }
        return;
    }
    if (auto le = msg.try_get<wire::LaunchedExecutor>()) {
        std::string id = le->getExecutorId();
        if (!b.is_executor_connection(id, msg)) {
            refused(msg, fmt::format("LaunchedExecutor claiming executor {}", id));
            return;
        }
        if (auto it = b.executors_.find(id); it != b.executors_.end()) {
            it->second.free_cores = it->second.total_cores;
            if (!it->second.launched) {
                it->second.launched = true;
                {
                    std::lock_guard lk(b.mu_);
                    ++b.launched_;
                }
                b.cv_.notify_all();
            }
            b.make_offers(&id);
        }
        return;
    }
    if (auto re = msg.try_get<wire::RemoveExecutor>()) {
        if (msg.is_remote()) {  // the driver's own components only (heartbeats, the launcher)
            refused(msg, "RemoveExecutor: only the driver's own components may send it");
            return;
        }
        b.remove_executor(re->getExecutorId(), re->getReason());
        return;
    }
    RpcEndpoint::receive(msg);
}

void DriverEndpoint::refused(const rpc::Message& msg, const std::string& what) {
    refusals_.log(msg.sender_address().host, [&](std::uint64_t suppressed) {
        log::get("scheduler")->warn("Ignoring {} (from {}){}", what,
                                    msg.sender_address().host_port(), log::suppressed_suffix(suppressed));
    });
}

void DriverEndpoint::on_disconnected(const rpc::RpcAddress& remote) {
    auto& b = backend_;
    for (auto& [key, data] : b.executors_) {
        if (data.address == remote) {
            std::string id = key;
            b.executor_disconnected(id);  // std::string id: the entry may be erased
            return;
        }
    }
}

}  // namespace ember::scheduler
