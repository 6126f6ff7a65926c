// SPDX-License-Identifier: Apache-2.0
#include "rpc/testkit/probe.hpp"

#include <fmt/format.h>

#include <future>

namespace ember::rpc::testkit {

struct Probe::State {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Received> queue;        // guarded by mu
    std::optional<Received> last;      // guarded by mu (test thread)
    std::vector<std::string> events;   // guarded by mu
};

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

void Probe::expect_no_msg(std::chrono::milliseconds duration) {
    std::unique_lock lk(state_->mu);
    if (state_->cv.wait_for(lk, duration, [&] { return !state_->queue.empty(); })) {
        throw ProbeFailure(fmt::format("probe {}: expected no message for {} ms, got {}", ref_.name(),
                                       duration.count(), state_->queue.front().msg.type_name()));
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

std::vector<std::string> Probe::events() const {
    std::lock_guard lk(state_->mu);
    return state_->events;
}

}  // namespace ember::rpc::testkit
