// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// BlockManagerMaster: a BlockManager's client of the driver's "BlockManagerMaster" endpoint
/// (Spark's BlockManagerMaster).

#include "rpc/rpc_endpoint_ref.hpp"
#include "rpc/rpc_timeout.hpp"
#include "storage/block_id.hpp"
#include "storage/block_manager_id.hpp"
#include "storage/storage_level.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ember::storage {

/// Typed asks to the master (storage/block_manager_messages.capnp). The blocking calls use
/// ask_sync: call them from task threads, main or threads of your own, never from an endpoint
/// or I/O thread (they would fail at once there). Failures throw std::runtime_error naming the
/// ask and the RPC error, except where noted.
///
/// Threading: thread-safe.
class BlockManagerMaster {
public:
    static constexpr std::string_view kEndpointName = "BlockManagerMaster";

    BlockManagerMaster(rpc::RpcEndpointRef master, rpc::RpcTimeout timeout)
        : master_(std::move(master)), timeout_(std::move(timeout)) {}

    const rpc::RpcEndpointRef& ref() const noexcept { return master_; }

    /// RegisterBlockManager; returns the id the master recorded. Blocking.
    BlockManagerId register_block_manager(const BlockManagerId& id, std::uint64_t max_memory,
                                          const rpc::RpcEndpointRef& storage_endpoint,
                                          const std::vector<std::string>& local_dirs);
    /// UpdateBlockInfo. Blocking; false if the master does not know this BlockManager or cannot
    /// be reached (logged, not thrown: the block stays usable locally).
    bool update_block_info(const BlockManagerId& id, const BlockId& block, const StorageLevel& level,
                           std::uint64_t mem_size, std::uint64_t disk_size);
    /// As update_block_info, without waiting for the answer (for endpoint and I/O threads).
    void update_block_info_async(const BlockManagerId& id, const BlockId& block, const StorageLevel& level,
                                 std::uint64_t mem_size, std::uint64_t disk_size);
    /// GetLocations. Blocking; empty if the master cannot be reached.
    std::vector<BlockManagerId> get_locations(const BlockId& block);
    /// GetPeers: the other executors' BlockManagers (not `id`, not the driver's). Blocking; empty
    /// if the master cannot be reached (logged).
    std::vector<BlockManagerId> get_peers(const BlockManagerId& id);
    /// RemoveRdd; the number of blocks removed. Blocking when `blocking`, else returns 0 at once.
    int remove_rdd(int rdd_id, bool blocking);
    /// RemoveBroadcast: removes broadcast `broadcast_id`'s blocks from every executor, and from
    /// the driver too when `remove_from_driver`; the number of blocks removed. Blocking when
    /// `blocking`, else returns 0 at once (failures are then logged).
    int remove_broadcast(std::int64_t broadcast_id, bool remove_from_driver, bool blocking);
    /// RemoveShuffle: deletes shuffle `shuffle_id`'s map outputs on every BlockManager; the
    /// number deleted. Blocking when `blocking` (throws std::runtime_error if the master does not
    /// answer), else returns 0 at once (failures are then logged).
    int remove_shuffle(int shuffle_id, bool blocking);

private:
    rpc::RpcEndpointRef master_;
    rpc::RpcTimeout timeout_;
};

}  // namespace ember::storage
