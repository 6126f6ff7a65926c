// SPDX-License-Identifier: Apache-2.0
// RpcEnv semantics after Spark's RpcEnvSuite, through the public API and the test kit.
#include "rpc/rpc_env.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/probe.hpp"
#include "rpc/testkit/raw_client.hpp"
#include "test/support/ping.hpp"
#include "test/support/recording_endpoint.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <atomic>
#include <future>
#include <latch>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ember;
using namespace ember::rpc;
using namespace std::chrono_literals;
using ember::test::RecordingEndpoint;
using ember::test::wait_until;
using testkit::LocalEnvs;
using testkit::Probe;
namespace tw = ember::test::wire;
using ember::test::ping;

namespace {

/// A listening socket that accepts and then never reads or writes: a stalled peer.
struct StalledPeer {
    int listen_fd = -1;
    std::vector<int> conns;
    std::uint16_t port = 0;
    std::thread acceptor;
    std::atomic<bool> stop{false};
    StalledPeer() {
        listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(listen_fd, 16);
        socklen_t len = sizeof a;
        ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        acceptor = std::thread([this] {
            while (!stop) {
                int c = ::accept(listen_fd, nullptr, nullptr);
                if (c < 0) break;
                conns.push_back(c);
            }
        });
    }
    ~StalledPeer() {
        stop = true;
        ::shutdown(listen_fd, SHUT_RDWR);
        ::close(listen_fd);
        acceptor.join();
        for (int c : conns) ::close(c);
    }
    RpcAddress address() const { return {"127.0.0.1", port}; }
};

struct Silent : RpcEndpoint {
    std::vector<RpcCallContext> held;  // answered never
    void receive_and_reply(const Message&, RpcCallContext ctx) override { held.push_back(ctx); }
};

}  // namespace

TEST_CASE("An exception in on_start goes to on_error and the endpoint keeps working", "[rpc][lifecycle]") {
    LocalEnvs envs(1);
    auto log = std::make_shared<RecordingEndpoint::Log>();
    struct BadStart : RecordingEndpoint {
        using RecordingEndpoint::RecordingEndpoint;
        void on_start() override { throw std::runtime_error("start failed"); }
    };
    auto ref = envs[0].setup_endpoint("bad", std::make_unique<BadStart>(log)).value();
    CHECK(ref.ask_sync<tw::Pong>(ping(1)));
    CHECK(log->wait_for("error:start failed"));
}

TEST_CASE("on_stop runs exactly once after a double stop, and its exception reaches on_error", "[rpc][lifecycle]") {
    LocalEnvs envs(1);
    auto log = std::make_shared<RecordingEndpoint::Log>();
    struct BadStop : RecordingEndpoint {
        using RecordingEndpoint::RecordingEndpoint;
        void on_stop() override {
            RecordingEndpoint::on_stop();
            throw std::runtime_error("stop failed");
        }
    };
    auto ref = envs[0].setup_endpoint("s", std::make_unique<BadStop>(log)).value();
    envs[0].stop(ref);
    envs[0].stop(ref);
    REQUIRE(log->wait_for("error:stop failed"));
    std::this_thread::sleep_for(50ms);
    CHECK(log->count_prefix("on_stop") == 1);
    // Messages to a stopped endpoint fail as unknown.
    auto r = ref.ask_sync(ping(1));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::endpoint_not_found);
}

TEST_CASE("A blocked dedicated-thread endpoint does not starve the others", "[rpc][threading]") {
    LocalEnvs envs(2);
    std::promise<void> release;
    auto gate = release.get_future().share();
    struct Blocker : RpcEndpoint {
        std::shared_future<void> gate;
        void receive(const Message&) override { gate.wait(); }
    };
    auto blocker = std::make_unique<Blocker>();
    blocker->gate = gate;
    auto b = envs[0].setup_endpoint("blocker", std::move(blocker), EndpointOptions{.dedicated_thread = true}).value();
    auto log = std::make_shared<RecordingEndpoint::Log>();
    envs[0].setup_endpoint("other", std::make_unique<RecordingEndpoint>(log)).value();
    b.send(ping(0));  // blocks the dedicated thread
    auto other = envs[1].endpoint_ref(envs[0].address(), "other");
    CHECK(other.ask_sync<tw::Pong>(ping(5), RpcTimeout{2s, "test"}));
    release.set_value();
}

