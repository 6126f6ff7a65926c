// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// BroadcastManager: a process's broadcast variables (Spark's BroadcastManager with
/// TorrentBroadcast's reading and writing of blocks).

#include "rpc/conf.hpp"
#include "scheduler/broadcast/torrent_broadcast.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <typeinfo>

namespace ember::storage {
class BlockManager;
}

namespace ember::broadcast {

/// Makes a value of the broadcast's type from its serialized bytes (Serde of the Broadcast's T).
using DecodeFn = std::shared_ptr<const void> (*)(std::string_view serialized);

/// Holds the broadcast variables of one process: the driver's, or an executor's.
///
/// On the driver, new_broadcast() keeps the value (Spark's `broadcast_<id>` block, here the
/// cached value itself) and stores it in the driver's BlockManager as pieces
/// `broadcast_<id>_piece<n>` of ember.broadcast.blockSize (4m) bytes, LZ4-compressed when
/// ember.broadcast.compress (true), with an XXH3 checksum per piece when
/// ember.broadcast.checksum (true), plus the metadata `broadcast_<id>_meta`; all are reported to
/// the BlockManagerMaster.
///
/// In an executor, the first get_value() of a broadcast reads it (Spark's readBroadcastBlock):
/// the metadata from the driver, then each piece, in random order, from a random one of the
/// BlockManagers the master lists for it (the driver, or executors that fetched it already),
/// trying the others if one fails or serves a piece whose checksum does not match. Each fetched
/// piece is stored in this process's BlockManager and reported to the master, so that other
/// executors can fetch it from here. Then the value is deserialized and cached for every task of
/// the process; tasks that ask meanwhile wait for that one read. A read that fails is not
/// cached: the next task tries again.
///
/// unbroadcast() (driver) removes the blocks through the master (RemoveBroadcast): from the
/// executors (unpersist: they read it again on next use) or everywhere (destroy: later use fails
/// with "Attempted to use Broadcast(3) after it was destroyed (destroy at <site>)"). An
/// executor's cached value goes when its BlockManager removes the broadcast's blocks
/// (set_broadcast_removed_listener).
///
/// Each process has one BroadcastManager, made current with make_current() (Spark's
/// SparkEnv.get.broadcastManager); Broadcast<T>::value() finds it there.
///
/// Threading: thread-safe. get_value() and unbroadcast() block (task threads or the driver's
/// threads, never an I/O thread).
/// Ownership: borrows the BlockManager, which must outlive it.
class BroadcastManager {
public:
    BroadcastManager(storage::BlockManager& block_manager, const Conf& conf, bool is_driver);
    ~BroadcastManager();
    BroadcastManager(const BroadcastManager&) = delete;
    BroadcastManager& operator=(const BroadcastManager&) = delete;

    /// The process's current manager, or nullptr (no SparkContext and no executor running).
    static BroadcastManager* current() noexcept;
    /// Makes this the process's current manager (until stop() or destruction).
    void make_current() noexcept;
    /// In a simulation, where one process holds the driver and several executors: makes this
    /// the manager of executor `executor_id`'s tasks (a task's value() looks its executor's up
    /// before the current one), until stop() or destruction.
    void serve_executor(const std::string& executor_id);
    /// The manager serving executor `executor_id` (serve_executor), or nullptr.
    static BroadcastManager* for_executor(const std::string& executor_id);

    // -- driver --------------------------------------------------------------------------------

    /// Stores a new broadcast of `value` (of type `type`, whose Serde bytes are `serialized`)
    /// and returns its id (0, 1, 2, ...). Blocking (reports each piece to the master). Throws
    /// std::runtime_error if the pieces cannot be stored.
    std::int64_t new_broadcast(std::string serialized, std::shared_ptr<const void> value, const std::type_info& type);
    /// Removes broadcast `id` from the executors and, when `remove_from_driver` (destroy), from
    /// the driver too; `destroy_site` ("destroy at file.cpp:12") then names it in later errors.
    /// Waits for the BlockManagers to confirm when `blocking`; throws std::runtime_error if they
    /// cannot be reached then.
    void unbroadcast(std::int64_t id, bool remove_from_driver, bool blocking, const std::string& destroy_site = {});

    // -- every process -------------------------------------------------------------------------

    /// The value of broadcast `id`, read as described above if this process does not have it
    /// yet (`decode` makes it from its bytes). Throws SparkException if the broadcast was
    /// destroyed ("Attempted to use Broadcast(3) after it was destroyed ...") or cannot be read
    /// ("Failed to get broadcast_3_piece2 of broadcast_3: ..."), and ContractViolation if it
    /// holds another type than `type`.
    std::shared_ptr<const void> get_value(std::int64_t id, const std::type_info& type, DecodeFn decode);
    /// Drops the cached value of `id` (its blocks are removed by the BlockManager).
    void forget(std::int64_t id);
    bool is_driver() const noexcept { return is_driver_; }
    /// The BlockManager holding this process's pieces (tests read its transfer counters).
    storage::BlockManager& block_manager() noexcept { return bm_; }

    /// What this process did, for tests and logs.
    struct Stats {
        std::uint64_t values_read = 0;    ///< broadcasts read from pieces (once per broadcast)
        std::uint64_t pieces_fetched = 0; ///< pieces fetched from other processes
        std::uint64_t bytes_fetched = 0;  ///< bytes of those pieces
        std::uint64_t pieces_local = 0;   ///< pieces found in this process's BlockManager
        std::uint64_t corrupt_pieces = 0; ///< fetched pieces whose checksum did not match
    };
    Stats stats() const;

    /// Forgets every value, and stops being current. Idempotent. SparkContext::stop() calls it
    /// (the BlockManager's directories go with the BlockManager).
    void stop();

private:
    struct Entry {
        std::shared_ptr<const void> value;
        const std::type_info* type = nullptr;
    };
    /// A read in progress (once per process and broadcast): the others wait for it.
    struct Pending {
        bool done = false;
        Entry entry;
        std::exception_ptr error;
        bool removed = false;  ///< the broadcast was removed during the read: do not cache
    };
    /// Reads broadcast `id` from its pieces (Spark's readBlocks + unBlockifyObject).
    Entry read(std::int64_t id, const std::type_info& type, DecodeFn decode);
    BroadcastMeta read_meta(std::int64_t id);
    storage::ManagedBuffer read_piece(const BroadcastMeta& meta, std::uint32_t i);
    std::string destroyed_message(std::int64_t id) const;  // call with mu_ held

    storage::BlockManager& bm_;
    const bool is_driver_;
    const std::uint64_t block_size_;
    const bool compress_;
    const bool checksum_;
    std::atomic<std::int64_t> next_id_{0};

    mutable std::mutex mu_;
    std::condition_variable read_done_;
    std::map<std::int64_t, Entry> values_;                       // guarded by mu_
    std::map<std::int64_t, std::shared_ptr<Pending>> pending_;   // guarded by mu_
    std::map<std::int64_t, std::string> destroyed_;              // guarded by mu_; id -> destroy site
    Stats stats_;                                                // guarded by mu_
};

/// Releases what the tasks of this thread pinned with Broadcast<T>::value() (the values stay
/// alive while a task runs even if the broadcast is removed meanwhile). The executor calls it
/// when a task ends.
void release_task_pins() noexcept;

}  // namespace ember::broadcast
