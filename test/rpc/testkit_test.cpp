// SPDX-License-Identifier: Apache-2.0
// The one-line test kit (issue 13, part 2): message<T>(fill), payloads as text, Probe's
// expect_msg / expect_reply / expect_failure with predicates and expected values and the text of
// their failures, and forwarding a received message unchanged (RpcEndpointRef::forward,
// Probe::forward) for sends and asks, across two envs over TCP.
#include "rpc/rpc_env.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/probe.hpp"
#include "test/support/test_messages.capnp.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <string>
#include <thread>

using namespace ember;
using namespace ember::rpc;
using namespace std::chrono_literals;
using testkit::LocalEnvs;
using testkit::Probe;
using testkit::ProbeFailure;
namespace tw = ember::test::wire;

namespace {

/// The what() of the ProbeFailure `fn` throws ("" if it throws none).
std::string failure_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const ProbeFailure& e) {
        return e.what();
    }
    return "";
}

OutgoingMessage ping(std::uint64_t n, const char* text = "") {
    return message<tw::Ping>([&](auto b) {
        b.setN(n);
        b.setText(text);
    });
}

/// Answers Ping{n} with Pong{n + 1}, Boom with a failure carrying its text.
class Echo final : public RpcEndpoint {
public:
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
        if (auto p = msg.try_get<tw::Ping>()) {
            ctx.reply<tw::Pong>([&](auto b) { b.setN(p->getN() + 1); });
            return;
        }
        if (auto b = msg.try_get<tw::Boom>()) {
            ctx.send_failure(RpcError{RpcErrc::remote_failure, b->getText().cStr()});
            return;
        }
        RpcEndpoint::receive_and_reply(msg, std::move(ctx));
    }
};

/// An ordinary endpoint that forwards everything it receives to `to`.
class Forwarder final : public RpcEndpoint {
public:
    explicit Forwarder(RpcEndpointRef to) : to_(std::move(to)) {}
    void receive(const Message& msg) override { to_.forward(msg); }
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override { to_.forward(msg, std::move(ctx)); }

private:
    RpcEndpointRef to_;
};

std::string body_of(const Message& m) {
    auto b = m.body();
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

}  // namespace

TEST_CASE("message<T> builds a message in one expression, and payloads print as capnp text") {
    auto m = message<tw::Ping>([](auto b) {
        b.setN(7);
        b.setText("hi");
    });
    CHECK(m.type_id() == capnp::typeId<tw::Ping>());
    CHECK(m.payload<tw::Ping>().getN() == 7);
    CHECK(m.text() == "Ping(n = 7, text = \"hi\")");
    auto empty = message<ember::rpc_wire::Ack>();
    CHECK(empty.type_id() == capnp::typeId<ember::rpc_wire::Ack>());
    CHECK(empty.text() == "Ack()");
    // The old spelling still works and builds the same payload.
    auto old = OutgoingMessage::make<tw::Ping>([](tw::Ping::Builder b) {
        b.setN(7);
        b.setText("hi");
    });
    CHECK(old.text() == m.text());
    m.add_body(Bytes::copy_of("abc"));
    CHECK(m.text() == "Ping(n = 7, text = \"hi\") + 3 body bytes");
    // A type id this process never used prints as its id.
    CHECK(to_text(0x1234, m.payload_reader()).rfind("0x0000000000001234(", 0) == 0);
}

TEST_CASE("expect_msg checks type, predicate or value in one line, and says what arrived") {
    LocalEnvs envs(2);
    Probe sender(envs[0], "sender");
    Probe p(envs[1], "p");
    // A ref sends through the env it came from: this one goes from envs[0] over TCP.
    auto to_p = envs[0].endpoint_ref(envs[1].address(), "p");

    sender.send(to_p, ping(7, "x"));
    auto got = p.expect_msg<tw::Ping>([](auto m) { return m.getN() == 7; });
    CHECK(got->getText() == "x");
    CHECK(got.sender() == sender.ref());

    sender.send(to_p, ping(7, "x"));
    p.expect_msg(ping(7, "x"));  // equal payload

    // A predicate that does not hold: the failure names its line and shows what arrived.
    sender.send(to_p, ping(8, "y"));
    int line = __LINE__; auto why = failure_of([&] { p.expect_msg<tw::Ping>([](auto m) { return m.getN() == 7; }); });
    CHECK(why == "probe p: expected a Ping matching the predicate at testkit_test.cpp:" + std::to_string(line) +
                     ", got message Ping(n = 8, text = \"y\") from " + sender.ref().to_string());

    // An expected value that differs.
    sender.send(to_p, ping(8, "y"));
    why = failure_of([&] { p.expect_msg(ping(7, "x")); });
    CHECK(why == "probe p: expected Ping(n = 7, text = \"x\"), got message Ping(n = 8, text = \"y\") from " +
                     sender.ref().to_string());

    // Another type.
    sender.send(to_p, ping(9));
    why = failure_of([&] { p.expect_msg<tw::Pong>(); });
    CHECK(why == "probe p: expected a Pong, got message Ping(n = 9, text = \"\") from " + sender.ref().to_string());

    // Nothing.
    why = failure_of([&] { p.expect_msg<tw::Ping>([](auto) { return true; }, 50ms); });
    CHECK(why == "probe p: expected a message within 50 ms, got nothing");
    p.expect_no_msg(50ms);
}