TEST_CASE("Messages from one thread to one endpoint keep their order, from several senders at once",
          "[rpc][ordering]") {
    LocalEnvs envs(2);
    struct Orders : RpcEndpoint {
        std::mutex mu;
        std::map<std::string, std::vector<std::uint64_t>> seen;  // by sender text
        void receive(const Message& m) override {
            auto p = m.get<tw::Ping>();
            std::lock_guard lk(mu);
            seen[p.getText()].push_back(p.getN());
        }
    };
    auto ep = std::make_unique<Orders>();
    auto* raw = ep.get();
    envs[0].setup_endpoint("orders", std::move(ep)).value();
    auto local = envs[0].endpoint_ref(envs[0].address(), "orders");
    auto remote = envs[1].endpoint_ref(envs[0].address(), "orders");
    std::vector<std::thread> senders;
    for (int t = 0; t < 4; ++t) {
        senders.emplace_back([&, t] {
            auto& ref = t % 2 ? remote : local;
            for (std::uint64_t i = 0; i < 500; ++i) ref.send(ping(i, "s" + std::to_string(t)));
        });
    }
    for (auto& s : senders) s.join();
    REQUIRE(wait_until([&] {
        std::lock_guard lk(raw->mu);
        std::size_t n = 0;
        for (auto& [_, v] : raw->seen) n += v.size();
        return n == 2000;
    }));
    std::lock_guard lk(raw->mu);
    for (auto& [sender, v] : raw->seen) {
        for (std::size_t i = 0; i < v.size(); ++i) CHECK(v[i] == i);
    }
}

TEST_CASE("Network events name the peer; none arrive for the env's own shutdown", "[rpc][events]") {
    LocalEnvs envs(1);
    Probe probe(envs[0], "watcher");
    std::string peer;
    {
        auto other = RpcEnv::create({.name = "other"}).value();
        auto to_watcher = other->endpoint_ref(envs[0].address(), "watcher");
        to_watcher.send(ping(1));
        probe.expect_msg<tw::Ping>();
        peer = other->address().host_port();
    }
    REQUIRE(wait_until([&] {
        for (auto& e : probe.events()) {
            if (e == "disconnected " + peer) return true;
        }
        return false;
    }));
    bool connected = false;
    for (auto& e : probe.events()) connected |= e == "connected " + peer;
    CHECK(connected);

    // A peer that sends garbage: the connection breaks with an error.
    auto raw = testkit::RawClient::connect(envs[0].address()).value();
    raw->send_bytes(std::string(64, '\xff'));
    CHECK(raw->wait_closed());
    REQUIRE(wait_until([&] {
        for (auto& e : probe.events()) {
            if (e.rfind("network-error", 0) == 0) return true;
        }
        return false;
    }));

    // The env's own shutdown delivers on_stop but no disconnect events.
    auto log = std::make_shared<RecordingEndpoint::Log>();
    auto a = RpcEnv::create({.name = "a"}).value();
    auto b = RpcEnv::create({.name = "b"}).value();
    a->setup_endpoint("rec", std::make_unique<RecordingEndpoint>(log)).value();
    b->endpoint_ref(a->address(), "rec").send(ping(2));
    REQUIRE(log->wait_for("receive:Ping:2"));
    a->shutdown();
    a->await_termination();
    REQUIRE(log->wait_for("on_stop"));
    CHECK(log->count_prefix("disconnected") == 0);
}

