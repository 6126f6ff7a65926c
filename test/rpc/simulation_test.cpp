// SPDX-License-Identifier: Apache-2.0
// ember::sim::Simulation: ordinary endpoints on simulated envs, faults from one seed, traces
// that replay exactly.
#include "rpc/rpc_env.hpp"
#include "rpc/sim/simulation.hpp"
#include "test/support/ping.hpp"
#include "test/support/recording_endpoint.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>

using namespace ember;
using namespace std::chrono_literals;
using rpc::Message;
using rpc::RpcCallContext;
using rpc::RpcEndpoint;
using rpc::RpcEndpointRef;
using rpc::RpcErrc;
using rpc::RpcResult;
using rpc::RpcTimeout;
using sim::Simulation;
using test::RecordingEndpoint;
namespace tw = ember::test::wire;

namespace {

/// Replies Pong(n) to Ping(n), or never when `silent`.
class Echo : public RpcEndpoint {
public:
    explicit Echo(bool silent = false) : silent_(silent) {}
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
        auto p = msg.get<tw::Ping>();
        if (silent_) {
            held_.push_back(ctx);  // never answered
            return;
        }
        ctx.reply(rpc::OutgoingMessage::make<tw::Pong>([&](tw::Pong::Builder b) { b.setN(p.getN()); }));
    }

private:
    bool silent_;
    std::vector<RpcCallContext> held_;
};

/// Records "<text>:<n>" of every Ping it is sent.
class Sink : public RpcEndpoint {
public:
    explicit Sink(std::shared_ptr<std::vector<std::string>> got) : got_(std::move(got)) {}
    void receive(const Message& msg) override {
        auto p = msg.get<tw::Ping>();
        got_->push_back(fmt::format("{}:{}", std::string_view(p.getText().cStr()), p.getN()));
    }

private:
    std::shared_ptr<std::vector<std::string>> got_;
};

/// Shuts its own env down when it gets a Boom; logs on_stop.
class Quitter : public RpcEndpoint {
public:
    explicit Quitter(std::shared_ptr<RecordingEndpoint::Log> log) : log_(std::move(log)) {}
    void receive(const Message& msg) override {
        if (msg.is<tw::Boom>()) env().shutdown();  // from inside a handler: finishes after it
    }
    void on_stop() override { log_->add("on_stop"); }

private:
    std::shared_ptr<RecordingEndpoint::Log> log_;
};

// -- the counter scenario: exactly-once increments over an at-least-once client --------------

struct CounterState {
    std::uint64_t count = 0;
    std::set<std::uint64_t> applied;
};

/// Applies Ping(op) once per op id (or every time, with the planted bug) and replies the count.
class Counter : public RpcEndpoint {
public:
    Counter(std::shared_ptr<CounterState> state, bool dedup) : state_(std::move(state)), dedup_(dedup) {}
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
        auto op = msg.get<tw::Ping>().getN();
        if (!dedup_ || state_->applied.insert(op).second) ++state_->count;
        ctx.reply(rpc::OutgoingMessage::make<tw::Pong>([&](tw::Pong::Builder b) { b.setN(state_->count); }));
    }

private:
    std::shared_ptr<CounterState> state_;
    bool dedup_;
};

struct ClientState {
    std::uint64_t next_op = 1;
    std::uint64_t attempts = 0;
    bool done = false;
};

/// Performs `ops` increments one after another, retrying an op until it is acknowledged.
class Client : public RpcEndpoint {
public:
    Client(RpcEndpointRef counter, std::uint64_t ops, std::shared_ptr<ClientState> state)
        : counter_(std::move(counter)), ops_(ops), state_(std::move(state)) {}
    void on_start() override { attempt(); }

private:
    void attempt() {
        if (state_->next_op > ops_) {
            state_->done = true;
            return;
        }
        ++state_->attempts;
        counter_.ask(test::ping(state_->next_op), RpcTimeout{500ms, "test.timeout"},
                     [this](RpcResult<Message> r) {
                         if (r) ++state_->next_op;
                         attempt();  // the next op, or this one again
                     });
    }
    RpcEndpointRef counter_;
    std::uint64_t ops_;
    std::shared_ptr<ClientState> state_;
};

struct CounterRun {
    std::uint64_t count = 0;
    bool done = false;
    std::string trace;
    std::size_t lines = 0;
};

constexpr std::uint64_t kOps = 50;

