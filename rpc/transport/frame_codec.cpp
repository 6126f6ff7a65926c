// SPDX-License-Identifier: Apache-2.0
#include "rpc/transport/frame_codec.hpp"

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

}  // namespace

void encode_segment_table(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments,
                          std::vector<std::byte>& out) {
    std::size_t n = segments.size();
    std::size_t table_bytes = ((n + 1) * 4 + 7) & ~std::size_t{7};
    std::size_t at = out.size();
    out.resize(at + table_bytes);
    std::byte* p = out.data() + at;
    std::uint32_t count_minus_one = static_cast<std::uint32_t>(n - 1);
    std::memcpy(p, &count_minus_one, 4);
    for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t words = static_cast<std::uint32_t>(segments[i].size());
        std::memcpy(p + 4 * (i + 1), &words, 4);
    }
    if ((n + 1) % 2 == 1) std::memset(p + 4 * (n + 1), 0, 4);  // padding word half
}

FrameDecoder::FrameDecoder(std::size_t max_frame_bytes, std::uint64_t max_body_bytes)
    : max_frame_bytes_(max_frame_bytes), max_body_bytes_(max_body_bytes), buf_(64 * 1024) {}

std::span<std::byte> FrameDecoder::prepare(std::size_t min_bytes) {
    if (buf_.size() - end_ < min_bytes) {
        // Compact first; grow only if the unread bytes plus the request still do not fit.
        if (begin_ > 0) {
            std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (buf_.size() - end_ < min_bytes) buf_.resize(end_ + min_bytes);
    }
    return {buf_.data() + end_, buf_.size() - end_};
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
        std::memcpy(pending_->body.data() + body_filled_, buf_.data() + begin_, have);
        begin_ += have;
        body_filled_ += have;
    }
    if (body_filled_ < pending_->body.size()) return std::nullopt;
    body_filled_ = 0;
    return std::optional(std::move(pending_));
}

RpcResult<std::optional<std::shared_ptr<detail::MessageData>>> FrameDecoder::next() {
    if (pending_) return take_body();
    std::size_t avail = end_ - begin_;
    if (avail < 8) return std::nullopt;
    const std::byte* p = buf_.data() + begin_;
    std::uint64_t segments = std::uint64_t{load_le32(p)} + 1;
    if (segments > kMaxSegments) {
        return RpcError{RpcErrc::protocol_error,
                        fmt::format("frame has {} segments; at most {} are allowed", segments, kMaxSegments)};
    }
    std::size_t table_bytes = ((segments + 1) * 4 + 7) & ~std::size_t{7};
    if (avail < table_bytes) {
        prepare(table_bytes - avail);
        return std::nullopt;
    }
    p = buf_.data() + begin_;
    std::uint64_t words = 0;
    for (std::size_t i = 0; i < segments; ++i) words += load_le32(p + 4 * (i + 1));
    std::uint64_t total = table_bytes + words * sizeof(capnp::word);
    if (total > max_frame_bytes_) {
        return RpcError{RpcErrc::frame_too_large,
                        fmt::format("frame of {} bytes exceeds ember.rpc.message.maxSize ({} bytes)",
                                    total, max_frame_bytes_)};
    }
    if (avail < total) {
        prepare(total - avail);  // make room for the whole frame now, so reads fill it in place
        return std::nullopt;
    }

    auto d = std::make_shared<detail::MessageData>();
    d->words = kj::heapArray<capnp::word>(total / sizeof(capnp::word));
    std::memcpy(d->words.begin(), buf_.data() + begin_, total);
    begin_ += total;
    if (begin_ == end_) begin_ = end_ = 0;
    std::uint64_t body = 0;
    try {
        d->reader = std::make_unique<capnp::FlatArrayMessageReader>(
            d->words.asPtr(), detail::reader_options(max_frame_bytes_));
        d->envelope = d->reader->getRoot<wire::Envelope>();
        body = d->envelope.getBodySize();
    } catch (const kj::Exception& e) {
        return RpcError{RpcErrc::protocol_error,
                        fmt::format("malformed frame: {}", e.getDescription().cStr())};
    }
    if (body == 0) return std::optional(std::move(d));
    if (body > max_body_bytes_) {
        return RpcError{RpcErrc::frame_too_large,
                        fmt::format("frame body of {} bytes exceeds ember.rpc.io.maxBodySize ({} bytes)",
                                    body, max_body_bytes_)};
    }
    d->body = Bytes(static_cast<std::size_t>(body));
    pending_ = std::move(d);
    body_filled_ = 0;
    return take_body();
}

}  // namespace ember::rpc::transport