TEST_CASE("Aborting an ask fails it with the reason, drops the late reply and tells the receiver",
          "[rpc][ask][abort]") {
    LocalEnvs envs(2);
    Probe server(envs[0], "server");
    for (bool remote : {true, false}) {
        auto ref = remote ? envs[1].endpoint_ref(envs[0].address(), "server") : server.ref();
        std::promise<RpcResult<Message>> done;
        auto handle = ref.ask(ping(7), [&](RpcResult<Message> r) { done.set_value(std::move(r)); });
        auto got = server.expect_msg<tw::Ping>();
        REQUIRE(got.context());
        handle.abort("changed my mind");
        auto r = done.get_future().get();
        REQUIRE_FALSE(r);
        CHECK(r.error().code == RpcErrc::aborted);
        CHECK(r.error().message == "changed my mind");
        CAPTURE(remote);
        CHECK(wait_until([&] { return got.context()->cancelled(); }, 2s));
        got.context()->reply(OutgoingMessage::make<tw::Pong>());  // dropped, no error
    }
}

TEST_CASE("An ask's callback runs on its endpoint, in reply order; its exception goes to on_error and the rest run",
          "[rpc][ask][lifecycle]") {
    // The callbacks of asks made by an endpoint run as its messages do: one at a time, on its
    // loop (inline on the thread that read the reply when the endpoint is idle, else queued).
    LocalEnvs envs(2);
    auto server_log = std::make_shared<RecordingEndpoint::Log>();
    auto server = envs[0].setup_endpoint("server", std::make_unique<RecordingEndpoint>(server_log)).value();
    for (bool remote : {true, false}) {
        CAPTURE(remote);
        auto log = std::make_shared<RecordingEndpoint::Log>();
        struct Asker : RecordingEndpoint {
            Asker(std::shared_ptr<Log> log, RpcEndpointRef to) : RecordingEndpoint(log), log(std::move(log)), to(std::move(to)) {}
            void on_start() override {
                for (std::uint64_t n = 1; n <= 40; ++n) {
                    to.ask(ping(n), [this, n](RpcResult<Message> r) {
                        bool nested = inside.exchange(true);  // another callback or handler running
                        log->add(fmt::format("reply:{}:{}{}", n, r ? r->get<tw::Pong>().getN() : 0, nested ? ":nested" : ""));
                        inside = false;
                        if (n == 3) throw std::runtime_error("callback 3 failed");
                    });
                }
            }
            std::shared_ptr<Log> log;
            RpcEndpointRef to;
            std::atomic<bool> inside{false};
        };
        auto to = remote ? envs[1].endpoint_ref(envs[0].address(), "server") : server;
        auto& env = remote ? envs[1] : envs[0];
        auto asker = env.setup_endpoint(remote ? "asker-remote" : "asker-local", std::make_unique<Asker>(log, to)).value();
        REQUIRE(log->wait_for("reply:40:41"));
        CHECK(log->wait_for("error:callback 3 failed"));
        std::vector<std::string> replies;
        for (auto& e : log->snapshot()) {
            if (e.rfind("reply:", 0) == 0) replies.push_back(e);
        }
        std::vector<std::string> expected;
        for (int n = 1; n <= 40; ++n) expected.push_back(fmt::format("reply:{}:{}", n, n + 1));
        CHECK(replies == expected);  // each once, in order, none inside another
        // The endpoint still answers after its callback threw.
        CHECK(asker.ask_sync<tw::Pong>(ping(100)));
        env.stop(asker);
    }
}

TEST_CASE("Errors from send_failure keep their code and message across the wire", "[rpc][ask]") {
    LocalEnvs envs(2);
    Probe server(envs[0], "server");
    auto ref = envs[1].endpoint_ref(envs[0].address(), "server");
    auto f = std::async(std::launch::async, [&] { return ref.ask_sync(ping(1)); });
    server.expect_msg<tw::Ping>();
    server.reply_failure(RpcError{RpcErrc::unexpected_message, "not today"});
    auto r = f.get();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::unexpected_message);
    CHECK(r.error().message == "not today");
}

