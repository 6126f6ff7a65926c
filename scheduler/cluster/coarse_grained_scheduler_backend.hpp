// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// CoarseGrainedSchedulerBackend: the driver's view of long-lived executor processes (Spark's
/// CoarseGrainedSchedulerBackend); its DriverEndpoint speaks the cluster protocol.

#include "rpc/rpc_env.hpp"
#include "scheduler/listener.hpp"
#include "scheduler/scheduler_backend.hpp"
#include "scheduler/task_scheduler_impl.hpp"
#include "scheduler/timer.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ember::scheduler {

/// One registered executor. Confined to the scheduler loop.
struct ExecutorData {
    rpc::RpcEndpointRef ref;
    rpc::RpcAddress address;
    std::string host;
    int total_cores = 0;
    /// Cores minus the cores of the tasks sent and not finished; below zero while short tasks
    /// wait in the executor's queue (pipelining, see TaskSchedulerImpl).
    int free_cores = 0;
    bool launched = false;  ///< LaunchedExecutor received: its cores are offered
    int pid = 0;
    storage::BlockManagerId block_manager_id;  ///< where its blocks (indirect results) are served
    std::set<std::pair<int, int>> sent_stages;  ///< stage binaries this executor has
    /// Binaries of finished stage attempts it still holds: dropped by its next LaunchTask, or
    /// by the next periodic revive's (ember.scheduler.revive.interval) if no task goes first.
    std::vector<std::pair<int, int>> stages_to_remove;
    bool stop_acknowledged = false;  ///< it answered the StopExecutor of stop(): its exit is no loss
    /// Tasks sent and not finished: task id -> "task 1.0 in stage 0.0 (TID 1)" (for loss reasons).
    std::map<std::int64_t, std::string> running_tasks;
    /// Its connection dropped and the launcher's exit report is awaited (Spark's
    /// LossReasonPending): no offers; its tasks are failed once the reason is known.
    bool loss_pending = false;
    bool killed_by_driver = false;   ///< kill_executor() stopped it: no offers, removed as killed
};

/// The DriverEndpoint ("CoarseGrainedScheduler") is the scheduler loop: the DAGScheduler,
/// TaskSchedulerImpl and this backend all run their events on its inbox, on the RpcEnv I/O
/// thread, without locks.
///
/// Registration: RetrieveSparkAppConfig -> RegisterExecutor (a different build or a duplicate id
/// is refused) -> RegisteredExecutor -> LaunchedExecutor, after which the executor's cores are
/// offered. A stage's binary goes to each executor once, in the LaunchTask that carries its
/// first task; LaunchTask and StatusUpdate carry lists, so a round of offers is one message per
/// executor. An executor is removed when its connection drops (its tasks fail with
/// ExecutorLostFailure and its map outputs are recomputed) or its process exits. An executor
/// that acknowledged the StopExecutor of stop() is reported removed with kStoppedByDriver, not
/// as a loss. When the launcher reports exits (local-cluster, expect_exit_reports), a dropped
/// connection waits for the exit report, so that the loss reads "executor 2 was killed by signal
/// 11 (SIGSEGV) while running task 1.0 in stage 0.0 (TID 1); last lines of its log: ..." rather
/// than Spark's network guess "Remote RPC client disassociated...".
///
/// Threading: post(), wait_for_executors(), registered_executors() and executor_exited() are
/// thread-safe; the rest runs on the loop.
class CoarseGrainedSchedulerBackend final : public SchedulerBackend {
public:
    static constexpr std::string_view kEndpointName = "CoarseGrainedScheduler";
    /// The removal reason of an executor that stop() stopped (SparkListenerExecutorRemoved).
    static constexpr std::string_view kStoppedByDriver = "Executor stopped by the driver (SparkContext.stop)";

    CoarseGrainedSchedulerBackend(rpc::RpcEnv& env, TaskSchedulerImpl& scheduler, ListenerBus& bus, const Conf& conf,
                                  std::string app_id);
    ~CoarseGrainedSchedulerBackend() override;

    /// Registers the DriverEndpoint.
    void start();
    /// Asks every executor to stop (StopExecutor) and stops the endpoint.
    void stop();
    /// Runs `fn` on the scheduler loop; false once the loop is gone.
    bool post(std::function<void()> fn);
    const rpc::RpcEndpointRef& driver_ref() const noexcept { return driver_ref_; }

