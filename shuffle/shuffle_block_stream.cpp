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

bool ShuffleBlockStream::read_into(ByteBuffer& out, std::size_t max) {
    if (!compressed_) {
        auto piece = next_input(max);
        auto* p = reinterpret_cast<const char*>(piece.data());
        out.append(p, piece.size());
        return !piece.empty();
    }
    const std::size_t before = out.size();
    out.resize(before + max);  // not zero-filled: decompressed into right away
    std::size_t produced = 0;
    while (produced < max) {
        if (pending_.empty() && !input_done_) {
            pending_ = next_input(kCompressedReadChunk);
            input_done_ = pending_.empty();
        }
        auto step = lz4_->decompress(pending_, std::span<char>(out.data() + before + produced, max - produced));
        pending_ = pending_.subspan(step.consumed);
        produced += step.produced;
        if (step.consumed == 0 && step.produced == 0) {
            if (!pending_.empty()) {
                out.resize(before + produced);
                throw DecodeError("LZ4 decompression made no progress");
            }
            if (input_done_) {
                out.resize(before + produced);
                lz4_->finish();  // everything decoded: the stream must end between frames
                break;
            }
        }
    }
    out.resize(before + produced);
    return produced > 0;
}

}  // namespace ember::shuffle
