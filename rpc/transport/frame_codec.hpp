// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Framing of ember connections: a Cap'n Proto message in stream framing (segment table, then
/// segments) whose root is an Envelope, followed by Envelope.bodySize raw bytes.
///
/// Pure byte manipulation with no I/O, so it can be unit-tested and fuzzed on its own.

#include "rpc/message_data.hpp"
#include "rpc/rpc_error.hpp"
#include "rpc/transport/memory_budget.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ember::rpc::transport {

/// Largest segment count we accept in a segment table (capnp's own reader allows 512).
inline constexpr std::uint32_t kMaxSegments = 512;

/// Frames (their capnp part) of at least this many bytes are handed over in the decoder's
/// buffer rather than copied out of it (FrameDecoder).
inline constexpr std::size_t kAdoptFrameBytes = 256 * 1024;

/// Size in bytes of the stream-framing segment table of `segments` segments (a multiple of 8).
constexpr std::size_t segment_table_bytes(std::size_t segments) { return ((segments + 1) * 4 + 7) & ~std::size_t{7}; }

/// Writes the capnp stream-framing segment table for `segments` to `out`, which has room for
/// segment_table_bytes(segments.size()) bytes.
void write_segment_table(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments, std::byte* out);

/// Appends the capnp stream-framing segment table for `segments` to `out`.
void encode_segment_table(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments,
                          std::vector<std::byte>& out);

/// What becomes of a frame's body once its envelope has arrived (see FrameLimits::body_policy).
enum class BodyAction {
    buffer,          ///< kept in memory for the frame, counted against the budgets (unasked data)
    buffer_asked,    ///< kept in memory, not counted: the reply to a request this side sent
    discard,         ///< nobody will read it: skipped as it arrives, the frame comes without it
};

/// Memory limits of one decoder (one connection).
struct FrameLimits {
    /// Bytes the decoder may hold for frames and unasked bodies
    /// (ember.rpc.io.maxBufferedBytesPerConnection); beyond it next() fails.
    std::uint64_t max_buffered_bytes = ~std::uint64_t{0};
    /// Shared by the decoders of one env (ember.rpc.io.maxBufferedBytes); may be null.
    std::shared_ptr<MemoryBudget> env_budget;
    /// Decides each body's fate from its envelope (default: buffer). An error closes the stream.
    std::function<RpcResult<BodyAction>(const rpc_wire::Envelope::Reader&)> body_policy;
    /// Frames (their capnp part) of at least this many bytes that start the buffer are handed
    /// to their message without a copy. Tests and the fuzzer lower it to reach that path with
    /// small inputs.
    std::size_t adopt_frame_bytes = kAdoptFrameBytes;
};

/// Incremental decoder of frames from a byte stream. Feed it with prepare()/commit(); take
/// frames with next(). Bytes beyond the current frame stay buffered for the next one.
///
/// Memory follows the bytes received, never what a frame announces: the buffer grows (without
/// zero fill) as bytes arrive, a body is allocated only when its envelope has arrived and
/// body_policy wants it (a body for nobody is skipped as it arrives), and both count against
/// FrameLimits. A frame of FrameLimits::adopt_frame_bytes or more that starts the buffer and
/// takes at least half of it (or the buffer is the 16 KiB minimum) is handed to the message as
/// it lies, not copied into a word array of its own; after other large frames the buffer
/// shrinks back.
///
/// Limits: the capnp part of a frame may not exceed `max_frame_bytes`
/// (ember.rpc.message.maxSize) and a body may not exceed `max_body_bytes`; a frame over either
/// limit, over the memory limits, a segment table with more than kMaxSegments entries, an
/// envelope that does not parse, or memory that cannot be allocated is an error naming the
/// problem, after which the stream cannot be resynchronised.
///
/// Threading: single-threaded (one per connection).
class FrameDecoder {
public:
    FrameDecoder(std::size_t max_frame_bytes, std::uint64_t max_body_bytes, FrameLimits limits = {});
    ~FrameDecoder();
    FrameDecoder(const FrameDecoder&) = delete;
    FrameDecoder& operator=(const FrameDecoder&) = delete;

    /// Writable space of at least `min_bytes` at the end of the buffer; empty if the memory
    /// limits refuse it or it cannot be allocated (next() then returns the error).
    std::span<std::byte> prepare(std::size_t min_bytes);
    /// Marks `n` bytes of the last prepare() as filled.
    void commit(std::size_t n);

    /// The next complete frame; nullopt when more bytes are needed; an error for bad bytes.
    RpcResult<std::optional<std::shared_ptr<detail::MessageData>>> next();

    /// While a frame's body is incomplete: the part of it still missing. Large bodies are read
    /// straight into it (then call commit_body) instead of passing through the buffer.
    std::span<std::byte> body_remaining() noexcept;
    void commit_body(std::size_t n) noexcept;

    /// Bytes of the capnp part of the frame being received that have not arrived yet, once its
    /// segment table has (0 otherwise). The reader may ask prepare() for as many of them as the
    /// socket already holds, so that a large frame is read in one or two reads instead of
    /// through a buffer that doubles (copying what it holds) from 16 KiB.
    std::size_t frame_missing() const noexcept {
        return frame_total_ > end_ - begin_ ? frame_total_ - (end_ - begin_) : 0;
    }
    /// Bytes buffered but not yet consumed.
    std::size_t buffered() const noexcept { return end_ - begin_; }
    /// Bytes of memory held now (buffer capacity and the body being filled).
    std::uint64_t memory() const noexcept { return cap_ + charged_body_; }

private:
    RpcResult<std::optional<std::shared_ptr<detail::MessageData>>> take_body();
    /// Grows the buffer to hold `need` bytes; false (with error_ set) if refused.
    bool reserve(std::size_t need);
    /// Charges `n` more bytes to the limits; false (with error_ set) if refused.
    bool charge(std::uint64_t n, const char* what);
    void uncharge(std::uint64_t n) noexcept;
    void shrink_if_idle();

    std::size_t max_frame_bytes_;
    std::uint64_t max_body_bytes_;
    FrameLimits limits_;
    std::unique_ptr<std::byte[]> buf_;  // uninitialised; cap_ bytes
    std::size_t cap_ = 0;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
    std::size_t frame_total_ = 0;  // capnp bytes of the incomplete frame at begin_, once known
    std::shared_ptr<detail::MessageData> pending_;  // frame waiting for its body
    std::size_t body_filled_ = 0;
    std::uint64_t charged_body_ = 0;  // of pending_'s body, against the limits
    std::uint64_t discard_ = 0;       // body bytes still to skip
    std::optional<RpcError> error_;   // a refused allocation, reported by next()
    bool first_ = true;               // no frame decoded yet
};

}  // namespace ember::rpc::transport
