// SPDX-License-Identifier: Apache-2.0
// ReadPoller: a spinning I/O thread reads the connection of its last frames with recv() itself.
// Its bookkeeping with scripted connections, then real envs on loopback: replies of every size
// (the large ones leave polling for the direct body read) from one and from two servers, and a
// peer that closes while its connection is polled or armed.
#include "rpc/rpc_env.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "rpc/transport/read_poller.hpp"
#include "test/support/ping.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using namespace ember;
using namespace ember::rpc;
using namespace std::chrono_literals;
using transport::PolledRead;
using transport::ReadPoller;
namespace tw = ember::test::wire;
using ember::test::ping;

namespace {

struct ScriptedRead : PolledRead {
    std::string name;
    std::vector<std::string>* log;
    std::function<bool()> on_read = [] { return false; };
    ScriptedRead(std::string n, std::vector<std::string>* l) : name(std::move(n)), log(l) {}
    bool read_now() override {
        log->push_back("read " + name);
        return on_read();
    }
    void arm() override { log->push_back("arm " + name); }
};

std::byte pattern(std::uint64_t n, std::size_t i) { return static_cast<std::byte>((n * 31 + i) % 251); }

/// Answers Ping(n) with a Pong(n) whose body is n bytes of pattern(n, i); Ping(n, "hang") gets
/// no answer.
struct SizedEcho : RpcEndpoint {
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
        auto p = msg.get<tw::Ping>();
        if (std::string_view(p.getText().cStr()) == "hang") {
            hung.push_back(std::move(ctx));  // kept open, never answered
            return;
        }
        std::uint64_t n = p.getN();
        Bytes body(static_cast<std::size_t>(n));
        for (std::size_t i = 0; i < body.size(); ++i) body.data()[i] = pattern(n, i);
        auto reply = OutgoingMessage::make<tw::Pong>([&](tw::Pong::Builder b) { b.setN(n); });
        if (n > 0) reply.add_body(std::move(body));
        ctx.reply(std::move(reply));
    }
    std::vector<RpcCallContext> hung;
};

Conf spinning(std::string spin) {
    Conf c;
    c.set("ember.rpc.io.spinTime", std::move(spin)).set("ember.rpc.io.threads", "1");
    return c;
}

void check_reply(const RpcResult<Message>& r, std::uint64_t n) {
    REQUIRE(r);
    REQUIRE(r->get<tw::Pong>().getN() == n);
    auto body = r->body();
    REQUIRE(body.size() == n);
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] != pattern(n, i)) FAIL("byte " << i << " of reply " << n << " is wrong");
    }
}

}  // namespace

TEST_CASE("ReadPoller polls one connection and arms the one it stops polling", "[rpc][poller]") {
    std::vector<std::string> log;
    auto a = std::make_shared<ScriptedRead>("a", &log);
    auto b = std::make_shared<ScriptedRead>("b", &log);
    ReadPoller poller;
    CHECK_FALSE(poller.poll());  // nothing polled: no read

    poller.take(a);
    poller.take(a);  // already polled: nothing to arm
    CHECK(log.empty());
    poller.take(b);
    CHECK(log == std::vector<std::string>{"arm a"});

    log.clear();
    CHECK_FALSE(poller.poll());  // nothing there: b stays polled
    CHECK(poller.polling());
    b->on_read = [&] {
        poller.take(b);  // its frames were delivered and it reads on
        return true;
    };
    auto before = ReadPoller::reads_delivered();
    CHECK(poller.poll());
    CHECK(ReadPoller::reads_delivered() == before + 1);
    CHECK(poller.polling());
    b->on_read = [] { return true; };  // delivered, then left polling (closed, or a large body)
    CHECK(poller.poll());
    CHECK_FALSE(poller.polling());
    CHECK(log == std::vector<std::string>{"read b", "read b", "read b"});

    log.clear();
    poller.take(a);
    poller.release();  // before the thread sleeps: epoll must watch it
    CHECK(log == std::vector<std::string>{"arm a"});
    CHECK_FALSE(poller.polling());
    poller.release();
    CHECK(log.size() == 1);
}

