// SPDX-License-Identifier: Apache-2.0
#include "rpc/message.hpp"

#include "rpc/message_data.hpp"
#include "rpc/log.hpp"
#include "rpc/rpc_endpoint_ref.hpp"

#include <capnp/dynamic.h>
#include <fmt/format.h>
#include <kj/string.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <fcntl.h>
#include <unistd.h>

namespace ember::rpc {
namespace detail {
namespace {

struct TypeNames {
    std::shared_mutex mu;
    std::unordered_map<std::uint64_t, std::string> names;  // guarded by mu
    std::unordered_map<std::uint64_t, capnp::Schema> schemas;  // guarded by mu
};

TypeNames& type_names() {
    static TypeNames t;
    return t;
}

}  // namespace

void register_type_name(std::uint64_t id, std::string_view display_name) {
    auto& t = type_names();
    std::unique_lock lk(t.mu);
    t.names.try_emplace(id, display_name);
}

void register_type(capnp::Schema schema) {
    auto name = schema.getShortDisplayName();
    auto& t = type_names();
    std::unique_lock lk(t.mu);
    t.names.try_emplace(schema.getProto().getId(), std::string_view(name.begin(), name.size()));
    t.schemas.try_emplace(schema.getProto().getId(), schema);
}

std::size_t OutgoingData::frame_bytes() {
    auto segments = builder.getSegmentsForOutput();
    std::size_t words = segments.size() / 2 + 1;  // segment table, padded to a word
    for (auto s : segments) words += s.size();
    return words * sizeof(capnp::word);
}

capnp::ReaderOptions reader_options(std::size_t frame_bytes) {
    capnp::ReaderOptions o;
    // The work of reading a frame is bounded by its own size, not by the largest frame allowed:
    // a list of zero-sized structs claims one traversal word per element whatever its bytes, so
    // a limit of 4 x ember.rpc.message.maxSize let a 100-byte frame make a reader iterate 64 M
    // elements (found by fuzz_frame_decoder). Eight reads of every word, plus 64 Ki words of
    // slack for small frames, leave handlers room to read fields more than once.
    o.traversalLimitInWords = frame_bytes / sizeof(capnp::word) * 8 + (64u << 10);
    o.nestingLimit = 64;
    return o;
}

Message MessageData::to_message(std::shared_ptr<MessageData> data) {
    // The sender name is read here once, so that a frame whose pointer to it is out of bounds
    // fails now (kj::Exception: the transport rejects the frame) rather than in the noexcept
    // Message::sender_name() a handler calls later, which would terminate the process.
    (void)data->envelope.getSenderName();
    if (data->envelope.hasOrigin()) (void)data->envelope.getOrigin().getName();
    Message m;
    m.type_id_ = data->envelope.getPayloadTypeId();
    m.payload_ = data->envelope.getPayload();
    m.data_ = std::move(data);
    return m;
}

RpcResult<std::shared_ptr<MessageData>> localize(std::unique_ptr<OutgoingData> out) {
    auto d = std::make_shared<MessageData>();
    if (out->body_size > 0) {
        d->body = Bytes(out->body_size);
        std::size_t pos = 0;
        for (auto& part : out->body) {
            if (auto* b = std::get_if<Bytes>(&part)) {
                std::memcpy(d->body.data() + pos, b->data(), b->size());
                pos += b->size();
                continue;
            }
            if (auto* sb = std::get_if<SharedBytes>(&part)) {
                if (!sb->bytes.empty()) std::memcpy(d->body.data() + pos, sb->bytes.data(), sb->bytes.size());
                pos += sb->bytes.size();
                continue;
            }
            auto& r = std::get<FileRegion>(part);
            std::uint64_t done = 0;
            while (done < r.length) {
                ssize_t n = ::pread(r.file->fd(), d->body.data() + pos, r.length - done,
                                    static_cast<off_t>(r.offset + done));
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) {
                    return RpcError{RpcErrc::send_dropped,
                                    fmt::format("cannot read message body from file: {}",
                                                n == 0 ? "unexpected end of file" : std::strerror(errno))};
                }
                done += static_cast<std::uint64_t>(n);
                pos += static_cast<std::size_t>(n);
            }
        }
        out->body.clear();
    }
    d->envelope = d->reader.emplace<capnp::SegmentArrayMessageReader>(out->builder.getSegmentsForOutput())
                      .getRoot<rpc_wire::Envelope>();
    d->local = std::move(out);
    return d;
}

}  // namespace detail

FileHandle::~FileHandle() {
    if (fd_ >= 0) ::close(fd_);
}

std::shared_ptr<FileHandle> FileHandle::open_read(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    return std::make_shared<FileHandle>(fd);
}

