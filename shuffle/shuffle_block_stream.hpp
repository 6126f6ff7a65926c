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

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ember::shuffle {

/// Decoded bytes handed out per piece (after decompression).
inline constexpr std::size_t kShuffleReadChunk = 512 * 1024;

/// A growable byte buffer whose growth is not zero-filled (the bytes are written right after),
/// for decoded shuffle bytes.
template <class T>
struct DefaultInitAllocator : std::allocator<T> {
    template <class U>
    struct rebind {
        using other = DefaultInitAllocator<U>;
    };
    template <class U>
    void construct(U* p) noexcept {
        ::new (static_cast<void*>(p)) U;
    }
    template <class U, class... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};
using ByteBuffer = std::vector<char, DefaultInitAllocator<char>>;

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
        buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(consumed));  // the unfinished record
    }
    if (!buf.empty()) {
        throw DecodeError("the block ends inside a record (" + std::to_string(buf.size()) + " bytes left over)");
    }
}

}  // namespace ember::shuffle