/// The counter scenario's network: delays, slow frames, dropped frames (connection resets) and
/// random partitions.
sim::SimConfig counter_config(std::uint64_t seed) {
    sim::SimConfig cfg;
    cfg.seed = seed;
    cfg.latency_min = 100us;
    cfg.latency_max = 5ms;
    cfg.slow_probability = 0.003;
    cfg.latency_slow = 800ms;  // longer than the client's ask timeout
    cfg.drop_probability = 0.003;
    cfg.chaos.mean_interval = 1s;
    cfg.chaos.kill_weight = 0;  // the counter keeps its state in memory: kills are not this test
    cfg.chaos.partition_duration_min = 100ms;
    cfg.chaos.partition_duration_max = 2s;
    return cfg;
}

/// kOps increments from a client to a counter, on `sim`.
CounterRun counter_scenario(Simulation& sim, bool dedup) {
    auto counter = std::make_shared<CounterState>();
    auto client = std::make_shared<ClientState>();
    sim.create_env("server", "h-server", [&](rpc::RpcEnv& env) {
        REQUIRE(env.setup_endpoint("counter", std::make_unique<Counter>(counter, dedup)));
    });
    rpc::RpcEnvConfig cc;
    cc.name = "client";
    cc.client_mode = true;
    cc.conf.set("ember.rpc.io.connectionCreationTimeout", "1s");
    sim.create_env(cc, "h-client", [&](rpc::RpcEnv& env) {
        auto ref = env.endpoint_ref(rpc::RpcAddress{"h-server", 7077}, "counter");
        REQUIRE(env.setup_endpoint("client", std::make_unique<Client>(ref, kOps, client)));
    });
    bool finished = sim.run_until([&] { return client->done; }, 600s);
    return CounterRun{counter->count, finished, sim.trace_text(), sim.trace().size()};
}

CounterRun run_counter(std::uint64_t seed, bool dedup) {
    Simulation sim(counter_config(seed));
    return counter_scenario(sim, dedup);
}

struct ClusterRun {
    std::string trace;
    std::vector<std::string> outcomes;  // per ask: "ok e1 7" or "error e2 timeout"
};

/// A driver asks three executors (killed, restarted, cut off and clogged by chaos) every 20 ms
/// for 10 s.
ClusterRun run_cluster(std::uint64_t seed) {
    sim::SimConfig cfg;
    cfg.seed = seed;
    cfg.drop_probability = 0.01;
    cfg.chaos.mean_interval = 500ms;
    cfg.chaos.clog_weight = 1;
    // Asks still pending when the simulation is destroyed fail then: their outcomes outlive it.
    auto outcomes = std::make_shared<std::vector<std::string>>();
    Simulation sim(cfg);
    for (int i = 1; i <= 3; ++i) {
        sim.create_env(fmt::format("e{}", i), fmt::format("h{}", i),
                       [](rpc::RpcEnv& env) { REQUIRE(env.setup_endpoint("echo", std::make_unique<Echo>())); },
                       sim::SimEnvOptions{.faulty = true});
    }
    rpc::RpcEnvConfig dc;
    dc.name = "driver";
    dc.conf.set("ember.rpc.io.connectionCreationTimeout", "300ms");
    auto& driver = sim.create_env(dc, "hd");
    std::uint64_t n = 0;
    std::function<void()> tick = [&] {
        for (int i = 1; i <= 3; ++i) {
            auto name = fmt::format("e{}", i);
            driver.endpoint_ref(rpc::RpcAddress{fmt::format("h{}", i), 7077}, "echo")
                .ask(test::ping(++n), RpcTimeout{200ms, "t"}, [outcomes, name](RpcResult<Message> r) {
                    outcomes->push_back(r ? fmt::format("ok {} {}", name, r->get<tw::Pong>().getN())
                                             : fmt::format("error {} {}", name, r.error().message));
                });
        }
        sim.schedule(20ms, tick);
    };
    sim.schedule(0us, tick);
    sim.run_for(10s);
    return ClusterRun{sim.trace_text(), *outcomes};
}

}  // namespace