TEST_CASE("An unhandled message type is answered with a failure naming the type id", "[rpc][ask]") {
    LocalEnvs envs(2);
    struct OnlyPing : RpcEndpoint {
        void receive_and_reply(const Message& m, RpcCallContext ctx) override {
            if (m.is<tw::Ping>()) {
                ctx.reply<tw::Pong>();
                return;
            }
            RpcEndpoint::receive_and_reply(m, std::move(ctx));
        }
    };
    envs[0].setup_endpoint("only-ping", std::make_unique<OnlyPing>()).value();
    auto ref = envs[1].endpoint_ref(envs[0].address(), "only-ping");
    auto r = ref.ask_sync(OutgoingMessage::make<tw::Boom>());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::unknown_message_type);
    auto id = fmt::format("0x{:016x}", capnp::typeId<tw::Boom>());
    CHECK_THAT(r.error().message, Catch::Contains(id));
    CHECK(r.error().message.find(id) == r.error().message.rfind(id));  // said once
    CHECK_THAT(r.error().message, Catch::Contains("Boom"));
}

TEST_CASE("After a failed connect the next message connects afresh", "[rpc][connect]") {
    LocalEnvs envs(1);
    std::uint16_t port;
    { port = RpcEnv::create({.name = "tmp"}).value()->address().port; }
    auto ref = envs[0].endpoint_ref({"127.0.0.1", port}, "server");
    auto r = ref.ask_sync(ping(1));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::connection_failed);
    auto server = RpcEnv::create({.name = "server", .port = port}).value();
    REQUIRE(server->address().port == port);
    auto log = std::make_shared<RecordingEndpoint::Log>();
    server->setup_endpoint("server", std::make_unique<RecordingEndpoint>(log)).value();
    CHECK(ref.ask_sync<tw::Pong>(ping(2)));
}

TEST_CASE("A connection quiet while asks are outstanding is closed after ember.rpc.io.connectionTimeout",
          "[rpc][timeout]") {
    StalledPeer peer;
    Conf conf;
    conf.set("ember.rpc.io.connectionTimeout", "300ms");
    LocalEnvs envs(1, conf);
    auto ref = envs[0].endpoint_ref(peer.address(), "anyone");
    auto start = std::chrono::steady_clock::now();
    auto r = ref.ask_sync(ping(1), RpcTimeout{30s, "ember.rpc.askTimeout"});
    auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::connection_closed);
    CHECK_THAT(r.error().message, Catch::Contains("ember.rpc.io.connectionTimeout"));
    CHECK(took >= 300ms);
    CHECK(took < 5s);
}

TEST_CASE("A client-mode env is reached over the connection it opened, also through refs it sends",
          "[rpc][client-mode]") {
    LocalEnvs envs(1);
    Probe server(envs[0], "server");
    auto& client = envs.add({.name = "client", .client_mode = true});
    CHECK(client.address().empty());
    auto log = std::make_shared<RecordingEndpoint::Log>();
    auto client_ep = client.setup_endpoint("worker", std::make_unique<RecordingEndpoint>(log)).value();
    CHECK(client_ep.address().empty());
    // The client sends a ref to its endpoint; the server asks it back over the same connection.
    auto hello = OutgoingMessage::make<tw::Hello>([&](tw::Hello::Builder b) { write_ref(b.initRef(), client_ep); });
    client.endpoint_ref(envs[0].address(), "server").send(std::move(hello));
    auto got = server.expect_msg<tw::Hello>();
    auto back = got.message().ref(got->getRef());
    CHECK(back.address().empty());
    auto reply = back.ask_sync<tw::Pong>(ping(41));
    REQUIRE(reply);
    CHECK(reply->get<tw::Pong>().getN() == 42);
    // And its asks are answered like anyone's.
    auto f = std::async(std::launch::async, [&] { return client.endpoint_ref(envs[0].address(), "server").ask_sync(ping(3)); });
    server.expect_msg<tw::Ping>();
    server.reply<tw::Pong>([](tw::Pong::Builder b) { b.setN(4); });
    CHECK(f.get());
}

TEST_CASE("A busy port is retried upward, up to ember.port.maxRetries", "[rpc][bind]") {
    auto first = RpcEnv::create({.name = "first", .port = 0}).value();
    std::uint16_t busy = first->address().port;
    if (busy < 1024 || busy > 65000) return;  // retries only apply to unprivileged ports
    auto second = RpcEnv::create({.name = "second", .port = busy}).value();
    CHECK(second->address().port > busy);
    CHECK(second->address().port <= busy + 16);
    Conf none;
    none.set("ember.port.maxRetries", "0");
    auto third = RpcEnv::create({.name = "third", .port = busy, .conf = none});
    REQUIRE_FALSE(third);
    CHECK(third.error().code == RpcErrc::bind_failed);
    CHECK_THAT(third.error().message, Catch::Contains(std::to_string(busy)));
}

