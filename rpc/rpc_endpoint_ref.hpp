// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RpcEndpointRef: a value that names an endpoint and sends or asks through its env
/// (after Spark's RpcEndpointRef / NettyRpcEndpointRef).

#include "rpc/message.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/rpc_call_context.hpp"
#include "rpc/rpc_error.hpp"
#include "rpc/rpc_future.hpp"
#include "rpc/rpc_timeout.hpp"

#include <functional>
#include <memory>
#include <string>

namespace ember::rpc {

namespace detail {
class EnvCore;
}
namespace transport {
class Connection;
}

/// Completion of an ask: the reply Message, or the failure.
using AskCallback = std::function<void(RpcResult<Message>)>;

/// A request in flight. abort() fails the ask with RpcErrc::aborted and `reason` unless it has
/// completed already; a late reply is dropped and the receiver is told (as on a timeout: its
/// RpcCallContext::cancelled() turns true).
/// Threading: thread-safe.
class AskHandle {
public:
    AskHandle() = default;
    AskHandle(std::weak_ptr<detail::EnvCore> env, std::uint64_t id) : env_(std::move(env)), id_(id) {}
    void abort(std::string reason) const;
    std::uint64_t request_id() const noexcept { return id_; }

private:
    std::weak_ptr<detail::EnvCore> env_;
    std::uint64_t id_ = 0;
};

/// A reference to an endpoint, local or remote: its address and name, and the env used to
/// reach it. Copyable and comparable (by address and name); safe to keep after the endpoint or
/// the env stopped, then sends are dropped and asks fail (endpoint_not_found / env_stopped).
///
/// send is fire-and-forget: no delivery guarantee, but messages from one sender to one
/// endpoint arrive in order. A one-way message is dropped, with a warning in the `rpc` or
/// `transport` log, when: the receiver does not exist or has stopped; it is larger than
/// ember.rpc.message.maxSize (or its body than ember.rpc.io.maxBodySize); the connection's queue
/// holds more than ember.rpc.io.maxQueuedBytes and the sender may not wait (inside an endpoint
/// or on an I/O thread; elsewhere it waits up to ember.network.timeout); or the connection fails
/// before it is written. Only a send after the env stopped is dropped silently (debug log).
///
/// ask expects exactly one reply or failure within its timeout (default: ember.rpc.askTimeout,
/// then ember.network.timeout, then 120s), and gets exactly one: a reply is never dropped for
/// queue room (it is queued past ember.rpc.io.maxQueuedBytes), a reply that could not be
/// received (too large) becomes a failure, and a connection that closes fails every ask waiting
/// on it at once. An ask that times out fails with RpcErrc::timeout and a message naming the
/// peer's address and the config key (see RpcTimeout), and the receiver is told it was given up
/// (a `cancel` frame): its RpcCallContext::cancelled() turns true and its late reply is dropped.
/// The callback runs on the asking endpoint's loop when asked from inside an endpoint, else on
/// an I/O thread. Without a callback, ask returns an RpcFuture (Spark's ask and askAbortable in
/// one): wait on it, chain on it, combine it, co_await it in a coroutine, or abort() it.
///
/// Threading: thread-safe.
class RpcEndpointRef {
public:
    RpcEndpointRef() = default;
    RpcEndpointRef(RpcEndpointAddress address, std::weak_ptr<detail::EnvCore> env,
                   std::weak_ptr<transport::Connection> client = {});

    const RpcAddress& address() const noexcept { return addr_.address; }
    const std::string& name() const noexcept { return addr_.name; }
    const RpcEndpointAddress& endpoint_address() const noexcept { return addr_; }
    /// `ember://name@host:port`.
    std::string to_string() const { return addr_.to_string(); }
    explicit operator bool() const noexcept { return !addr_.name.empty(); }

    /// One-way send.
    void send(OutgoingMessage msg) const;
    template <class T, class Fill>
    void send(Fill&& fill) const {
        send(OutgoingMessage::make<T>(std::forward<Fill>(fill)));
    }
    template <class T>
    void send() const {
        send(OutgoingMessage::make<T>());
    }

