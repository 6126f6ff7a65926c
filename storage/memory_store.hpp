// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// MemoryStore: serialized blocks in memory, least recently used first out (Spark's MemoryStore,
/// for serialized entries).

#include "storage/block_id.hpp"
#include "storage/managed_buffer.hpp"

#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

namespace ember::storage {

/// Blocks kept in memory as bytes, up to `max_memory` bytes in total, in access order.
///
/// put_bytes() makes room by evicting least recently used blocks (Spark's
/// evictBlocksToFreeSpace): never a block of the same RDD as the one being stored, and nothing
/// at all unless enough can be freed; a block larger than the whole store, or one that no
/// eviction can make room for, is refused (the caller then computes without caching, or writes
/// to disk, as Spark does). The evicted blocks are returned so that the BlockManager can move
/// disk-level ones to disk and tell the master.
///
/// The bytes of an entry are shared: a ManagedBuffer from get_bytes() stays readable after the
/// block is removed or evicted (Spark pins a block with a read lock instead).
///
/// Threading: thread-safe.
class MemoryStore {
public:
    /// A block pushed out by put_bytes().
    struct Evicted {
        BlockId id;
        ManagedBuffer bytes;
    };

    explicit MemoryStore(std::uint64_t max_memory) : max_memory_(max_memory) {}

    /// Stores `bytes` under `id`; an existing block of that id stays as it is (first writer
    /// wins) and nothing is evicted. nullopt if the block does not fit; otherwise the blocks
    /// evicted to make room (empty if none were).
    std::optional<std::vector<Evicted>> put_bytes(const BlockId& id, ManagedBuffer bytes);
    /// The bytes of `id`, marking it most recently used; nullopt if absent.
    std::optional<ManagedBuffer> get_bytes(const BlockId& id);
    bool contains(const BlockId& id) const;
    /// Size of `id` in bytes, 0 if absent.
    std::uint64_t size(const BlockId& id) const;
    /// Forgets `id`; false if it was absent.
    bool remove(const BlockId& id);
    /// Ids of the blocks held, in no particular order.
    std::vector<BlockId> block_ids() const;

    std::uint64_t max_memory() const noexcept { return max_memory_; }
    std::uint64_t memory_used() const;

private:
    struct Entry {
        ManagedBuffer bytes;
        std::list<BlockId>::iterator lru;  // position in lru_
    };
    const std::uint64_t max_memory_;
    mutable std::mutex mu_;
    std::map<BlockId, Entry> entries_;  // guarded by mu_
    std::list<BlockId> lru_;            // guarded by mu_; front = least recently used
    std::uint64_t used_ = 0;            // guarded by mu_
};

}  // namespace ember::storage