TEST_CASE("The advertised address may differ from the bind address", "[rpc][bind]") {
    auto env = RpcEnv::create({.name = "adv", .bind_address = "127.0.0.1", .advertise_address = "localhost"}).value();
    CHECK(env->address().host == "localhost");
    auto log = std::make_shared<RecordingEndpoint::Log>();
    env->setup_endpoint("e", std::make_unique<RecordingEndpoint>(log)).value();
    auto other = RpcEnv::create({.name = "o"}).value();
    auto found = other->setup_endpoint_ref_by_uri("ember://e@localhost:" + std::to_string(env->address().port));
    REQUIRE(found);
    CHECK(found->ask_sync<tw::Pong>(ping(1)));
}

TEST_CASE("Envs talk over IPv6", "[rpc][ipv6]") {
    auto server = RpcEnv::create({.name = "v6", .bind_address = "::1"});
    if (!server) {
        WARN("no IPv6 loopback here: " << server.error().message);
        return;
    }
    auto log = std::make_shared<RecordingEndpoint::Log>();
    (*server)->setup_endpoint("e", std::make_unique<RecordingEndpoint>(log)).value();
    auto client = RpcEnv::create({.name = "c", .bind_address = "::1"}).value();
    std::string uri = "ember://e@[::1]:" + std::to_string((*server)->address().port);
    CHECK((*server)->address().host_port() == "[::1]:" + std::to_string((*server)->address().port));
    auto ref = client->setup_endpoint_ref_by_uri(uri);
    REQUIRE(ref);
    CHECK(ref->to_string() == uri);
    CHECK(ref->ask_sync<tw::Pong>(ping(1)));
}

TEST_CASE("shutdown and await_termination are idempotent, and shutdown works from a handler", "[rpc][shutdown]") {
    auto env = RpcEnv::create({.name = "s"}).value();
    struct Quitter : RpcEndpoint {
        void receive(const Message&) override { env().shutdown(); }
    };
    auto ref = env->setup_endpoint("q", std::make_unique<Quitter>()).value();
    ref.send(ping(1));
    env->await_termination();
    env->shutdown();
    env->await_termination();
    CHECK(env->setup_endpoint("late", std::make_unique<Quitter>()).error().code == RpcErrc::env_stopped);
    auto r = ref.ask_sync(ping(2));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::env_stopped);
}

TEST_CASE("Outboxes are bounded: a stalled peer applies back-pressure instead of growing memory",
          "[rpc][backpressure]") {
    StalledPeer peer;
    Conf conf;
    conf.set("ember.rpc.io.maxQueuedBytes", "1m");
    LocalEnvs envs(1, conf);
    auto ref = envs[0].endpoint_ref(peer.address(), "sink");
    std::string chunk(64 * 1024, 'x');
    // Off the I/O threads a full queue makes the caller wait, here up to its ask timeout; the
    // queued asks are not waited for (the stalled peer never answers).
    int queued = 0;
    RpcError last;
    std::atomic<bool> dropped{false};
    std::mutex mu;
    for (int i = 0; i < 2000 && !dropped; ++i) {
        auto start = std::chrono::steady_clock::now();
        ref.ask(ping(1, chunk), RpcTimeout{300ms, "test"}, [&](RpcResult<Message> r) {
            if (!r && r.error().code == RpcErrc::send_dropped) {
                std::lock_guard lk(mu);
                last = r.error();
                dropped = true;
            }
        });
        if (dropped) {
            CHECK(std::chrono::steady_clock::now() - start >= 250ms);  // it waited for room
            break;
        }
        ++queued;
    }
    std::lock_guard lk(mu);
    CHECK(last.code == RpcErrc::send_dropped);
    CHECK_THAT(last.message, Catch::Contains("ember.rpc.io.maxQueuedBytes"));
    // The socket buffers plus the 1 MiB queue: far less than 2000 x 64 KiB.
    CHECK(queued < 1000);
    // In a handler nothing waits: the send fails at once.
    Probe probe(envs[0], "p");
    auto start = std::chrono::steady_clock::now();
    auto r = probe.ask(ref, ping(2, chunk), RpcTimeout{5s, "test"});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::send_dropped);
    CHECK(std::chrono::steady_clock::now() - start < 1s);
}

