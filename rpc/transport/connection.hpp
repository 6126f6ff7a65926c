// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: Connection, one connection of an RpcEnv to a peer env as the env sees it, and the
/// ConnectionHandler that hears what it reads. TransportClient is the TCP implementation; the
/// simulator (rpc/sim/) has its own. No Asio here.

#include "rpc/message_data.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/rpc_error.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ember::rpc::detail {
class Inbox;
}  // namespace ember::rpc::detail

namespace ember::rpc::transport {

class Connection;

/// Receives what a connection reads, and its end. Called on the env's loop.
class ConnectionHandler {
public:
    virtual void on_frame(const std::shared_ptr<Connection>& conn, std::shared_ptr<detail::MessageData> frame) = 0;
    /// The connection closed: cleanly (`failed` false: end of stream, or closed on purpose) or
    /// broken by an error. `outstanding` lists the request ids sent on it and not answered.
    virtual void on_closed(const std::shared_ptr<Connection>& conn, const RpcError& why, bool failed,
                           std::vector<std::uint64_t> outstanding) = 0;
    /// True if frames addressed to endpoint `name` have a reader (their bodies are kept; a body
    /// for nobody is skipped as it arrives).
    virtual bool has_receiver(std::string_view name) = 0;
    /// The connection is open for frames: authenticated if the env authenticates, else at once.
    virtual void on_established(const std::shared_ptr<Connection>& conn) = 0;

protected:
    ~ConnectionHandler() = default;
};

/// Which side of the connection this end is.
enum class Role {
    connected,  ///< this env dialled it
    accepted,   ///< a peer dialled this env's server
};

/// What send() does when the connection's queue is full.
enum class WhenFull {
    fail,    ///< return full at once (callers on I/O threads, which must never block)
    wait,    ///< wait for room until the deadline, then return full
    exceed,  ///< queue past the bound: replies and failure frames, which are never dropped for
             ///< room (their asker bounds how many it waits for, as Spark's maxSizeInFlight does)
};

enum class SendResult { queued, closed, full };

/// One connection between two envs, used in both directions (Spark's TransportClient with its
/// channel). Frames sent on one connection arrive in the order sent, or not at all once it
/// breaks; a connection that closes tells its handler once, with the requests still unanswered.
///
/// Threading: every member is thread-safe.
/// Ownership: shared; the env keeps each live connection until its handler heard on_closed.
class Connection {
public:
    virtual ~Connection() = default;

    /// Starts reading (and, for an authenticating env, the handshake).
    virtual void start() = 0;
    /// Queues a frame; unless it returns queued, `frame` is left untouched. A non-zero
    /// `request_id` is remembered as outstanding until complete_request(). See WhenFull for a
    /// full queue (ember.rpc.io.maxQueuedBytes).
    virtual SendResult send(std::unique_ptr<detail::OutgoingData>&& frame, std::uint64_t request_id = 0,
                            WhenFull when_full = WhenFull::fail,
                            std::chrono::steady_clock::time_point deadline = {}) = 0;
    /// Closes the connection; the handler's on_closed follows once. `failed`: broken by an error
    /// rather than closed cleanly. Idempotent.
    virtual void close(RpcError why, bool failed = false) = 0;
    /// Forgets an outstanding request (answered, timed out or aborted).
    virtual void complete_request(std::uint64_t request_id) = 0;
    /// Closes the connection if requests are outstanding and nothing was read or written, nor
    /// any request sent, for `timeout` (Spark's TransportChannelHandler idle check).
    virtual void check_idle(std::chrono::milliseconds timeout) = 0;
    /// Server side: the asker of `request_id` gave up (a cancel frame arrived).
    virtual void mark_cancelled(std::uint64_t request_id) = 0;
    /// Server side: true if `request_id` was cancelled (and forgets it when `forget`).
    virtual bool is_cancelled(std::uint64_t request_id, bool forget) = 0;

    virtual bool is_active() const noexcept = 0;
    /// Unique among the connections of the process (or of the simulation).
    virtual std::uint64_t id() const noexcept = 0;
    /// The peer's socket address (for an outbound connection: the listening address dialled).
    virtual const RpcAddress& remote_address() const noexcept = 0;
    /// The peer env's advertised address, once a frame told it.
    virtual RpcAddress peer_env_address() const = 0;
    /// Records the peer env's address; returns true the first time.
    virtual bool set_peer_env_address(const RpcAddress& a) = 0;

    /// The sender the connection's last frame named, as written in its envelope and as parsed,
    /// so that a peer's address is parsed once rather than per frame (EnvCore::route_frame).
    /// Threading: not thread-safe; used only by whoever handles the connection's frames, which
    /// arrive one at a time (the exception to the class's rule).
    struct SenderCache {
        std::string host;  // as written
        std::uint16_t port = 0;
        RpcAddress address;  // parsed (RpcAddress normalizes the host); empty: nothing cached
    };
    SenderCache sender_cache;

    /// The endpoint the connection's last request or one-way message was for, found by name in
    /// the env's Dispatcher when its generation() read `generation`; EnvCore::route_frame uses
    /// it while the generation is unchanged. Threading: as sender_cache.
    struct ReceiverCache {
        std::string name;
        std::weak_ptr<detail::Inbox> inbox;  // weak: a connection does not keep a removed endpoint alive
        std::uint64_t generation = 0;        // 0: nothing cached (the Dispatcher's start at 1)
    };
    ReceiverCache receiver_cache;
};

}  // namespace ember::rpc::transport
