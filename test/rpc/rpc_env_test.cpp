// SPDX-License-Identifier: Apache-2.0
// RpcEnv basics, local and across two envs on loopback: send, ask, timeouts, unknown
// endpoints, throwing handlers, lookup by URI, connection failures.
#include "rpc/rpc_env.hpp"
#include "test/support/ping.hpp"
#include "test/support/recording_endpoint.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace ember;
using namespace ember::rpc;
using ember::test::RecordingEndpoint;
namespace tw = ember::test::wire;
using ember::test::ping;

namespace {

std::unique_ptr<RpcEnv> make_env(std::string name, Conf conf = {}) {
    RpcEnvConfig c;
    c.name = std::move(name);
    c.conf = std::move(conf);
    return RpcEnv::create(std::move(c)).value();
}

struct Pair {
    std::unique_ptr<RpcEnv> a = make_env("a");
    std::unique_ptr<RpcEnv> b = make_env("b");
    std::shared_ptr<RecordingEndpoint::Log> log = std::make_shared<RecordingEndpoint::Log>();
    RpcEndpointRef server = b->setup_endpoint("server", std::make_unique<RecordingEndpoint>(log)).value();
    RpcEndpointRef remote = a->endpoint_ref(b->address(), "server");
};

}  // namespace

TEST_CASE("A local ask is answered by the endpoint's reply", "[rpc][env]") {
    auto env = make_env("local");
    auto log = std::make_shared<RecordingEndpoint::Log>();
    auto ref = env->setup_endpoint("echo", std::make_unique<RecordingEndpoint>(log)).value();
    auto reply = ref.ask_sync<tw::Pong>(ping(41, "hi"));
    REQUIRE(reply);
    CHECK(reply->get<tw::Pong>().getN() == 42);
    CHECK(std::string(reply->get<tw::Pong>().getText().cStr()) == "hi");
    CHECK(log->snapshot().front() == "on_start");
}

TEST_CASE("on_start runs before a message sent right after setup", "[rpc][env]") {
    auto env = make_env("order");
    auto log = std::make_shared<RecordingEndpoint::Log>();
    auto ref = env->setup_endpoint("ep", std::make_unique<RecordingEndpoint>(log)).value();
    ref.send(ping(1));
    REQUIRE(log->wait_for("receive:Ping:1"));
    auto events = log->snapshot();
    CHECK(events[0] == "on_start");
    CHECK(events[1] == "receive:Ping:1");
}

TEST_CASE("A remote ask travels over TCP and back", "[rpc][env][remote]") {
    Pair p;
    auto reply = p.remote.ask_sync<tw::Pong>(ping(7, "over tcp"));
    REQUIRE(reply);
    CHECK(reply->get<tw::Pong>().getN() == 8);
    CHECK(std::string(reply->get<tw::Pong>().getText().cStr()) == "over tcp");
}

TEST_CASE("Remote one-way messages from one sender arrive in order", "[rpc][env][remote]") {
    Pair p;
    for (int i = 0; i < 1000; ++i) p.remote.send(ping(static_cast<std::uint64_t>(i)));
    REQUIRE(p.log->wait_for("receive:Ping:999"));
    auto events = p.log->snapshot();
    std::vector<std::string> pings;
    for (auto& e : events) {
        if (e.rfind("receive:Ping:", 0) == 0) pings.push_back(e);
    }
    REQUIRE(pings.size() == 1000);
    for (int i = 0; i < 1000; ++i) CHECK(pings[static_cast<std::size_t>(i)] == "receive:Ping:" + std::to_string(i));
}

TEST_CASE("An ask that gets no reply times out naming the config key", "[rpc][env][timeout]") {
    SECTION("locally and remotely") {
        Pair p;
        struct Silent : RpcEndpoint {
            std::vector<RpcCallContext> held;  // never answered, never dropped
            void receive_and_reply(const Message&, RpcCallContext ctx) override { held.push_back(ctx); }
        };
        p.b->setup_endpoint("silent", std::make_unique<Silent>()).value();
        auto remote = p.a->endpoint_ref(p.b->address(), "silent");
        auto local = p.b->endpoint_ref(p.b->address(), "silent");
        for (auto* ref : {&remote, &local}) {
            auto start = std::chrono::steady_clock::now();
            auto r = ref->ask_sync(ping(1), RpcTimeout{std::chrono::milliseconds(150), "ember.rpc.askTimeout"});
            auto took = std::chrono::steady_clock::now() - start;
            REQUIRE_FALSE(r);
            CHECK(r.error().code == RpcErrc::timeout);
            CHECK_THAT(r.error().message, Catch::Contains("in 150 milliseconds. This timeout is controlled by ember.rpc.askTimeout"));
            CHECK(took >= std::chrono::milliseconds(150));
            CHECK(took < std::chrono::seconds(3));
            // The suffix appears exactly once.
            auto first = r.error().message.find("controlled by");
            CHECK(r.error().message.find("controlled by", first + 1) == std::string::npos);
        }
    }
}