TEST_CASE("simulated envs run ordinary endpoints: send, ask and replies in virtual time", "[sim]") {
    Simulation sim(sim::SimConfig{.seed = 7});
    auto log = std::make_shared<RecordingEndpoint::Log>();
    sim.create_env("a", "host-a", [&](rpc::RpcEnv& env) {
        REQUIRE(env.setup_endpoint("echo", std::make_unique<Echo>()));
        REQUIRE(env.setup_endpoint("rec", std::make_unique<RecordingEndpoint>(log)));
    });
    auto& b = sim.create_env("b", "host-b");
    CHECK(b.address() == rpc::RpcAddress{"host-b", 7077});

    // A one-way send and an ask from env b (outside any endpoint) to endpoints of env a.
    b.endpoint_ref(rpc::RpcAddress{"host-a", 7077}, "rec").send(test::ping(5));
    std::optional<RpcResult<Message>> reply;
    b.endpoint_ref(rpc::RpcAddress{"host-a", 7077}, "echo")
        .ask(test::ping(42), [&](RpcResult<Message> r) { reply = std::move(r); });
    REQUIRE(sim.run_until([&] { return reply.has_value(); }, 10s));
    REQUIRE(reply->has_value());
    CHECK((*reply)->get<tw::Pong>().getN() == 42);
    CHECK(log->count_prefix("receive:Ping:5") == 1);
    // Connect, frames and the reply took simulated latency, and only that.
    CHECK(sim.now() > 0us);
    CHECK(sim.now() < 20ms);
    // A blocking ask from test code runs the simulation until its reply is there.
    auto before = sim.now();
    auto blocked = b.endpoint_ref(rpc::RpcAddress{"host-a", 7077}, "echo").ask_sync(test::ping(1));
    REQUIRE(blocked.has_value());
    CHECK(blocked->get<tw::Pong>().getN() == 1);
    CHECK(sim.now() > before);
}

namespace {

/// On a Ping, asks `target` with ask_sync from inside its handler and records what came back.
class BlockingAsker : public RpcEndpoint {
public:
    BlockingAsker(RpcEndpointRef target, std::shared_ptr<std::vector<std::string>> got)
        : target_(std::move(target)), got_(std::move(got)) {}
    void receive(const Message&) override {
        auto r = target_.ask_sync(test::ping(9));
        got_->push_back(r ? "reply" : fmt::format("{}: {}", rpc::to_string(r.error().code), r.error().message));
    }

private:
    RpcEndpointRef target_;
    std::shared_ptr<std::vector<std::string>> got_;
};

/// Two scheduled steps that each block in ask_sync (the second while the first waits: nested),
/// against an echo 300 ms of latency away. Returns the trace and what each step saw, in order.
std::pair<std::string, std::vector<std::string>> run_blocking_steps(std::uint64_t seed) {
    sim::SimConfig cfg;
    cfg.seed = seed;
    cfg.latency_min = 100ms;
    cfg.latency_max = 300ms;
    Simulation sim(cfg);
    std::vector<std::string> seen;
    sim.create_env("a", "host-a", [](rpc::RpcEnv& env) { REQUIRE(env.setup_endpoint("echo", std::make_unique<Echo>())); });
    auto& b = sim.create_env("b", "host-b");
    auto echo = b.endpoint_ref(rpc::RpcAddress{"host-a", 7077}, "echo");
    for (int i : {1, 2}) {
        sim.schedule(std::chrono::milliseconds(i), [&, i] {
            auto r = echo.ask_sync(test::ping(static_cast<std::uint64_t>(i)), RpcTimeout{10s, "t"});
            seen.push_back(fmt::format("step {} got {} at {} us", i, r ? r->get<tw::Pong>().getN() : 0,
                                       sim.now().count()));
        });
    }
    sim.run_for(30s);
    return {sim.trace_text(), seen};
}

}  // namespace

