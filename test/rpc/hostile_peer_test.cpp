// SPDX-License-Identifier: Apache-2.0
// What a peer with nothing but a TCP connection can do to an env, and must not achieve: kill
// the process (SIGPIPE), make it allocate more than the bytes it sent, hold connections open
// forever, or flood its log.
#include "rpc/rpc_env.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/raw_client.hpp"
#include "test/support/ping.hpp"
#include "test/support/recording_endpoint.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <sys/resource.h>
#include <unistd.h>

using namespace ember;
using namespace ember::rpc;
using namespace std::chrono_literals;
using testkit::LocalEnvs;
using testkit::RawClient;
namespace tw = ember::test::wire;
using ember::test::ping;

namespace {

/// Answers Ping(n) with a Pong whose body is n bytes: from a file when the Ping's text is
/// "file", else from memory.
struct BulkServer : RpcEndpoint {
    std::string path;
    explicit BulkServer(std::string p) : path(std::move(p)) {}
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
        auto p = msg.get<tw::Ping>();
        std::uint64_t n = p.getN();
        auto reply = OutgoingMessage::make<tw::Pong>([&](tw::Pong::Builder b) { b.setN(n); });
        if (std::string_view(p.getText().cStr()) == "file") {
            reply.add_body(FileRegion{FileHandle::open_read(path), 0, n});
        } else {
            reply.add_body(Bytes(static_cast<std::size_t>(n)));
        }
        ctx.reply(std::move(reply));
    }
};

/// VmRSS of this process in bytes.
std::uint64_t rss_bytes() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) << 10;
    }
    return 0;
}

}  // namespace

TEST_CASE("A peer that resets its connection in the middle of a large reply cannot kill the process",
          "[rpc][hostile][sigpipe]") {
    // Before: the write after the reset raised SIGPIPE in the I/O thread and the process died
    // (exit 141). The reply comes from a file (sendfile) and from memory (sendmsg).
    std::string path = std::filesystem::temp_directory_path() / fmt::format("ember-sigpipe-{}", ::getpid());
    {
        std::ofstream f(path, std::ios::binary);
        std::string chunk(1 << 20, 'x');
        for (int i = 0; i < 64; ++i) f << chunk;
    }
    LocalEnvs envs(1);
    envs[0].setup_endpoint("bulk", std::make_unique<BulkServer>(path)).value();
    for (const char* source : {"file", "memory"}) {
        for (int round = 0; round < 5; ++round) {
            auto raw = RawClient::connect(envs[0].address()).value();
            raw->send_request("bulk", ping(64u << 20, source));
            std::this_thread::sleep_for(20ms);  // the server is blocked writing 64 MiB
            raw->reset();
        }
    }
    // Still alive, and serving.
    auto other = RpcEnv::create({.name = "other"}).value();
    auto r = other->endpoint_ref(envs[0].address(), "bulk").ask_sync<tw::Pong>(ping(1000, "file"), RpcTimeout{10s, "test"});
    REQUIRE(r);
    CHECK(r->body().size() == 1000);
    std::filesystem::remove(path);
}

TEST_CASE("Frames that announce 128 MiB cost what was sent, not what they announce", "[rpc][hostile][memory]") {
    // Before: `00 00 00 00 fe ff ff 00` made the decoder zero-fill the whole announced frame
    // (8 connections took a server from 15 MB to 1 GB).
    rlimit fds{};
    ::getrlimit(RLIMIT_NOFILE, &fds);
    fds.rlim_cur = std::max<rlim_t>(fds.rlim_cur, std::min<rlim_t>(fds.rlim_max, 4096));
    ::setrlimit(RLIMIT_NOFILE, &fds);
    const int conns = static_cast<int>(std::min<rlim_t>(1000, (fds.rlim_cur - 100) / 2));
    LocalEnvs envs(1);
    auto before = rss_bytes();
    std::vector<std::unique_ptr<RawClient>> raws;
    const std::string header("\0\0\0\0\xfe\xff\xff\x00", 8);  // one segment of ~16 M words
    for (int i = 0; i < conns; ++i) {
        auto raw = RawClient::connect(envs[0].address());
        REQUIRE(raw);
        (*raw)->send_bytes(header);
        raws.push_back(std::move(*raw));
    }
    std::this_thread::sleep_for(300ms);  // the env reads them all
    auto after = rss_bytes();
    auto grown = after > before ? after - before : 0;  // RSS may also shrink meanwhile
    CAPTURE(conns, grown >> 20);
    CHECK(grown < (100u << 20));
    // The env still serves.
    auto other = RpcEnv::create({.name = "other"}).value();
    auto log = std::make_shared<ember::test::RecordingEndpoint::Log>();
    envs[0].setup_endpoint("e", std::make_unique<ember::test::RecordingEndpoint>(log)).value();
    CHECK(other->endpoint_ref(envs[0].address(), "e").ask_sync<tw::Pong>(ping(1)));
}

