// SPDX-License-Identifier: Apache-2.0
// What a peer with nothing but a TCP connection can do to an env, and must not achieve: kill
// the process (SIGPIPE), make it allocate more than the bytes it sent, hold connections open
// forever, or flood its log.
#include "rpc/rpc_env.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/raw_client.hpp"
#include "test/support/recording_endpoint.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

using namespace ember;
using namespace ember::rpc;
using namespace std::chrono_literals;
using testkit::LocalEnvs;
using testkit::RawClient;
namespace tw = ember::test::wire;

namespace {

OutgoingMessage ping(std::uint64_t n, std::string text = "") {
    return OutgoingMessage::make<tw::Ping>([&](tw::Ping::Builder b) {
        b.setN(n);
        b.setText(text);
    });
}

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
