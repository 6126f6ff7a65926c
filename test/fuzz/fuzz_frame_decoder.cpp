// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: a connection's bytes through the transport's FrameDecoder, fed in pieces as
// the socket delivers them (split points and the large-body path chosen by the input), then each
// frame as the env reads it: the envelope's fields, the payload as every message type the driver,
// executors and BlockManagers handle (fuzz_support.cpp: read_message).
//
// Input: byte 0 seeds the piece sizes and picks the reading paths; the rest is the stream.
#include "rpc/message_data.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/transport/frame_codec.hpp"
#include "test/fuzz/fuzz_support.hpp"

#include <algorithm>
#include <cstring>

using namespace ember;

namespace {

// The envelope as EnvCore::route_frame reads it, then the payload as its endpoint would.
void read_frame(std::shared_ptr<rpc::detail::MessageData> frame) {
    auto env = frame->envelope;
    if (env.hasSenderHost() && env.getSenderHost().size() > 0) {
        frame->sender_address = rpc::RpcAddress{env.getSenderHost(), env.getSenderPort()};
        (void)frame->sender_address.host_port();
    }
    (void)env.getRequestId();
    (void)env.getKind();
    auto receiver = env.getReceiver();
    (void)std::string_view(receiver.begin(), receiver.size());
    rpc::Message m = rpc::detail::MessageData::to_message(std::move(frame));
    (void)m.sender_name();
    (void)m.body();
    fuzz::read_message(m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Selector in(data, size);
    // Piece sizes from a small xorshift generator seeded by byte 0: 1 byte at a time, a few
    // bytes, or larger reads, as TCP delivers them.
    std::uint32_t state = 0x9e3779b9u ^ (std::uint32_t{in.which} * 0x01000193u);
    auto next_piece = [&] {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        std::size_t limits[] = {1, 3, 8, 17, 64, 4096};
        return 1 + state % limits[(state >> 8) % 6];
    };
    // Bit 1 of byte 0: frames of 64 bytes or more are handed over in the decoder's buffer (the
    // path of frames of 256 KiB and more, which inputs this small never reach otherwise).
    rpc::transport::FrameLimits limits;
    if (in.which & 2) limits.adopt_frame_bytes = 64;
    rpc::transport::FrameDecoder dec(fuzz::kMaxFrameBytes, fuzz::kMaxFrameBytes, std::move(limits));
    auto bytes = in.rest;
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        std::size_t n = std::min(next_piece(), bytes.size() - pos);
        auto body = dec.body_remaining();
        if (!body.empty() && (in.which & 1)) {
            // TransportClient reads a large body straight into the frame's buffer.
            n = std::min(n, body.size());
            std::memcpy(body.data(), bytes.data() + pos, n);
            dec.commit_body(n);
        } else {
            // Bit 2: room for the rest of a frame whose size is known, as TransportClient asks.
            auto buf = dec.prepare((in.which & 4) ? std::max(n, dec.frame_missing()) : n);
            if (buf.size() < n) return 0;  // refused by the limits: the connection is closed
            std::memcpy(buf.data(), bytes.data() + pos, n);
            dec.commit(n);
        }
        pos += n;
        for (;;) {
            auto frame = dec.next();
            if (!frame)
                return 0;  // the connection is closed: nothing more is read
            if (!*frame)
                break;  // needs more bytes
            fuzz::rejecting([&] { read_frame(std::move(**frame)); });
        }
    }
    return 0;
}
