// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// CoarseGrainedExecutorBackend: the "Executor" endpoint of an executor process, and
/// run_executor, the executor process's main (Spark's CoarseGrainedExecutorBackend).

#include "rpc/rpc_env.hpp"
#include "rpc/log.hpp"
#include "scheduler/executor/executor.hpp"
#include "scheduler/timer.hpp"

#include <functional>
#include <memory>
#include <string>

namespace ember::scheduler {

/// Registers with the driver on start, runs LaunchTask's tasks on an Executor, reports their
/// state in StatusUpdates, and ends the process on StopExecutor or when the driver goes away.
///
/// Once registered it asks the driver's HeartbeatReceiver with a Heartbeat every
/// ember.executor.heartbeatInterval (10s; the first after one to two intervals, as Spark's
/// Heartbeater), carrying the process's ExecutorMetrics as sampled then (sample_process_metrics()
/// and the MemoryStore's bytes in use). After ember.executor.heartbeat.maxFailures (60) failed heartbeats in a row the
/// process exits with code 56 (Spark's HEARTBEAT_FAILURE); when the driver answers that it removed
/// this executor, the process exits with code 1.
/// Threading: strand-confined as an endpoint; status_update() is thread-safe (task threads).
class CoarseGrainedExecutorBackend final : public rpc::RpcEndpoint, public ExecutorBackend {
public:
    static constexpr std::string_view kEndpointName = "Executor";

    /// `on_exit(code, why)` is called once when the process should end.
    CoarseGrainedExecutorBackend(std::string executor_id, rpc::RpcEndpointRef driver, std::string hostname, int cores,
                                 ExecutorServices& services, shuffle::MapOutputTrackerWorker* tracker,
                                 std::function<void(int, const std::string&)> on_exit);
    ~CoarseGrainedExecutorBackend() override;

    void on_start() override;
    void receive(const rpc::Message& msg) override;
    /// StopExecutor as an ask: acknowledged, then the process ends.
    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override;
    void on_disconnected(const rpc::RpcAddress& remote) override;
    void on_stop() override;
    void status_update(std::int64_t task_id, TaskState state, std::string result, std::optional<TaskEndReason> reason,
                       const TaskMetrics& metrics, std::optional<IndirectTaskResult> indirect) override;

private:
    void exit_executor(int code, const std::string& why);
    /// True if `msg` came over the connection to the driver; else logs (rate-limited) and false.
    bool from_driver(const rpc::Message& msg);

    std::string executor_id_;
    rpc::RpcEndpointRef driver_;
    std::string hostname_;
    int cores_;
    ExecutorServices& services_;
    shuffle::MapOutputTrackerWorker* tracker_;
    void start_heartbeater();

    std::shared_ptr<Executor> executor_;  // created once registered; see Executor::outlive_owner
    std::unique_ptr<Timer> heartbeater_;  // from registration to on_stop
    std::function<void(int, const std::string&)> on_exit_;
    log::RateLimitedLog refused_;  // control messages from anybody but the driver
};

/// The main of an executor process: `<app> --ember-executor --driver-url URL --executor-id ID
/// --cores C [--memory MiB] [--hostname HOST] [--bind-address ADDR]`. Returns the exit code.
int run_executor(int argc, char** argv);

}  // namespace ember::scheduler
