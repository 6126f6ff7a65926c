// SPDX-License-Identifier: Apache-2.0
#include "rpc/transport/frame_codec.hpp"

#include "rpc/security/auth_handshake.hpp"

#include <capnp/serialize.h>
#include <fmt/format.h>
#include <kj/exception.h>

#include <algorithm>
#include <cstring>

namespace ember::rpc::transport {
namespace {

std::uint32_t load_le32(const std::byte* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;  // capnp framing is little-endian; so is every host we build for
}

/// The smallest frame buffer: a new buffer starts here and doubles.
constexpr std::size_t kMinBuffer = 16 * 1024;

/// Frees a frame buffer handed to a message as its word array (allocated as std::byte[]).
class BufferDisposer final : public kj::ArrayDisposer {
    void disposeImpl(void* first, std::size_t, std::size_t, std::size_t, void (*)(void*)) const override {
        delete[] static_cast<std::byte*>(first);
    }
};
const BufferDisposer kBufferDisposer;

}  // namespace

void encode_segment_table(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments,
                          std::vector<std::byte>& out) {
    std::size_t at = out.size();
    out.resize(at + segment_table_bytes(segments.size()));
    write_segment_table(segments, out.data() + at);
}

void write_segment_table(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments, std::byte* p) {
    std::size_t n = segments.size();
    std::uint32_t count_minus_one = static_cast<std::uint32_t>(n - 1);
    std::memcpy(p, &count_minus_one, 4);
    for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t words = static_cast<std::uint32_t>(segments[i].size());
        std::memcpy(p + 4 * (i + 1), &words, 4);
    }
    if ((n + 1) % 2 == 1) std::memset(p + 4 * (n + 1), 0, 4);  // padding word half
}

FrameDecoder::FrameDecoder(std::size_t max_frame_bytes, std::uint64_t max_body_bytes, FrameLimits limits)
    : max_frame_bytes_(max_frame_bytes), max_body_bytes_(max_body_bytes), limits_(std::move(limits)) {}

FrameDecoder::~FrameDecoder() { uncharge(cap_ + charged_body_); }

bool FrameDecoder::charge(std::uint64_t n, const char* what) {
    std::uint64_t held = cap_ + charged_body_;
    if (n > limits_.max_buffered_bytes || held > limits_.max_buffered_bytes - n) {
        error_ = RpcError{RpcErrc::frame_too_large,
                          fmt::format("{} of {} bytes would take the connection's buffers past "
                                      "ember.rpc.io.maxBufferedBytesPerConnection ({} bytes)",
                                      what, n, limits_.max_buffered_bytes)};
        return false;
    }
    if (limits_.env_budget && !limits_.env_budget->try_acquire(n)) {
        error_ = RpcError{RpcErrc::frame_too_large,
                          fmt::format("{} of {} bytes would take the env's connection buffers past "
                                      "ember.rpc.io.maxBufferedBytes ({} bytes)",
                                      what, n, limits_.env_budget->limit())};
        return false;
    }
    return true;
}

void FrameDecoder::uncharge(std::uint64_t n) noexcept {
    if (limits_.env_budget && n > 0) limits_.env_budget->release(n);
}