/// Replies to Ping(n) with a Pong whose raw body is n bytes of a pattern that depends on n.
struct BigReplier : RpcEndpoint {
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
        std::uint64_t n = msg.get<tw::Ping>().getN();
        std::string body(n, '\0');
        for (std::uint64_t i = 0; i < n; ++i) body[i] = static_cast<char>((i * 31 + n) % 251);
        auto reply = OutgoingMessage::make<tw::Pong>([&](tw::Pong::Builder b) { b.setN(n); });
        reply.add_body(Bytes::copy_of(std::string_view(body)));
        ctx.reply(std::move(reply));
    }
};

bool body_matches(const Message& m, std::uint64_t n) {
    auto body = m.body();
    if (body.size() != n) return false;
    for (std::uint64_t i = 0; i < n; ++i) {
        if (static_cast<unsigned char>(body[i]) != (i * 31 + n) % 251) return false;
    }
    return true;
}

/// A BigReplier in an env of its own with one setting `key` = `value`, and a client env.
struct BigReplyServer {
    LocalEnvs server;
    LocalEnvs client{1};
    RpcEndpointRef ref;
    BigReplyServer(const std::string& key, const std::string& value) : server(1, Conf().set(key, value)) {
        server[0].setup_endpoint("big", std::make_unique<BigReplier>()).value();
        ref = client[0].endpoint_ref(server[0].address(), "big");
    }
};

TEST_CASE("Replies larger than the queue limit all arrive however many are asked at once", "[rpc][backpressure]") {
    // The replier's connection queue holds 1 MiB; every reply is 3 MiB, so from the second one
    // on each finds the queue over its limit. A reply is never dropped for room: all arrive.
    BigReplyServer s("ember.rpc.io.maxQueuedBytes", "1m");
    auto& ref = s.ref;
    for (int in_flight : {2, 8, 24}) {
        CAPTURE(in_flight);
        std::vector<std::promise<RpcResult<Message>>> replies(static_cast<std::size_t>(in_flight));
        for (int i = 0; i < in_flight; ++i) {
            // Sizes differ a little, so a reply that reached the wrong asker would show.
            std::uint64_t n = (3u << 20) + static_cast<std::uint64_t>(i);
            ref.ask(ping(n), RpcTimeout{20s, "test"},
                    [&replies, i](RpcResult<Message> r) { replies[static_cast<std::size_t>(i)].set_value(std::move(r)); });
        }
        for (int i = 0; i < in_flight; ++i) {
            auto f = replies[static_cast<std::size_t>(i)].get_future();
            REQUIRE(f.wait_for(20s) == std::future_status::ready);
            auto r = f.get();
            REQUIRE(r);
            CHECK(body_matches(*r, (3u << 20) + static_cast<std::uint64_t>(i)));
        }
    }
}

TEST_CASE("A reply the asker could never receive becomes a failure at once", "[rpc][limits]") {
    BigReplyServer s("ember.rpc.io.maxBodySize", "1m");
    auto& ref = s.ref;
    auto start = std::chrono::steady_clock::now();
    auto r = ref.ask_sync(ping(2u << 20), RpcTimeout{20s, "test"});
    REQUIRE_FALSE(r);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK(r.error().code == RpcErrc::frame_too_large);
    CHECK_THAT(r.error().message, Catch::Contains("ember.rpc.io.maxBodySize"));
    // The connection and the endpoint keep working.
    auto ok = ref.ask_sync(ping(1000), RpcTimeout{5s, "test"});
    REQUIRE(ok);
    CHECK(body_matches(*ok, 1000));
}

