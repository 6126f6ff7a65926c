// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Framing of ember connections: a Cap'n Proto message in stream framing (segment table, then
/// segments) whose root is an Envelope, followed by Envelope.bodySize raw bytes.
///
/// Pure byte manipulation with no I/O, so it can be unit-tested and fuzzed on its own.

#include "rpc/message_data.hpp"
#include "rpc/rpc_error.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace ember::rpc::transport {

/// Largest segment count we accept in a segment table (capnp's own reader allows 512).
inline constexpr std::uint32_t kMaxSegments = 512;

/// Appends the capnp stream-framing segment table for `segments` to `out`.
void encode_segment_table(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments,
                          std::vector<std::byte>& out);

/// Incremental decoder of frames from a byte stream. Feed it with prepare()/commit(); take
/// frames with next(). Bytes beyond the current frame stay buffered for the next one.
///
/// Limits: the capnp part of a frame may not exceed `max_frame_bytes`
/// (ember.rpc.message.maxSize) and a body may not exceed `max_body_bytes`; a frame over either
/// limit, a segment table with more than kMaxSegments entries, or an envelope that does not
/// parse is an error naming the problem, after which the stream cannot be resynchronised.
///
/// Threading: single-threaded (one per connection).
class FrameDecoder {
public:
    FrameDecoder(std::size_t max_frame_bytes, std::uint64_t max_body_bytes);

    /// Writable space of at least `min_bytes` at the end of the buffer.
    std::span<std::byte> prepare(std::size_t min_bytes);
    /// Marks `n` bytes of the last prepare() as filled.
    void commit(std::size_t n);

    /// The next complete frame; nullopt when more bytes are needed; an error for bad bytes.
    RpcResult<std::optional<std::shared_ptr<detail::MessageData>>> next();

    /// While a frame's body is incomplete: the part of it still missing. Large bodies are read
    /// straight into it (then call commit_body) instead of passing through the buffer.
    std::span<std::byte> body_remaining() noexcept;
    void commit_body(std::size_t n) noexcept;

    /// Bytes buffered but not yet consumed.
    std::size_t buffered() const noexcept { return end_ - begin_; }

private:
    RpcResult<std::optional<std::shared_ptr<detail::MessageData>>> take_body();

    std::size_t max_frame_bytes_;
    std::uint64_t max_body_bytes_;
    std::vector<std::byte> buf_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
    std::shared_ptr<detail::MessageData> pending_;  // frame waiting for its body
    std::size_t body_filled_ = 0;
};

}  // namespace ember::rpc::transport
