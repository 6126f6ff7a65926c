// SPDX-License-Identifier: Apache-2.0
// AuthHandshake and RecordCipher without sockets: both sides pumped in memory, as the transport
// pumps them over TCP.
#include "rpc/security/auth_handshake.hpp"
#include "rpc/security/record_cipher.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace ember::rpc;
using namespace ember::rpc::security;

namespace {

SecurityConfig config(std::string secret, bool encrypt = false) {
    SecurityConfig c;
    c.authenticate = true;
    c.secret = std::move(secret);
    c.encrypt = encrypt;
    return c;
}

/// Moves bytes between the two sides until neither can go on; returns what the client sent
/// (in order), for replay tests.
std::vector<std::byte> run(AuthHandshake& client, AuthHandshake& server) {
    std::vector<std::byte> to_server, to_client, client_sent;
    for (int rounds = 0; rounds < 20; ++rounds) {
        auto c = client.take_output();
        client_sent.insert(client_sent.end(), c.begin(), c.end());
        to_server.insert(to_server.end(), c.begin(), c.end());
        auto s = server.take_output();
        to_client.insert(to_client.end(), s.begin(), s.end());
        bool moved = false;
        while (server.wants() > 0 && to_server.size() >= server.wants()) {
            std::size_t n = server.wants();
            server.feed({to_server.data(), n});
            to_server.erase(to_server.begin(), to_server.begin() + static_cast<std::ptrdiff_t>(n));
            moved = true;
        }
        while (client.wants() > 0 && to_client.size() >= client.wants()) {
            std::size_t n = client.wants();
            client.feed({to_client.data(), n});
            to_client.erase(to_client.begin(), to_client.begin() + static_cast<std::ptrdiff_t>(n));
            moved = true;
        }
        if (!moved && c.empty() && s.empty()) break;
    }
    return client_sent;
}

}  // namespace

TEST_CASE("Peers with the same secret authenticate each other and agree on session keys", "[rpc][security]") {
    for (bool encrypt : {false, true}) {
        CAPTURE(encrypt);
        AuthHandshake client(AuthHandshake::Side::client, config("s3cret", encrypt), "server a:1");
        AuthHandshake server(AuthHandshake::Side::server, config("s3cret", false), "client b:2");
        run(client, server);
        REQUIRE(client.done());
        REQUIRE(server.done());
        // Either side asking is enough.
        CHECK(client.encrypted() == encrypt);
        CHECK(server.encrypted() == encrypt);
        if (encrypt) {
            CHECK(client.keys().send_key == server.keys().recv_key);
            CHECK(client.keys().recv_key == server.keys().send_key);
            CHECK(client.keys().send_iv == server.keys().recv_iv);
            CHECK(client.keys().send_key != client.keys().recv_key);
        }
    }
}

TEST_CASE("A wrong secret fails on both sides with messages naming the key", "[rpc][security]") {
    AuthHandshake client(AuthHandshake::Side::client, config("right"), "server a:1");
    AuthHandshake server(AuthHandshake::Side::server, config("wrong"), "client b:2");
    run(client, server);
    REQUIRE(client.failed());
    REQUIRE(server.failed());
    CHECK(client.error().code == RpcErrc::authentication_failed);
    CHECK_THAT(client.error().message, Catch::Contains("server a:1") && Catch::Contains("ember.authenticate.secret"));
    CHECK_THAT(server.error().message, Catch::Contains("client b:2"));
}

TEST_CASE("A recorded handshake replayed to a new server does not verify", "[rpc][security]") {
    AuthHandshake client(AuthHandshake::Side::client, config("k"), "server a:1");
    AuthHandshake server(AuthHandshake::Side::server, config("k"), "client b:2");
    auto recorded = run(client, server);
    REQUIRE(server.done());
    REQUIRE(recorded.size() == kClientHelloBytes + kProofBytes);
    // The attacker resends exactly what the client sent; the new server's nonce differs.
    AuthHandshake fresh(AuthHandshake::Side::server, config("k"), "client evil:3");
    std::size_t at = 0;
    while (fresh.wants() > 0 && at + fresh.wants() <= recorded.size()) {
        std::size_t n = fresh.wants();
        fresh.feed({recorded.data() + at, n});
        at += n;
    }
    CHECK(fresh.failed());
    CHECK_THAT(fresh.error().message, Catch::Contains("did not prove"));
    auto reply = fresh.take_output();  // the server hello, then a failure record for the peer
    CHECK_FALSE(reply.empty());
}

