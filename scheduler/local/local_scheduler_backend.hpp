// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// LocalSchedulerBackend: `local[N]`, tasks on N threads of the driver process (Spark's
/// LocalSchedulerBackend and LocalEndpoint).

#include "rpc/rpc_env.hpp"
#include "scheduler/executor/executor.hpp"
#include "scheduler/scheduler_backend.hpp"
#include "scheduler/task_scheduler_impl.hpp"

#include <functional>
#include <memory>

namespace ember::scheduler {

/// An in-process Executor with `cores` task threads; the "LocalSchedulerBackendEndpoint" inbox
/// is the scheduler loop. Every shuffle block is local.
/// Threading: post() and status_update() are thread-safe; the rest runs on the loop.
class LocalSchedulerBackend final : public SchedulerBackend, public ExecutorBackend {
public:
    static constexpr std::string_view kEndpointName = "LocalSchedulerBackendEndpoint";

    LocalSchedulerBackend(rpc::RpcEnv& env, TaskSchedulerImpl& scheduler, int cores, ExecutorServices& services);
    ~LocalSchedulerBackend() override;

    void start();
    void stop();
    bool post(std::function<void()> fn);

    void revive_offers() override;
    /// The executor drops the attempt's binary at once (it shares this process).
    void stage_attempt_finished(int stage_id, int stage_attempt) override;
    void kill_task(std::int64_t task_id, const std::string& executor_id, bool interrupt,
                   const std::string& reason) override;
    int default_parallelism() const override { return cores_; }
    void status_update(std::int64_t task_id, TaskState state, std::string result, std::optional<TaskEndReason> reason,
                       const TaskMetrics& metrics, std::optional<IndirectTaskResult> indirect) override;

private:
    rpc::RpcEnv& env_;
    TaskSchedulerImpl& scheduler_;
    int cores_;
    int free_cores_;  // loop-confined
    ExecutorServices& services_;
    std::unique_ptr<Executor> executor_;
    rpc::RpcEndpointRef loop_;
};

}  // namespace ember::scheduler
