// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// MemoryStore: blocks in memory, as bytes or as objects, least recently used first out
/// (Spark's MemoryStore, with its SerializedMemoryEntry and DeserializedMemoryEntry).

#include "storage/block_id.hpp"
#include "storage/managed_buffer.hpp"

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <typeinfo>
#include <vector>

namespace ember::storage {

/// A block kept as objects (Spark's DeserializedMemoryEntry, what MEMORY_ONLY and
/// MEMORY_AND_DISK store): a const std::vector<T> of its records, their type, their estimated
/// size in memory (SizeTracker), and how to encode them as the bytes a serialized level would
/// have stored, for readers that need bytes (another executor's fetch, a move to disk, a
/// replica). A (key, value) partition may carry an index of where each key sits
/// (scheduler::KeyIndex, for joins), built with the records and counted in `size`. Immutable
/// once built; shared by the store and its readers.
struct StoredValues {
    std::shared_ptr<const void> values;    ///< a const std::vector<T>
    const std::type_info* type = nullptr;  ///< typeid(std::vector<T>)
    std::uint64_t size = 0;                ///< estimated bytes in memory, the index's included
    std::function<ManagedBuffer()> serialize;
    std::shared_ptr<const void> index;           ///< null, or an index of `values` of type *index_type
    const std::type_info* index_type = nullptr;  ///< typeid of the index

    /// The records if they are of type T, else nullptr.
    template <class T>
    const std::vector<T>* as() const noexcept {
        return type && *type == typeid(std::vector<T>) ? static_cast<const std::vector<T>*>(values.get()) : nullptr;
    }
    /// The index if there is one of type I, else nullptr.
    template <class I>
    const I* index_as() const noexcept {
        return index_type && *index_type == typeid(I) ? static_cast<const I*>(index.get()) : nullptr;
    }
};

/// Blocks kept in memory, as bytes or as objects (StoredValues), up to `max_memory` bytes in
/// total (an object block counts its estimated size), in access order.
///
/// put_bytes() and put_values() make room by evicting least recently used blocks (Spark's
/// evictBlocksToFreeSpace): never a block of the same RDD as the one being stored, and nothing
/// at all unless enough can be freed; a block larger than the whole store, or one that no
/// eviction can make room for, is refused (the caller then computes without caching, or writes
/// to disk, as Spark does). The evicted blocks are returned so that the BlockManager can move
/// disk-level ones to disk and tell the master.
///
/// What get_bytes() and get_values() return is shared: it stays readable after the block is
/// removed or evicted (Spark pins a block with a read lock instead). get_bytes() of an object
/// block encodes its records on each call, outside the store's lock (Spark's getLocalBytes of a
/// deserialized block does the same).
///
/// Threading: thread-safe.
class MemoryStore {
public:
    /// A block pushed out by put_bytes() or put_values(): its bytes, or its objects.
    struct Evicted {
        BlockId id;
        ManagedBuffer bytes;                         ///< empty for an object block
        std::shared_ptr<const StoredValues> values;  ///< set for an object block
        std::uint64_t size = 0;                      ///< what it took in the store
        /// Its bytes, encoding an object block's records (to go to disk).
        ManagedBuffer materialize() const { return values ? values->serialize() : bytes; }
    };

    explicit MemoryStore(std::uint64_t max_memory) : max_memory_(max_memory) {}

    /// Stores `bytes` under `id`; an existing block of that id stays as it is (first writer
    /// wins) and nothing is evicted. nullopt if the block does not fit; otherwise the blocks
    /// evicted to make room (empty if none were).
    std::optional<std::vector<Evicted>> put_bytes(const BlockId& id, ManagedBuffer bytes);
    /// Stores the objects `values` under `id`, counting `values.size` bytes; as put_bytes().
    std::optional<std::vector<Evicted>> put_values(const BlockId& id, StoredValues values);
    /// The bytes of `id` (an object block's records encoded now), marking it most recently
    /// used; nullopt if absent. Whatever StoredValues::serialize throws propagates.
    std::optional<ManagedBuffer> get_bytes(const BlockId& id);
    /// The objects of `id`, marking it most recently used; nullptr if absent or kept as bytes.
    std::shared_ptr<const StoredValues> get_values(const BlockId& id);
    bool contains(const BlockId& id) const;
    /// Size of `id` in bytes (an object block's estimate), 0 if absent.
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
        std::shared_ptr<const StoredValues> values;  // set for an object block
        std::uint64_t size = 0;
        std::list<BlockId>::iterator lru;  // position in lru_
    };
    std::optional<std::vector<Evicted>> put_entry(const BlockId& id, Entry entry);

    const std::uint64_t max_memory_;
    mutable std::mutex mu_;
    std::map<BlockId, Entry> entries_;  // guarded by mu_
    std::list<BlockId> lru_;            // guarded by mu_; front = least recently used
    std::uint64_t used_ = 0;            // guarded by mu_
};

}  // namespace ember::storage
