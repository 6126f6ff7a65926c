// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The pieces of a broadcast variable (Spark's TorrentBroadcast.blockifyObject and
/// unBlockifyObject): cutting a serialized value into checksummed pieces, and putting the pieces
/// back together. Pure functions; the BroadcastManager stores and fetches the pieces.

#include "storage/block_id.hpp"
#include "storage/managed_buffer.hpp"
#include "storage/serializer.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ember::broadcast {

/// What a process needs to fetch and check a broadcast's pieces; stored with the pieces as the
/// small block `broadcast_<id>_meta` (Spark keeps it in the TorrentBroadcast object that
/// travels with the task; an ember Broadcast handle is only an id, so it travels as a block).
/// Threading: immutable.
struct BroadcastMeta {
    std::int64_t broadcast_id = 0;
    std::uint64_t value_size = 0;   ///< bytes of the serialized value (before compression)
    std::uint64_t stored_size = 0;  ///< bytes of all pieces together
    std::uint64_t block_size = 0;   ///< bytes of every piece but the last
    std::uint32_t num_pieces = 0;
    bool compressed = false;        ///< the pieces are one LZ4 frame stream of the value
    /// XXH3-64 of each piece (ember.broadcast.checksum); empty when checksums are off.
    std::vector<std::uint64_t> checksums;

    /// Size of piece `i` in bytes.
    std::uint64_t piece_size(std::uint32_t i) const noexcept {
        std::uint64_t start = static_cast<std::uint64_t>(i) * block_size;
        return start >= stored_size ? 0 : std::min(block_size, stored_size - start);
    }
    EMBER_SERDE(broadcast_id, value_size, stored_size, block_size, num_pieces, compressed, checksums)
};

/// The pieces of a value and their metadata.
struct Blockified {
    BroadcastMeta meta;
    /// Views of one shared buffer, `meta.block_size` bytes each (the last may be shorter).
    std::vector<storage::ManagedBuffer> pieces;
};

/// Block id of piece `i` of broadcast `id`: `broadcast_<id>_piece<i>`.
storage::BlockId piece_block_id(std::int64_t id, std::uint32_t i);
/// `broadcast_<id>_meta`.
storage::BlockId meta_block_id(std::int64_t id);

/// Checksum of a piece: XXH3-64 (Spark uses Adler-32; both only detect accidents).
std::uint64_t piece_checksum(std::span<const std::byte> bytes) noexcept;

/// Cuts `serialized` (a value's Serde bytes) into pieces of `block_size` bytes (> 0), after
/// LZ4-compressing it when `compress`, with a checksum per piece when `checksum`. A value of 0
/// bytes has no pieces.
Blockified blockify(std::int64_t broadcast_id, std::string serialized, std::uint64_t block_size, bool compress,
                    bool checksum);

/// Checks piece `i` against `meta` (size, and checksum when there is one); nullopt if it is
/// good, else why not, in Spark's words ("corrupt remote block broadcast_3_piece1 of
/// broadcast_3: 123 != 456").
std::optional<std::string> verify_piece(const BroadcastMeta& meta, std::uint32_t i,
                                        std::span<const std::byte> bytes);

/// The serialized value from all pieces, in order (decompressed if `meta.compressed`), in a
/// buffer of its own. Throws DecodeError if the pieces do not add up to the value (wrong count or
/// sizes, corrupt LZ4).
storage::ManagedBuffer unblockify(const BroadcastMeta& meta, const std::vector<storage::ManagedBuffer>& pieces);

/// `n` bytes, not zero-filled by ember; from 2 MiB up a mapping of its own, 2 MiB-aligned and
/// advised to use transparent huge pages (scheduler::huge_page_array), so that where the kernel
/// grants them, filling 200 MiB takes about a hundred page faults instead of 51,200 (a fault of
/// fresh memory costs more than copying the page).
std::shared_ptr<char> large_buffer(std::size_t n);

}  // namespace ember::broadcast
