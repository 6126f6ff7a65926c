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
#include "storage/block_replication_policy.hpp"
#include "storage/block_transfer_codec.hpp"
#include "storage/disk_block_manager.hpp"
#include "storage/disk_store.hpp"
#include "storage/managed_buffer.hpp"
#include "storage/memory_store.hpp"
#include "storage/storage_level.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace boost::asio {
class thread_pool;
}

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
    /// Deletes the local files of every map output of `shuffle_id`; returns how many there were.
    virtual int remove_shuffle(int shuffle_id) {
        (void)shuffle_id;
        return 0;
    }
};

/// Completion of a remote fetch: one buffer per requested block, in request order.
using FetchCallback = std::function<void(rpc::RpcResult<std::vector<ManagedBuffer>>)>;

/// Local block storage of one process, served to others through the "block-transfer" endpoint
/// of the process's RpcEnv; the BlockManagerId's host:port is that env's address.
///
/// Two kinds of blocks: shuffle blocks, which are segments of the shuffle files the
/// ShuffleBlockResolver knows, and every other block (cached RDD partitions `rdd_<id>_<p>`,
/// indirect task results `taskresult_<tid>`), kept in a MemoryStore (LRU) and/or a DiskStore by
/// StorageLevel: as serialized bytes (Spark's doPutBytes), or, for an RDD partition cached at a
/// deserialized level (MEMORY_ONLY, MEMORY_AND_DISK), as objects in memory (put_values, Spark's
/// DeserializedMemoryEntry), encoded only when bytes are needed. Both kinds are fetched with
/// FetchBlocks; memory bytes are sent without a copy (an object block is encoded for the
/// request, on the I/O thread, as Spark's block server does), disk blocks with sendfile.
/// After register_with_master(), stored and removed blocks are reported to the driver's
/// BlockManagerMaster (UpdateBlockInfo) and the "BlockManagerEndpoint" storage endpoint answers
/// the master's RemoveBlock, RemoveRdd and ReplicateBlock.
///
/// Replication (Spark's BlockManager.replicate): a non-shuffle RDD block put at a level with
/// replication N > 1 is stored here, then uploaded (UploadBlock, its bytes as the raw body) to
/// N-1 peers, the other executors' BlockManagers the master names (GetPeers, cached for
/// ember.storage.cachedPeersTtl, 60s), tried in RandomBlockReplicationPolicy's order; a failed
/// upload refreshes the peers and tries another, up to ember.storage.maxReplicationFailures (1)
/// failures, after which the block keeps fewer copies (a warning says how many). Each peer
/// stores its copy at the same level with replication 1 and reports it to the master before it
/// answers, so when put_bytes returns (and the task that computed the block ends, and with it
/// the action that cached the RDD) the master knows every copy that was made. The upload
/// runs on the task's thread, after the local store: the caller waits for it, as Spark's
/// putIterator does. The receiving side stores uploads on a thread of its own ("block-upload"),
/// and runs the master's ReplicateBlock (proactive replication after an executor was lost) on
/// another ("block-replicate"), never on an I/O thread.
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
    /// `tell_master` (blocking; call from task threads). An RDD block at a level with replication
    /// N > 1 is then uploaded to N-1 peers before this returns (see Replication above; fewer
    /// copies than N is logged, not an error). Throws std::runtime_error on disk errors.
    bool put_bytes(const BlockId& id, ManagedBuffer bytes, const StorageLevel& level, bool tell_master = true);
    /// Stores the objects `values` as `id` at `level`, a deserialized memory level (MEMORY_ONLY,
    /// MEMORY_AND_DISK, their replicated forms), as Spark's putIterator keeps a
    /// DeserializedMemoryEntry: in the MemoryStore as objects if their estimated size fits, else
    /// encoded to disk if the level allows. Encodes them (once) also for the replicas of a level
    /// with replication N > 1 and when they are evicted to disk later. Otherwise as put_bytes():
    /// first writer wins, false if stored nowhere, reported to the master, throws
    /// std::runtime_error on disk errors; EMBER_REQUIRE fails for another level.
    bool put_values(const BlockId& id, StoredValues values, const StorageLevel& level, bool tell_master = true);
    /// The objects of a local block kept as objects in memory; nullptr if it is absent, kept as
    /// bytes, or only on disk (get_local_block() then has its bytes).
    std::shared_ptr<const StoredValues> get_local_values(const BlockId& id);
    /// The bytes of a local non-shuffle block (memory, then disk; a block kept as objects is
    /// encoded now); nullopt if absent.
    std::optional<ManagedBuffer> get_local_block(const BlockId& id);
    /// Bytes of `id` from another BlockManager: asks the master where it is and fetches from
    /// each location in turn; nullopt if no location serves it. Blocking: task threads only.
    std::optional<ManagedBuffer> get_remote_bytes(const BlockId& id);
    /// Copies local block `id` to new peers until it is on `max_replicas` BlockManagers, counting
    /// this one and `existing` (Spark's replicateBlock; the master asks for it with ReplicateBlock
    /// when an executor holding a copy was lost). Refreshes the peers first. Blocking (uploads);
    /// false if the block is not here or fewer copies could be made.
    bool replicate_block(const BlockId& id, const std::vector<BlockManagerId>& existing, int max_replicas);
    /// The other executors' BlockManagers (the master's GetPeers: not this one, not the driver's),
    /// cached for ember.storage.cachedPeersTtl; `force` asks the master again. Blocking; empty
    /// before register_with_master() or if the master cannot be reached.
    std::vector<BlockManagerId> get_peers(bool force = false);
    /// Internal (the block-transfer endpoint): stores a validated upload on the block-upload
    /// thread, reports it to the master, then answers `ctx` with BlockUploaded, or fails it
    /// naming the reason (the block fits nowhere here).
    void store_upload(UploadRequest req, rpc::RpcCallContext ctx);
    /// Internal (the storage endpoint): replicate_block() on the block-replicate thread, then
    /// answers `ctx` with a BooleanReply.
    void replicate_block_async(BlockId id, std::vector<BlockManagerId> existing, int max_replicas,
                               rpc::RpcCallContext ctx);
    /// Removes a local non-shuffle block; false if absent. Reported to the master (without
    /// waiting) when `tell_master`.
    bool remove_block(const BlockId& id, bool tell_master = true);
    /// Removes the local blocks of RDD `rdd_id`; returns how many there were.
    int remove_rdd(int rdd_id);
    /// Deletes this process's map outputs of shuffle `shuffle_id` through the shuffle block
    /// resolver (Spark's RemoveShuffle at a BlockManagerStorageEndpoint); returns how many map
    /// outputs there were (0 without a resolver).
    int remove_shuffle(int shuffle_id);
    /// Removes the local blocks of broadcast variable `broadcast_id` (`broadcast_<id>*`), then
    /// calls the broadcast-removed listener (which drops the deserialized value); returns how many
    /// blocks there were. Reported to the master (without waiting) when `tell_master`.
    int remove_broadcast(std::int64_t broadcast_id, bool tell_master);
    /// Called with the id after remove_broadcast() (the process's BroadcastManager drops its
    /// cached value: Spark keeps that value in the MemoryStore). Set once, before the storage
    /// endpoint can receive RemoveBroadcast; runs on the caller's thread (an I/O thread for the
    /// master's RemoveBroadcast) and must not block.
    void set_broadcast_removed_listener(std::function<void(std::int64_t)> listener);
    /// Called with the id by remove_shuffle(), whether or not this process wrote any of its map
    /// outputs (an executor's MapOutputTrackerWorker drops its cached statuses, as Spark's
    /// storage endpoint unregisters the shuffle from the executor's tracker). Set once, before
    /// the storage endpoint can receive RemoveShuffle; runs on the caller's thread and must not
    /// block.
    void set_shuffle_removed_listener(std::function<void(int)> listener);
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

    /// Bytes and blocks this process sent to others (FetchBlocks replies) and received from
    /// others (fetch_blocks), since start: every kind of block. Tests read them to see where
    /// data travelled (e.g. how much of a broadcast the driver served).
    struct TransferCounters {
        std::uint64_t bytes_served = 0;
        std::uint64_t blocks_served = 0;
        std::uint64_t bytes_fetched = 0;
        std::uint64_t blocks_fetched = 0;
    };
    /// Threading: thread-safe (each counter is read atomically, the four not together).
    TransferCounters transfer_counters() const noexcept;
    /// Adds a FetchBlocks reply to the served counters (the block server calls it).
    void count_served(std::uint64_t bytes, std::size_t blocks) noexcept;

    /// The atomics behind transfer_counters(); shared with in-flight fetch callbacks.
    struct Counters {
        std::atomic<std::uint64_t> bytes_served{0};
        std::atomic<std::uint64_t> blocks_served{0};
        std::atomic<std::uint64_t> bytes_fetched{0};
        std::atomic<std::uint64_t> blocks_fetched{0};
    };