TEST_CASE("A peer that sends frames instead of the handshake gets a failure record it can read",
          "[rpc][security]") {
    AuthHandshake server(AuthHandshake::Side::server, config("k"), "client b:2");
    std::string frame("\0\0\0\0\x02\0\0\0hello, no handshake here", 32);
    server.feed(std::as_bytes(std::span(frame.data(), server.wants())));
    REQUIRE(server.failed());
    CHECK_THAT(server.error().message, Catch::Contains("did not start the ember handshake"));
    auto out = server.take_output();
    auto text = parse_failure_record(out);
    REQUIRE(text);
    CHECK_THAT(*text, Catch::Contains("requires authentication"));
}

TEST_CASE("A server that requires encryption refuses a client that cannot encrypt", "[rpc][security]") {
    // A client without X25519 (the Python client without `cryptography`) sends an all-zero key.
    AuthHandshake client(AuthHandshake::Side::client, config("k"), "server a:1");
    auto hello = client.take_output();
    std::memset(hello.data() + 42, 0, 32);
    AuthHandshake server(AuthHandshake::Side::server, config("k", true), "client b:2");
    server.feed({hello.data(), 8});
    server.feed({hello.data() + 8, kClientHelloBytes - 8});
    CHECK(server.failed());
    CHECK_THAT(server.error().message, Catch::Contains("ember.network.crypto.enabled"));
}

TEST_CASE("Sealed records open only once, in order and unaltered", "[rpc][security][cipher]") {
    std::array<std::uint8_t, 32> key{};
    key[0] = 7;
    std::array<std::uint8_t, 4> iv{1, 2, 3, 4};
    RecordCipher seal(key, iv), open(key, iv);
    std::string a(1000, 'a'), b(65536, 'b');
    std::vector<std::byte> ra(a.size() + RecordCipher::kOverhead), rb(b.size() + RecordCipher::kOverhead);
    CHECK(seal.seal(std::as_bytes(std::span(a.data(), a.size())), ra.data()) == ra.size());
    CHECK(seal.seal(std::as_bytes(std::span(b.data(), b.size())), rb.data()) == rb.size());
    CHECK(RecordCipher::plaintext_length(std::span<const std::byte, 4>(ra.data(), 4)) == a.size());
    std::string out(b.size(), '\0');
    SECTION("in order") {
        REQUIRE(open.open(ra, reinterpret_cast<std::byte*>(out.data())));
        CHECK(out.substr(0, a.size()) == a);
        REQUIRE(open.open(rb, reinterpret_cast<std::byte*>(out.data())));
        CHECK(out == b);
    }
    SECTION("reordered") { CHECK_FALSE(open.open(rb, reinterpret_cast<std::byte*>(out.data()))); }
    SECTION("altered") {
        ra[10] ^= std::byte{1};
        CHECK_FALSE(open.open(ra, reinterpret_cast<std::byte*>(out.data())));
    }
    SECTION("a length out of range") {
        std::byte zero[4] = {};
        CHECK_FALSE(RecordCipher::plaintext_length(std::span<const std::byte, 4>(zero, 4)));
    }
}

TEST_CASE("Security settings are read from Spark's keys and inconsistent ones are refused", "[rpc][security]") {
    ember::Conf conf;
    CHECK_FALSE(SecurityConfig::from_conf(conf).authenticate);
    conf.set("ember.network.crypto.enabled", "true");
    CHECK_THROWS_WITH(SecurityConfig::from_conf(conf), Catch::Contains("needs ember.authenticate"));
    conf.set("ember.authenticate", "true");
    ::unsetenv(kSecretEnvVar);
    CHECK_THROWS_WITH(SecurityConfig::from_conf(conf), Catch::Contains("no secret"));
    conf.set("ember.authenticate.secret", "abc");
    auto c = SecurityConfig::from_conf(conf);
    CHECK(c.authenticate);
    CHECK(c.encrypt);
    CHECK(c.secret == "abc");
    conf.set("ember.authenticate.secret.file", "/nonexistent/secret");
    CHECK_THROWS_WITH(SecurityConfig::from_conf(conf), Catch::Contains("/nonexistent/secret"));
}
