// SPDX-License-Identifier: Apache-2.0
// A timed-out ask (issue 11, part 8): its error names the peer's address, as Spark's after
// SPARK-31233, for refs to server-mode and to client-mode endpoints (there the socket address
// of the connection, not `ember-client://name`); and the asker sends `cancel`, so the
// receiver's RpcCallContext turns cancelled() and a late reply is dropped quietly, over TCP and
// within one env.
#include "rpc/rpc_env.hpp"
#include "rpc/rpc_timeout.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/probe.hpp"
#include "test/support/ping.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <future>

using namespace ember;
using namespace ember::rpc;
using namespace std::chrono_literals;
using ember::test::ping;
using ember::test::wait_until;
using testkit::LocalEnvs;
using testkit::Probe;
namespace tw = ember::test::wire;

namespace {

const RpcTimeout kShort{300ms, "ember.rpc.askTimeout"};

std::string expected_message(const RpcAddress& peer) {
    return fmt::format("Cannot receive any reply from {} in 300 milliseconds. This timeout is controlled by "
                       "ember.rpc.askTimeout",
                       peer.host_port());
}

}  // namespace

TEST_CASE("RpcTimeout words its message as Spark's, durations as Scala prints them", "[rpc][timeout]") {
    CHECK(RpcTimeout{120s, "ember.rpc.askTimeout"}.message("127.0.0.1:41234") ==
          "Cannot receive any reply from 127.0.0.1:41234 in 120 seconds. This timeout is controlled by "
          "ember.rpc.askTimeout");
    CHECK(RpcTimeout{1s, "k"}.message("h:1") == "Cannot receive any reply from h:1 in 1 second. This timeout is "
                                                 "controlled by k");
    CHECK(RpcTimeout{1500ms, "k"}.message("h:1") == "Cannot receive any reply from h:1 in 1500 milliseconds. This "
                                                     "timeout is controlled by k");
    CHECK(RpcTimeout{1ms, "k"}.message("h:1") == "Cannot receive any reply from h:1 in 1 millisecond. This timeout "
                                                  "is controlled by k");
}

TEST_CASE("An ask to a server-mode endpoint times out naming its address", "[rpc][timeout]") {
    LocalEnvs envs(2);
    Probe server(envs[0], "server");
    auto ref = envs[1].endpoint_ref(envs[0].address(), "server");
    auto r = ref.ask_sync(ping(1), kShort);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::timeout);
    CHECK(r.error().message == expected_message(envs[0].address()));
}

TEST_CASE("An ask to a client-mode endpoint times out naming the connection's socket address, and cancels",
          "[rpc][timeout][cancel]") {
    LocalEnvs envs(1);
    auto& client = envs.add({.name = "client", .client_mode = true});
    Probe server(envs[0], "server");
    Probe receiver(client, "another-receiver");
    // The client-mode endpoint makes itself known; the server asks it back over that connection.
    receiver.send(client.endpoint_ref(envs[0].address(), "server"), ping(1));
    auto hello = server.expect_msg<tw::Ping>();
    RpcEndpointRef back = hello.sender();
    INFO("back: " << back.to_string() << " sender_address: " << hello.message().sender_address().host_port());
    REQUIRE(back.address().empty());
    CHECK(back.to_string() == "ember-client://another-receiver");
    RpcAddress socket = hello.message().sender_address();
    REQUIRE_FALSE(socket.empty());

    auto r = back.ask_sync(ping(2), kShort);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::timeout);
    CHECK(r.error().message == expected_message(socket));
    CHECK_THAT(r.error().message, !Catch::Contains("ember-client://"));

    // The receiver got the ask, and hears of the timeout over the same connection.
    auto got = receiver.expect_msg<tw::Ping>();
    REQUIRE(got.context());
    CHECK(wait_until([&] { return got.context()->cancelled(); }, 3s));
    got.context()->reply(OutgoingMessage::make<tw::Pong>());  // dropped quietly
    // The connection is fine: the next ask is answered.
    auto f = std::async(std::launch::async, [&] { return back.ask_sync(ping(3), RpcTimeout{5s, "probe"}); });
    receiver.expect_msg<tw::Ping>();
    receiver.reply<tw::Pong>([](tw::Pong::Builder b) { b.setN(4); });
    auto ok = f.get();
    REQUIRE(ok);
    CHECK(ok->get<tw::Pong>().getN() == 4);
}

TEST_CASE("A timed-out ask over TCP cancels it at the receiver; the late reply is dropped", "[rpc][timeout][cancel]") {
    LocalEnvs envs(2);
    Probe server(envs[0], "server");
    auto ref = envs[1].endpoint_ref(envs[0].address(), "server");
    auto f = std::async(std::launch::async, [&] { return ref.ask_sync(ping(7), kShort); });
    auto got = server.expect_msg<tw::Ping>();
    REQUIRE(got.context());
    CHECK_FALSE(got.context()->cancelled());  // not before the timeout
    auto r = f.get();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::timeout);
    // The handler sees the cancellation after the asker's timeout, from the cancel frame.
    CHECK(wait_until([&] { return got.context()->cancelled(); }, 3s));
    got.context()->reply(OutgoingMessage::make<tw::Pong>());  // dropped, no error anywhere

    // The same with the asker inside an endpoint (the completion runs on its loop).
    Probe asker(envs[1], "asker");
    auto g = std::async(std::launch::async, [&] { return asker.ask(ref, ping(8), kShort); });
    auto got2 = server.expect_msg<tw::Ping>();
    auto r2 = g.get();
    REQUIRE_FALSE(r2);
    CHECK(r2.error().code == RpcErrc::timeout);
    CHECK(wait_until([&] { return got2.context()->cancelled(); }, 3s));

    // Later asks on the same connection are answered as usual.
    auto h = std::async(std::launch::async, [&] { return ref.ask_sync(ping(9), RpcTimeout{5s, "probe"}); });
    server.expect_msg<tw::Ping>();
    server.reply<tw::Pong>([](tw::Pong::Builder b) { b.setN(10); });
    auto ok = h.get();
    REQUIRE(ok);
    CHECK(ok->get<tw::Pong>().getN() == 10);
}

TEST_CASE("A timed-out local ask is cancelled before the asker hears of the timeout", "[rpc][timeout][cancel]") {
    LocalEnvs envs(1);
    Probe server(envs[0], "server");
    auto f = std::async(std::launch::async, [&] { return server.ref().ask_sync(ping(1), kShort); });
    auto got = server.expect_msg<tw::Ping>();
    REQUIRE(got.context());
    auto r = f.get();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::timeout);
    CHECK(r.error().message == expected_message(envs[0].address()));
    CHECK(got.context()->cancelled());
    CHECK(got.context()->replied());
    got.context()->reply(OutgoingMessage::make<tw::Pong>());  // dropped quietly
}
