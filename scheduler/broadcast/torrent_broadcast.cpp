// SPDX-License-Identifier: Apache-2.0
#include "scheduler/broadcast/torrent_broadcast.hpp"

#include "rpc/log.hpp"
#include "scheduler/util/huge_pages.hpp"
#include "shuffle/compression.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>

namespace ember::broadcast {

storage::BlockId piece_block_id(std::int64_t id, std::uint32_t i) {
    return storage::BroadcastBlockId{id, fmt::format("piece{}", i)};
}

storage::BlockId meta_block_id(std::int64_t id) { return storage::BroadcastBlockId{id, "meta"}; }

std::shared_ptr<char> large_buffer(std::size_t n) {
    auto buf = scheduler::huge_page_array<char>(n, /*zeroed=*/false);
    auto deleter = buf.get_deleter();
    return std::shared_ptr<char>(buf.release(), deleter);
}

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
    std::shared_ptr<const void> owner;
    std::span<const std::byte> all;
    if (compress) {
        // One LZ4 frame, as shuffle segments are (readable by the lz4 tool once concatenated), its
        // content checksum by libxxhash (see shuffle/compression.cpp).
        std::size_t bound = shuffle::lz4_frame_bound(serialized.size());
        auto buf = large_buffer(bound);
        std::size_t n = shuffle::lz4_compress_to(serialized, buf.get(), bound);
        std::string().swap(serialized);  // the serialized copy is not needed any more
        all = std::as_bytes(std::span<const char>(buf.get(), n));
        owner = std::move(buf);
    } else {
        auto s = std::make_shared<std::string>(std::move(serialized));
        all = std::as_bytes(std::span<const char>(s->data(), s->size()));
        owner = std::move(s);
    }
    out.meta.stored_size = all.size();
    std::uint64_t n = (all.size() + block_size - 1) / block_size;
    EMBER_REQUIRE(n <= UINT32_MAX, "blockify: {} pieces are too many; raise ember.broadcast.blockSize", n);
    out.meta.num_pieces = static_cast<std::uint32_t>(n);
    for (std::uint32_t i = 0; i < out.meta.num_pieces; ++i) {
        auto piece = all.subspan(static_cast<std::size_t>(i * block_size),
                                 static_cast<std::size_t>(out.meta.piece_size(i)));
        if (checksum) out.meta.checksums.push_back(piece_checksum(piece));
        out.pieces.push_back(storage::ManagedBuffer{owner, piece});
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

storage::ManagedBuffer unblockify(const BroadcastMeta& meta, const std::vector<storage::ManagedBuffer>& pieces) {
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
    if (!meta.compressed && meta.value_size != meta.stored_size) {
        throw DecodeError(fmt::format("broadcast_{}: {} bytes stored for a {}-byte value", meta.broadcast_id,
                                      meta.stored_size, meta.value_size));
    }
    // One spare byte: the decompressor always has room, and a byte there means the value is
    // too long.
    auto buf = large_buffer(static_cast<std::size_t>(meta.value_size) + 1);
    std::span<char> out(buf.get(), static_cast<std::size_t>(meta.value_size) + 1);
    auto result = [&] {
        return storage::ManagedBuffer{buf, std::as_bytes(out.first(static_cast<std::size_t>(meta.value_size)))};
    };
    if (!meta.compressed) {
        std::size_t at = 0;
        for (auto& p : pieces) {
            std::memcpy(out.data() + at, p.bytes.data(), p.size());
            at += p.size();
        }
        return result();
    }
    // One LZ4 stream across the pieces, decoded straight into the value's buffer.
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
    return result();
}

}  // namespace ember::broadcast
