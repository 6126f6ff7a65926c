// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// BlockManager: a process's block storage and the service that lends its blocks to other
/// processes (Spark's BlockManager + NettyBlockTransferService/NettyBlockRpcServer).

#include "rpc/conf.hpp"
#include "rpc/rpc_env.hpp"
#include "storage/block_id.hpp"
#include "storage/block_manager_id.hpp"
#include "storage/block_manager_master.hpp"
#include "storage/block_transfer_codec.hpp"
#include "storage/disk_block_manager.hpp"
#include "storage/disk_store.hpp"
#include "storage/managed_buffer.hpp"
#include "storage/memory_store.hpp"
#include "storage/storage_level.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ember::storage {

/// Resolves shuffle blocks to file segments; implemented by the shuffle layer
/// (IndexShuffleBlockResolver), plugged into the BlockManager (Spark's ShuffleBlockResolver).
/// Threading: thread-safe.
class ShuffleBlockResolver {
public:
    virtual ~ShuffleBlockResolver() = default;
    /// The segment holding `id`; throws std::runtime_error naming the block and the reason.
    virtual FileSegment get_block_data(const ShuffleBlockId& id) = 0;
    /// Why block `id` failed to decode at a reader whose bytes had checksum
    /// `checksum_by_reader` under `algorithm` (Spark's diagnoseCorruption); UNKNOWN_ISSUE if
    /// the resolver keeps no checksums.
    virtual CorruptionCause diagnose_corruption(const ShuffleBlockId& id, std::uint64_t checksum_by_reader,
                                                std::string_view algorithm) {
        (void)id, (void)checksum_by_reader, (void)algorithm;
        return CorruptionCause::unknown_issue;
    }
};

/// Completion of a remote fetch: one buffer per requested block, in request order.
using FetchCallback = std::function<void(rpc::RpcResult<std::vector<ManagedBuffer>>)>;

/// Local block storage of one process, served to others through the "block-transfer" endpoint
/// of the process's RpcEnv; the BlockManagerId's host:port is that env's address.
///
/// Two kinds of blocks: shuffle blocks, which are segments of the shuffle files the
/// ShuffleBlockResolver knows, and every other block (cached RDD partitions `rdd_<id>_<p>`,
/// indirect task results `taskresult_<tid>`), kept as serialized bytes in a MemoryStore (LRU)
/// and/or a DiskStore by StorageLevel (Spark's doPutBytes). Both kinds are fetched with
/// FetchBlocks; memory blocks are sent from memory without a copy, disk blocks with sendfile.
/// After register_with_master(), stored and removed blocks are reported to the driver's
/// BlockManagerMaster (UpdateBlockInfo) and the "BlockManagerEndpoint" storage endpoint answers
/// the master's RemoveBlock and RemoveRdd.
///
/// Config: ember.local.dir (comma-separated roots, default /tmp),
/// ember.diskStore.subDirectories (64), ember.shuffle.io.connectionTimeout (fetch ask timeout,
/// falling back to ember.network.timeout, 120s), ember.storage.memoryCapacity (MemoryStore
/// bytes; default: unified_memory_bytes x ember.memory.storageFraction (0.5), Spark's storage
/// share of unified memory, e.g. 217 MiB of a 1 GiB executor).
///
/// Threading: thread-safe.
class BlockManager {
public:
    static constexpr std::string_view kEndpointName = "block-transfer";
    /// The storage endpoint (Spark's BlockManagerStorageEndpoint).
    static constexpr std::string_view kStorageEndpointName = "BlockManagerEndpoint";

    /// Creates the local dirs; throws std::runtime_error if none can be created.
    /// `executor_memory`: bytes of the process's memory budget (--memory of an executor); when
    /// absent, ember.executor.memory (1g).
    BlockManager(std::string executor_id, rpc::RpcEnv& env, const Conf& conf,
                 std::optional<std::uint64_t> executor_memory = std::nullopt);
    ~BlockManager();

    /// Registers the block-transfer and storage endpoints. Call once, before other processes fetch.
    void initialize();
    /// Registers with the driver's BlockManagerMaster at `master` (blocking: not on an I/O
    /// thread); from then on block updates are reported. Throws std::runtime_error if the
    /// master cannot be reached.
    void register_with_master(rpc::RpcEndpointRef master);
    /// The master client, or nullptr before register_with_master().
    BlockManagerMaster* master() noexcept { return master_.get(); }
    MemoryStore& memory_store() noexcept { return memory_; }
    DiskStore& disk_store() noexcept { return disk_store_; }

    // -- non-shuffle blocks (Spark's putBytes, getLocalBytes, getRemoteBytes, removeBlock) ------

