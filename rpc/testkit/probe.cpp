// SPDX-License-Identifier: Apache-2.0
#include "rpc/testkit/probe.hpp"

#include <capnp/any.h>
#include <fmt/format.h>

#include <future>

namespace ember::rpc::testkit {

struct Probe::State {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Received> queue;        // guarded by mu
    std::optional<Received> last;      // guarded by mu (test thread)
    std::vector<std::string> events;   // guarded by mu
    struct Answer {
        RpcResult<Message> result;
        RpcEndpointRef from;
    };
    std::deque<Answer> answers;        // guarded by mu: answers to ask_async, in arrival order
};

namespace {

bool same_payload(const OutgoingMessage& expected, const Message& got) {
    if (expected.type_id() != got.type_id()) return false;
    return expected.payload_reader().getAs<capnp::AnyStruct>() == got.payload().getAs<capnp::AnyStruct>();
}

}  // namespace

class Probe::Endpoint final : public RpcEndpoint {
public:
    explicit Endpoint(std::shared_ptr<State> s) : s_(std::move(s)) {}
    void receive(const Message& msg) override { push(Received{msg, std::nullopt, msg.sender()}); }
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
        push(Received{msg, std::move(ctx), msg.sender()});
    }
    void on_connected(const RpcAddress& a) override { event("connected " + a.host_port()); }
    void on_disconnected(const RpcAddress& a) override { event("disconnected " + a.host_port()); }
    void on_network_error(const RpcError& e, const RpcAddress& a) override {
        event("network-error " + a.host_port() + ": " + e.message);
    }

private:
    void push(Received r) {
        {
            std::lock_guard lk(s_->mu);
            s_->queue.push_back(std::move(r));
        }
        s_->cv.notify_all();
    }
    void event(std::string e) {
        std::lock_guard lk(s_->mu);
        s_->events.push_back(std::move(e));
    }
    std::shared_ptr<State> s_;
};

Probe::Probe(RpcEnv& env, std::string name) : state_(std::make_shared<State>()), env_(env) {
    ref_ = env.setup_endpoint(std::move(name), std::make_unique<Endpoint>(state_)).value();
}

Probe::~Probe() { env_.stop(ref_); }

Received Probe::expect_any(std::chrono::milliseconds timeout) {
    std::unique_lock lk(state_->mu);
    if (!state_->cv.wait_for(lk, timeout, [&] { return !state_->queue.empty(); })) {
        throw ProbeFailure(fmt::format("probe {}: expected a message within {} ms, got nothing", ref_.name(),
                                       timeout.count()));
    }
    Received r = std::move(state_->queue.front());
    state_->queue.pop_front();
    state_->last = r;
    return r;
}

void Probe::fail_unmatched(const std::string& what, const Received& r, std::string_view kind) const {
    std::string from = r.sender ? r.sender.to_string() : r.msg.sender_address().host_port();
    throw ProbeFailure(fmt::format("probe {}: expected {}, got {} {}{}{}", ref_.name(), what, kind, r.msg.text(),
                                   from.empty() ? "" : " from ", from));
}

Received Probe::expect_msg(const OutgoingMessage& expected, std::chrono::milliseconds timeout) {
    Received r = expect_any(timeout);
    if (!same_payload(expected, r.msg)) fail_unmatched(expected.text(), r);
    return r;
}

RpcResult<Message> Probe::next_answer(std::chrono::milliseconds timeout, const std::string& what,
                                      RpcEndpointRef* from) {
    std::unique_lock lk(state_->mu);
    if (!state_->cv.wait_for(lk, timeout, [&] { return !state_->answers.empty(); })) {
        throw ProbeFailure(fmt::format("probe {}: expected {} within {} ms, got no answer to an ask_async",
                                       ref_.name(), what, timeout.count()));
    }
    auto a = std::move(state_->answers.front());
    state_->answers.pop_front();
    if (from) *from = a.from;
    return std::move(a.result);
}

Received Probe::next_reply(std::chrono::milliseconds timeout, const std::string& what) {
    RpcEndpointRef from;
    auto r = next_answer(timeout, what + " reply", &from);
    if (!r) {
        throw ProbeFailure(fmt::format("probe {}: expected {} reply from {}, got failure {}: {}", ref_.name(), what,
                                       from.to_string(), to_string(r.error().code), r.error().message));
    }
    return Received{std::move(*r), std::nullopt, from};
}

Message Probe::expect_reply(const OutgoingMessage& expected, std::chrono::milliseconds timeout) {
    Received r = next_reply(timeout, expected.text());
    if (!same_payload(expected, r.msg)) fail_unmatched(expected.text(), r, "reply");
    return r.msg;
}

