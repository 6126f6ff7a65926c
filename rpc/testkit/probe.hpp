// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Probe: an endpoint a test drives by hand, for message-level protocol tests (the role of
/// Akka's TestProbe and CAF's test coordinator).

#include "rpc/rpc_env.hpp"
#include "rpc/source_location.hpp"

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

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
    /// The whole received message, to reply to or forward.
    const Received& received() const { return r_; }

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
        detail::remember_type<T>();
        Received r = expect_any(timeout);
        if (!r.msg.is<T>()) fail_unmatched(a_or_an(type_name(capnp::typeId<T>())), r);
        return Expected<T>(std::move(r));
    }
    /// The next message, which must be a T for which `pred(T::Reader)` is true, within
    /// `timeout` (Akka's expectMsgPF, CAF's `expect((T), from(...).with(...))`):
    /// `probe.expect_msg<Pong>([](auto p) { return p.getN() == 7; });`. On a mismatch the
    /// ProbeFailure names the predicate's source line and shows what arrived as text
    /// (`got Pong(n = 8) from ember://...`).
    template <class T, class Pred>
        requires std::predicate<Pred&, typename T::Reader>
    Expected<T> expect_msg(Pred pred, std::chrono::milliseconds timeout = 3s,
                           ember::SourceLocation where = ember::SourceLocation::current()) {
        detail::remember_type<T>();
        Received r = expect_any(timeout);
        if (!r.msg.is<T>() || !pred(r.msg.get<T>())) fail_unmatched(describe<T>(where), r);
        return Expected<T>(std::move(r));
    }
    /// The next message, which must equal `expected`: the same type and an equal payload, as
    /// Cap'n Proto compares structs (Akka's `expectMsg(Pong(7))`):
    /// `probe.expect_msg(message<Pong>([](auto b) { b.setN(7); }));`.
    Received expect_msg(const OutgoingMessage& expected, std::chrono::milliseconds timeout = 3s);
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

    /// Forwards a received message to `to` unchanged, from the probe's endpoint (Akka's
    /// TestProbe.forward): the same payload and body, the original sender; a received ask is
    /// forwarded as an ask whose answer reaches the original asker (RpcEndpointRef::forward).
    void forward(const Received& r, const RpcEndpointRef& to);
    template <class T>
    void forward(const Expected<T>& e, const RpcEndpointRef& to) {
        forward(e.received(), to);
    }
    /// Forwards the last message received.
    void forward(const RpcEndpointRef& to);

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
    /// Ask from the probe's endpoint without waiting: the answer (reply or failure) queues up,
    /// in the order answers arrive, for expect_reply / expect_failure. Akka's `tell` with the
    /// probe as sender, for asks.
    void ask_async(const RpcEndpointRef& to, OutgoingMessage msg, RpcTimeout timeout = RpcTimeout{3s, "probe"});

    /// The next answer to ask_async, which must be a T reply arriving within `timeout`.
    template <class T>
    Expected<T> expect_reply(std::chrono::milliseconds timeout = 3s) {
        detail::remember_type<T>();
        std::string what = a_or_an(type_name(capnp::typeId<T>()));
        Received r = next_reply(timeout, what);
        if (!r.msg.is<T>()) fail_unmatched(what, r, "reply");
        return Expected<T>(std::move(r));
    }
    /// The next answer to ask_async, which must be a T reply for which `pred(T::Reader)` is
    /// true: `probe.expect_reply<Pong>([](auto p) { return p.getN() == 7; });`. A failure
    /// answer fails the expectation with its code and message.
    template <class T, class Pred>
        requires std::predicate<Pred&, typename T::Reader>
    Expected<T> expect_reply(Pred pred, std::chrono::milliseconds timeout = 3s,
                             ember::SourceLocation where = ember::SourceLocation::current()) {
        detail::remember_type<T>();
        Received r = next_reply(timeout, describe<T>(where));
        if (!r.msg.is<T>() || !pred(r.msg.get<T>())) fail_unmatched(describe<T>(where), r, "reply");
        return Expected<T>(std::move(r));
    }
    /// The next answer to ask_async, which must be a reply equal to `expected` (type and payload).
    Message expect_reply(const OutgoingMessage& expected, std::chrono::milliseconds timeout = 3s);
    /// The next answer to ask_async, which must be a failure (with `code`, if given).
    RpcError expect_failure(std::optional<RpcErrc> code = std::nullopt, std::chrono::milliseconds timeout = 3s);

    /// Network events seen by the probe, as "connected <addr>", "disconnected <addr>",
    /// "network-error <addr>: <message>" (they are not queued as messages).
    std::vector<std::string> events() const;

private:
    /// "a Pong", "an Ack".
    static std::string a_or_an(const std::string& name) {
        bool vowel = !name.empty() && std::string_view("AEIOUaeiou").find(name[0]) != std::string_view::npos;
        return (vowel ? "an " : "a ") + name;
    }
    template <class T>
    static std::string describe(const ember::SourceLocation& where) {
        std::string_view file = where.file_name();
        if (auto slash = file.rfind('/'); slash != std::string_view::npos) file.remove_prefix(slash + 1);
        return a_or_an(type_name(capnp::typeId<T>())) + " matching the predicate at " + std::string(file) + ":" +
               std::to_string(where.line());
    }
    /// Throws ProbeFailure: "probe <name>: expected <what>, got <kind> <text of r> from <sender>".
    [[noreturn]] void fail_unmatched(const std::string& what, const Received& r, std::string_view kind = "message") const;
    /// The next ask_async answer as a Received (the reply), or ProbeFailure naming `what` if it
    /// is a failure or none arrives within `timeout`.
    Received next_reply(std::chrono::milliseconds timeout, const std::string& what);
    RpcResult<Message> next_answer(std::chrono::milliseconds timeout, const std::string& what, RpcEndpointRef* from);

    struct State;
    class Endpoint;
    std::shared_ptr<State> state_;
    RpcEnv& env_;
    RpcEndpointRef ref_;
};

}  // namespace ember::rpc::testkit
