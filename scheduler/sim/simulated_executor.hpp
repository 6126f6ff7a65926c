// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// start_simulated_executor: what an executor process's main (run_executor) sets up, on an env
/// of an ember::sim::Simulation instead of a process of its own: the BlockManager, shuffle
/// resolver, broadcast manager and MapOutputTrackerWorker, and the CoarseGrainedExecutorBackend
/// endpoint that registers with the driver. SparkContext uses it for master sim[E,C,M].

#include "rpc/rpc_address.hpp"
#include "rpc/rpc_env.hpp"
#include "rpc/conf.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ember::scheduler {

/// Starts executor `executor_id` on `env` (a simulated env, called from its boot, on the
/// simulation's thread outside every handler): registers its BlockManager with the driver's
/// master at `driver` (a blocking ask, which runs the simulation) and sets up the "Executor"
/// endpoint, which registers with the driver's scheduler and runs tasks as events of the
/// simulation (see Executor). `conf`: the application's configuration (copied); `memory`:
/// the executor's memory in bytes. When the executor should end (StopExecutor, the driver
/// lost, heartbeats failing) `on_exit(code, why)` is called, on the simulation's thread (maybe
/// inside a handler of `env`): what the process's exit would do.
///
/// Returns what the endpoint uses: keep it alive as long as the env may run (Simulation::
/// keep_alive), including a killed incarnation's. Throws std::runtime_error if the BlockManager
/// cannot start or register.
std::shared_ptr<void> start_simulated_executor(rpc::RpcEnv& env, const std::string& executor_id,
                                               const std::string& host, const rpc::RpcAddress& driver,
                                               const Conf& conf, int cores, std::uint64_t memory,
                                               std::function<void(int, const std::string&)> on_exit);

}  // namespace ember::scheduler