TEST_CASE("blocking calls outside handlers wait in virtual time; inside a handler they fail at once", "[sim]") {
    auto [trace, seen] = run_blocking_steps(3);
    REQUIRE(seen.size() == 2);
    // The second step started while the first was waiting (nested) and its reply came later
    // (one connection, frames in order), so it finished first: the inner wait returns first.
    CHECK(seen[0].rfind("step 2 got 2", 0) == 0);
    CHECK(seen[1].rfind("step 1 got 1", 0) == 0);
    auto [trace2, seen2] = run_blocking_steps(3);
    CHECK(trace == trace2);
    CHECK(seen == seen2);

    // A handler that blocks would wait for its own loop: refused, and the simulation goes on.
    Simulation sim(sim::SimConfig{.seed = 5});
    auto got = std::make_shared<std::vector<std::string>>();
    sim.create_env("a", "host-a", [](rpc::RpcEnv& env) { REQUIRE(env.setup_endpoint("echo", std::make_unique<Echo>())); });
    auto& b = sim.create_env("b", "host-b");
    REQUIRE(b.setup_endpoint("asker", std::make_unique<BlockingAsker>(b.endpoint_ref(rpc::RpcAddress{"host-a", 7077}, "echo"), got)));
    b.endpoint_ref(b.address(), "asker").send(test::ping(1));
    sim.run_for(1s);
    REQUIRE(got->size() == 1);
    CHECK_THAT(got->front(), Catch::StartsWith("aborted: ask_sync to "));
    CHECK(sim.can_block());  // outside handlers again
    CHECK(Simulation::current() == &sim);
    // A future that is not ready cannot be waited for on a condition variable here.
    auto future = b.endpoint_ref(rpc::RpcAddress{"host-a", 7077}, "echo").ask(test::ping(2));
    auto early = future.get();
    REQUIRE_FALSE(early.has_value());
    CHECK_THAT(early.error().message, Catch::Contains("simulation's thread"));
    REQUIRE(sim.run_until([&] { return future.ready(); }, 10s));
    CHECK(future.get().value().get<tw::Pong>().getN() == 2);
    // lookup by URI blocks too: it runs the simulation.
    auto ref = b.setup_endpoint_ref_by_uri("ember://echo@host-a:7077");
    REQUIRE(ref.has_value());
    CHECK(ref->ask_sync(test::ping(3)).value().get<tw::Pong>().getN() == 3);
}

TEST_CASE("frames keep their order on a connection and are reordered across connections", "[sim]") {
    sim::SimConfig cfg;
    cfg.seed = 21;
    cfg.latency_min = 10us;
    cfg.latency_max = 10ms;
    Simulation sim(cfg);
    auto got = std::make_shared<std::vector<std::string>>();
    sim.create_env("sink", "host-s", [&](rpc::RpcEnv& env) {
        REQUIRE(env.setup_endpoint("sink", std::make_unique<Sink>(got)));
    });
    auto sink_a = sim.create_env("a", "host-a").endpoint_ref(rpc::RpcAddress{"host-s", 7077}, "sink");
    auto sink_b = sim.create_env("b", "host-b").endpoint_ref(rpc::RpcAddress{"host-s", 7077}, "sink");
    std::vector<std::string> sent;
    for (std::uint64_t n = 1; n <= 100; ++n) {
        sink_a.send(test::ping(n, "a"));
        sink_b.send(test::ping(n, "b"));
        sent.push_back(fmt::format("a:{}", n));
        sent.push_back(fmt::format("b:{}", n));
        sim.run_for(200us);
    }
    sim.run_for(1s);
    REQUIRE(got->size() == 200);
    for (const char* from : {"a", "b"}) {  // each connection in order
        std::uint64_t last = 0;
        for (auto& g : *got) {
            if (g[0] != from[0]) continue;
            auto n = std::stoull(g.substr(2));
            CHECK(n == last + 1);
            last = n;
        }
    }
    CHECK(*got != sent);  // the two connections interleave as their latencies fall
}

TEST_CASE("an env shuts itself down from a handler; dedicated threads are not started", "[sim]") {
    Simulation sim(sim::SimConfig{.seed = 4});
    auto log_a = std::make_shared<RecordingEndpoint::Log>();
    auto log_b = std::make_shared<RecordingEndpoint::Log>();
    sim.create_env("a", "host-a", [&](rpc::RpcEnv& env) {
        REQUIRE(env.setup_endpoint("quitter", std::make_unique<Quitter>(log_a)));
        REQUIRE(env.setup_endpoint("rec", std::make_unique<RecordingEndpoint>(log_a), {.dedicated_thread = true}));
    });
    auto& b = sim.create_env("b", "host-b", [&](rpc::RpcEnv& env) {
        REQUIRE(env.setup_endpoint("rec", std::make_unique<RecordingEndpoint>(log_b)));
    });
    auto rec = b.endpoint_ref(rpc::RpcAddress{"host-a", 7077}, "rec");
    rec.send(test::ping(1));
    sim.run_for(100ms);
    CHECK(log_a->count_prefix("receive:Ping:1") == 1);  // the dedicated-thread endpoint, on the one thread

    b.endpoint_ref(rpc::RpcAddress{"host-a", 7077}, "quitter")
        .send(rpc::OutgoingMessage::make<tw::Boom>([](tw::Boom::Builder m) { m.setText("quit"); }));
    sim.run_for(100ms);
    CHECK(log_a->count_prefix("on_stop") == 2);            // both endpoints of a stopped
    CHECK(log_b->count_prefix("disconnected:host-a:7077") == 1);  // and b saw the connection close
    std::optional<RpcResult<Message>> r;
    rec.ask(test::ping(2), [&](RpcResult<Message> m) { r = std::move(m); });
    REQUIRE(sim.run_until([&] { return r.has_value(); }, 1s));
    REQUIRE_FALSE(r->has_value());
    CHECK_THAT(r->error().message, Catch::Contains("Connection refused"));
    CHECK_THAT(sim.trace_text(), Catch::Contains("closed by peer conn#"));
}

