// SPDX-License-Identifier: Apache-2.0
// The wire seen from outside: raw frames in, raw frames out (what a program in another language
// does), and what the env answers to requests, failures and garbage.
#include "rpc/rpc_env.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/raw_client.hpp"
#include "rpc/wire_error.hpp"
#include "test/support/recording_endpoint.hpp"

#include <catch2/catch.hpp>

#include <capnp/schema.h>

#include <cctype>

using namespace ember;
using namespace ember::rpc;
using ember::test::RecordingEndpoint;
using testkit::LocalEnvs;
using testkit::RawClient;
namespace tw = ember::test::wire;

namespace {

OutgoingMessage ping(std::uint64_t n) {
    return OutgoingMessage::make<tw::Ping>([&](tw::Ping::Builder b) { b.setN(n); });
}

Message read(RawClient& c) {
    auto f = c.read_frame();
    REQUIRE(f.has_value());
    REQUIRE(f->has_value());
    return **f;
}

}  // namespace

TEST_CASE("A raw request is answered by a response frame with its request id", "[rpc][wire]") {
    LocalEnvs envs(1);
    auto log = std::make_shared<RecordingEndpoint::Log>();
    envs[0].setup_endpoint("echo", std::make_unique<RecordingEndpoint>(log)).value();
    auto c = RawClient::connect(envs[0].address()).value();
    std::uint64_t id = c->send_request("echo", ping(99));
    auto m = read(*c);
    CHECK(m.envelope().getKind() == rpc_wire::Kind::RESPONSE);
    CHECK(m.envelope().getRequestId() == id);
    CHECK(m.type_id() == capnp::typeId<tw::Pong>());
    CHECK(m.get<tw::Pong>().getN() == 100);
    // The reply says who answered.
    CHECK(std::string(m.envelope().getSenderHost().cStr()) == envs[0].address().host);
    CHECK(m.envelope().getSenderPort() == envs[0].address().port);
    CHECK(std::string(m.envelope().getSenderName().cStr()) == "echo");
}

TEST_CASE("Requests to unknown endpoints and failing handlers get failure frames", "[rpc][wire]") {
    LocalEnvs envs(1);
    auto log = std::make_shared<RecordingEndpoint::Log>();
    envs[0].setup_endpoint("echo", std::make_unique<RecordingEndpoint>(log)).value();
    auto c = RawClient::connect(envs[0].address()).value();

    std::uint64_t id = c->send_request("nobody", ping(1));
    auto m = read(*c);
    CHECK(m.envelope().getKind() == rpc_wire::Kind::FAILURE);
    CHECK(m.envelope().getRequestId() == id);
    auto f = m.get<rpc_wire::RpcFailure>();
    CHECK(f.getCode() == rpc_wire::ErrorCode::ENDPOINT_NOT_FOUND);
    CHECK_THAT(std::string(f.getMessage().cStr()), Catch::Contains("nobody"));

    id = c->send_request("echo", OutgoingMessage::make<tw::Boom>([](tw::Boom::Builder b) { b.setText("kaput"); }));
    m = read(*c);
    CHECK(m.envelope().getKind() == rpc_wire::Kind::FAILURE);
    CHECK(m.envelope().getRequestId() == id);
    CHECK(m.get<rpc_wire::RpcFailure>().getCode() == rpc_wire::ErrorCode::REMOTE_FAILURE);
    CHECK(std::string(m.get<rpc_wire::RpcFailure>().getMessage().cStr()) == "kaput");
}

TEST_CASE("A one-way frame from a client-mode peer is delivered with its socket address", "[rpc][wire]") {
    LocalEnvs envs(1);
    auto log = std::make_shared<RecordingEndpoint::Log>();
    envs[0].setup_endpoint("rec", std::make_unique<RecordingEndpoint>(log)).value();
    auto c = RawClient::connect(envs[0].address()).value();
    c->send_one_way("rec", ping(5));
    CHECK(log->wait_for("receive:Ping:5"));
}

