// SPDX-License-Identifier: Apache-2.0
// FrameDecoder: frames split anywhere, bodies, limits, and mutated bytes (a seeded fuzz of the
// decoder of network bytes: it must reject or decode, never crash or hang).
#include "rpc/message_data.hpp"
#include "rpc/transport/frame_codec.hpp"
#include "test/support/test_messages.capnp.h"

#include <catch2/catch.hpp>
#include <kj/exception.h>

#include <functional>
#include <random>

using namespace ember;
using namespace ember::rpc;
using transport::FrameDecoder;
namespace tw = ember::test::wire;

namespace {

std::string encode_frame(OutgoingMessage m, std::string body = {}) {
    if (!body.empty()) m.add_body(Bytes::copy_of(std::string_view(body)));
    auto d = m.release();
    d->envelope.setKind(rpc_wire::Kind::REQUEST);
    d->envelope.setRequestId(42);
    d->envelope.setReceiver("someone");
    std::vector<std::byte> table;
    auto segs = d->builder.getSegmentsForOutput();
    transport::encode_segment_table(segs, table);
    std::string out(reinterpret_cast<const char*>(table.data()), table.size());
    for (auto s : segs) out.append(reinterpret_cast<const char*>(s.begin()), s.size() * 8);
    return out + body;
}

OutgoingMessage ping(std::uint64_t n, std::string text = "hello") {
    return OutgoingMessage::make<tw::Ping>([&](tw::Ping::Builder b) {
        b.setN(n);
        b.setText(text);
    });
}

/// How feed() reads: a first chunk of its own size, room asked for the rest of a frame as the
/// transport asks it (FrameDecoder::frame_missing), and a look at the decoder after each chunk.
struct FeedOptions {
    std::size_t first_chunk = 0;  // 0: `chunk`
    std::size_t adopt_frame_bytes = transport::kAdoptFrameBytes;
    bool room_for_frame = false;
    std::function<void(const FrameDecoder&, std::size_t fed)> after_chunk;
};

// Feeds `bytes` in chunks of `chunk` and returns the decoded frames (or the first error).
RpcResult<std::vector<std::shared_ptr<detail::MessageData>>> feed(const std::string& bytes, std::size_t chunk,
                                                                   std::size_t max_frame = 1 << 20,
                                                                   const FeedOptions& options = {}) {
    transport::FrameLimits limits;
    limits.adopt_frame_bytes = options.adopt_frame_bytes;
    FrameDecoder dec(max_frame, 1 << 20, std::move(limits));
    std::vector<std::shared_ptr<detail::MessageData>> out;
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        std::size_t n = std::min(pos == 0 && options.first_chunk > 0 ? options.first_chunk : chunk, bytes.size() - pos);
        auto body = dec.body_remaining();
        if (!body.empty()) {
            n = std::min(n, body.size());
            std::memcpy(body.data(), bytes.data() + pos, n);
            dec.commit_body(n);
        } else {
            auto buf = dec.prepare(options.room_for_frame ? std::max(n, dec.frame_missing()) : n);
            std::memcpy(buf.data(), bytes.data() + pos, n);
            dec.commit(n);
        }
        pos += n;
        for (;;) {
            auto f = dec.next();
            if (!f) return f.error();
            if (!*f) break;
            out.push_back(std::move(**f));
        }
        if (options.after_chunk) options.after_chunk(dec, pos);
    }
    return out;
}

}  // namespace

TEST_CASE("Frames split at any byte decode to the same messages", "[rpc][codec]") {
    std::string stream = encode_frame(ping(1)) + encode_frame(ping(2, std::string(3000, 'z')), "BODY-BYTES") +
                         encode_frame(ping(3));
    // Also with every frame of 64 bytes or more handed over in the buffer where it can be.
    for (std::size_t adopt : {std::size_t{64}, transport::kAdoptFrameBytes}) {
        for (std::size_t chunk : {1u, 2u, 3u, 7u, 8u, 64u, 4096u, 1u << 20}) {
            auto r = feed(stream, chunk, 1 << 20, {.adopt_frame_bytes = adopt});
            REQUIRE(r.has_value());
            REQUIRE(r->size() == 3);
            CAPTURE(chunk, adopt);
            for (std::uint64_t i = 0; i < 3; ++i) {
                auto m = detail::MessageData::to_message((*r)[i]);
                CHECK(m.get<tw::Ping>().getN() == i + 1);
                CHECK(m.envelope().getRequestId() == 42);
            }
            auto m2 = detail::MessageData::to_message((*r)[1]);
            CHECK(std::string(reinterpret_cast<const char*>(m2.body().data()), m2.body().size()) == "BODY-BYTES");
        }
    }
}

