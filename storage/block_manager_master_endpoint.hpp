// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// BlockManagerMasterEndpoint: the driver's registry of BlockManagers and of where each block is
/// (Spark's BlockManagerMasterEndpoint).

#include "rpc/rpc_endpoint.hpp"
#include "rpc/rpc_endpoint_ref.hpp"
#include "storage/block_id.hpp"
#include "storage/block_manager_id.hpp"
#include "storage/storage_level.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace ember::storage {

/// Serves storage/block_manager_messages.capnp as the "BlockManagerMaster" endpoint of the
/// driver: RegisterBlockManager, UpdateBlockInfo, GetLocations, GetLocationsMultipleBlockIds,
/// GetPeers, RemoveBlock, RemoveRdd, RemoveShuffle and RemoveBroadcast (forget the blocks at
/// once, then ask every BlockManager holding one to drop it; BlockManagers that are gone count 0,
/// as in Spark).
///
/// Replication: a block has as many locations as BlockManagers reported it (the one that
/// computed it, at its level, and each replica, at replication 1); the master remembers the
/// highest replication any holder reported while the block exists. With
/// ember.storage.replication.proactive (default false, as in Spark) removing an executor asks,
/// for each RDD block it held that still has a copy elsewhere but fewer than that replication,
/// one surviving holder (chosen at random) to copy it to new peers (ReplicateBlock).
///
/// Authorisation: an executor's BlockManager registers once (a second registration for the
/// same executor, or one for an executor removed earlier, is refused with "Duplicate executor
/// ID: <id>" and never taken over: a process started under a live or lost executor's id changes
/// nothing), reports blocks only over the connection it registered on, and is sent removals over
/// that connection.
///
/// The driver's own components (the DAGScheduler's cache locations, executor removal) call the
/// thread-safe methods directly instead of asking: they run on the scheduler loop, an I/O
/// thread, where an ask_sync is refused.
///
/// Threading: the endpoint callbacks are strand-confined; the public methods are thread-safe
/// (state is guarded by a mutex, never held across a message send).
/// Ownership: owned by the RpcEnv from setup_endpoint() until on_stop(); the driver keeps a
/// borrowed pointer while its env runs.
class BlockManagerMasterEndpoint final : public rpc::RpcEndpoint {
public:
    /// Hears what the master records (the driver turns these into Spark's BlockManagerAdded,
    /// BlockManagerRemoved and BlockUpdated listener events). Called after the change, with no
    /// lock held, on the thread that made it (the endpoint's, or the driver's caller); must not
    /// block. An invalid `level` in block_updated means the block was removed there.
    struct Observer {
        std::function<void(const BlockManagerId&, std::uint64_t max_memory)> block_manager_added;
        std::function<void(const BlockManagerId&)> block_manager_removed;
        std::function<void(const BlockManagerId&, const BlockId&, const StorageLevel&, std::uint64_t mem_size,
                           std::uint64_t disk_size)>
            block_updated;
    };
    /// Sets the observer; call before the endpoint is set up (not synchronised with callbacks).
    void set_observer(Observer observer) { observer_ = std::move(observer); }

    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override;
    /// Reads ember.storage.replication.proactive from the env's configuration, if set there.
    void on_start() override;
    /// Turns proactive re-replication on or off (ember.storage.replication.proactive).
    void set_proactive_replication(bool on) noexcept { proactive_ = on; }