TEST_CASE("The default ask timeout comes from ember.rpc.askTimeout with ms resolution", "[rpc][env][timeout]") {
    Conf conf;
    conf.set("ember.rpc.askTimeout", "250ms");
    auto env = make_env("t", conf);
    struct Silent : RpcEndpoint {
        std::vector<RpcCallContext> held;
        void receive_and_reply(const Message&, RpcCallContext ctx) override { held.push_back(ctx); }
    };
    auto ref = env->setup_endpoint("silent", std::make_unique<Silent>()).value();
    auto r = ref.ask_sync(ping(1));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::timeout);
    CHECK_THAT(r.error().message, Catch::Contains("250 milliseconds. This timeout is controlled by ember.rpc.askTimeout"));

    Conf net;
    net.set("ember.network.timeout", "300ms");
    auto env2 = make_env("t2", net);
    auto ref2 = env2->setup_endpoint("silent", std::make_unique<Silent>()).value();
    auto r2 = ref2.ask_sync(ping(1));
    REQUIRE_FALSE(r2);
    CHECK_THAT(r2.error().message, Catch::Contains("300 milliseconds. This timeout is controlled by ember.network.timeout"));
}

TEST_CASE("An ask to an unknown endpoint fails with an error naming it", "[rpc][env]") {
    Pair p;
    auto missing = p.a->endpoint_ref(p.b->address(), "nobody");
    auto r = missing.ask_sync(ping(1));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::endpoint_not_found);
    CHECK_THAT(r.error().message, Catch::Contains("nobody"));

    auto local_missing = p.b->endpoint_ref(p.b->address(), "ghost");
    auto r2 = local_missing.ask_sync(ping(1));
    REQUIRE_FALSE(r2);
    CHECK(r2.error().code == RpcErrc::endpoint_not_found);
    CHECK_THAT(r2.error().message, Catch::Contains("ghost"));
}

namespace {

/// Answers Ping like RecordingEndpoint; its on_stop waits until `release` is set (on a thread
/// of its own), so the removed endpoint's inbox is still alive meanwhile.
class SlowToStop final : public RecordingEndpoint {
public:
    SlowToStop(std::shared_ptr<Log> log, std::shared_future<void> release)
        : RecordingEndpoint(std::move(log)), release_(std::move(release)) {}
    void on_stop() override {
        RecordingEndpoint::on_stop();
        release_.wait();
    }

private:
    std::shared_future<void> release_;
};

}  // namespace

TEST_CASE("Remote messages reach the endpoint registered under their name now, not one removed", "[rpc][env][remote]") {
    // The receiving env remembers each connection's last endpoint (EnvCore::route_frame); removing
    // or replacing an endpoint must retarget the next message on that same connection, even while
    // the removed endpoint is still alive (here: still in its on_stop).
    Pair p;
    std::promise<void> release;
    // Lets on_stop return however the case ends (declared after the envs, so destroyed before
    // them): a failed REQUIRE must not leave the envs' shutdown waiting on it forever.
    struct ReleaseAtEnd {
        std::promise<void>& release;
        ~ReleaseAtEnd() { release.set_value(); }
    } release_at_end{release};
    auto old_log = std::make_shared<RecordingEndpoint::Log>();
    auto old = p.b->setup_endpoint("slow", std::make_unique<SlowToStop>(old_log, release.get_future().share()),
                                   EndpointOptions{.dedicated_thread = true});
    REQUIRE(old);
    auto remote = p.a->endpoint_ref(p.b->address(), "slow");
    REQUIRE(remote.ask_sync<tw::Pong>(ping(1)));

    p.b->stop(*old);
    REQUIRE(old_log->wait_for("on_stop"));  // and blocked there: its inbox lives on
    auto gone = remote.ask_sync(ping(2));
    REQUIRE_FALSE(gone);
    CHECK(gone.error().code == RpcErrc::endpoint_not_found);

    auto new_log = std::make_shared<RecordingEndpoint::Log>();
    REQUIRE(p.b->setup_endpoint("slow", std::make_unique<RecordingEndpoint>(new_log)));
    for (std::uint64_t i = 3; i < 6; ++i) {
        auto reply = remote.ask_sync<tw::Pong>(ping(i));
        REQUIRE(reply);
        CHECK(reply->get<tw::Pong>().getN() == i + 1);
    }
    CHECK(new_log->count_prefix("ask:Ping:") == 3);
    CHECK(old_log->count_prefix("ask:Ping:") == 1);  // the removed one got nothing more
}