TEST_CASE("expect_reply and expect_failure check the answers to ask_async") {
    LocalEnvs envs(2);
    envs[1].setup_endpoint("echo", std::make_unique<Echo>()).value();
    auto echo = envs[0].endpoint_ref(envs[1].address(), "echo");
    Probe p(envs[0], "p");

    p.ask_async(echo, ping(6));
    auto pong = p.expect_reply<tw::Pong>([](auto r) { return r.getN() == 7; });
    CHECK(pong->getN() == 7);
    CHECK(pong.sender() == echo);

    p.ask_async(echo, ping(1));
    p.expect_reply(message<tw::Pong>([](auto b) { b.setN(2); }));

    p.ask_async(echo, ping(1));
    int line = __LINE__; auto why = failure_of([&] { p.expect_reply<tw::Pong>([](auto r) { return r.getN() == 7; }); });
    CHECK(why == "probe p: expected a Pong matching the predicate at testkit_test.cpp:" + std::to_string(line) +
                     ", got reply Pong(n = 2) from " + echo.to_string());

    // A failure where a reply was expected, and the other way round.
    p.ask_async(echo, message<tw::Boom>([](auto b) { b.setText("kaput"); }));
    why = failure_of([&] { p.expect_reply<tw::Pong>(); });
    CHECK(why == "probe p: expected a Pong reply from " + echo.to_string() + ", got failure remote_failure: kaput");
    p.ask_async(echo, ping(1));
    why = failure_of([&] { p.expect_failure(); });
    CHECK(why == "probe p: expected a failure, got reply Pong(n = 2) from " + echo.to_string());

    p.ask_async(echo, message<tw::Boom>([](auto b) { b.setText("kaput"); }));
    auto err = p.expect_failure(RpcErrc::remote_failure);
    CHECK(err.message == "kaput");
    p.ask_async(echo, message<tw::Hello>());  // Echo does not handle it
    why = failure_of([&] { p.expect_failure(RpcErrc::timeout); });
    CHECK(why.rfind("probe p: expected a failure timeout, got failure unknown_message_type: ", 0) == 0);

    // Answers arrive in the order they come; none pending is a failure too.
    why = failure_of([&] { p.expect_reply<tw::Pong>(50ms); });
    CHECK(why == "probe p: expected a Pong reply within 50 ms, got no answer to an ask_async");
}

TEST_CASE("RpcEndpointRef::forward passes a one-way message on unchanged, keeping its sender") {
    LocalEnvs envs(2);
    Probe sender(envs[0], "sender");
    Probe target(envs[0], "target");
    // The forwarder lives in the other env: both hops go over TCP.
    envs[1].setup_endpoint("fwd", std::make_unique<Forwarder>(envs[1].endpoint_ref(envs[0].address(), "target")))
        .value();
    auto fwd = envs[0].endpoint_ref(envs[1].address(), "fwd");

    auto sent = ping(42, "unchanged");
    sent.add_body(Bytes::copy_of("body bytes \x01\x02"));
    auto sent_text = sent.text();
    sender.send(fwd, std::move(sent));
    auto got = target.expect_msg(ping(42, "unchanged"));  // same type id, equal payload
    CHECK(got.msg.text() == sent_text);
    CHECK(body_of(got.msg) == "body bytes \x01\x02");
    CHECK(got.msg.is_remote());
    // The original sender, not the forwarder: an answer to it reaches the sender directly.
    CHECK(got.sender == sender.ref());
    CHECK(got.msg.sender_address() == envs[0].address());
    got.sender.send(message<tw::Pong>([](auto b) { b.setN(43); }));
    sender.expect_msg<tw::Pong>([](auto p) { return p.getN() == 43; });
    // The envelope itself is the forwarder's (its connection), with the first sender as origin.
    CHECK(std::string(got.msg.envelope().getSenderName().cStr()) == "fwd");
    CHECK(std::string(got.msg.envelope().getOrigin().getName().cStr()) == "sender");
}

