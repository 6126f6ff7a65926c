// SPDX-License-Identifier: Apache-2.0
// RpcAddress normalisation (issue 11, part 8): IPv6 literals in their canonical RFC 5952 form,
// so two spellings of one address compare equal; IPv4-mapped IPv6 addresses as the IPv4
// address (as Java shows them); host names and IPv4 addresses as written. And an env bound to
// an IPv6 address knows a ref written with another spelling of it as its own.
#include "rpc/rpc_address.hpp"
#include "rpc/rpc_env.hpp"
#include "test/support/ping.hpp"
#include "test/support/recording_endpoint.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ember;
using namespace ember::rpc;
using ember::test::RecordingEndpoint;
namespace tw = ember::test::wire;
using ember::test::ping;

namespace {

RpcEndpointAddress uri(std::string_view s) {
    auto r = RpcEndpointAddress::parse(s);
    INFO(s << ": " << (r ? "" : r.error().message));
    REQUIRE(r.has_value());
    return *r;
}

bool ipv6_loopback_available() {
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

TEST_CASE("Two spellings of one IPv6 address are one address", "[rpc][address]") {
    CHECK(uri("ember://x@[::0:1]:1234") == uri("ember://x@[::1]:1234"));
    CHECK(uri("ember://x@[0:0:0:0:0:0:0:1]:1234") == uri("ember://x@[::1]:1234"));
    CHECK(uri("ember://x@[::0:1]:1234").to_string() == "ember://x@[::1]:1234");
    CHECK(uri("ember://x@[::0:1]:1234").address.host == "::1");
    CHECK(std::hash<RpcAddress>{}(uri("ember://x@[::0:1]:1").address) ==
          std::hash<RpcAddress>{}(uri("ember://x@[::1]:1").address));

    // RFC 5952: lower case, leading zeros dropped, the longest run of zeros compressed (the
    // first of equal runs), a single zero field not compressed.
    CHECK(RpcAddress::parse_host_port("[FE80::ABCD:0001]:7077")->host == "fe80::abcd:1");
    CHECK(RpcAddress::parse_host_port("[2001:db8:0:0:1:0:0:1]:1")->host == "2001:db8::1:0:0:1");
    CHECK(RpcAddress::parse_host_port("[2001:db8:0:0:0:0:2:1]:1")->host == "2001:db8::2:1");
    CHECK(RpcAddress::parse_host_port("[2001:db8:0:1:1:1:1:1]:1")->host == "2001:db8:0:1:1:1:1:1");
    CHECK(RpcAddress::parse_host_port("[2001:DB8::1]:1")->host_port() == "[2001:db8::1]:1");

    // Built from parts (a frame's sender, a BlockManagerId's host), the same.
    CHECK(RpcAddress{"::0:1", 9} == RpcAddress{"::1", 9});
    CHECK(RpcAddress{"0:0::1", 9}.host_port() == "[::1]:9");
    CHECK(RpcAddress::normalize_host("FE80:0::1") == "fe80::1");
}

TEST_CASE("IPv4-mapped IPv6 addresses are shown as the IPv4 address, as Java shows them", "[rpc][address]") {
    CHECK(RpcAddress::parse_host_port("[::ffff:10.1.2.3]:80")->host == "10.1.2.3");
    CHECK(RpcAddress::parse_host_port("[::FFFF:0a01:0203]:80")->host_port() == "10.1.2.3:80");
    CHECK(uri("ember://x@[::ffff:127.0.0.1]:7077") == uri("ember://x@127.0.0.1:7077"));
}

TEST_CASE("Host names and IPv4 addresses stay as written", "[rpc][address]") {
    CHECK(RpcAddress::parse_host_port("Worker-1.Example.COM:80")->host == "Worker-1.Example.COM");
    CHECK(RpcAddress::parse_host_port("localhost:80")->host == "localhost");
    CHECK(RpcAddress::parse_host_port("127.0.0.1:80")->host == "127.0.0.1");
    CHECK(RpcAddress{"Some-Host", 1}.host == "Some-Host");
    CHECK(RpcAddress::normalize_host("") == "");
}

TEST_CASE("A bracketed host that is not an IPv6 address is refused", "[rpc][address]") {
    for (std::string_view bad : {"ember://x@[::g]:1", "ember://x@[1:2:3]:1", "ember://x@[host]:1"}) {
        CAPTURE(bad);
        auto r = RpcEndpointAddress::parse(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == RpcErrc::invalid_uri);
        CHECK_THAT(r.error().message, Catch::Contains("not an IPv6 address"));
    }
}

TEST_CASE("An env on an IPv6 address is reached by any spelling of it, and knows it as its own",
          "[rpc][address][ipv6]") {
    if (!ipv6_loopback_available()) {
        WARN("no IPv6 loopback here: skipped");
        return;
    }
    auto server = RpcEnv::create({.name = "v6", .bind_address = "0:0::1"}).value();
    CHECK(server->address().host == "::1");
    auto log = std::make_shared<RecordingEndpoint::Log>();
    auto ep = server->setup_endpoint("echo", std::make_unique<RecordingEndpoint>(log)).value();
    CHECK(ep.to_string() == "ember://echo@[::1]:" + std::to_string(server->address().port));

    // The env's own address, spelled differently: a local ref, equal to the endpoint's own.
    auto spelled = fmt::format("ember://echo@[0:0:0::0:1]:{}", server->address().port);
    auto local = server->endpoint_ref(uri(spelled).address, "echo");
    CHECK(local == ep);
    auto r = local.ask_sync<tw::Pong>(ping(1));
    REQUIRE(r);
    CHECK_FALSE(r->is_remote());

    // From another env, over TCP.
    auto client = RpcEnv::create({.name = "c", .client_mode = true}).value();
    auto remote = client->setup_endpoint_ref_by_uri(spelled);
    REQUIRE(remote);
    CHECK(*remote == ep);
    auto r2 = remote->ask_sync<tw::Pong>(ping(2));
    REQUIRE(r2);
    CHECK(r2->get<tw::Pong>().getN() == 3);
}
