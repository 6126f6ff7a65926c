// SPDX-License-Identifier: Apache-2.0
// RpcEnvs with ember.authenticate (and ember.network.crypto.enabled) over real sockets: what
// works with the secret, what a peer without it, with a wrong one, or replaying a recorded
// handshake achieves (nothing), and what a passive observer of the bytes sees.
#include "rpc/rpc_env.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/raw_client.hpp"
#include "test/support/ping.hpp"
#include "test/support/recording_endpoint.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ember;
using namespace ember::rpc;
using namespace std::chrono_literals;
using ember::test::RecordingEndpoint;
using testkit::LocalEnvs;
using testkit::RawClient;
namespace tw = ember::test::wire;
using ember::test::ping;

namespace {

Conf secure(const std::string& secret, bool encrypt) {
    Conf c;
    c.set("ember.authenticate", "true");
    c.set("ember.authenticate.secret", secret);
    if (encrypt) c.set("ember.network.crypto.enabled", "true");
    return c;
}

/// Echoes a Ping's body back, from memory, or from a file when the text names one.
struct BodyEcho : RpcEndpoint {
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
        auto p = msg.get<tw::Ping>();
        auto reply = OutgoingMessage::make<tw::Pong>([&](tw::Pong::Builder b) { b.setN(p.getN()); });
        std::string path = p.getText().cStr();
        if (!path.empty()) {
            reply.add_body(FileRegion{FileHandle::open_read(path), 0, std::filesystem::file_size(path)});
        } else {
            reply.add_body(Bytes::copy_of(msg.body()));
        }
        ctx.reply(std::move(reply));
    }
};

/// A TCP relay between a client and `target` that keeps a copy of every byte each way: what a
/// passive observer of the wire (tcpdump -A -i lo) sees.
class RecordingRelay {
public:
    explicit RecordingRelay(RpcAddress target) : target_(std::move(target)) {
        listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(listen_, 8);
        socklen_t len = sizeof a;
        ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~RecordingRelay() {
        stop_ = true;
        ::shutdown(listen_, SHUT_RDWR);
        thread_.join();
        ::close(listen_);
    }
    RpcAddress address() const { return {"127.0.0.1", port_}; }
    std::string to_server() {
        std::lock_guard lk(mu_);
        return up_;
    }
    std::string to_client() {
        std::lock_guard lk(mu_);
        return down_;
    }

private:
    void run() {
        int client = ::accept(listen_, nullptr, nullptr);
        if (client < 0) return;
        int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(target_.port);
        ::inet_pton(AF_INET, target_.host.c_str(), &a.sin_addr);
        if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ::close(client);
            return;
        }
        pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
        char buf[65536];
        while (!stop_) {
            if (::poll(fds, 2, 50) <= 0) continue;
            bool done = false;
            for (int i = 0; i < 2; ++i) {
                if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
                if (n <= 0) {
                    done = true;
                    break;
                }
                {
                    std::lock_guard lk(mu_);
                    (i == 0 ? up_ : down_).append(buf, static_cast<std::size_t>(n));
                }
                for (ssize_t w = 0; w < n;) {
                    ssize_t k = ::send(fds[1 - i].fd, buf + w, static_cast<std::size_t>(n - w), MSG_NOSIGNAL);
                    if (k <= 0) {
                        done = true;
                        break;
                    }
                    w += k;
                }
            }
            if (done) break;
        }
        ::close(client);
        ::close(server);
    }

    RpcAddress target_;
    int listen_ = -1;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::string up_, down_;  // guarded by mu_
};

}  // namespace