    /// Records a BlockManager; a second registration for its executor (the driver's own code
    /// only: remote ones are refused) replaces the first and forgets the first one's blocks
    /// ("Got two different block manager registrations").
    void register_block_manager(const BlockManagerId& id, std::uint64_t max_memory, rpc::RpcEndpointRef storage);
    /// Records where `block` is now; an invalid level (no memory, no disk) removes the location. False if `id` is not registered.
    bool update_block_info(const BlockManagerId& id, const BlockId& block, const StorageLevel& level,
                           std::uint64_t mem_size, std::uint64_t disk_size);
    /// The BlockManagers holding `block`, in registration order of executors.
    std::vector<BlockManagerId> get_locations(const BlockId& block) const;
    /// One get_locations() per id.
    std::vector<std::vector<BlockManagerId>> get_locations(const std::vector<BlockId>& blocks) const;
    /// The executors' BlockManagers other than `asker`'s, never the driver's (Spark's GetPeers).
    std::vector<BlockManagerId> get_peers(const BlockManagerId& asker) const;
    /// Forgets the executor's BlockManager and every block location on it (Spark's
    /// removeExecutor / removeBlockManager); with proactive replication on, asks survivors to
    /// restore the replication of its RDD blocks (ReplicateBlock; answers are only logged).
    void remove_executor(const std::string& executor_id);
    /// Forgets `block` everywhere and asks its holders to delete it; `done(true)` runs once
    /// every holder answered (on an I/O thread), at once if there are none.
    void remove_block(const BlockId& block, std::function<void(bool)> done = {});
    /// Asks executor `executor_id`'s BlockManager to delete `block`, whether or not it reported it
    /// (a task result); `done(removed)` runs on an I/O thread (false if that executor is unknown).
    void remove_block_at(const std::string& executor_id, const BlockId& block, std::function<void(bool)> done = {});
    /// Forgets RDD `rdd_id`'s blocks and asks their holders to delete them; `done(count)` gets
    /// the number of blocks removed, once every holder answered.
    void remove_rdd(int rdd_id, std::function<void(int)> done = {});
    /// Asks every BlockManager to delete its map outputs of shuffle `shuffle_id` (Spark's
    /// removeShuffle); `done(count)` gets the number of map outputs deleted, once every one
    /// answered (on an I/O thread), at once if there are none.
    void remove_shuffle(int shuffle_id, std::function<void(int)> done = {});
    /// Forgets broadcast `broadcast_id`'s blocks on every BlockManager (but the driver's, unless
    /// `remove_from_driver`) and asks those BlockManagers to delete them (Spark's
    /// removeBroadcast); `done(count)` gets the number of blocks removed, once every one answered.
    void remove_broadcast(std::int64_t broadcast_id, bool remove_from_driver, std::function<void(int)> done = {});
    /// Ids of the registered BlockManagers.
    std::vector<BlockManagerId> block_managers() const;
    struct MemoryStatus {
        BlockManagerId id;
        std::uint64_t max_memory = 0;
        std::uint64_t memory_used = 0;  ///< by the blocks it reported in memory
    };
    /// Each registered BlockManager's storage memory (Spark's getMemoryStatus).
    std::vector<MemoryStatus> memory_status() const;

private:
    struct BlockStatus {
        StorageLevel level;
        std::uint64_t mem_size = 0;
        std::uint64_t disk_size = 0;
    };
    struct BlockManagerInfo {
        BlockManagerId id;
        std::uint64_t max_memory = 0;
        rpc::RpcEndpointRef storage;
        std::map<BlockId, BlockStatus> blocks;
    };
    void forget_block_manager_locked(const std::string& executor_id);
    /// Removes `executor_id` from `block`'s locations, forgetting the block once it has none.
    void drop_location_locked(const BlockId& block, const std::string& executor_id);
    /// True if `msg` is local or came over the connection executor `executor_id`'s BlockManager
    /// registered on.
    bool from_block_manager(std::string_view executor_id, const rpc::Message& msg) const;

    Observer observer_;  // set before start; read-only afterwards
    mutable std::mutex mu_;
    std::map<std::string, BlockManagerInfo> managers_;              // guarded by mu_; by executor id
    std::map<BlockId, std::set<std::string>> block_locations_;      // guarded by mu_; block -> executor ids
    std::map<BlockId, int> replication_;  // guarded by mu_; highest replication reported per located block
    std::atomic<bool> proactive_{false};
    std::set<std::string> removed_;  // guarded by mu_; executors removed: their ids never register again
};

}  // namespace ember::storage