    /// Waits until `n` executors registered and reported LaunchedExecutor (ready for tasks: the
    /// first job then spreads over all of them, where Spark's isReady counts registrations only
    /// and a slow executor could miss a short first stage). Returns an error message if
    /// `failure()` reports one first, or after `timeout`
    /// (ember.scheduler.maxRegisteredResourcesWaitingTime).
    std::optional<std::string> wait_for_executors(int n, std::chrono::milliseconds timeout,
                                                  const std::function<std::optional<std::string>()>& failure);
    int registered_executors() const;
    /// Why the driver refused executor `executor_id`'s registration, if it did.
    std::optional<std::string> registration_refusal(const std::string& executor_id) const;
    /// True if `msg` came over the connection executor `executor_id` registered on.
    /// Threading: thread-safe (the HeartbeatReceiver asks from its own loop).
    bool is_executor_connection(const std::string& executor_id, const rpc::Message& msg) const;
    /// A launched executor process ended (from LocalCluster): `description` is its wait status
    /// ("was killed by signal 11 (SIGSEGV)", "exited with code 3"), `log_tail` the last lines of
    /// its log (may be empty). The executor is removed with the reason "executor <id>
    /// <description>[ while running <tasks>][; last lines of its log:\n<log_tail>]"; its running
    /// tasks fail with ExecutorLostFailure counting toward ember.task.maxFailures (a crash in a
    /// task is the application's, as Spark's ExecutorExited(exitCausedByApp = true)).
    /// Threading: thread-safe.
    void executor_exited(const std::string& executor_id, const std::string& description,
                         const std::string& log_tail = {});
    /// The launcher reports every executor process's exit through executor_exited (local-cluster):
    /// an executor whose connection drops is then disabled and removed when its exit is reported,
    /// or after `wait` with the network reason. Call before start().
    void expect_exit_reports(std::chrono::milliseconds wait) { exit_report_wait_ = wait; }

    void revive_offers() override;
    /// Each executor that has the attempt's binary is told to drop it with its next LaunchTask.
    void stage_attempt_finished(int stage_id, int stage_attempt) override;
    void kill_task(std::int64_t task_id, const std::string& executor_id, bool interrupt,
                   const std::string& reason) override;
    int default_parallelism() const override;
    /// Sends StopExecutor and stops offering its cores; local-cluster does not start a
    /// replacement (Spark's standalone master would).
    bool kill_executor(const std::string& executor_id, const std::string& reason) override;
    /// The removal reason of an executor kill_executor() stopped (Spark's ExecutorKilled).
    static constexpr std::string_view kKilledByDriver = "Executor killed by driver.";

private:
    friend class DriverEndpoint;
    void make_offers(const std::string* only_executor = nullptr);
    /// Sends a LaunchTask with no task to each executor with stages_to_remove left.
    void send_stage_removals();
    /// Forgets the executor and tells the scheduler its tasks are lost. `executor_id` is taken by
    /// value: callers pass the key of the executors_ entry this erases.
    void remove_executor(std::string executor_id, std::string reason);
    /// The executor's connection dropped (DriverEndpoint::on_disconnected).
    void executor_disconnected(const std::string& executor_id);


    rpc::RpcEnv& env_;
    TaskSchedulerImpl& scheduler_;
    ListenerBus& bus_;
    const Conf& conf_;
    std::string app_id_;
    rpc::RpcEndpointRef driver_ref_;
    Timer revive_timer_;  ///< on the task scheduler's clock
    Timer loss_timer_;    ///< ends the waits of expect_exit_reports
    std::chrono::milliseconds exit_report_wait_{0};
    std::chrono::milliseconds revive_interval_;
    int queue_depth_;  ///< ember.scheduler.shortTaskQueueDepth
    std::size_t max_frame_;  ///< ember.rpc.message.maxSize in bytes: a larger LaunchTask aborts its task set

    std::map<std::string, ExecutorData> executors_;  // loop-confined
    std::set<std::string> removed_executors_;        // loop-confined

    mutable std::mutex mu_;
    std::condition_variable cv_;
    int registered_ = 0;   // guarded by mu_
    int launched_ = 0;     // registered and sent LaunchedExecutor; guarded by mu_
    std::map<std::string, std::string> refusals_;  // guarded by mu_
    /// Each registered executor's ref, bound to its registration connection (copies of
    /// ExecutorData::ref for other loops); guarded by mu_.
    std::map<std::string, rpc::RpcEndpointRef> executor_refs_;
    int total_cores_ = 0;  // guarded by mu_
    bool stopped_ = false;  // guarded by mu_
};

}  // namespace ember::scheduler
