// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: the storage behind Message and OutgoingMessage. Not part of the user API.

#include "rpc/message.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>

#include <memory>
#include <optional>
#include <variant>
#include <vector>

namespace ember::rpc::transport {
class Connection;
}

namespace ember::rpc::detail {

/// One raw body part of an outgoing frame.
using BodyPart = std::variant<Bytes, FileRegion, SharedBytes>;

/// The builder side of a frame: the capnp message whose root is the Envelope, plus body parts.
struct OutgoingData {
    // The first segment lives inside this object (one allocation per message): 64 words fit an
    // envelope with a small payload; bigger messages grow more segments on the heap.
    capnp::word first_segment[64] = {};
    capnp::MallocMessageBuilder builder{kj::arrayPtr(first_segment, 64)};
    rpc_wire::Envelope::Builder envelope{nullptr};
    std::vector<BodyPart> body;
    std::uint64_t body_size = 0;

    /// Size of the capnp part in stream framing (segment table + segments), in bytes.
    std::size_t frame_bytes();
};

/// The immutable storage of a received (or locally delivered) frame.
struct MessageData {
    // Exactly one of these owns the capnp words: a local message keeps its builder, a received
    // one its word array.
    std::unique_ptr<OutgoingData> local;
    kj::Array<capnp::word> words;
    // The reader lives inside this object (a received frame's flat array, or a local message's
    // builder segments): one allocation less per message. Never moved once the envelope is read.
    std::variant<std::monostate, capnp::FlatArrayMessageReader, capnp::SegmentArrayMessageReader> reader;
    rpc_wire::Envelope::Reader envelope;
    Bytes body;
    RpcAddress sender_address;
    std::weak_ptr<EnvCore> env;
    std::weak_ptr<transport::Connection> connection;  // set for frames that came over TCP

    /// Wraps a finished frame as a Message (reads type id and payload from the envelope).
    static Message to_message(std::shared_ptr<MessageData> data);
};

/// capnp reader limits for a frame of `frame_bytes` (its capnp part): a traversal limit of 8
/// reads of each of its words plus 64 Ki words, nesting 64.
capnp::ReaderOptions reader_options(std::size_t frame_bytes);

/// Turns an outgoing message into a local Message without copying the capnp words; file body
/// parts are read into memory.
RpcResult<std::shared_ptr<MessageData>> localize(std::unique_ptr<OutgoingData> out);

}  // namespace ember::rpc::detail