TEST_CASE("A handler that throws fails the ask with its message and keeps working", "[rpc][env]") {
    Pair p;
    auto boom = OutgoingMessage::make<tw::Boom>([](tw::Boom::Builder b) { b.setText("kaboom 42"); });
    auto r = p.remote.ask_sync(std::move(boom));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::remote_failure);
    CHECK(r.error().message == "kaboom 42");
    REQUIRE(p.log->wait_for("error:kaboom 42"));
    // Still serving.
    auto again = p.remote.ask_sync<tw::Pong>(ping(1));
    REQUIRE(again);

    auto local = p.b->endpoint_ref(p.b->address(), "server");
    auto boom2 = OutgoingMessage::make<tw::Boom>([](tw::Boom::Builder b) { b.setText("local boom"); });
    auto r2 = local.ask_sync(std::move(boom2));
    REQUIRE_FALSE(r2);
    CHECK(r2.error().message == "local boom");
}

TEST_CASE("Lookup by URI finds endpoints through the verifier", "[rpc][env][lookup]") {
    Pair p;
    auto uri = "ember://server@" + p.b->address().host_port();
    auto found = p.a->setup_endpoint_ref_by_uri(uri);
    REQUIRE(found);
    CHECK(found->name() == "server");
    CHECK(found->ask_sync<tw::Pong>(ping(1)));

    auto missing = p.a->setup_endpoint_ref_by_uri("ember://nothing@" + p.b->address().host_port());
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == RpcErrc::endpoint_not_found);
    CHECK(missing.error().message == "Cannot find endpoint: ember://nothing@" + p.b->address().host_port());

    for (std::string bad : {"spark://x@h:1", "ember://h:1", "ember://x@h", "ember://x@h:99999",
                            "ember://x@h:1/path", "ember://x@:1"}) {
        auto r = p.a->setup_endpoint_ref_by_uri(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == RpcErrc::invalid_uri);
        CHECK_THAT(r.error().message, Catch::Contains(bad));
    }
}

TEST_CASE("Connecting to a closed port fails asks promptly with a connection error", "[rpc][env][remote]") {
    auto a = make_env("a");
    std::uint16_t dead_port;
    {
        auto b = make_env("b");
        dead_port = b->address().port;
    }
    auto ref = a->endpoint_ref(RpcAddress{"127.0.0.1", dead_port}, "server");
    auto start = std::chrono::steady_clock::now();
    auto r = ref.ask_sync(ping(1));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::connection_failed);
    CHECK_THAT(r.error().message, Catch::Contains("Failed to connect to 127.0.0.1:" + std::to_string(dead_port)));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
}