private:
    void report(const BlockId& id, bool wait);
    /// put_bytes() and put_values(): `to_memory` tries the MemoryStore (nullopt: not stored
    /// there), `bytes` gives the encoded block (for the disk and the replicas).
    bool put_block(const BlockId& id, const StorageLevel& level, bool tell_master,
                   const std::function<std::optional<std::vector<MemoryStore::Evicted>>()>& to_memory,
                   const std::function<ManagedBuffer()>& bytes);
    /// Uploads `bytes` to peers until `level.replication` BlockManagers hold them, counting this
    /// one and `existing` (Spark's replicate); false if fewer copies were made.
    bool replicate(const BlockId& id, const ManagedBuffer& bytes, const StorageLevel& level,
                   std::vector<BlockManagerId> existing, bool force_peers);
    rpc::RpcResult<void> upload_block(const BlockManagerId& peer, const BlockId& id, const StorageLevel& level,
                                      const ManagedBuffer& bytes);
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
    std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
    std::function<void(std::int64_t)> broadcast_removed_;  // set once before serving
    std::function<void(int)> shuffle_removed_;             // set once before serving

    std::mutex mu_;
    std::map<BlockId, StorageLevel> levels_;  // guarded by mu_; non-shuffle blocks stored here
    std::set<BlockId> writing_;               // guarded by mu_; puts in progress (first writer wins)

    RandomBlockReplicationPolicy policy_;
    int max_replication_failures_;
    std::chrono::milliseconds cached_peers_ttl_;
    std::mutex peers_mu_;
    std::vector<BlockManagerId> cached_peers_;              // guarded by peers_mu_
    std::chrono::steady_clock::time_point peers_fetched_;   // guarded by peers_mu_
    bool peers_valid_ = false;                              // guarded by peers_mu_
    // Last members: destroyed (joined) first, while what their jobs use still exists.
    std::unique_ptr<boost::asio::thread_pool> upload_pool_;     // block-upload: stores uploads
    std::unique_ptr<boost::asio::thread_pool> replicate_pool_;  // block-replicate: ReplicateBlock
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
