// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// StorageLevel: where and how a block is kept (Spark's StorageLevel).

#include <cstdint>
#include <string>

namespace ember::storage {

/// Spark's five flags of a storage level, with its constants and description().
///
/// On disk and at the serialized levels (MEMORY_ONLY_SER, MEMORY_AND_DISK_SER, OFF_HEAP) a block
/// is kept as bytes, its records encoded with their Serde. At a `deserialized` memory level
/// (MEMORY_ONLY, what cache() sets, and MEMORY_AND_DISK) a cached RDD partition is kept in memory
/// as objects, a std::vector of its records counted by their estimated size, and encoded only
/// when bytes are needed (another executor's fetch, a move to disk, a replica), as Spark's
/// DeserializedMemoryEntry. `use_off_heap` is treated as memory. `replication` N above 1 keeps N copies of a cached RDD block on N BlockManagers
/// (see BlockManager: the copies are stored at the same level with replication 1). Spark allows
/// replication below 40.
///
/// Threading: immutable.
struct StorageLevel {
    bool use_disk = false;
    bool use_memory = false;
    bool use_off_heap = false;
    bool deserialized = false;
    int replication = 1;

    /// Memory or disk and at least one replica (Spark's isValid).
    bool is_valid() const noexcept { return (use_memory || use_disk) && replication > 0; }
    bool is_none() const noexcept { return !use_disk && !use_memory && !use_off_heap; }
    /// Spark's flag byte: disk 8, memory 4, off-heap 2, deserialized 1.
    std::uint8_t to_int() const noexcept {
        return static_cast<std::uint8_t>((use_disk ? 8 : 0) | (use_memory ? 4 : 0) | (use_off_heap ? 2 : 0) |
                                         (deserialized ? 1 : 0));
    }
    static StorageLevel from_int(std::uint8_t flags, int replication) noexcept {
        return {(flags & 8) != 0, (flags & 4) != 0, (flags & 2) != 0, (flags & 1) != 0, replication};
    }
    /// "Disk Memory Deserialized 1x Replicated" (Spark's description, the REST storageLevel).
    std::string description() const {
        std::string s;
        if (use_disk) s += "Disk ";
        if (use_memory) s += use_off_heap ? "Memory (off heap) " : "Memory ";
        s += deserialized ? "Deserialized " : "Serialized ";
        s += std::to_string(replication) + "x Replicated";
        return s;
    }
    /// "StorageLevel(disk, memory, deserialized, 1 replicas)" (Spark's toString).
    std::string to_string() const {
        std::string s = "StorageLevel(";
        if (use_disk) s += "disk, ";
        if (use_memory) s += "memory, ";
        if (use_off_heap) s += "offheap, ";
        if (deserialized) s += "deserialized, ";
        s += std::to_string(replication) + " replicas)";
        return s;
    }
    friend bool operator==(const StorageLevel&, const StorageLevel&) = default;

    // Spark's constants (StorageLevel.scala) in snake_case: MEMORY_ONLY_2 is memory_only(2),
    // MEMORY_AND_DISK_SER is memory_and_disk_ser(), NONE is none().
    static constexpr StorageLevel none() { return {}; }
    static constexpr StorageLevel disk_only(int r = 1) { return {true, false, false, false, r}; }
    static constexpr StorageLevel memory_only(int r = 1) { return {false, true, false, true, r}; }
    static constexpr StorageLevel memory_only_ser(int r = 1) { return {false, true, false, false, r}; }
    static constexpr StorageLevel memory_and_disk(int r = 1) { return {true, true, false, true, r}; }
    static constexpr StorageLevel memory_and_disk_ser(int r = 1) { return {true, true, false, false, r}; }
    static constexpr StorageLevel off_heap() { return {true, true, true, false, 1}; }
};

}  // namespace ember::storage