    /// Stores `bytes` as `id` at `level` (memory if it fits, else disk if the level allows;
    /// blocks evicted from memory go to disk when their level has disk, else are dropped and
    /// reported). The first writer wins: if the block exists this is a no-op returning true.
    /// Returns false when the block fits nowhere (a memory-only block larger than the free
    /// MemoryStore): it is then not stored. Reports the new block to the master when
    /// `tell_master` (blocking; call from task threads). Throws std::runtime_error on disk errors.
    bool put_bytes(const BlockId& id, ManagedBuffer bytes, const StorageLevel& level, bool tell_master = true);
    /// The bytes of a local non-shuffle block (memory, then disk); nullopt if absent.
    std::optional<ManagedBuffer> get_local_block(const BlockId& id);
    /// Bytes of `id` from another BlockManager: asks the master where it is and fetches from
    /// each location in turn; nullopt if no location serves it. Blocking: task threads only.
    std::optional<ManagedBuffer> get_remote_bytes(const BlockId& id);
    /// Removes a local non-shuffle block; false if absent. Reported to the master (without
    /// waiting) when `tell_master`.
    bool remove_block(const BlockId& id, bool tell_master = true);
    /// Removes the local blocks of RDD `rdd_id`; returns how many there were.
    int remove_rdd(int rdd_id);
    /// Asks the storage endpoint of BlockManager `where` to remove `id` (one-way in effect:
    /// the answer is only logged). Local blocks are removed at once.
    void remove_block_at(const BlockManagerId& where, const BlockId& id);
    const BlockManagerId& id() const noexcept { return id_; }
    DiskBlockManager& disk_block_manager() noexcept { return disk_; }
    rpc::RpcEnv& env() noexcept { return env_; }
    ShuffleBlockResolver* shuffle_block_resolver() const noexcept { return resolver_.load(); }
    void set_shuffle_block_resolver(ShuffleBlockResolver* resolver) noexcept { resolver_.store(resolver); }

    /// The file segment of a local block; throws std::runtime_error naming the block.
    FileSegment get_local_segment(const BlockId& id);
    /// Reads a local block into memory (pread); throws std::runtime_error naming the block.
    ManagedBuffer get_local_bytes(const BlockId& id);
    /// Fetches blocks from the BlockManager `from`; `done` runs on an I/O thread. `ranges`:
    /// empty (whole blocks), or one per id (only that range of each block).
    void fetch_blocks(const BlockManagerId& from, const std::vector<BlockId>& ids, FetchCallback done,
                      std::vector<ByteRange> ranges = {});
    /// Asks the BlockManager `where` (this one: directly) to diagnose shuffle block `id`, which
    /// failed to decode here although its bytes had checksum `checksum_by_reader` under
    /// `algorithm` (Spark's DiagnoseCorruption). Blocking: task threads only. A diagnosis that
    /// cannot be asked (the peer is gone, a timeout) is UNKNOWN_ISSUE.
    CorruptionCause diagnose_shuffle_corruption(const BlockManagerId& where, const ShuffleBlockId& id,
                                                std::uint64_t checksum_by_reader, std::string_view algorithm);
    void stop();

private:
    void report(const BlockId& id, bool wait);
    /// Moves blocks evicted from memory to disk if their level has disk, else forgets them.
    void handle_evicted(std::vector<MemoryStore::Evicted> evicted);

    rpc::RpcEnv& env_;
    BlockManagerId id_;
    DiskBlockManager disk_;
    rpc::RpcTimeout fetch_timeout_;
    std::atomic<ShuffleBlockResolver*> resolver_{nullptr};
    bool initialized_ = false;
    MemoryStore memory_;
    DiskStore disk_store_;
    std::unique_ptr<BlockManagerMaster> master_;  // set once by register_with_master()

    std::mutex mu_;
    std::map<BlockId, StorageLevel> levels_;  // guarded by mu_; non-shuffle blocks stored here
    std::set<BlockId> writing_;               // guarded by mu_; puts in progress (first writer wins)
};

/// Spark's RESERVED_SYSTEM_MEMORY_BYTES: memory kept out of execution and storage.
inline constexpr std::uint64_t kReservedSystemMemoryBytes = 300ull << 20;

/// Spark's unified memory (UnifiedMemoryManager.getMaxMemory) for a process of `process_memory`
/// bytes: (process_memory - reserved) x ember.memory.fraction (0.6), where reserved is 300 MiB,
/// or a third of a process smaller than 900 MiB (Spark refuses those; ember shrinks the
/// reserve instead). E.g. 434 MiB of a 1 GiB executor. Shared by execution (task buffers, see
/// the scheduler's task memory) and storage (the MemoryStore).
std::uint64_t unified_memory_bytes(const Conf& conf, std::uint64_t process_memory);

/// MemoryStore capacity from `conf` (see BlockManager) for a process of `executor_memory` bytes.
std::uint64_t storage_memory_bytes(const Conf& conf, std::optional<std::uint64_t> executor_memory);

}  // namespace ember::storage