    /// Forwards a received one-way message to this endpoint unchanged (Akka's
    /// `ActorRef.forward`): the same type id, payload and body bytes (the body is shared with
    /// `msg`, not copied), and the original sender, so the receiver's `msg.sender()` is the
    /// endpoint that first sent it, not the forwarder. A message whose sender has no address (a
    /// client-mode env, reachable only over its own connection) goes out with the forwarder as
    /// its sender. Delivery as `send`.
    void forward(const Message& msg) const;
    /// Forwards a received ask: asks this endpoint with `msg` unchanged (as above, original
    /// sender kept) and completes `ctx` with its answer, so the original asker gets the reply
    /// (the same payload and body) or the failure (the same code and message) as if this
    /// endpoint had answered it directly. The forwarded ask runs with this env's default ask
    /// timeout; its timeout fails `ctx` with RpcErrc::timeout. A reply arriving after the
    /// original asker gave up is dropped (ctx.cancelled()).
    void forward(const Message& msg, RpcCallContext ctx) const;

    /// Asynchronous ask with the default timeout.
    AskHandle ask(OutgoingMessage msg, AskCallback done) const;
    /// Asynchronous ask with an explicit timeout.
    AskHandle ask(OutgoingMessage msg, RpcTimeout timeout, AskCallback done) const;

    /// Asynchronous ask whose reply or failure comes as a future; abort() on the future (or a
    /// future derived from it) aborts the ask as AskHandle::abort does.
    RpcFuture<Message> ask(OutgoingMessage msg) const;
    RpcFuture<Message> ask(OutgoingMessage msg, RpcTimeout timeout) const;
    /// As ask(msg[, timeout]), and the future fails with RpcErrc::unexpected_message unless the
    /// reply is a `Reply`.
    template <class Reply>
    RpcFuture<Message> ask(OutgoingMessage msg, RpcTimeout timeout) const {
        detail::remember_type<Reply>();
        return ask_expecting(std::move(msg), std::move(timeout), capnp::typeId<Reply>());
    }
    template <class Reply>
    RpcFuture<Message> ask(OutgoingMessage msg) const {
        return ask<Reply>(std::move(msg), default_timeout());
    }

    /// Blocking ask. Must not be called on one of the env's shared I/O threads (it would wait
    /// for itself); there it fails at once with a message saying so.
    RpcResult<Message> ask_sync(OutgoingMessage msg) const;
    RpcResult<Message> ask_sync(OutgoingMessage msg, RpcTimeout timeout) const;
    /// Blocking ask that also checks the reply is a `Reply` (else RpcErrc::unexpected_message).
    template <class Reply>
    RpcResult<Message> ask_sync(OutgoingMessage msg, RpcTimeout timeout) const {
        auto r = ask_sync(std::move(msg), std::move(timeout));
        if (r && !r->is<Reply>()) {
            detail::remember_type<Reply>();
            return RpcError{RpcErrc::unexpected_message,
                            "expected a " + rpc::type_name(capnp::typeId<Reply>()) + " reply from " +
                                to_string() + ", got " + r->type_name()};
        }
        return r;
    }
    template <class Reply>
    RpcResult<Message> ask_sync(OutgoingMessage msg) const {
        return ask_sync<Reply>(std::move(msg), default_timeout());
    }

    /// The ask timeout of the env this ref belongs to.
    RpcTimeout default_timeout() const;

    friend bool operator==(const RpcEndpointRef& a, const RpcEndpointRef& b) {
        return a.addr_ == b.addr_;
    }

private:
    friend class detail::EnvCore;
    RpcFuture<Message> ask_expecting(OutgoingMessage msg, RpcTimeout timeout, std::uint64_t type_id) const;
    RpcEndpointAddress addr_;
    std::weak_ptr<detail::EnvCore> env_;
    std::weak_ptr<transport::Connection> client_;  // for refs to client-mode endpoints
};

/// Prints the ref's URI.
std::ostream& operator<<(std::ostream& os, const RpcEndpointRef& ref);

}  // namespace ember::rpc