TEST_CASE("A frame over the receiver's limit closes that connection only", "[rpc][limits]") {
    LocalEnvs envs(1);
    auto log = std::make_shared<RecordingEndpoint::Log>();
    envs[0].setup_endpoint("e", std::make_unique<RecordingEndpoint>(log)).value();
    auto raw = testkit::RawClient::connect(envs[0].address()).value();
    // A segment table announcing one segment of 2^30 words.
    std::string header("\0\0\0\0\0\0\0\x40", 8);
    raw->send_bytes(header);
    CHECK(raw->wait_closed());
    // Others are still served.
    auto other = RpcEnv::create({.name = "o"}).value();
    CHECK(other->endpoint_ref(envs[0].address(), "e").ask_sync<tw::Pong>(ping(1)));
}

TEST_CASE("Under concurrent asks every reply reaches its own caller, also when answered late and out of order",
          "[rpc][ask][concurrency]") {
    // Two I/O threads per env, four caller threads (two local, two remote), and a server that
    // answers the even asks at once and the odd ones later, from another thread, in reverse
    // order: every reply must carry the n and the caller name of the request it answers.
    Conf conf;
    conf.set("ember.rpc.io.threads", "2");
    LocalEnvs envs(2, conf);
    struct Held {
        std::uint64_t n;
        std::string text;
        RpcCallContext ctx;
    };
    struct Mixed : RpcEndpoint {
        std::mutex mu;
        std::vector<Held> later;  // answered by the flusher thread
        void receive_and_reply(const Message& m, RpcCallContext ctx) override {
            auto p = m.get<tw::Ping>();
            if (p.getN() % 2 == 0) {
                ctx.reply<tw::Pong>([&](tw::Pong::Builder b) {
                    b.setN(p.getN());
                    b.setText(p.getText());
                });
                return;
            }
            std::lock_guard lk(mu);
            later.push_back({p.getN(), p.getText().cStr(), std::move(ctx)});
        }
    };
    auto server = std::make_unique<Mixed>();
    auto* mixed = server.get();
    envs[0].setup_endpoint("mixed", std::move(server)).value();
    std::atomic<bool> stop{false};
    std::thread flusher([&] {
        while (!stop) {
            std::vector<Held> batch;
            {
                std::lock_guard lk(mixed->mu);
                batch.swap(mixed->later);
            }
            for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
                it->ctx.reply<tw::Pong>([&](tw::Pong::Builder b) {
                    b.setN(it->n);
                    b.setText(it->text);
                });
            }
            std::this_thread::sleep_for(1ms);
        }
    });

    constexpr int threads = 4;
    constexpr std::uint64_t asks = 300;
    std::atomic<int> wrong{0}, failed{0};
    auto remote = envs[1].endpoint_ref(envs[0].address(), "mixed");
    auto local = envs[0].endpoint_ref(envs[0].address(), "mixed");
    std::vector<std::thread> callers;
    for (int t = 0; t < threads; ++t) {
        callers.emplace_back([&, t] {
            const auto& ref = t % 2 ? remote : local;
            std::string me = "caller" + std::to_string(t);
            std::vector<std::future<RpcResult<Message>>> pending;
            for (std::uint64_t i = 0; i < asks; ++i) {
                auto done = std::make_shared<std::promise<RpcResult<Message>>>();
                pending.push_back(done->get_future());
                ref.ask(ping(i, me), [done](RpcResult<Message> r) { done->set_value(std::move(r)); });
                if (i % 50 == 48) {  // synchronous asks in between (even n: answered at once)
                    auto r = ref.ask_sync<tw::Pong>(ping(1000 + i, me));
                    if (!r) {
                        ++failed;
                    } else if (r->get<tw::Pong>().getN() != 1000 + i || r->get<tw::Pong>().getText() != me) {
                        ++wrong;
                    }
                }
            }
            for (std::uint64_t i = 0; i < asks; ++i) {
                auto r = pending[i].get();
                if (!r) {
                    ++failed;
                    continue;
                }
                auto pong = r->get<tw::Pong>();
                if (pong.getN() != i || pong.getText() != me) ++wrong;
            }
        });
    }
    for (auto& c : callers) c.join();
    stop = true;
    flusher.join();
    CHECK(failed == 0);
    CHECK(wrong == 0);
}
