// SPDX-License-Identifier: Apache-2.0
#include "shuffle/shuffle_block_stream.hpp"

namespace ember::shuffle {
namespace {

/// Compressed bytes read from a file per piece.
constexpr std::size_t kCompressedReadChunk = 256 * 1024;

}  // namespace

ShuffleBlockStream::ShuffleBlockStream(storage::BlockData data, bool compressed)
    : in_(std::move(data)), compressed_(compressed) {
    if (compressed_) lz4_ = std::make_unique<Lz4StreamDecompressor>();
}

std::span<const std::byte> ShuffleBlockStream::next_input(std::size_t max) {
    try {
        return in_.next(max);
    } catch (const std::runtime_error& e) {
        throw BlockReadError(e.what());
    }
}

bool ShuffleBlockStream::read_into(std::string& out, std::size_t max) {
    if (!compressed_) {
        auto piece = next_input(max);
        out.append(reinterpret_cast<const char*>(piece.data()), piece.size());
        return !piece.empty();
    }
    std::size_t before = out.size();
    while (out.size() - before < max) {
        if (pending_.empty() && !input_done_) {
            pending_ = next_input(kCompressedReadChunk);
            input_done_ = pending_.empty();
        }
        std::size_t had = out.size();
        std::size_t used = lz4_->decompress(pending_, out, max - (out.size() - before));
        pending_ = pending_.subspan(used);
        if (used == 0 && out.size() == had) {
            if (!pending_.empty()) throw DecodeError("LZ4 decompression made no progress");
            if (input_done_) {
                lz4_->finish();  // everything decoded: the stream must end between frames
                break;
            }
        }
    }
    return out.size() > before;
}

}  // namespace ember::shuffle
