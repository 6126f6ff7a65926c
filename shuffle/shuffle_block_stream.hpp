// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ShuffleBlockStream: the record bytes of one shuffle block, read and decompressed a bounded
/// piece at a time, and read_records, which decodes records across the pieces (Spark's
/// SerializerManager.wrapStream + DeserializationStream.asKeyValueIterator over a fetched
/// block's InputStream).

#include "shuffle/compression.hpp"
#include "storage/managed_buffer.hpp"
#include "storage/serializer.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ember::shuffle {

/// Decoded bytes handed out per piece (after decompression).
inline constexpr std::size_t kShuffleReadChunk = 512 * 1024;

/// A growable byte buffer for decoded shuffle bytes, whose growth is not zero-filled (the bytes
/// are written right after it grows). Not a std::vector with a default-initialising allocator:
/// that constructs and destroys each byte through the allocator, which an optimising build
/// removes but an unoptimised one (the sanitizer builds, -O0) runs as a call per byte, 95% of a
/// shuffle test's time under ASan.
/// Threading: single-threaded.
class ByteBuffer {
public:
    char* data() noexcept { return data_.get(); }
    const char* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    void clear() noexcept { size_ = 0; }
    /// Grows to `n` bytes (the new ones uninitialised) or shrinks to the first `n`. Growth at
    /// least doubles the capacity, so appends are amortised O(1).
    void resize(std::size_t n) {
        if (n > cap_) {
            std::size_t cap = std::max(n, 2 * cap_);
            auto next = std::make_unique_for_overwrite<char[]>(cap);
            if (size_ > 0) std::memcpy(next.get(), data_.get(), size_);
            data_ = std::move(next);
            cap_ = cap;
        }
        size_ = n;
    }
    void append(const char* p, std::size_t n) {
        std::size_t at = size_;
        resize(size_ + n);
        if (n > 0) std::memcpy(data_.get() + at, p, n);
    }
    /// Drops the first `n` bytes (at most size()); the rest moves to the front.
    void erase_front(std::size_t n) {
        if (n == 0) return;
        std::memmove(data_.get(), data_.get() + n, size_ - n);
        size_ -= n;
    }

private:
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
    std::size_t cap_ = 0;
};

/// A block's bytes could not be read (an I/O error, a file shorter than the block).
class BlockReadError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The decompressed bytes of a block, front to back. Whatever the block's size, it holds at
/// most one compressed input piece and the caller's buffer: a 250 MB block read from a file
/// costs about a megabyte of memory.
/// Threading: single-threaded.
class ShuffleBlockStream {
public:
    /// `compressed`: the block is a sequence of LZ4 frames (ember.shuffle.compress).
    ShuffleBlockStream(storage::BlockData data, bool compressed);

    /// Appends the next at most `max` decoded bytes to `out`; false at the end (nothing
    /// appended). Throws DecodeError for corrupt or truncated compressed data and BlockReadError
    /// for I/O errors (both name the problem).
    bool read_into(ByteBuffer& out, std::size_t max);

private:
    std::span<const std::byte> next_input(std::size_t max);

    storage::BlockInputStream in_;
    bool compressed_;
    std::unique_ptr<Lz4StreamDecompressor> lz4_;
    std::span<const std::byte> pending_;  // compressed input not consumed yet
    bool input_done_ = false;             // the block's bytes were all read
};

/// read_records' default end-of-piece hook: nothing to do.
struct NoPieceEnd {
    void operator()() const noexcept {}
};

/// Calls `read_record(Decoder&)` once per record of the stream until it ends. `read_record`
/// decodes exactly one record and must act on it only once it has read it whole: a record cut
/// by the end of a piece throws TruncatedInput from the Decoder, and is decoded again from its
/// first byte once the next piece is appended. Views `read_record` takes into the Decoder's bytes
/// (Decoder::get_bytes) stay valid until `piece_end()` is called, after the last record of each
/// piece: a caller that keeps views across records (to look them up in batches) acts on them
/// there. Throws DecodeError if the stream ends inside a record.
template <class ReadRecord, class PieceEnd = NoPieceEnd>
void read_records(ShuffleBlockStream& stream, ReadRecord&& read_record, PieceEnd&& piece_end = PieceEnd{}) {
    ByteBuffer buf;
    while (stream.read_into(buf, kShuffleReadChunk)) {
        Decoder d(buf.data(), buf.size());
        std::size_t consumed = 0;
        while (!d.done()) {
            try {
                read_record(d);
            } catch (const TruncatedInput&) {
                break;  // the rest of this record comes with the next piece
            }
            consumed = buf.size() - d.remaining();
        }
        piece_end();  // the views into buf end here: the next piece moves it
        buf.erase_front(consumed);  // the unfinished record
    }
    if (!buf.empty()) {
        throw DecodeError("the block ends inside a record (" + std::to_string(buf.size()) + " bytes left over)");
    }
}

}  // namespace ember::shuffle