TEST_CASE("A body for a receiver that does not exist is skipped as it arrives, never buffered",
          "[rpc][hostile][memory]") {
    LocalEnvs envs(1);
    auto raw = RawClient::connect(envs[0].address()).value();
    auto msg = ping(1);
    const std::size_t body = 256u << 20;
    msg.add_body(Bytes(body));
    auto before = rss_bytes();
    raw->send(std::move(msg), rpc_wire::Kind::REQUEST, "nobody", 7);
    // The failure comes back, and the 256 MiB went through without being kept.
    auto f = raw->read_frame(10s);
    REQUIRE(f.has_value());
    REQUIRE(f->has_value());
    CHECK((*f)->envelope().getKind() == rpc_wire::Kind::FAILURE);
    CHECK((*f)->envelope().getRequestId() == 7);
    auto after = rss_bytes();
    auto grown = after > before ? after - before : 0;  // RSS may also shrink meanwhile
    CAPTURE(grown >> 20);
    CHECK(grown < (64u << 20));
}

TEST_CASE("A connection that buffers more than its budget is closed and the env keeps serving",
          "[rpc][hostile][memory]") {
    Conf conf;
    conf.set("ember.rpc.io.maxBufferedBytesPerConnection", "4m");
    conf.set("ember.rpc.message.maxSize", "1");  // MiB
    LocalEnvs envs(1, conf);
    auto log = std::make_shared<ember::test::RecordingEndpoint::Log>();
    envs[0].setup_endpoint("e", std::make_unique<ember::test::RecordingEndpoint>(log)).value();
    auto raw = RawClient::connect(envs[0].address()).value();
    auto msg = ping(1);
    msg.add_body(Bytes(8u << 20));  // a one-way with an 8 MiB body: over the 4 MiB budget
    raw->send(std::move(msg), rpc_wire::Kind::ONE_WAY, "e");
    CHECK(raw->wait_closed(5s));
    CHECK(log->count_prefix("receive:") == 0);
    auto other = RpcEnv::create({.name = "other"}).value();
    CHECK(other->endpoint_ref(envs[0].address(), "e").ask_sync<tw::Pong>(ping(2)));
}

TEST_CASE("A connection that sends no complete frame within ember.network.auth.rpcTimeout is closed",
          "[rpc][hostile][slowloris]") {
    Conf conf;
    conf.set("ember.network.auth.rpcTimeout", "300ms");
    LocalEnvs envs(1, conf);
    auto silent = RawClient::connect(envs[0].address()).value();
    auto slow = RawClient::connect(envs[0].address()).value();
    slow->send_bytes(std::string("\0\0\0\0\x10\0\0\0", 8));  // a frame that never finishes
    auto start = std::chrono::steady_clock::now();
    CHECK(silent->wait_closed(5s));
    CHECK(slow->wait_closed(5s));
    CHECK(std::chrono::steady_clock::now() - start < 3s);
    // A well-behaved peer is not affected: its first frame arrives in time.
    auto other = RpcEnv::create({.name = "other"}).value();
    auto log = std::make_shared<ember::test::RecordingEndpoint::Log>();
    envs[0].setup_endpoint("e", std::make_unique<ember::test::RecordingEndpoint>(log)).value();
    auto ref = other->endpoint_ref(envs[0].address(), "e");
    CHECK(ref.ask_sync<tw::Pong>(ping(3)));
    std::this_thread::sleep_for(500ms);
    CHECK(ref.ask_sync<tw::Pong>(ping(4)));
}

TEST_CASE("Connections beyond ember.rpc.io.maxConnections are closed at once", "[rpc][hostile]") {
    Conf conf;
    conf.set("ember.rpc.io.maxConnections", "3");
    LocalEnvs envs(1, conf);
    std::vector<std::unique_ptr<RawClient>> held;
    for (int i = 0; i < 3; ++i) held.push_back(RawClient::connect(envs[0].address()).value());
    std::this_thread::sleep_for(100ms);
    auto extra = RawClient::connect(envs[0].address()).value();
    CHECK(extra->wait_closed(3s));
    held.clear();  // once they go, others are let in again
    auto log = std::make_shared<ember::test::RecordingEndpoint::Log>();
    envs[0].setup_endpoint("e", std::make_unique<ember::test::RecordingEndpoint>(log)).value();
    auto other = RpcEnv::create({.name = "other"}).value();
    CHECK(ember::test::wait_until(
        [&] { return static_cast<bool>(other->endpoint_ref(envs[0].address(), "e").ask_sync<tw::Pong>(ping(5))); },
        5s));
}
