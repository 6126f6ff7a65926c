// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RpcEndpoint: the actor base class users derive from (after Spark's RpcEndpoint).

#include "rpc/rpc_address.hpp"
#include "rpc/rpc_call_context.hpp"
#include "rpc/rpc_endpoint_ref.hpp"
#include "rpc/rpc_error.hpp"

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>

namespace ember::rpc {

class Message;
class RpcEnv;
namespace detail {
class Inbox;
class EnvCore;
class Dispatcher;
class TimerService;
}

/// A timer set with RpcEndpoint::schedule_once or schedule_every. Empty (inert) when
/// default-constructed or when the timer could not be set (the endpoint was stopping).
/// Threading: thread-safe; a cheap copyable handle.
class TimerHandle {
public:
    TimerHandle() = default;
    TimerHandle(std::weak_ptr<detail::TimerService> service, std::uint64_t id)
        : service_(std::move(service)), id_(id) {}
    /// Cancels the timer: its callback does not start again. Called on the endpoint's loop (in
    /// its handlers) that is exact; from another thread, a run already under way finishes.
    /// Idempotent.
    void cancel() const;
    /// True while the timer is set: a one-shot timer until its callback started, a periodic one
    /// until cancelled or its endpoint stopped.
    bool active() const;

private:
    std::weak_ptr<detail::TimerService> service_;
    std::uint64_t id_ = 0;
};

/// An actor that reacts to messages sent through an RpcEndpointRef.
///
/// Lifecycle: constructor -> on_start -> (receive | receive_and_reply | on_connected |
/// on_disconnected | on_network_error)* -> on_stop. on_start runs before any message, even one
/// sent right after setup_endpoint returns; on_stop runs exactly once, after every message queued
/// before the stop. An exception thrown from any callback (a std::exception or a kj::Exception)
/// is caught by the Inbox: an ask gets a failure reply carrying the exception's text, then
/// on_error() runs, and the endpoint keeps receiving messages.
///
/// Network events are broadcast to every endpoint of the env, in order with its messages, with
/// the peer's socket address and, once known, its advertised address; there are none while the
/// env itself shuts down.
///
/// Callbacks must not block: they run on the env's I/O threads (unless the endpoint was set up
/// with EndpointOptions::dedicated_thread), where a blocked callback stalls the network. Do
/// blocking work on another thread and send the result back as a message.
///
/// Timers (schedule_once, schedule_every) and coroutines (functions returning RpcFuture that
/// co_await asks) run on the endpoint's loop too, one at a time with its messages; none runs after
/// on_stop: its timers are cancelled and its suspended coroutines destroyed when it stops.
///
/// Threading: strand-confined. Callbacks run one at a time (each happens-before the next),
///            possibly on different threads; members need no locks.
/// Ownership: the RpcEnv owns the endpoint from setup_endpoint() until on_stop() returns.
class RpcEndpoint {
public:
    RpcEndpoint() = default;
    virtual ~RpcEndpoint();
    RpcEndpoint(const RpcEndpoint&) = delete;
    RpcEndpoint& operator=(const RpcEndpoint&) = delete;

    /// Runs first, alone. self() is valid from here on.
    virtual void on_start() {}
    /// A one-way message (RpcEndpointRef::send). Default: throws unsupported(msg), which goes
    /// to on_error. Overrides pass messages they do not handle on to this default.
    virtual void receive(const Message& msg);
    /// A request (RpcEndpointRef::ask): answer through `ctx`, now or later from any thread.
    /// Default: fails the ask with unsupported(msg), code unknown_message_type, naming the type.
    virtual void receive_and_reply(const Message& msg, RpcCallContext ctx);
    /// Any exception from another callback. Default: logs it at error level.
    virtual void on_error(std::exception_ptr error);
    virtual void on_connected(const RpcAddress& remote) { (void)remote; }
    virtual void on_disconnected(const RpcAddress& remote) { (void)remote; }
    virtual void on_network_error(const RpcError& error, const RpcAddress& remote) {
        (void)error;
        (void)remote;
    }
    /// Runs last, exactly once. self() is no longer valid.
    virtual void on_stop() {}

    /// The env this endpoint was set up in.
    RpcEnv& env() const;
    /// This endpoint's ref; empty before on_start and from on_stop on (Spark: null in onStop).
    const RpcEndpointRef& self() const { return self_; }
    /// Asks the env to stop this endpoint (on_stop follows the queued messages).
    void stop();
    /// The error for a message this endpoint does not handle: "<uri> does not handle message
    /// type <name> (type id 0x...) from <sender>".
    RpcError unsupported(const Message& msg) const;

    /// Runs `fn` once on this endpoint's loop after `delay` (Akka's scheduleOnce), serialised with
    /// its messages; timers come due in the order of their due times (equal ones in the order they
    /// were set). An exception from `fn` goes to on_error. Cancelled when the endpoint stops: no
    /// timer callback runs after on_stop. Call it from on_start or a later callback; from on_stop
    /// on it sets nothing and returns an empty handle.
    /// Threading: strand-confined (this endpoint's callbacks).
    TimerHandle schedule_once(std::chrono::nanoseconds delay, std::function<void()> fn);
    /// Runs `fn` every `period` (> 0), the first time after `period`, at a fixed rate: a run that
    /// comes late skips the periods it missed rather than bursting, and runs never overlap or
    /// queue up. Otherwise as schedule_once.
    TimerHandle schedule_every(std::chrono::nanoseconds period, std::function<void()> fn);
    /// As above, the first run after `initial_delay`.
    TimerHandle schedule_every(std::chrono::nanoseconds initial_delay, std::chrono::nanoseconds period,
                               std::function<void()> fn);

private:
    friend class detail::Inbox;
    friend class detail::EnvCore;
    friend class detail::Dispatcher;
    friend class RpcEnv;
    TimerHandle schedule(std::chrono::nanoseconds delay, std::chrono::nanoseconds period, std::function<void()> fn);
    void cancel_timers();
    RpcEnv* env_ = nullptr;
    RpcEndpointRef self_;
    std::weak_ptr<detail::Inbox> inbox_;  // set before on_start
};

/// Text of an exception caught from user code: what() of a std::exception, the description of a
/// kj::Exception, or "unknown exception".
std::string describe(std::exception_ptr e);

}  // namespace ember::rpc