std::string type_name(std::uint64_t type_id) {
    auto& t = detail::type_names();
    {
        std::shared_lock lk(t.mu);
        auto it = t.names.find(type_id);
        if (it != t.names.end()) return it->second;
    }
    return fmt::format("0x{:016x}", type_id);
}

std::string to_text(std::uint64_t type_id, capnp::AnyPointer::Reader payload, std::size_t max_chars) {
    std::optional<capnp::Schema> schema;
    {
        auto& t = detail::type_names();
        std::shared_lock lk(t.mu);
        if (auto it = t.schemas.find(type_id); it != t.schemas.end()) schema = it->second;
    }
    std::string out = type_name(type_id);
    try {
        if (schema && schema->getProto().isStruct()) {
            auto dyn = payload.getAs<capnp::DynamicStruct>(schema->asStruct());
            auto text = kj::str(dyn);
            out.append(text.cStr(), text.size());
        } else if (payload.isStruct()) {
            out += fmt::format("({} words)", payload.targetSize().wordCount);
        } else {
            out += "(not a struct)";
        }
    } catch (const kj::Exception& e) {
        out += fmt::format("(unreadable: {})", e.getDescription().cStr());
    }
    if (out.size() > max_chars) {
        out.resize(max_chars);
        out += "...";
    }
    return out;
}

std::string Message::text() const {
    if (!data_) return "no message";
    std::string t = to_text(type_id_, payload_);
    if (auto n = body().size()) t += fmt::format(" + {} body bytes", n);
    return t;
}

std::string OutgoingMessage::text() const {
    std::string t = to_text(type_id_, payload_.asReader());
    if (auto n = body_size()) t += fmt::format(" + {} body bytes", n);
    return t;
}

OutgoingMessage OutgoingMessage::copy_of(const Message& msg) {
    EMBER_REQUIRE(msg.data_ != nullptr, "OutgoingMessage::copy_of an empty Message");
    OutgoingMessage m;
    m.init_payload(msg.type_id());
    m.payload_.set(msg.payload());
    if (auto body = msg.body(); !body.empty()) m.add_body(SharedBytes{msg.data_, body});
    return m;
}

std::span<const std::byte> Message::body() const noexcept {
    return data_ ? data_->body.span() : std::span<const std::byte>{};
}

std::string_view Message::sender_name() const noexcept {
    if (!data_) return {};
    auto n = data_->envelope.hasOrigin() ? data_->envelope.getOrigin().getName() : data_->envelope.getSenderName();
    return {n.begin(), n.size()};
}

rpc_wire::Envelope::Reader Message::envelope() const {
    EMBER_REQUIRE(data_ != nullptr, "envelope() of an empty Message");
    return data_->envelope;
}

const RpcAddress& Message::sender_address() const noexcept {
    static const RpcAddress kNone;
    return data_ ? data_->sender_address : kNone;
}

void Message::throw_wrong_type(std::uint64_t expected) const {
    throw RpcException(RpcError{RpcErrc::unexpected_message,
                                fmt::format("expected a {} message, got {}", rpc::type_name(expected),
                                            type_name())});
}

OutgoingMessage::OutgoingMessage() : d_(std::make_unique<detail::OutgoingData>()) {}
OutgoingMessage::~OutgoingMessage() = default;
OutgoingMessage::OutgoingMessage(OutgoingMessage&&) noexcept = default;
OutgoingMessage& OutgoingMessage::operator=(OutgoingMessage&&) noexcept = default;

void OutgoingMessage::init_payload(std::uint64_t type_id) {
    d_->envelope = d_->builder.initRoot<rpc_wire::Envelope>();
    d_->envelope.setPayloadTypeId(type_id);
    payload_ = d_->envelope.getPayload();
    type_id_ = type_id;
}

void OutgoingMessage::add_body(Bytes bytes) {
    d_->body_size += bytes.size();
    d_->envelope.setBodySize(d_->body_size);
    d_->body.emplace_back(std::move(bytes));
}

void OutgoingMessage::add_body(SharedBytes bytes) {
    d_->body_size += bytes.bytes.size();
    d_->envelope.setBodySize(d_->body_size);
    d_->body.emplace_back(std::move(bytes));
}

void OutgoingMessage::add_body(FileRegion region) {
    d_->body_size += region.length;
    d_->envelope.setBodySize(d_->body_size);
    d_->body.emplace_back(std::move(region));
}

std::uint64_t OutgoingMessage::body_size() const noexcept { return d_->body_size; }

std::size_t OutgoingMessage::frame_bytes() const { return d_->frame_bytes(); }

std::unique_ptr<detail::OutgoingData> OutgoingMessage::release() noexcept { return std::move(d_); }

}  // namespace ember::rpc