TEST_CASE("a clog holds frames without losing them or breaking the connection", "[sim]") {
    Simulation sim(sim::SimConfig{.seed = 8});
    auto got = std::make_shared<std::vector<std::string>>();
    auto log_b = std::make_shared<RecordingEndpoint::Log>();
    sim.create_env("a", "host-a", [&](rpc::RpcEnv& env) {
        REQUIRE(env.setup_endpoint("sink", std::make_unique<Sink>(got)));
        REQUIRE(env.setup_endpoint("echo", std::make_unique<Echo>()));
    });
    auto& b = sim.create_env("b", "host-b", [&](rpc::RpcEnv& env) {
        REQUIRE(env.setup_endpoint("rec", std::make_unique<RecordingEndpoint>(log_b)));
    });
    auto sink = b.endpoint_ref(rpc::RpcAddress{"host-a", 7077}, "sink");
    sink.send(test::ping(1, "b"));
    sim.run_for(100ms);
    REQUIRE(got->size() == 1);

    sim.clog("host-a", "host-b", 5s);
    for (std::uint64_t n = 2; n <= 4; ++n) sink.send(test::ping(n, "b"));
    std::optional<RpcResult<Message>> r;
    b.endpoint_ref(rpc::RpcAddress{"host-a", 7077}, "echo")
        .ask(test::ping(9), RpcTimeout{1s, "t"}, [&](RpcResult<Message> m) { r = std::move(m); });
    sim.run_for(4900ms);
    CHECK(got->size() == 1);  // held
    REQUIRE(r.has_value());
    REQUIRE_FALSE(r->has_value());
    CHECK(r->error().code == RpcErrc::timeout);
    sim.run_for(200ms);
    CHECK(*got == std::vector<std::string>{"b:1", "b:2", "b:3", "b:4"});  // none lost, in order
    CHECK(log_b->count_prefix("disconnected") == 0);
}

TEST_CASE("an ask times out on virtual time, without waiting on the wall clock", "[sim]") {
    Simulation sim(sim::SimConfig{.seed = 3});
    sim.create_env("a", "host-a", [](rpc::RpcEnv& env) {
        REQUIRE(env.setup_endpoint("silent", std::make_unique<Echo>(true)));
    });
    auto& b = sim.create_env("b", "host-b");
    std::optional<RpcResult<Message>> reply;
    auto wall = std::chrono::steady_clock::now();
    b.endpoint_ref(rpc::RpcAddress{"host-a", 7077}, "silent")
        .ask(test::ping(1), RpcTimeout{30s, "ember.rpc.askTimeout"},
             [&](RpcResult<Message> r) { reply = std::move(r); });
    sim.run_for(29s);
    CHECK_FALSE(reply.has_value());
    REQUIRE(sim.run_until([&] { return reply.has_value(); }, 2s));
    REQUIRE_FALSE(reply->has_value());
    CHECK(reply->error().code == RpcErrc::timeout);
    CHECK_THAT(reply->error().message,
               Catch::Contains("host-a:7077") && Catch::Contains("30 seconds") &&
                   Catch::Contains("ember.rpc.askTimeout"));
    CHECK(sim.now() >= 30s);
    CHECK(sim.now() < 31s);
    CHECK(std::chrono::steady_clock::now() - wall < 5s);  // 30 s of virtual time, far less of real
    CHECK_THAT(sim.trace_text(), Catch::Contains("timer b #1"));
}

/// Replies Pong(n) to an even Ping(n) and never to an odd one.
class Halves : public RpcEndpoint {
public:
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
        auto n = msg.get<tw::Ping>().getN();
        if (n % 2 != 0) {
            held_.push_back(ctx);
            return;
        }
        ctx.reply(rpc::OutgoingMessage::make<tw::Pong>([&](tw::Pong::Builder b) { b.setN(n); }));
    }

private:
    std::vector<RpcCallContext> held_;
};