std::span<std::byte> FrameDecoder::prepare(std::size_t min_bytes) {
    if (error_) return {};
    if (cap_ - end_ < min_bytes && begin_ > 0) {
        // Compact first; grow only if the unread bytes plus the request still do not fit.
        std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    if (cap_ - end_ < min_bytes && !reserve(end_ + min_bytes)) return {};
    return {buf_.get() + end_, cap_ - end_};
}

bool FrameDecoder::reserve(std::size_t need) {
    // Double (at least kMinBuffer), but not past the connection's limit when less will do.
    std::size_t want = std::max<std::size_t>({need, cap_ * 2, kMinBuffer});
    std::uint64_t room = limits_.max_buffered_bytes > charged_body_ ? limits_.max_buffered_bytes - charged_body_ : 0;
    if (want > room) want = std::max<std::size_t>(need, static_cast<std::size_t>(std::min<std::uint64_t>(room, want)));
    if (!charge(want - cap_, "a frame buffer")) return false;
    // Uninitialised: pages the peer never fills are never touched.
    std::unique_ptr<std::byte[]> grown(new (std::nothrow) std::byte[want]);
    if (!grown) {
        uncharge(want - cap_);
        error_ = RpcError{RpcErrc::frame_too_large, fmt::format("cannot allocate a frame buffer of {} bytes", want)};
        return false;
    }
    if (end_ > begin_) std::memcpy(grown.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    buf_ = std::move(grown);
    cap_ = want;
    return true;
}

void FrameDecoder::shrink_if_idle() {
    if (begin_ != end_) return;
    begin_ = end_ = 0;
    if (cap_ > (1u << 20)) {  // after a large frame: give the memory back
        buf_.reset();
        uncharge(cap_);
        cap_ = 0;
    }
}

void FrameDecoder::commit(std::size_t n) { end_ += n; }

std::span<std::byte> FrameDecoder::body_remaining() noexcept {
    if (!pending_) return {};
    return pending_->body.span().subspan(body_filled_);
}

void FrameDecoder::commit_body(std::size_t n) noexcept { body_filled_ += n; }

RpcResult<std::optional<std::shared_ptr<detail::MessageData>>> FrameDecoder::take_body() {
    // Move buffered bytes into the pending body; the frame is done once the body is full.
    std::size_t want = pending_->body.size() - body_filled_;
    std::size_t have = std::min(want, end_ - begin_);
    if (have > 0) {
        std::memcpy(pending_->body.data() + body_filled_, buf_.get() + begin_, have);
        begin_ += have;
        body_filled_ += have;
    }
    shrink_if_idle();
    if (body_filled_ < pending_->body.size()) return std::nullopt;
    body_filled_ = 0;
    uncharge(charged_body_);  // the frame's owner holds it from here
    charged_body_ = 0;
    return std::optional(std::move(pending_));
}

RpcResult<std::optional<std::shared_ptr<detail::MessageData>>> FrameDecoder::next() {
    if (error_) return *error_;
    if (discard_ > 0) {
        std::size_t skip = static_cast<std::size_t>(std::min<std::uint64_t>(discard_, end_ - begin_));
        begin_ += skip;
        discard_ -= skip;
        shrink_if_idle();
        if (discard_ > 0) return std::nullopt;
    }
    if (pending_) return take_body();
    std::size_t avail = end_ - begin_;
    if (avail < 8) return std::nullopt;
    const std::byte* p = buf_.get() + begin_;
    if (first_) {
        // A peer that requires authentication answers a connection without a handshake with a
        // failure record: report its reason rather than a framing error.
        if (std::memcmp(p, security::kFailMagic.data(), security::kFailMagic.size()) == 0) {
            if (avail < security::kFailMagic.size() + 2) return std::nullopt;
            auto text = security::parse_failure_record({p, avail});
            return RpcError{RpcErrc::authentication_failed,
                            fmt::format("the peer refused the connection: {}", text ? *text : "(no reason)")};
        }
        first_ = false;
    }
    std::uint64_t segments = std::uint64_t{load_le32(p)} + 1;
    if (segments > kMaxSegments) {
        return RpcError{RpcErrc::protocol_error,
                        fmt::format("frame has {} segments; at most {} are allowed", segments, kMaxSegments)};
    }
    std::size_t table_bytes = ((segments + 1) * 4 + 7) & ~std::size_t{7};
    if (avail < table_bytes) return std::nullopt;  // the buffer grows as the bytes arrive
    std::uint64_t words = 0;
    for (std::size_t i = 0; i < segments; ++i) words += load_le32(p + 4 * (i + 1));
    std::uint64_t total = table_bytes + words * sizeof(capnp::word);
    if (total > max_frame_bytes_) {
        return RpcError{RpcErrc::frame_too_large,
                        fmt::format("frame of {} bytes exceeds ember.rpc.message.maxSize ({} bytes)",
                                    total, max_frame_bytes_)};
    }
    if (avail < total) {
        frame_total_ = total;
        return std::nullopt;
    }
    frame_total_ = 0;

    auto d = std::make_shared<detail::MessageData>();
    std::uint64_t body = 0;
    try {
        if (begin_ == 0 && total >= limits_.adopt_frame_bytes && cap_ <= std::max(2 * total, kMinBuffer)) {
            // The buffer becomes the frame's words (operator new[] aligns them for capnp); the
            // bytes after the frame, if any, move to a buffer of their own.
            auto frame = std::move(buf_);
            const std::size_t rest = end_ - total;
            uncharge(cap_);  // the frame's owner holds it from here
            cap_ = begin_ = end_ = 0;
            if (rest > 0) {
                if (!reserve(rest)) return *error_;
                std::memcpy(buf_.get(), frame.get() + total, rest);
                end_ = rest;
            }
            d->words = kj::Array<capnp::word>(reinterpret_cast<capnp::word*>(frame.release()),
                                              total / sizeof(capnp::word), kBufferDisposer);
        } else {
            d->words = kj::heapArray<capnp::word>(total / sizeof(capnp::word));
            std::memcpy(d->words.begin(), buf_.get() + begin_, total);
            begin_ += total;
        }
        d->envelope = d->reader.emplace<capnp::FlatArrayMessageReader>(d->words.asPtr(), detail::reader_options(total))
                          .getRoot<rpc_wire::Envelope>();
        body = d->envelope.getBodySize();
    } catch (const kj::Exception& e) {
        return RpcError{RpcErrc::protocol_error,
                        fmt::format("malformed frame: {}", e.getDescription().cStr())};
    } catch (const std::bad_alloc&) {
        return RpcError{RpcErrc::frame_too_large, fmt::format("cannot allocate {} bytes for a frame", total)};
    }
    if (body == 0) {
        shrink_if_idle();
        return std::optional(std::move(d));
    }
    if (body > max_body_bytes_) {
        return RpcError{RpcErrc::frame_too_large,
                        fmt::format("frame body of {} bytes exceeds ember.rpc.io.maxBodySize ({} bytes)",
                                    body, max_body_bytes_)};
    }
    BodyAction action = BodyAction::buffer;
    if (limits_.body_policy) {
        auto decided = limits_.body_policy(d->envelope);
        if (!decided) return decided.error();
        action = *decided;
    }
    if (action == BodyAction::discard) {
        discard_ = body;
        return std::optional(std::move(d));  // without its body; the bytes are skipped as they come
    }
    if (action == BodyAction::buffer) {
        if (!charge(body, "a frame body")) return *error_;
        charged_body_ = body;
    }
    try {
        d->body = Bytes(static_cast<std::size_t>(body));  // uninitialised: filled as bytes arrive
    } catch (const std::bad_alloc&) {
        uncharge(charged_body_);
        charged_body_ = 0;
        return RpcError{RpcErrc::frame_too_large, fmt::format("cannot allocate {} bytes for a frame body", body)};
    }
    pending_ = std::move(d);
    body_filled_ = 0;
    return take_body();
}

}  // namespace ember::rpc::transport
