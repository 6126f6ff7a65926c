// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// DiskStore: one file per block under the DiskBlockManager's dirs (Spark's DiskStore).

#include "storage/block_id.hpp"
#include "storage/disk_block_manager.hpp"
#include "storage/managed_buffer.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

namespace ember::storage {

/// Reads `seg` of block `id` into memory (pread). nullopt if the file does not exist and
/// `missing_ok`; otherwise throws std::runtime_error naming the block, the file and the reason
/// (cannot open, read error, or the file is shorter than the segment).
std::optional<ManagedBuffer> read_segment(const BlockId& id, const FileSegment& seg, bool missing_ok = false);

/// Writes each block to the file DiskBlockManager places it in (written to a temporary name,
/// then renamed, so a reader never sees half a block), and serves it back as a FileSegment or
/// as bytes. A reader that opened the file keeps reading it after remove() unlinks it.
///
/// Threading: thread-safe.
class DiskStore {
public:
    explicit DiskStore(DiskBlockManager& dirs) : dirs_(dirs) {}

    /// Writes the block; throws std::runtime_error naming the block and the error.
    void put_bytes(const BlockId& id, std::span<const std::byte> bytes);
    /// The block's whole file, if this store holds it.
    std::optional<FileSegment> get_segment(const BlockId& id) const;
    /// The block's bytes read into memory, if this store holds it; throws std::runtime_error if
    /// its file cannot be read.
    std::optional<ManagedBuffer> get_bytes(const BlockId& id) const;
    bool contains(const BlockId& id) const;
    /// Size in bytes, 0 if absent.
    std::uint64_t size(const BlockId& id) const;
    /// Deletes the block's file; false if absent.
    bool remove(const BlockId& id);
    std::vector<BlockId> block_ids() const;

private:
    DiskBlockManager& dirs_;
    mutable std::mutex mu_;
    std::map<BlockId, FileSegment> blocks_;  // guarded by mu_
};

}  // namespace ember::storage