TEST_CASE("A spinning I/O thread reads replies of every size directly, in order", "[rpc][poller]") {
    // Spinning for a second: the I/O threads never give up polling for epoll during the test,
    // however loaded the machine, so the counts of direct reads below are certain. A server's
    // one connection is polled from its first request on (requests are small); the client's
    // is polled while replies come from the server that sent the last one.
    testkit::LocalEnvs envs(2, spinning("1s"));
    auto& client = envs.add({.name = "client", .conf = spinning("1s")});
    for (std::size_t i = 0; i < 2; ++i) envs[i].setup_endpoint("echo", std::make_unique<SizedEcho>()).value();
    std::vector<RpcEndpointRef> servers{client.endpoint_ref(envs[0].address(), "echo"),
                                        client.endpoint_ref(envs[1].address(), "echo")};
    // 0 .. 300 KB: small frames, bodies within the frame buffer, bodies of 64 KiB and more that
    // are read straight into their buffer (out of polling and back).
    const std::vector<std::uint64_t> sizes{0, 1, 100, 4095, 4097, 20000, 65535, 65536, 70000, 300000, 7};
    auto before = ReadPoller::reads_delivered();
    SECTION("one server") {
        for (int round = 0; round < 40; ++round) {
            for (auto n : sizes) check_reply(servers[0].ask_sync<tw::Pong>(ping(n), RpcTimeout{10s, "test"}), n);
        }
        // 440 requests read by the server, and the client's 320 replies under 64 KiB.
        CHECK(ReadPoller::reads_delivered() > before + 300);
    }
    SECTION("two servers in turn: the polled connection changes at every reply") {
        for (int round = 0; round < 40; ++round) {
            for (std::size_t k = 0; k < sizes.size(); ++k) {
                auto n = sizes[k];
                auto& server = servers[(k + static_cast<std::size_t>(round)) % 2];
                check_reply(server.ask_sync<tw::Pong>(ping(n), RpcTimeout{10s, "test"}), n);
            }
        }
        // The 440 requests; each reply comes on the connection the client does not poll.
        CHECK(ReadPoller::reads_delivered() > before + 300);
    }
    SECTION("asks in flight to both servers at once") {
        for (int round = 0; round < 20; ++round) {
            std::vector<std::pair<std::uint64_t, RpcFuture<Message>>> inflight;
            for (std::size_t k = 0; k < sizes.size(); ++k) {
                inflight.emplace_back(sizes[k], servers[k % 2].ask<tw::Pong>(ping(sizes[k]), RpcTimeout{10s, "test"}));
            }
            for (auto& [n, f] : inflight) check_reply(f.get(), n);
        }
        // At least one read of each round's requests on each server.
        CHECK(ReadPoller::reads_delivered() > before + 30);
    }
}

TEST_CASE("A peer that closes is noticed whether its connection is polled or armed", "[rpc][poller]") {
    // 5 s of spinning: the client thread is still polling the connection when the server goes;
    // 100 us: it has armed the connection and sleeps in epoll.
    for (const char* spin : {"5s", "100us"}) {
        INFO("spinTime " << spin);
        testkit::LocalEnvs envs(1, spinning("100us"));
        auto& client = envs.add({.name = "client", .conf = spinning(spin)});
        envs[0].setup_endpoint("echo", std::make_unique<SizedEcho>()).value();
        auto server = client.endpoint_ref(envs[0].address(), "echo");
        check_reply(server.ask_sync<tw::Pong>(ping(10), RpcTimeout{10s, "test"}), 10);  // this connection is read last
        auto hung = server.ask<tw::Pong>(ping(1, "hang"), RpcTimeout{60s, "test"});
        std::this_thread::sleep_for(50ms);
        auto t0 = std::chrono::steady_clock::now();
        envs[0].shutdown();
        envs[0].await_termination();
        auto r = hung.get();
        REQUIRE_FALSE(r);
        CHECK(r.error().code != RpcErrc::timeout);  // failed by the close, not by its deadline
        CHECK(std::chrono::steady_clock::now() - t0 < 30s);
    }
}
