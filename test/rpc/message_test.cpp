// SPDX-License-Identifier: Apache-2.0
// Message over a received frame: a frame whose envelope points outside itself is rejected when it
// becomes a Message, never later in a noexcept accessor (found by test/fuzz/fuzz_frame_decoder).
#include "rpc/message_data.hpp"
#include "rpc/transport/frame_codec.hpp"

#include <kj/exception.h>
#include <catch2/catch.hpp>

#include <cstring>

using namespace ember;
using namespace ember::rpc;

namespace {

// An Ack request in stream framing, as a peer writes it.
std::string ack_frame() {
    auto d = OutgoingMessage::make<rpc_wire::Ack>().release();
    d->envelope.setKind(rpc_wire::Kind::ONE_WAY);
    d->envelope.setReceiver("someone");
    d->envelope.setSenderName("me");
    std::vector<std::byte> table;
    auto segs = d->builder.getSegmentsForOutput();
    transport::encode_segment_table(segs, table);
    std::string out(reinterpret_cast<const char*>(table.data()), table.size());
    for (auto s : segs) out.append(reinterpret_cast<const char*>(s.begin()), s.size() * 8);
    return out;
}

std::shared_ptr<detail::MessageData> decode(const std::string& bytes) {
    transport::FrameDecoder dec(1 << 20, 1 << 20);
    auto buf = dec.prepare(bytes.size());
    REQUIRE(buf.size() >= bytes.size());
    std::memcpy(buf.data(), bytes.data(), bytes.size());
    dec.commit(bytes.size());
    auto frame = dec.next();
    REQUIRE(frame.has_value());
    REQUIRE(frame->has_value());
    return **frame;
}

}  // namespace

TEST_CASE("A frame whose sender name points out of bounds is rejected as it becomes a Message",
          "[rpc][message]") {
    std::string bytes = ack_frame();
    CHECK(detail::MessageData::to_message(decode(bytes)).sender_name() == "me");

    // The envelope is the root struct: its pointer section follows its data section, and
    // senderName is its second pointer (after senderHost). Point it far past the frame.
    std::size_t seg0 = 8;  // one segment: the table is one word
    std::uint64_t root;
    std::memcpy(&root, bytes.data() + seg0, 8);
    std::size_t start =
        1 + static_cast<std::size_t>(static_cast<std::int32_t>(root & 0xffffffffu) >> 2);
    std::size_t data_words = (root >> 32) & 0xffff;
    std::uint64_t bad = (std::uint64_t{(10u << 3) | 2u} << 32) | (0x10000u << 2) |
                        1u;  // List(Byte), offset 64 Ki words
    std::memcpy(bytes.data() + seg0 + 8 * (start + data_words + 1), &bad, 8);

    auto frame = decode(bytes);  // the envelope's root still reads
    // Before: to_message succeeded and Message::sender_name() (noexcept) threw, terminating the
    // process in the first handler that called msg.sender().
    CHECK_THROWS_AS(detail::MessageData::to_message(frame), kj::Exception);
}