TEST_CASE("A peer that dies fails its outstanding asks promptly", "[rpc][env][remote]") {
    auto a = make_env("a");
    auto b = make_env("b");
    struct Silent : RpcEndpoint {
        std::vector<RpcCallContext> held;
        void receive_and_reply(const Message&, RpcCallContext ctx) override { held.push_back(ctx); }
    };
    b->setup_endpoint("silent", std::make_unique<Silent>()).value();
    auto ref = a->endpoint_ref(b->address(), "silent");
    std::promise<RpcResult<Message>> done;
    ref.ask(ping(1), [&](RpcResult<Message> r) { done.set_value(std::move(r)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    b.reset();  // shuts the peer down, closing its sockets
    auto f = done.get_future();
    REQUIRE(f.wait_for(std::chrono::seconds(3)) == std::future_status::ready);
    auto r = f.get();
    REQUIRE_FALSE(r);
    CHECK((r.error().code == RpcErrc::connection_closed || r.error().code == RpcErrc::no_reply));
}

TEST_CASE("Endpoints see connect and disconnect events of peers", "[rpc][env][events]") {
    auto log = std::make_shared<RecordingEndpoint::Log>();
    auto a = make_env("a");
    a->setup_endpoint("watcher", std::make_unique<RecordingEndpoint>(log)).value();
    {
        auto b = make_env("b");
        auto blog = std::make_shared<RecordingEndpoint::Log>();
        auto ep = b->setup_endpoint("x", std::make_unique<RecordingEndpoint>(blog)).value();
        auto to_a = b->endpoint_ref(a->address(), "watcher");
        to_a.send(ping(5));
        REQUIRE(log->wait_for("receive:Ping:5"));
        REQUIRE(log->wait_for("connected:" + b->address().host_port()));
    }
    REQUIRE(ember::test::wait_until([&] { return log->count_prefix("disconnected:") >= 1; }));
}

TEST_CASE("Stopping an endpoint runs on_stop once, after queued messages", "[rpc][env]") {
    auto env = make_env("s");
    auto log = std::make_shared<RecordingEndpoint::Log>();
    auto ref = env->setup_endpoint("ep", std::make_unique<RecordingEndpoint>(log)).value();
    for (int i = 0; i < 10; ++i) ref.send(ping(static_cast<std::uint64_t>(i)));
    env->stop(ref);
    env->stop(ref);
    REQUIRE(log->wait_for("on_stop"));
    auto events = log->snapshot();
    CHECK(events.back() == "on_stop");
    CHECK(log->count_prefix("on_stop") == 1);
    CHECK(log->count_prefix("receive:Ping:") == 10);
    // The name is free again at once.
    CHECK(env->setup_endpoint("ep", std::make_unique<RecordingEndpoint>(log)));
    CHECK(env->setup_endpoint("ep", std::make_unique<RecordingEndpoint>(log)).error().code ==
          RpcErrc::duplicate_endpoint);
}

TEST_CASE("A message over the frame limit fails at the sender with a clear error", "[rpc][env][limits]") {
    Conf conf;
    conf.set("ember.rpc.message.maxSize", "1");  // MiB
    auto a = make_env("a", conf);
    auto b = make_env("b");
    auto blog = std::make_shared<RecordingEndpoint::Log>();
    b->setup_endpoint("server", std::make_unique<RecordingEndpoint>(blog)).value();
    auto ref = a->endpoint_ref(b->address(), "server");
    auto r = ref.ask_sync(ping(1, std::string(2 << 20, 'x')));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == RpcErrc::frame_too_large);
    CHECK_THAT(r.error().message, Catch::Contains("ember.rpc.message.maxSize"));
}

TEST_CASE("Raw bodies travel after the frame, from memory and from files", "[rpc][env][body]") {
    Pair p;
    struct BodyEcho : RpcEndpoint {
        void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
            auto reply = OutgoingMessage::make<tw::Pong>([&](tw::Pong::Builder b) { b.setN(msg.body().size()); });
            reply.add_body(Bytes::copy_of(msg.body()));
            ctx.reply(std::move(reply));
        }
    };
    p.b->setup_endpoint("body", std::make_unique<BodyEcho>()).value();
    auto ref = p.a->endpoint_ref(p.b->address(), "body");

    std::string big(3 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7919 % 251);
    char path[] = "/tmp/ember-body-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, big.data(), big.size()) == static_cast<ssize_t>(big.size()));
    ::close(fd);

    auto msg = ping(1);
    msg.add_body(Bytes::copy_of(std::string_view("head:")));
    msg.add_body(FileRegion{FileHandle::open_read(path), 100, big.size() - 200});
    auto r = ref.ask_sync<tw::Pong>(std::move(msg));
    ::unlink(path);
    REQUIRE(r);
    auto body = r->body();
    REQUIRE(body.size() == 5 + big.size() - 200);
    std::string got(reinterpret_cast<const char*>(body.data()), body.size());
    CHECK(got.substr(0, 5) == "head:");
    CHECK(got.substr(5) == big.substr(100, big.size() - 200));
}