TEST_CASE("Garbage and truncated frames close that connection; the env keeps serving", "[rpc][wire]") {
    LocalEnvs envs(1);
    auto log = std::make_shared<RecordingEndpoint::Log>();
    envs[0].setup_endpoint("echo", std::make_unique<RecordingEndpoint>(log)).value();
    {
        auto c = RawClient::connect(envs[0].address()).value();
        // 600 segments: over the limit of 512.
        c->send_bytes(std::string("\x57\x02\0\0", 4) + std::string(4096, '\0'));
        CHECK(c->wait_closed());
    }
    {
        auto c = RawClient::connect(envs[0].address()).value();
        // A well-formed table whose segment holds a pointer far outside the message.
        std::string frame("\0\0\0\0\x02\0\0\0", 8);
        frame += std::string("\xfc\xff\xff\x7f\x01\0\x01\0", 8);
        frame += std::string(8, '\0');
        c->send_bytes(frame);
        CHECK(c->wait_closed());
    }
    auto c = RawClient::connect(envs[0].address()).value();
    std::uint64_t id = c->send_request("echo", ping(1));
    auto m = read(*c);
    CHECK(m.envelope().getRequestId() == id);
}

TEST_CASE("A body follows its frame and is delivered whole", "[rpc][wire]") {
    LocalEnvs envs(1);
    struct BodySize : RpcEndpoint {
        void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
            ctx.reply<tw::Pong>([&](tw::Pong::Builder b) {
                b.setN(msg.body().size());
                b.setText(std::string(reinterpret_cast<const char*>(msg.body().data()), std::min<std::size_t>(msg.body().size(), 16)));
            });
        }
    };
    envs[0].setup_endpoint("body", std::make_unique<BodySize>()).value();
    auto c = RawClient::connect(envs[0].address()).value();
    auto msg = ping(1);
    msg.add_body(Bytes::copy_of(std::string_view("0123456789abcdefXYZ")));
    c->send_request("body", std::move(msg));
    // A second frame right behind the body is parsed correctly.
    std::uint64_t id2 = c->send_request("body", ping(2));
    auto m = read(*c);
    CHECK(m.get<tw::Pong>().getN() == 19);
    CHECK(std::string(m.get<tw::Pong>().getText().cStr()) == "0123456789abcdef");
    auto m2 = read(*c);
    CHECK(m2.envelope().getRequestId() == id2);
    CHECK(m2.get<tw::Pong>().getN() == 0);
}

TEST_CASE("RpcFailure.code's enum in the published schema has RpcErrc's names and numbers", "[rpc][wire]") {
    // The oracle is the schema itself (its enumerants, read through capnp's reflection):
    // every enumerant is the RpcErrc of the same number and name (camelCase there, snake_case here),
    // and the first number past the last enumerant is no RpcErrc.
    auto enumerants = capnp::Schema::from<rpc_wire::ErrorCode>().getEnumerants();
    REQUIRE(enumerants.size() > 0);
    for (auto e : enumerants) {
        std::string camel = e.getProto().getName();
        std::string snake;
        for (char c : camel) {
            if (std::isupper(static_cast<unsigned char>(c))) {
                snake += '_';
                snake += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            } else {
                snake += c;
            }
        }
        CAPTURE(camel);
        auto number = e.getOrdinal();
        CHECK(to_string(static_cast<RpcErrc>(number)) == snake);
        CHECK(to_wire(static_cast<RpcErrc>(number)) == static_cast<rpc_wire::ErrorCode>(number));
        CHECK(from_wire(static_cast<rpc_wire::ErrorCode>(number)) == static_cast<RpcErrc>(number));
    }
    CHECK(to_string(static_cast<RpcErrc>(enumerants.size())) == "unknown");
    // The field is 16 bits at the start of the data section, as the UInt16 it was: a peer built
    // against the old schema reads the same number.
    auto field = capnp::Schema::from<rpc_wire::RpcFailure>().getFieldByName("code");
    CHECK(field.getProto().getSlot().getOffset() == 0);
    CHECK(field.getProto().getSlot().getType().isEnum());
}
