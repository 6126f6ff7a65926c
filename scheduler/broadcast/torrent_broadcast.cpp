// SPDX-License-Identifier: Apache-2.0
#include "scheduler/broadcast/torrent_broadcast.hpp"

#include "rpc/log.hpp"
#include "shuffle/compression.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include <memory>

namespace ember::broadcast {

storage::BlockId piece_block_id(std::int64_t id, std::uint32_t i) {
    return storage::BroadcastBlockId{id, fmt::format("piece{}", i)};
}

storage::BlockId meta_block_id(std::int64_t id) { return storage::BroadcastBlockId{id, "meta"}; }

std::uint64_t piece_checksum(std::span<const std::byte> bytes) noexcept {
    return XXH3_64bits(bytes.data(), bytes.size());
}

Blockified blockify(std::int64_t broadcast_id, std::string serialized, std::uint64_t block_size, bool compress,
                    bool checksum) {
    EMBER_REQUIRE(block_size > 0, "blockify: block size must be positive");
    Blockified out;
    out.meta.broadcast_id = broadcast_id;
    out.meta.value_size = serialized.size();
    out.meta.block_size = block_size;
    out.meta.compressed = compress;
    auto stored = std::make_shared<std::string>();
    if (compress) {
        shuffle::lz4_compress_append(serialized, *stored);
        std::string().swap(serialized);  // the serialized copy is not needed any more
    } else {
        *stored = std::move(serialized);
    }
    out.meta.stored_size = stored->size();
    std::uint64_t n = (stored->size() + block_size - 1) / block_size;
    EMBER_REQUIRE(n <= UINT32_MAX, "blockify: {} pieces are too many; raise ember.broadcast.blockSize", n);
    out.meta.num_pieces = static_cast<std::uint32_t>(n);
    auto all = std::as_bytes(std::span<const char>(stored->data(), stored->size()));
    for (std::uint32_t i = 0; i < out.meta.num_pieces; ++i) {
        auto piece = all.subspan(static_cast<std::size_t>(i * block_size),
                                 static_cast<std::size_t>(out.meta.piece_size(i)));
        if (checksum) out.meta.checksums.push_back(piece_checksum(piece));
        out.pieces.push_back(storage::ManagedBuffer{stored, piece});
    }
    return out;
}

std::optional<std::string> verify_piece(const BroadcastMeta& meta, std::uint32_t i, std::span<const std::byte> bytes) {
    auto id = storage::name(piece_block_id(meta.broadcast_id, i));
    auto whole = storage::name(storage::BroadcastBlockId{meta.broadcast_id, ""});
    if (i >= meta.num_pieces) return fmt::format("{} of {} does not exist ({} pieces)", id, whole, meta.num_pieces);
    if (bytes.size() != meta.piece_size(i)) {
        return fmt::format("corrupt remote block {} of {}: {} bytes, expected {}", id, whole, bytes.size(),
                           meta.piece_size(i));
    }
    if (!meta.checksums.empty()) {
        if (meta.checksums.size() != meta.num_pieces) {
            return fmt::format("{} has {} checksums for {} pieces", whole, meta.checksums.size(), meta.num_pieces);
        }
        std::uint64_t sum = piece_checksum(bytes);
        if (sum != meta.checksums[i]) {
            return fmt::format("corrupt remote block {} of {}: {} != {}", id, whole, sum, meta.checksums[i]);
        }
    }
    return std::nullopt;
}

std::string unblockify(const BroadcastMeta& meta, const std::vector<storage::ManagedBuffer>& pieces) {
    if (pieces.size() != meta.num_pieces) {
        throw DecodeError(fmt::format("broadcast_{}: {} pieces, expected {}", meta.broadcast_id, pieces.size(),
                                      meta.num_pieces));
    }
    std::uint64_t total = 0;
    for (std::uint32_t i = 0; i < meta.num_pieces; ++i) {
        if (pieces[i].size() != meta.piece_size(i)) {
            throw DecodeError(fmt::format("broadcast_{}: piece {} has {} bytes, expected {}", meta.broadcast_id, i,
                                          pieces[i].size(), meta.piece_size(i)));
        }
        total += pieces[i].size();
    }
    if (total != meta.stored_size) {
        throw DecodeError(fmt::format("broadcast_{}: {} bytes in pieces, expected {}", meta.broadcast_id, total,
                                      meta.stored_size));
    }
    std::string out;
    if (!meta.compressed) {
        if (meta.value_size != meta.stored_size) {
            throw DecodeError(fmt::format("broadcast_{}: {} bytes stored for a {}-byte value", meta.broadcast_id,
                                          meta.stored_size, meta.value_size));
        }
        out.reserve(static_cast<std::size_t>(total));
        for (auto& p : pieces) out.append(p.view());
        return out;
    }
    // One LZ4 stream across the pieces, decoded straight into the value's buffer. One spare
    // byte: the decompressor always has room, and a byte there means the value is too long.
    out.resize(static_cast<std::size_t>(meta.value_size) + 1);
    shuffle::Lz4StreamDecompressor lz4;
    std::size_t produced = 0;
    auto pour = [&](std::span<const std::byte> in) {
        for (;;) {
            if (produced > meta.value_size) {
                throw DecodeError(fmt::format("broadcast_{}: the value is longer than its {} bytes",
                                              meta.broadcast_id, meta.value_size));
            }
            auto p = lz4.decompress(in, std::span<char>(out.data() + produced, out.size() - produced));
            produced += p.produced;
            in = in.subspan(p.consumed);
            if (in.empty() && p.produced == 0) return;
            if (p.consumed == 0 && p.produced == 0) {
                throw DecodeError(fmt::format("broadcast_{}: the LZ4 stream makes no progress", meta.broadcast_id));
            }
        }
    };
    for (auto& p : pieces) pour(p.bytes);
    pour({});
    lz4.finish();
    if (produced != meta.value_size) {
        throw DecodeError(fmt::format("broadcast_{}: {} bytes decompressed, expected {}", meta.broadcast_id, produced,
                                      meta.value_size));
    }
    out.resize(static_cast<std::size_t>(meta.value_size));
    return out;
}

}  // namespace ember::broadcast