TEST_CASE("RpcEndpointRef::forward of an ask: the answer reaches the original asker") {
    LocalEnvs envs(2);
    Probe asker(envs[0], "asker");
    Probe target(envs[0], "target");
    envs[1].setup_endpoint("fwd", std::make_unique<Forwarder>(envs[1].endpoint_ref(envs[0].address(), "target")))
        .value();
    auto fwd = envs[0].endpoint_ref(envs[1].address(), "fwd");

    auto q = ping(1, "question");
    q.add_body(Bytes::copy_of("ask body"));
    asker.ask_async(fwd, std::move(q));
    auto got = target.expect_msg<tw::Ping>([](auto p) { return p.getText() == "question"; });
    REQUIRE(got.context());  // still an ask
    CHECK(body_of(got.message()) == "ask body");
    CHECK(got.sender() == asker.ref());
    auto answer = message<tw::Pong>([](auto b) { b.setN(2); });
    answer.add_body(Bytes::copy_of("reply body"));
    target.reply(std::move(answer));
    auto reply = asker.expect_reply<tw::Pong>([](auto p) { return p.getN() == 2; });
    CHECK(body_of(reply.message()) == "reply body");

    // A failure keeps its code and message.
    asker.ask_async(fwd, ping(2));
    target.expect_msg<tw::Ping>();
    target.reply_failure(RpcError{RpcErrc::unexpected_message, "no thanks"});
    CHECK(asker.expect_failure(RpcErrc::unexpected_message).message == "no thanks");

    // Sync asks from outside any endpoint too (no sender name to keep).
    bool had_sender = true;
    std::string answer_failure;
    std::thread answerer([&] {  // no Catch2 assertions off the test thread
        answer_failure = failure_of([&] {
            auto m = target.expect_msg<tw::Ping>();
            had_sender = bool(m.sender());
            target.reply<tw::Pong>([](auto b) { b.setN(5); });
        });
    });
    auto r = fwd.ask_sync<tw::Pong>(ping(4));
    answerer.join();
    CHECK(answer_failure == "");
    CHECK(!had_sender);
    REQUIRE(r);
    CHECK(r->get<tw::Pong>().getN() == 5);
}

TEST_CASE("Probe::forward passes on what the probe received, sends and asks alike") {
    LocalEnvs envs(2);
    Probe client(envs[0], "client");
    Probe middle(envs[1], "middle");
    auto echo = envs[0].setup_endpoint("echo", std::make_unique<Echo>()).value();
    Probe target(envs[0], "target");
    auto target_from_middle = envs[1].endpoint_ref(envs[0].address(), "target");
    auto echo_from_middle = envs[1].endpoint_ref(envs[0].address(), "echo");

    // A send: the target sees the client as sender.
    auto to_middle = envs[0].endpoint_ref(envs[1].address(), "middle");
    client.send(to_middle, ping(3, "via middle"));
    auto m = middle.expect_msg<tw::Ping>();
    middle.forward(m, target_from_middle);
    auto t = target.expect_msg(ping(3, "via middle"));
    CHECK(t.sender == client.ref());
    CHECK(!t.ctx);

    // An ask: forwarded to an endpoint that answers it; the client gets the answer.
    client.ask_async(to_middle, ping(10));
    middle.expect_msg<tw::Ping>();
    middle.forward(echo_from_middle);  // the last message
    client.expect_reply<tw::Pong>([](auto p) { return p.getN() == 11; });

    // Forwarding twice keeps the first sender.
    client.send(to_middle, ping(4));
    middle.expect_msg<tw::Ping>();
    middle.forward(middle.ref());
    middle.expect_msg<tw::Ping>();
    CHECK(middle.last_sender() == client.ref());

    auto why = failure_of([&] {
        Probe fresh(envs[1], "fresh");
        fresh.forward(target_from_middle);
    });
    CHECK(why == "probe fresh: forward() but no message was received yet");
}
