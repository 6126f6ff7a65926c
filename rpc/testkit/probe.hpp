// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Probe: an endpoint a test drives by hand, for message-level protocol tests (the role of
/// Akka's TestProbe and CAF's test coordinator).

#include "rpc/rpc_env.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

namespace ember::rpc::testkit {

using namespace std::chrono_literals;

/// An expectation was not met; what() says what was expected and what happened instead.
class ProbeFailure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// One message the probe received.
struct Received {
    Message msg;
    std::optional<RpcCallContext> ctx;  ///< set when it was an ask
    RpcEndpointRef sender;              ///< the sending endpoint, when it sent from one
};

/// A received message of type T: `->` reads it, message() keeps the whole frame.
template <class T>
class Expected {
public:
    explicit Expected(Received r) : r_(std::move(r)), reader_(r_.msg.get<T>()) {}
    const typename T::Reader* operator->() const { return &reader_; }
    typename T::Reader operator*() const { return reader_; }
    const Message& message() const { return r_.msg; }
    const std::optional<RpcCallContext>& context() const { return r_.ctx; }
    const RpcEndpointRef& sender() const { return r_.sender; }

private:
    Received r_;
    typename T::Reader reader_;
};

/// An endpoint whose messages queue up for the test thread to inspect. The test plays one
/// side of a conversation: expect a message, check it, reply to it or send the next one.
/// Sends and asks made through the probe come from its endpoint, so answers come back to it.
///
/// Threading: the expect_* and reply functions are for one test thread; the endpoint side is
/// strand-confined as every endpoint.
class Probe {
public:
    /// Registers an endpoint called `name` in `env`. Throws RpcException if the name is taken.
    Probe(RpcEnv& env, std::string name);
    ~Probe();
    Probe(const Probe&) = delete;
    Probe& operator=(const Probe&) = delete;

    const RpcEndpointRef& ref() const noexcept { return ref_; }

    /// The next message, which must be a T and arrive within `timeout`.
    template <class T>
    Expected<T> expect_msg(std::chrono::milliseconds timeout = 3s) {
        Received r = expect_any(timeout);
        if (!r.msg.is<T>()) {
            detail::remember_type<T>();
            throw ProbeFailure("probe " + ref_.name() + ": expected a " + type_name(capnp::typeId<T>()) +
                               " message, got " + r.msg.type_name());
        }
        return Expected<T>(std::move(r));
    }
    /// The next message of any type, within `timeout`.
    Received expect_any(std::chrono::milliseconds timeout = 3s);
    /// Throws if a message arrives within `duration`.
    void expect_no_msg(std::chrono::milliseconds duration = 100ms);
    /// Skips messages until a T arrives (others are dropped), within `timeout`.
    template <class T>
    Expected<T> fish_for(std::chrono::milliseconds timeout = 3s) {
        auto until = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            Received r = expect_any(std::max(left, 0ms));
            if (r.msg.is<T>()) return Expected<T>(std::move(r));
        }
    }

    /// Replies to the last ask received.
    void reply(OutgoingMessage msg);
    template <class T, class Fill>
    void reply(Fill&& fill) {
        reply(OutgoingMessage::make<T>(std::forward<Fill>(fill)));
    }
    void reply_failure(RpcError error);
    /// The sender of the last message received.
    const RpcEndpointRef& last_sender() const;

    /// One-way send from the probe's endpoint.
    void send(const RpcEndpointRef& to, OutgoingMessage msg);
    /// Ask from the probe's endpoint, waiting for the answer on the test thread.
    RpcResult<Message> ask(const RpcEndpointRef& to, OutgoingMessage msg, RpcTimeout timeout = RpcTimeout{3s, "probe"});

    /// Network events seen by the probe, as "connected <addr>", "disconnected <addr>",
    /// "network-error <addr>: <message>" (they are not queued as messages).
    std::vector<std::string> events() const;

private:
    struct State;
    class Endpoint;
    std::shared_ptr<State> state_;
    RpcEnv& env_;
    RpcEndpointRef ref_;
};

}  // namespace ember::rpc::testkit