/// Every 10 s of virtual time (schedule_every) asks Ping(n) of `target` as a future with a 25 s
/// timeout; after 6 ticks cancels its timer. A schedule_once at 15 s notes itself. Every event
/// goes to `log` and to the trace with its virtual time in us.
class Ticker : public RpcEndpoint {
public:
    Ticker(Simulation& sim, RpcEndpointRef target, std::shared_ptr<std::vector<std::string>> log)
        : sim_(sim), target_(std::move(target)), log_(std::move(log)) {}
    void on_start() override {
        every_ = schedule_every(10s, [this] { tick(); });
        schedule_once(15s, [this] { record("once"); });
    }

private:
    void record(const std::string& what) {
        auto line = fmt::format("{} at {}", what, sim_.now().count());
        sim_.note(line);
        log_->push_back(line);
    }
    void tick() {
        int n = ++ticks_;
        record(fmt::format("tick {}", n));
        if (n == 6) {
            every_.cancel();
            return;
        }
        target_.ask(test::ping(n), RpcTimeout{25s, "ember.rpc.askTimeout"}).then([this, n](RpcResult<Message> r) {
            if (r) {
                record(fmt::format("pong {}", r->get<tw::Pong>().getN()));
            } else {
                record(fmt::format("ask {} failed: {}", n, rpc::to_string(r.error().code)));
            }
        });
    }

    Simulation& sim_;
    RpcEndpointRef target_;
    std::shared_ptr<std::vector<std::string>> log_;
    rpc::TimerHandle every_;
    int ticks_ = 0;
};

struct TickerRun {
    std::vector<std::string> log;
    std::string trace;
    std::chrono::microseconds end{0};
};

TickerRun run_ticker(std::uint64_t seed) {
    Simulation sim(sim::SimConfig{.seed = seed});
    auto log = std::make_shared<std::vector<std::string>>();
    sim.create_env("b", "host-b", [](rpc::RpcEnv& env) {
        REQUIRE(env.setup_endpoint("halves", std::make_unique<Halves>()));
    });
    sim.create_env("a", "host-a", [&](rpc::RpcEnv& env) {
        auto target = env.endpoint_ref(rpc::RpcAddress{"host-b", 7077}, "halves");
        REQUIRE(env.setup_endpoint("ticker", std::make_unique<Ticker>(sim, target, log)));
    });
    // 5 asks answered or timed out, 6 ticks and the one-shot.
    REQUIRE(sim.run_until([&] { return log->size() == 12; }, 2min));
    sim.run_for(1min);  // nothing more: the periodic timer was cancelled, the asks are all done
    return TickerRun{*log, sim.trace_text(), sim.now()};
}

