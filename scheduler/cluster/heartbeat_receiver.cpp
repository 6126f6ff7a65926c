// SPDX-License-Identifier: Apache-2.0
#include "scheduler/cluster/heartbeat_receiver.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_env.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"

#include <fmt/format.h>

namespace ember::scheduler {

HeartbeatReceiver::HeartbeatReceiver(std::chrono::milliseconds timeout, std::chrono::milliseconds check_interval,
                                     ExpiredHandler on_expired, SenderCheck from_executor, MetricsHandler on_metrics,
                                     std::shared_ptr<util::Clock> clock)
    : timeout_(timeout),
      check_interval_(check_interval),
      on_expired_(std::move(on_expired)),
      from_executor_(std::move(from_executor)),
      on_metrics_(std::move(on_metrics)),
      timer_("heartbeat-receiver", std::move(clock)) {}

HeartbeatReceiver::~HeartbeatReceiver() { timer_.stop(); }

void HeartbeatReceiver::executor_added(rpc::RpcEnv& env, const rpc::RpcEndpointRef& ref,
                                       const std::string& executor_id) {
    env.post_task(ref, [this, executor_id] {
        expired_.erase(executor_id);
        last_seen_[executor_id] = timer_.clock()->monotonic_millis();
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
        // The check's time is the timer's due time: exact on a ManualClock, however late the
        // timer's thread or this loop runs.
        if (env->post_task(ref, [this, at = timer_.current_time()] { expire_dead_hosts(at); })) arm();
    });
}

void HeartbeatReceiver::expire_dead_hosts(std::int64_t now) {
    for (auto it = last_seen_.begin(); it != last_seen_.end();) {
        auto silent = std::chrono::milliseconds(now - it->second);
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
            it->second = timer_.clock()->monotonic_millis();
            known = true;
        }
        ctx.reply<wire::HeartbeatResponse>([&](wire::HeartbeatResponse::Builder r) {
            r.setReregisterBlockManager(!known && !removed);
            r.setExecutorRemoved(removed);
        });
        // Spark: only a registered executor's metrics are posted (executorHeartbeatReceived).
        if (known && on_metrics_ && hb->hasMetrics()) {
            std::string why;
            if (auto m = read_executor_metrics(*hb, &why)) {
                on_metrics_(id, *m);
            } else {
                implausible_.log(id, [&](std::uint64_t suppressed) {
                    log::get("scheduler")->warn("Ignoring the metrics in a heartbeat of executor {}: {}{}", id, why,
                                                log::suppressed_suffix(suppressed));
                });
            }
        }
        return;
    }
    RpcEndpoint::receive_and_reply(msg, std::move(ctx));
}

void HeartbeatReceiver::on_stop() { timer_.stop(); }

void to_wire(wire::ExecutorMetrics::Builder b, const ExecutorMetrics& m) {
    b.setProcessRssBytes(m.process_rss_bytes);
    b.setProcessVmemBytes(m.process_vmem_bytes);
    b.setStorageMemoryBytes(m.storage_memory_bytes);
    b.setExecutionMemoryBytes(m.execution_memory_bytes);
    b.setCpuTimeNs(m.cpu_time_ns);
}

std::optional<ExecutorMetrics> read_executor_metrics(wire::Heartbeat::Reader hb, std::string* why) {
    auto fail = [&](std::string text) -> std::optional<ExecutorMetrics> {
        if (why) *why = std::move(text);
        return std::nullopt;
    };
    if (!hb.hasMetrics()) return fail("no metrics");
    auto r = hb.getMetrics();
    ExecutorMetrics m;
    m.process_rss_bytes = r.getProcessRssBytes();
    m.process_vmem_bytes = r.getProcessVmemBytes();
    m.storage_memory_bytes = r.getStorageMemoryBytes();
    m.execution_memory_bytes = r.getExecutionMemoryBytes();
    m.cpu_time_ns = r.getCpuTimeNs();
    const std::pair<const char*, std::int64_t> fields[] = {
        {"processRssBytes", m.process_rss_bytes},         {"processVmemBytes", m.process_vmem_bytes},
        {"storageMemoryBytes", m.storage_memory_bytes},   {"executionMemoryBytes", m.execution_memory_bytes},
        {"cpuTimeNs", m.cpu_time_ns}};
    for (auto [name, v] : fields) {
        if (v < 0) return fail(fmt::format("{} is negative ({})", name, v));
    }
    for (auto [name, v] : {fields[0], fields[2], fields[3]}) {
        if (v >= kMaxPlausibleMemoryBytes) return fail(fmt::format("{} is implausibly large ({} bytes)", name, v));
    }
    if (m.process_vmem_bytes >= kMaxPlausibleVirtualBytes) {
        return fail(fmt::format("processVmemBytes is implausibly large ({} bytes)", m.process_vmem_bytes));
    }
    if (m.process_rss_bytes > m.process_vmem_bytes) {
        return fail(fmt::format("processRssBytes ({}) exceeds processVmemBytes ({})", m.process_rss_bytes,
                                m.process_vmem_bytes));
    }
    if (m.cpu_time_ns >= kMaxPlausibleCpuTimeNs) {
        return fail(fmt::format("cpuTimeNs is implausibly large ({} ns)", m.cpu_time_ns));
    }
    return m;
}

}  // namespace ember::scheduler
