// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// LZ4 frame compression of shuffle segments (ember.io.compression.codec = lz4, as Spark's
/// default). Each segment is one or more concatenated standard LZ4 frames with content checksums,
/// readable by the `lz4` command-line tool.

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace ember::shuffle {

/// Appends `in` compressed as one LZ4 frame to `out`. Throws std::runtime_error if LZ4 fails.
void lz4_compress_append(std::string_view in, std::string& out);
/// Writes `in` compressed as one LZ4 frame (the same bytes) to the start of `buf`; returns its
/// size. `buf` only grows, to the frame's bound, and is not zero-filled again while it is large
/// enough: a writer's reused scratch buffer. Throws std::runtime_error if LZ4 fails.
std::size_t lz4_compress_into(std::string_view in, std::string& buf);
/// The most bytes lz4_compress_to writes for `content` bytes of input.
std::size_t lz4_frame_bound(std::size_t content);
/// Writes `in` compressed as one LZ4 frame (the same bytes as lz4_compress_append) to `to`,
/// which has room for `room` >= lz4_frame_bound(in.size()) bytes; returns the frame's size. For
/// callers whose buffer is not a std::string (a broadcast's pages). Throws ContractViolation if
/// `room` is too small, std::runtime_error if LZ4 fails.
std::size_t lz4_compress_to(std::string_view in, char* to, std::size_t room);
/// Decompresses a sequence of LZ4 frames, appending to `out`. Throws DecodeError naming the LZ4
/// error for corrupt input.
void lz4_decompress_append(std::span<const std::byte> in, std::string& out);

/// Decompresses a sequence of LZ4 frames fed in pieces of any size, producing output in pieces
/// of bounded size (Spark's LZ4CompressionCodec.compressedInputStream): memory stays at the
/// pieces, whatever the size of the frames.
/// Threading: single-threaded.
class Lz4StreamDecompressor {
public:
    Lz4StreamDecompressor();
    ~Lz4StreamDecompressor();
    Lz4StreamDecompressor(const Lz4StreamDecompressor&) = delete;
    Lz4StreamDecompressor& operator=(const Lz4StreamDecompressor&) = delete;

    struct Progress {
        std::size_t consumed = 0;  ///< bytes of the input used
        std::size_t produced = 0;  ///< bytes written to the output
    };
    /// Decompresses from `in` into `out`: stops when `in` is used up or `out` is full. Decoded
    /// bytes that did not fit stay in the decompressor: call again (with more input, or none)
    /// until it produces nothing. Throws DecodeError naming the LZ4 error for corrupt input.
    Progress decompress(std::span<const std::byte> in, std::span<char> out);
    /// The input ended and decompress() appends nothing more: throws DecodeError if the input
    /// ended inside a frame.
    void finish() const;

private:
    struct Ctx;
    std::unique_ptr<Ctx> ctx_;
    bool in_frame_ = false;
};

}  // namespace ember::shuffle