TEST_CASE("endpoint timers and ask futures' timeouts fire on virtual time, replayed exactly", "[sim]") {
    auto wall = std::chrono::steady_clock::now();
    auto a = run_ticker(11);
    auto b = run_ticker(11);
    CHECK(std::chrono::steady_clock::now() - wall < 10s);  // 2 x 135 s of virtual time
    if (std::getenv("EMBER_SIM_TRACE")) fmt::print("ticker, seed 11:\n{}", a.trace);
    CHECK(a.trace == b.trace);
    CHECK(a.log == b.log);
    REQUIRE(a.log.size() == 12);

    // The independent expectation: ticks every 10 s exactly (the env starts at 0), the one-shot
    // at 15 s, odd asks failing exactly 25 s after their tick, even ones answered within the
    // simulated latencies of a connect and two frames (each at most 1 ms).
    auto at = [&](const std::string& what) -> std::int64_t {
        for (auto& l : a.log) {
            if (l.rfind(what + " at ", 0) == 0) return std::stoll(l.substr(what.size() + 4));
        }
        FAIL("no \"" << what << "\" in the log");
        return -1;
    };
    constexpr std::int64_t s = 1'000'000;
    for (int n = 1; n <= 6; ++n) CHECK(at(fmt::format("tick {}", n)) == n * 10 * s);
    CHECK(at("once") == 15 * s);
    for (int n : {1, 3, 5}) CHECK(at(fmt::format("ask {} failed: timeout", n)) == (n * 10 + 25) * s);
    for (int n : {2, 4}) {
        auto reply = at(fmt::format("pong {}", n));
        CHECK(reply > n * 10 * s);
        CHECK(reply < n * 10 * s + 5'000);
    }
    // In time order: the one-shot between ticks 1 and 2, ask 1's timeout between ticks 3 and 4.
    auto pos = [&](const std::string& prefix) {
        return std::find_if(a.log.begin(), a.log.end(), [&](auto& l) { return l.rfind(prefix, 0) == 0; }) - a.log.begin();
    };
    CHECK(pos("tick 1") < pos("once"));
    CHECK(pos("once") < pos("tick 2"));
    CHECK(pos("tick 3") < pos("ask 1 failed"));
    CHECK(pos("ask 1 failed") < pos("tick 4"));
    CHECK(a.end == 75s + 1min);  // run_until stopped at ask 5's timeout, run_for added a minute
    // The env's timer service fired on the simulation's timer events.
    CHECK_THAT(a.trace, Catch::Contains("timer a #1"));
}

TEST_CASE("a partition disconnects both sides, connects time out meanwhile, and it heals", "[sim]") {
    Simulation sim(sim::SimConfig{.seed = 11});
    auto log_a = std::make_shared<RecordingEndpoint::Log>();
    sim.create_env("a", "host-a", [&](rpc::RpcEnv& env) {
        REQUIRE(env.setup_endpoint("echo", std::make_unique<Echo>()));
        REQUIRE(env.setup_endpoint("rec", std::make_unique<RecordingEndpoint>(log_a)));
    });
    rpc::RpcEnvConfig bc;
    bc.name = "b";
    bc.conf.set("ember.rpc.io.connectionCreationTimeout", "2s");
    auto& b = sim.create_env(bc, "host-b");
    auto echo = b.endpoint_ref(rpc::RpcAddress{"host-a", 7077}, "echo");
    auto ask = [&](std::uint64_t n) {
        auto r = std::make_shared<std::optional<RpcResult<Message>>>();
        echo.ask(test::ping(n), RpcTimeout{10s, "t"}, [r](RpcResult<Message> m) { *r = std::move(m); });
        return r;
    };

    auto first = ask(1);
    REQUIRE(sim.run_until([&] { return first->has_value(); }, 1s));
    REQUIRE(first->value().has_value());
    CHECK(log_a->count_prefix("connected:host-b:7077") == 1);  // b's connection, seen by a

    sim.partition("host-a", "host-b");
    sim.run_for(1s);
    CHECK(log_a->count_prefix("disconnected:host-b:7077") == 1);
    auto during = ask(2);
    REQUIRE(sim.run_until([&] { return during->has_value(); }, 5s));
    REQUIRE_FALSE(during->value().has_value());
    CHECK(during->value().error().code == RpcErrc::connection_failed);
    CHECK_THAT(during->value().error().message, Catch::Contains("timed out (2000 ms)"));

    sim.heal("host-a", "host-b");
    auto after = ask(3);
    REQUIRE(sim.run_until([&] { return after->has_value(); }, 1s));
    REQUIRE(after->value().has_value());
    CHECK(after->value()->get<tw::Pong>().getN() == 3);
    CHECK(log_a->count_prefix("connected:host-b:7077") == 2);
}

TEST_CASE("a killed env drops off the network and restarts as a new incarnation", "[sim]") {
    Simulation sim(sim::SimConfig{.seed = 5});
    auto log = std::make_shared<RecordingEndpoint::Log>();
    int boots = 0;
    sim.create_env("server", "host-s", [&](rpc::RpcEnv& env) {
        ++boots;
        REQUIRE(env.setup_endpoint("echo", std::make_unique<Echo>()));
    });
    sim.create_env("watcher", "host-w", [&](rpc::RpcEnv& env) {
        REQUIRE(env.setup_endpoint("rec", std::make_unique<RecordingEndpoint>(log)));
    });
    auto echo = sim.env("watcher")->endpoint_ref(rpc::RpcAddress{"host-s", 7077}, "echo");
    std::optional<RpcResult<Message>> r1;
    echo.ask(test::ping(1), [&](RpcResult<Message> m) { r1 = std::move(m); });
    REQUIRE(sim.run_until([&] { return r1.has_value(); }, 1s));
    REQUIRE(r1->has_value());

    sim.kill("server");
    CHECK(sim.env("server") == nullptr);
    sim.run_for(100ms);
    CHECK(log->count_prefix("disconnected:host-s:7077") == 1);
    std::optional<RpcResult<Message>> r2;
    echo.ask(test::ping(2), [&](RpcResult<Message> m) { r2 = std::move(m); });
    REQUIRE(sim.run_until([&] { return r2.has_value(); }, 1s));
    REQUIRE_FALSE(r2->has_value());
    CHECK_THAT(r2->error().message, Catch::Contains("Connection refused"));

    sim.restart("server");
    CHECK(boots == 2);
    REQUIRE(sim.env("server") != nullptr);
    std::optional<RpcResult<Message>> r3;
    echo.ask(test::ping(3), [&](RpcResult<Message> m) { r3 = std::move(m); });
    REQUIRE(sim.run_until([&] { return r3.has_value(); }, 1s));
    REQUIRE(r3->has_value());
    CHECK((*r3)->get<tw::Pong>().getN() == 3);
    CHECK_THAT(sim.trace_text(), Catch::Contains("kill server") &&
                                     Catch::Contains("start server at host-s:7077 (incarnation 2)"));
}

TEST_CASE("the same seed gives the same run, event for event; another seed another run", "[sim]") {
    auto a = run_counter(42, true);
    auto b = run_counter(42, true);
    auto c = run_counter(43, true);
    REQUIRE(a.done);
    CHECK(a.count == kOps);
    CHECK(a.lines > 4 * kOps);  // a real run, not an empty one
    if (std::getenv("EMBER_SIM_TRACE")) fmt::print("seed 42:\n{}", a.trace);  // to read one run
    CHECK(a.trace == b.trace);
    CHECK(a.trace != c.trace);
    // Faults happened: frames dropped or connections cut, and asks retried.
    CHECK_THAT(a.trace + c.trace, Catch::Contains("reset conn#"));
}

TEST_CASE("kills, restarts and partitions drawn from the seed replay exactly", "[sim]") {
    auto a = run_cluster(9);
    auto b = run_cluster(9);
    auto c = run_cluster(10);
    CHECK(a.trace == b.trace);
    CHECK(a.outcomes == b.outcomes);
    CHECK(a.trace != c.trace);
    CHECK(a.outcomes.size() > 1000);
    CHECK_THAT(a.trace, Catch::Contains(" kill e") && Catch::Contains("(incarnation 2)") &&
                            Catch::Contains(" partition h") && Catch::Contains(" heal h") &&
                            Catch::Contains(" clog h"));
    auto ok = std::count_if(a.outcomes.begin(), a.outcomes.end(), [](auto& o) { return o.rfind("ok", 0) == 0; });
    CHECK(ok > 0);
    CHECK(static_cast<std::size_t>(ok) < a.outcomes.size());  // the faults cost some asks
}

TEST_CASE("a seed sweep finds a planted at-least-once bug and replays the failing seed exactly", "[sim]") {
    constexpr std::uint64_t kSeeds = 100;
    auto check = [](bool dedup) {
        return [dedup](Simulation& sim) -> std::string {
            auto run = counter_scenario(sim, dedup);
            if (!run.done) return "the client did not finish";
            if (run.count != kOps) return fmt::format("count {} after {} increments", run.count, kOps);
            return "";
        };
    };
    auto wall = std::chrono::steady_clock::now();
    auto failures = sim::sweep(counter_config(0), 1, kSeeds, check(false));
    auto per_minute = static_cast<double>(kSeeds) * 60.0 /
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
    WARN(fmt::format("{} of {} seeds found the missing dedup ({:.0f} seeds/minute)", failures.size(), kSeeds,
                     per_minute));
    REQUIRE_FALSE(failures.empty());
    REQUIRE(failures.size() < kSeeds);  // it takes an unlucky fault: the sweep is what finds it
    for (auto& f : failures) {
        REQUIRE_THAT(f.what, Catch::StartsWith("count ") && Catch::EndsWith(fmt::format(" after {} increments", kOps)));
        CHECK(std::stoull(f.what.substr(6)) > kOps);  // one or more increments applied twice
        CHECK(f.seed >= 1);
        CHECK(f.seed <= kSeeds);
    }

    // The first failing seed replays exactly: same failure, same trace as in the sweep.
    auto& first = failures.front();
    auto again = run_counter(first.seed, false);
    CHECK(fmt::format("count {} after {} increments", again.count, kOps) == first.what);
    CHECK(again.trace == first.trace);
    if (std::getenv("EMBER_SIM_TRACE")) fmt::print("seed {} ({}):\n{}", first.seed, first.what, first.trace);

    // The endpoint with the dedup passes every seed.
    auto fixed = sim::sweep(counter_config(0), 1, kSeeds, check(true));
    for (auto& f : fixed) FAIL_CHECK("seed " << f.seed << ": " << f.what);
    CHECK(fixed.empty());
}
