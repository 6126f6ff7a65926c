// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RawClient: a plain blocking TCP client that speaks ember's framing by hand, for protocol
/// tests that need to send arbitrary envelopes or bytes and read exactly what comes back.

#include "rpc/message.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/rpc_envelope.capnp.h"
#include "rpc/rpc_error.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ember::rpc::transport {
class FrameDecoder;
}

namespace ember::rpc::testkit {

/// A connection to an env that bypasses RpcEnv entirely: frames are built and parsed here, so
/// a test can send what a buggy or hostile peer would.
/// Threading: single-threaded.
class RawClient {
public:
    /// Connects (blocking) to `address`. Fails with connection_failed naming the address.
    static RpcResult<std::unique_ptr<RawClient>> connect(const RpcAddress& address,
                                                         std::chrono::milliseconds timeout = std::chrono::seconds(3));
    ~RawClient();
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    /// Sends `msg` as one frame of `kind` to endpoint `receiver` (its body too). The sender
    /// fields are empty (a client-mode peer) unless set_sender() was called.
    void send(OutgoingMessage msg, rpc_wire::Kind kind, std::string_view receiver, std::uint64_t request_id = 0);
    /// A one-way message.
    void send_one_way(std::string_view receiver, OutgoingMessage msg) {
        send(std::move(msg), rpc_wire::Kind::ONE_WAY, receiver);
    }
    /// A request; returns its request id (answers carry it).
    std::uint64_t send_request(std::string_view receiver, OutgoingMessage msg);
    /// Writes raw bytes as they are (garbage, truncated frames, oversized headers).
    void send_bytes(std::span<const std::byte> bytes);
    void send_bytes(std::string_view bytes);
    /// The advertised address and endpoint name put in the envelopes sent from now on.
    void set_sender(const RpcAddress& address, std::string name = {});

    /// The next frame within `timeout`: nullopt on timeout; an error if the peer closed the
    /// connection or sent bytes that do not decode.
    RpcResult<std::optional<Message>> read_frame(std::chrono::milliseconds timeout = std::chrono::seconds(3));
    /// True if the peer closes the connection within `timeout` (frames before that are skipped).
    bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(3));
    void close();
    /// Closes with a TCP reset (SO_LINGER 0): the peer's next writes fail with EPIPE/ECONNRESET.
    void reset();

private:
    RawClient(int fd, RpcAddress peer);
    bool write_all(const void* data, std::size_t n);

    int fd_;
    RpcAddress peer_;
    RpcAddress sender_;
    std::string sender_name_;
    std::uint64_t next_id_ = 1;
    std::unique_ptr<transport::FrameDecoder> decoder_;
};

}  // namespace ember::rpc::testkit