RpcError Probe::expect_failure(std::optional<RpcErrc> code, std::chrono::milliseconds timeout) {
    std::string what = code ? fmt::format("a failure {}", to_string(*code)) : std::string("a failure");
    RpcEndpointRef from;
    auto r = next_answer(timeout, what, &from);
    if (r) {
        throw ProbeFailure(fmt::format("probe {}: expected {}, got reply {} from {}", ref_.name(), what, r->text(),
                                       from.to_string()));
    }
    if (code && r.error().code != *code) {
        throw ProbeFailure(fmt::format("probe {}: expected {}, got failure {}: {}", ref_.name(), what,
                                       to_string(r.error().code), r.error().message));
    }
    return r.error();
}

void Probe::expect_no_msg(std::chrono::milliseconds duration) {
    std::unique_lock lk(state_->mu);
    if (state_->cv.wait_for(lk, duration, [&] { return !state_->queue.empty(); })) {
        throw ProbeFailure(fmt::format("probe {}: expected no message for {} ms, got {}", ref_.name(),
                                       duration.count(), state_->queue.front().msg.text()));
    }
}

void Probe::reply(OutgoingMessage msg) {
    std::lock_guard lk(state_->mu);
    if (!state_->last || !state_->last->ctx) {
        throw ProbeFailure("probe " + ref_.name() + ": reply() but the last message was not an ask");
    }
    state_->last->ctx->reply(std::move(msg));
}

void Probe::reply_failure(RpcError error) {
    std::lock_guard lk(state_->mu);
    if (!state_->last || !state_->last->ctx) {
        throw ProbeFailure("probe " + ref_.name() + ": reply_failure() but the last message was not an ask");
    }
    state_->last->ctx->send_failure(std::move(error));
}

const RpcEndpointRef& Probe::last_sender() const {
    std::lock_guard lk(state_->mu);
    if (!state_->last) throw ProbeFailure("probe " + ref_.name() + ": no message received yet");
    return state_->last->sender;
}

void Probe::send(const RpcEndpointRef& to, OutgoingMessage msg) {
    // Posted to the probe's loop so the message leaves from its endpoint (sender name set).
    auto m = std::make_shared<OutgoingMessage>(std::move(msg));
    env_.post_task(ref_, [to, m] { to.send(std::move(*m)); });
}

RpcResult<Message> Probe::ask(const RpcEndpointRef& to, OutgoingMessage msg, RpcTimeout timeout) {
    auto promise = std::make_shared<std::promise<RpcResult<Message>>>();
    auto future = promise->get_future();
    auto m = std::make_shared<OutgoingMessage>(std::move(msg));
    if (!env_.post_task(ref_, [to, m, timeout, promise] {
            to.ask(std::move(*m), timeout, [promise](RpcResult<Message> r) { promise->set_value(std::move(r)); });
        })) {
        return RpcError{RpcErrc::env_stopped, "the probe's endpoint is stopped"};
    }
    return future.get();
}

void Probe::ask_async(const RpcEndpointRef& to, OutgoingMessage msg, RpcTimeout timeout) {
    auto m = std::make_shared<OutgoingMessage>(std::move(msg));
    std::weak_ptr<State> weak = state_;
    auto answered = [weak, to](RpcResult<Message> r) {
        auto s = weak.lock();
        if (!s) return;
        {
            std::lock_guard lk(s->mu);
            s->answers.push_back(State::Answer{std::move(r), to});
        }
        s->cv.notify_all();
    };
    if (!env_.post_task(ref_, [to, m, timeout, answered] { to.ask(std::move(*m), timeout, answered); })) {
        answered(RpcError{RpcErrc::env_stopped, "the probe's endpoint is stopped"});
    }
}

void Probe::forward(const Received& r, const RpcEndpointRef& to) {
    // On the probe's loop, as send(): a sender that cannot be kept becomes the probe.
    auto received = std::make_shared<Received>(r);
    env_.post_task(ref_, [to, received] {
        if (received->ctx) {
            to.forward(received->msg, *received->ctx);
        } else {
            to.forward(received->msg);
        }
    });
}

void Probe::forward(const RpcEndpointRef& to) {
    std::optional<Received> last;
    {
        std::lock_guard lk(state_->mu);
        last = state_->last;
    }
    if (!last) throw ProbeFailure("probe " + ref_.name() + ": forward() but no message was received yet");
    forward(*last, to);
}

std::vector<std::string> Probe::events() const {
    std::lock_guard lk(state_->mu);
    return state_->events;
}

}  // namespace ember::rpc::testkit
