// SPDX-License-Identifier: Apache-2.0
#include "scheduler/cluster/heartbeat_receiver.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_env.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"

#include <fmt/format.h>

namespace ember::scheduler {

HeartbeatReceiver::HeartbeatReceiver(std::chrono::milliseconds timeout, std::chrono::milliseconds check_interval,
                                     ExpiredHandler on_expired, SenderCheck from_executor)
    : timeout_(timeout),
      check_interval_(check_interval),
      on_expired_(std::move(on_expired)),
      from_executor_(std::move(from_executor)) {}

HeartbeatReceiver::~HeartbeatReceiver() { timer_.stop(); }

void HeartbeatReceiver::executor_added(rpc::RpcEnv& env, const rpc::RpcEndpointRef& ref,
                                       const std::string& executor_id) {
    env.post_task(ref, [this, executor_id] {
        expired_.erase(executor_id);
        last_seen_[executor_id] = Clock::now();
    });
}

void HeartbeatReceiver::executor_removed(rpc::RpcEnv& env, const rpc::RpcEndpointRef& ref,
                                         const std::string& executor_id) {
    env.post_task(ref, [this, executor_id] {
        if (last_seen_.erase(executor_id)) expired_.insert(executor_id);
    });
}

void HeartbeatReceiver::on_start() { arm(); }

void HeartbeatReceiver::arm() {
    // Spark's ExpireDeadHosts self-message: the timer thread only posts; the check runs here.
    timer_.schedule(check_interval_, [this, env = &env(), ref = self()] {
        if (env->post_task(ref, [this] { expire_dead_hosts(); })) arm();
    });
}

void HeartbeatReceiver::expire_dead_hosts() {
    auto now = Clock::now();
    for (auto it = last_seen_.begin(); it != last_seen_.end();) {
        auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second);
        if (silent <= timeout_) {
            ++it;
            continue;
        }
        std::string id = it->first;
        std::string message = fmt::format("Executor heartbeat timed out after {} ms", silent.count());
        log::get("scheduler")->warn("Removing executor {} with no recent heartbeats: {} ms exceeds timeout {} ms", id,
                                    silent.count(), timeout_.count());
        it = last_seen_.erase(it);
        expired_.insert(id);
        if (on_expired_) on_expired_(id, message);
    }
}

void HeartbeatReceiver::receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) {
    if (auto hb = msg.try_get<wire::Heartbeat>()) {
        std::string id = hb->getExecutorId();
        if (from_executor_ && !from_executor_(id, msg)) {
            ctx.send_failure(fmt::format("a heartbeat for executor {} is accepted from that executor only", id));
            return;
        }
        bool removed = expired_.count(id) > 0;
        bool known = false;
        if (auto it = last_seen_.find(id); it != last_seen_.end()) {
            it->second = Clock::now();
            known = true;
        }
        ctx.reply<wire::HeartbeatResponse>([&](wire::HeartbeatResponse::Builder r) {
            r.setReregisterBlockManager(!known && !removed);
            r.setExecutorRemoved(removed);
        });
        return;
    }
    RpcEndpoint::receive_and_reply(msg, std::move(ctx));
}

void HeartbeatReceiver::on_stop() { timer_.stop(); }

}  // namespace ember::scheduler
