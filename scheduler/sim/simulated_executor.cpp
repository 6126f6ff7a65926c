// SPDX-License-Identifier: Apache-2.0
#include "scheduler/sim/simulated_executor.hpp"

#include "rpc/log.hpp"
#include "scheduler/broadcast/broadcast_manager.hpp"
#include "scheduler/cluster/coarse_grained_scheduler_backend.hpp"
#include "scheduler/executor/coarse_grained_executor_backend.hpp"
#include "scheduler/task_context.hpp"
#include "shuffle/index_shuffle_block_resolver.hpp"
#include "shuffle/map_output_tracker.hpp"
#include "storage/block_manager.hpp"
#include "storage/block_manager_master.hpp"

#include <stdexcept>

namespace ember::scheduler {
namespace {

/// One incarnation's services, in construction order (destroyed in reverse).
struct SimulatedExecutor {
    Conf conf;
    std::shared_ptr<storage::BlockManager> block_manager;
    std::unique_ptr<shuffle::IndexShuffleBlockResolver> resolver;
    std::unique_ptr<broadcast::BroadcastManager> broadcasts;
    std::unique_ptr<shuffle::MapOutputTrackerWorker> tracker;
    std::unique_ptr<ExecutorServices> services;

    ~SimulatedExecutor() {
        if (broadcasts) broadcasts->stop();
        if (block_manager) block_manager->stop();  // its local dirs
    }
};

}  // namespace

std::shared_ptr<void> start_simulated_executor(rpc::RpcEnv& env, const std::string& executor_id,
                                               const std::string& host, const rpc::RpcAddress& driver,
                                               const Conf& conf, int cores, std::uint64_t memory,
                                               std::function<void(int, const std::string&)> on_exit) {
    auto ex = std::make_shared<SimulatedExecutor>();
    ex->conf = conf;
    ex->block_manager = std::make_shared<storage::BlockManager>(executor_id, env, ex->conf, memory);
    ex->resolver = std::make_unique<shuffle::IndexShuffleBlockResolver>(ex->block_manager->disk_block_manager());
    ex->block_manager->set_shuffle_block_resolver(ex->resolver.get());
    ex->broadcasts = std::make_unique<broadcast::BroadcastManager>(*ex->block_manager, ex->conf, false);
    ex->block_manager->set_broadcast_removed_listener(
        [b = ex->broadcasts.get()](std::int64_t id) { b->forget(id); });
    ex->broadcasts->serve_executor(executor_id);  // its tasks' Broadcast::value()
    ex->block_manager->initialize();
    ex->block_manager->register_with_master(
        env.endpoint_ref(driver, std::string(storage::BlockManagerMaster::kEndpointName)));
    ex->tracker = std::make_unique<shuffle::MapOutputTrackerWorker>(
        env.endpoint_ref(driver, std::string(shuffle::MapOutputTracker::kEndpointName)), rpc::RpcTimeout::ask(ex->conf));
    ex->services = std::make_unique<ExecutorServices>(ExecutorServices{
        executor_id, ex->conf, *ex->block_manager, *ex->resolver, *ex->tracker, task_memory_bytes(ex->conf, memory, cores)});
    auto backend = std::make_unique<CoarseGrainedExecutorBackend>(
        executor_id, env.endpoint_ref(driver, std::string(CoarseGrainedSchedulerBackend::kEndpointName)), host, cores,
        *ex->services, ex->tracker.get(), on_exit);
    if (auto r = env.setup_endpoint(std::string(CoarseGrainedExecutorBackend::kEndpointName), std::move(backend)); !r) {
        throw std::runtime_error("cannot start the executor endpoint: " + r.error().message);
    }
    return ex;
}

}  // namespace ember::scheduler