TEST_CASE("Large frames decode whole whether handed over in the buffer or copied out", "[rpc][codec]") {
    // Frames of transport::kAdoptFrameBytes or more that start the buffer become the message's
    // words without a copy; the bytes after them (the next frames) move to a buffer of their own.
    const std::string big_a(600'000, 'a'), big_b(400'000, 'b');
    std::string stream = encode_frame(ping(1, big_a)) + encode_frame(ping(2)) +
                         encode_frame(ping(3, big_b), "BODY-BYTES") + encode_frame(ping(4));
    auto check = [&](const std::vector<std::shared_ptr<detail::MessageData>>& got) {
        REQUIRE(got.size() == 4);
        for (std::uint64_t i = 0; i < 4; ++i) {
            auto m = detail::MessageData::to_message(got[i]);
            CHECK(m.get<tw::Ping>().getN() == i + 1);
        }
        CHECK(std::string(detail::MessageData::to_message(got[0]).get<tw::Ping>().getText()) == big_a);
        auto third = detail::MessageData::to_message(got[2]);
        CHECK(std::string(third.get<tw::Ping>().getText()) == big_b);
        CHECK(std::string(reinterpret_cast<const char*>(third.body().data()), third.body().size()) == "BODY-BYTES");
    };
    SECTION("in chunks of any size, the decoder gone before the messages are read") {
        for (std::size_t chunk : {1000u, 4096u, 65536u, 300'000u, 1u << 20, 4u << 20}) {
            CAPTURE(chunk);
            auto r = feed(stream, chunk, 4 << 20);
            REQUIRE(r.has_value());
            check(*r);
        }
    }
    SECTION("read as the transport does: room for what is missing of the frame") {
        const std::size_t first = encode_frame(ping(1, big_a)).size();
        std::size_t missing_after_100 = 0, missing_at_end = 1;
        FeedOptions options{.first_chunk = 100, .room_for_frame = true,
                            .after_chunk = [&](const FrameDecoder& dec, std::size_t fed) {
                                if (fed == 100) missing_after_100 = dec.frame_missing();
                                missing_at_end = dec.frame_missing();
                            }};
        auto r = feed(stream, 70'000, 4 << 20, options);
        REQUIRE(r.has_value());
        check(*r);
        CHECK(missing_after_100 == first - 100);  // the segment table has told the frame's size
        CHECK(missing_at_end == 0);
    }
    SECTION("a large frame read whole leaves the decoder holding nothing") {
        FrameDecoder dec(4 << 20, 1 << 20);
        const std::string frame = encode_frame(ping(1, big_a));
        auto buf = dec.prepare(frame.size());
        std::memcpy(buf.data(), frame.data(), frame.size());
        dec.commit(frame.size());
        auto f = dec.next();
        REQUIRE(f.has_value());
        REQUIRE(f->has_value());
        CHECK(dec.memory() == 0);  // handed over, not copied (a copy keeps the buffer until idle)
        CHECK(std::string(detail::MessageData::to_message(**f).get<tw::Ping>().getText()) == big_a);
    }
}

TEST_CASE("Frames over the size limit are refused with a message naming the key", "[rpc][codec]") {
    auto r = feed(encode_frame(ping(1, std::string(5000, 'x'))), 512, 1024);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == RpcErrc::frame_too_large);
    CHECK_THAT(r.error().message, Catch::Contains("ember.rpc.message.maxSize"));
}

TEST_CASE("Mutated frames are rejected or decoded, never crash", "[rpc][codec][fuzz]") {
    std::string good = encode_frame(ping(7, "payload text"), "xyz") + encode_frame(ping(8));
    std::mt19937_64 rng(20261121);
    int decoded = 0, rejected = 0;
    for (int iter = 0; iter < 20000; ++iter) {
        std::string bad = good;
        int flips = 1 + static_cast<int>(rng() % 8);
        for (int f = 0; f < flips; ++f) {
            std::size_t at = rng() % bad.size();
            switch (rng() % 3) {
                case 0: bad[at] = static_cast<char>(rng()); break;
                case 1: bad[at] ^= static_cast<char>(1 << (rng() % 8)); break;
                default: bad.resize(at); break;
            }
            if (bad.empty()) break;
        }
        auto r = feed(bad, 1 + rng() % 97);
        if (!r) {
            ++rejected;
            continue;
        }
        // Reading every field of what decoded must not crash either (capnp bounds-checks).
        for (auto& d : *r) {
            try {
                auto m = detail::MessageData::to_message(d);
                auto e = m.envelope();
                (void)e.getReceiver();
                (void)e.getSenderHost();
                if (m.is<tw::Ping>()) (void)m.get<tw::Ping>().getText();
                ++decoded;
            } catch (const kj::Exception&) {
                ++rejected;
            }
        }
    }
    CHECK(decoded > 0);
    CHECK(rejected > 0);
}