TEST_CASE("Envs that share the secret talk as usual, with and without encryption", "[rpc][security]") {
    std::string path = std::filesystem::temp_directory_path() / fmt::format("ember-secure-{}", ::getpid());
    std::string big(3 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
    std::ofstream(path, std::ios::binary) << big;
    for (bool encrypt : {false, true}) {
        CAPTURE(encrypt);
        LocalEnvs envs(2, secure("shared-secret", encrypt));
        auto log = std::make_shared<RecordingEndpoint::Log>();
        envs[1].setup_endpoint("rec", std::make_unique<RecordingEndpoint>(log)).value();
        envs[1].setup_endpoint("echo", std::make_unique<BodyEcho>()).value();
        auto rec = envs[0].endpoint_ref(envs[1].address(), "rec");
        auto echo = envs[0].endpoint_ref(envs[1].address(), "echo");
        for (int i = 0; i < 100; ++i) rec.send(ping(static_cast<std::uint64_t>(i)));
        auto r = rec.ask_sync<tw::Pong>(ping(41, "over a secure connection"));
        REQUIRE(r);
        CHECK(r->get<tw::Pong>().getN() == 42);
        CHECK(log->wait_for("receive:Ping:99"));
        // Bodies from memory and from files (sealed from pread when encrypted).
        auto m = ping(1);
        m.add_body(Bytes::copy_of(std::string_view(big)));
        auto r1 = echo.ask_sync<tw::Pong>(std::move(m), RpcTimeout{20s, "test"});
        REQUIRE(r1);
        CHECK(r1->body().size() == big.size());
        CHECK(std::memcmp(r1->body().data(), big.data(), big.size()) == 0);
        auto r2 = echo.ask_sync<tw::Pong>(ping(2, path), RpcTimeout{20s, "test"});
        REQUIRE(r2);
        CHECK(r2->body().size() == big.size());
        CHECK(std::memcmp(r2->body().data(), big.data(), big.size()) == 0);
    }
    std::filesystem::remove(path);
}

TEST_CASE("A peer without the secret or with a wrong one delivers nothing and both sides say why",
          "[rpc][security]") {
    LocalEnvs server(1, secure("right", false));
    auto log = std::make_shared<RecordingEndpoint::Log>();
    server[0].setup_endpoint("rec", std::make_unique<RecordingEndpoint>(log)).value();

    SECTION("an env without authentication") {
        LocalEnvs plain(1);
        auto r = plain[0].endpoint_ref(server[0].address(), "rec").ask_sync(ping(1), RpcTimeout{5s, "test"});
        REQUIRE_FALSE(r);
        CHECK(r.error().code == RpcErrc::authentication_failed);
        CHECK_THAT(r.error().message, Catch::Contains("requires authentication"));
    }
    SECTION("an env with a wrong secret") {
        LocalEnvs wrong(1, secure("wrong", false));
        auto r = wrong[0].endpoint_ref(server[0].address(), "rec").ask_sync(ping(1), RpcTimeout{5s, "test"});
        REQUIRE_FALSE(r);
        CHECK(r.error().code == RpcErrc::authentication_failed);
        CHECK_THAT(r.error().message, Catch::Contains("ember.authenticate.secret"));
    }
    SECTION("raw frames with no handshake") {
        auto raw = RawClient::connect(server[0].address()).value();
        for (int i = 0; i < 10; ++i) raw->send_one_way("rec", ping(static_cast<std::uint64_t>(i)));
        raw->send_request("rec", ping(100));
        CHECK(raw->wait_closed(5s));
    }
    std::this_thread::sleep_for(200ms);
    for (auto& e : log->snapshot()) CHECK(e.rfind("receive", 0) != 0);
    CHECK(log->count_prefix("ask:") == 0);
    CHECK(log->count_prefix("connected") == 0);  // no event for a peer that never authenticated
}

TEST_CASE("A recorded session replayed byte for byte delivers nothing", "[rpc][security]") {
    LocalEnvs server(1, secure("k", false));
    auto log = std::make_shared<RecordingEndpoint::Log>();
    server[0].setup_endpoint("rec", std::make_unique<RecordingEndpoint>(log)).value();
    std::string recorded;
    {
        RecordingRelay relay(server[0].address());
        LocalEnvs client(1, secure("k", false));
        auto ref = client[0].endpoint_ref(relay.address(), "rec");
        ref.send(ping(7));
        REQUIRE(ref.ask_sync<tw::Pong>(ping(8)));
        REQUIRE(log->wait_for("receive:Ping:7"));
        recorded = relay.to_server();
    }
    std::this_thread::sleep_for(200ms);  // the client's disconnect events come in
    auto delivered = [&] { return log->count_prefix("receive:") + log->count_prefix("ask:"); };
    auto before = delivered();
    REQUIRE(before == 2);
    auto raw = RawClient::connect(server[0].address()).value();
    raw->send_bytes(recorded);
    CHECK(raw->wait_closed(5s));
    std::this_thread::sleep_for(100ms);
    CHECK(delivered() == before);
}

TEST_CASE("With encryption a passive observer sees no message content; without it they do", "[rpc][security]") {
    const std::string marker = "MARKER-7f3a9c1e-in-a-message";
    for (bool encrypt : {false, true}) {
        CAPTURE(encrypt);
        LocalEnvs server(1, secure("k", encrypt));
        auto log = std::make_shared<RecordingEndpoint::Log>();
        server[0].setup_endpoint("rec", std::make_unique<RecordingEndpoint>(log)).value();
        server[0].setup_endpoint("echo", std::make_unique<BodyEcho>()).value();
        RecordingRelay relay(server[0].address());
        LocalEnvs client(1, secure("k", encrypt));
        auto r = client[0].endpoint_ref(relay.address(), "rec").ask_sync<tw::Pong>(ping(1, marker));
        REQUIRE(r);
        CHECK(std::string(r->get<tw::Pong>().getText().cStr()) == marker);
        auto body = ping(2);
        body.add_body(Bytes::copy_of(std::string_view(marker + " in a body")));
        REQUIRE(client[0].endpoint_ref(relay.address(), "echo").ask_sync<tw::Pong>(std::move(body)));
        bool seen = relay.to_server().find(marker) != std::string::npos ||
                    relay.to_client().find(marker) != std::string::npos;
        CHECK(seen == !encrypt);
    }
}
