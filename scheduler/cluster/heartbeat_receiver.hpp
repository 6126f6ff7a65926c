// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// HeartbeatReceiver: the driver's "HeartbeatReceiver" endpoint, which finds executors that
/// stopped sending heartbeats (Spark's HeartbeatReceiver).

#include "rpc/log.hpp"
#include "rpc/rpc_endpoint.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/listener.hpp"
#include "scheduler/timer.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace ember::scheduler {

/// Answers Heartbeat asks and, every `check_interval` (ember.network.timeoutInterval, 60s),
/// expires each executor whose last heartbeat, or registration, is older than `timeout`
/// (ember.network.executorTimeout, else ember.network.timeout, 120s): `on_expired(executor id,
/// "Executor heartbeat timed out after N ms")` is called on the endpoint's thread; the driver
/// then removes the executor (its tasks run again elsewhere, its map outputs are recomputed)
/// and, on local-cluster, kills and replaces its process. This catches executors whose process
/// hangs with its TCP connections open (SIGSTOP, a livelock), which no disconnect reveals.
///
/// A heartbeat from an executor the receiver expired is answered `executorRemoved`, and the
/// executor exits; one from an executor it never heard of is answered
/// `reregisterBlockManager`, as Spark does.
///
/// A heartbeat of a live executor carries its ExecutorMetrics: if they pass
/// read_executor_metrics(), `on_metrics(executor id, metrics)` is called on the endpoint's
/// thread (the driver posts SparkListenerExecutorMetricsUpdate); implausible ones are dropped
/// with a rate-limited warning. The executor still counts as alive either way.
///
/// Threading: strand-confined as an endpoint; executor_added() and executor_removed() post to
/// it and are thread-safe.
class HeartbeatReceiver final : public rpc::RpcEndpoint {
public:
    static constexpr std::string_view kEndpointName = "HeartbeatReceiver";
    using ExpiredHandler = std::function<void(const std::string& executor_id, const std::string& message)>;
    /// True if `msg` came from executor `executor_id` (over the connection it registered on).
    using SenderCheck = std::function<bool(const std::string& executor_id, const rpc::Message& msg)>;
    using MetricsHandler = std::function<void(const std::string& executor_id, const ExecutorMetrics& metrics)>;

    /// A heartbeat that `from_executor` (if given) does not vouch for is refused: nobody keeps
    /// another executor alive. Silence and the check interval are measured on `clock` (null:
    /// util::system_clock(); Spark's HeartbeatReceiver takes a ManualClock in its tests).
    HeartbeatReceiver(std::chrono::milliseconds timeout, std::chrono::milliseconds check_interval,
                      ExpiredHandler on_expired, SenderCheck from_executor = {}, MetricsHandler on_metrics = {},
                      std::shared_ptr<util::Clock> clock = nullptr);
    ~HeartbeatReceiver() override;

    /// From the listener bus: an executor registered (its clock starts now) or was removed.
    /// Runs on the strand of `ref`, the ref setup_endpoint returned for this endpoint; does
    /// nothing once the endpoint has stopped.
    void executor_added(rpc::RpcEnv& env, const rpc::RpcEndpointRef& ref, const std::string& executor_id);
    void executor_removed(rpc::RpcEnv& env, const rpc::RpcEndpointRef& ref, const std::string& executor_id);

    void on_start() override;
    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override;
    void on_stop() override;

private:
    /// Expires executors silent for more than the timeout at `now` (monotonic ms).
    void expire_dead_hosts(std::int64_t now);
    void arm();

    std::chrono::milliseconds timeout_;
    std::chrono::milliseconds check_interval_;
    ExpiredHandler on_expired_;
    SenderCheck from_executor_;
    MetricsHandler on_metrics_;
    log::RateLimitedLog implausible_;  // per executor: metrics that were dropped
    Timer timer_;
    std::map<std::string, std::int64_t> last_seen_;  // strand-confined: executor -> monotonic ms
    std::set<std::string> expired_;                       // strand-confined
};

/// Writes `m` as a Heartbeat's metrics (the executor's side).
void to_wire(wire::ExecutorMetrics::Builder b, const ExecutorMetrics& m);

/// The bounds a heartbeat's metrics must keep to be believed.
inline constexpr std::int64_t kMaxPlausibleMemoryBytes = std::int64_t{1} << 50;   ///< 1 PiB
inline constexpr std::int64_t kMaxPlausibleVirtualBytes = std::int64_t{1} << 57;  ///< x86-64 5-level paging
inline constexpr std::int64_t kMaxPlausibleCpuTimeNs = std::int64_t{1} << 62;     ///< about 146 years

/// The metrics a heartbeat carries, or nullopt (with `why` set, if given) when it has none or
/// they are implausible: any field negative, resident, storage or execution memory at or over
/// kMaxPlausibleMemoryBytes, virtual memory at or over kMaxPlausibleVirtualBytes, resident over
/// virtual, or CPU time at or over kMaxPlausibleCpuTimeNs. An executor speaks only for
/// itself (SenderCheck), but what it says is still checked before it reaches the UI.
std::optional<ExecutorMetrics> read_executor_metrics(wire::Heartbeat::Reader hb, std::string* why = nullptr);

}  // namespace ember::scheduler
