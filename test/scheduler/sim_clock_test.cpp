// SPDX-License-Identifier: Apache-2.0
// The scheduler's timers in a deterministic simulation (issue: RpcEnv for endpoint authors,
// part 5): a scheduler::Timer on a util::SimClock runs no thread; its callbacks are events of
// the ember::sim::Simulation at their exact virtual due times, interleaved with the network's
// events in seed order, so a run replays exactly.
#include "rpc/rpc_env.hpp"
#include "rpc/sim/simulation.hpp"
#include "scheduler/timer.hpp"
#include "scheduler/util/sim_clock.hpp"
#include "test/support/ping.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace ember;
using namespace std::chrono_literals;
using scheduler::Timer;
using scheduler::util::SimClock;
using sim::Simulation;
namespace tw = ember::test::wire;

namespace {

class Echo : public rpc::RpcEndpoint {
public:
    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override {
        auto n = msg.get<tw::Ping>().getN();
        ctx.reply(rpc::OutgoingMessage::make<tw::Pong>([&](tw::Pong::Builder b) { b.setN(n); }));
    }
};

struct Run {
    std::vector<std::string> log;
    std::string trace;
};

/// A timer with one-shots (two due at the same time), a periodic check that reschedules itself
/// from its callback, and asks sent from callbacks to an echo across the simulated network.
Run run_timers(std::uint64_t seed) {
    sim::SimConfig cfg;
    cfg.seed = seed;
    cfg.latency_min = 1ms;
    cfg.latency_max = 40ms;
    Simulation sim(cfg);
    auto log = std::make_shared<std::vector<std::string>>();
    auto clock = std::make_shared<SimClock>(sim);
    sim.create_env("a", "host-a", [](rpc::RpcEnv& env) { REQUIRE(env.setup_endpoint("echo", std::make_unique<Echo>())); });
    auto& b = sim.create_env("b", "host-b");
    auto echo = b.endpoint_ref(rpc::RpcAddress{"host-a", 7077}, "echo");
    const auto thread = std::this_thread::get_id();
    {
        Timer timer("sim-timer", clock);
        auto record = [&, log](std::string what) {
            CHECK(std::this_thread::get_id() == thread);  // the simulation's thread, no timer thread
            log->push_back(fmt::format("{} at {} ms", what, clock->monotonic_millis()));
            sim.note(what);
        };
        timer.schedule(50ms, [&] { record("once-50"); });
        timer.schedule(20ms, [&] { record("first-20"); });
        timer.schedule(20ms, [&] { record("second-20"); });
        std::function<void(int)> check = [&](int n) {
            record(fmt::format("check {} (now {})", n, timer.current_time()));
            echo.ask(test::ping(static_cast<std::uint64_t>(n)), [log, clock](rpc::RpcResult<rpc::Message> r) {
                log->push_back(fmt::format("pong {} at {} ms", r ? r->get<tw::Pong>().getN() : 0, clock->monotonic_millis()));
            });
            if (n < 5) timer.schedule(100ms, [&check, n] { check(n + 1); });
        };
        timer.schedule(100ms, [&check] { check(1); });
        timer.schedule(10s, [&] { record("after-stop"); });
        sim.run_for(2s);
        timer.stop();
        sim.run_for(20s);  // the 10 s callback was dropped by stop()
    }
    return Run{*log, sim.trace_text()};
}

}  // namespace

TEST_CASE("scheduler timers on a SimClock fire as simulation events at exact virtual times, replayed exactly",
          "[sim][clock]") {
    auto a = run_timers(21);
    // The independent expectation: each callback at its due millisecond; equal due times in the
    // order scheduled; the periodic check every 100 ms exactly; nothing after stop().
    std::vector<std::string> timers;
    for (auto& l : a.log) {
        if (l.rfind("pong", 0) != 0) timers.push_back(l);
    }
    CHECK(timers == std::vector<std::string>{
                        "first-20 at 20 ms", "second-20 at 20 ms", "once-50 at 50 ms", "check 1 (now 100) at 100 ms",
                        "check 2 (now 200) at 200 ms", "check 3 (now 300) at 300 ms", "check 4 (now 400) at 400 ms",
                        "check 5 (now 500) at 500 ms"});
    // Each ask's reply came back across the network between two checks (2-80 ms of latency
    // plus a connect for the first).
    for (int n = 1; n <= 5; ++n) {
        auto it = std::find_if(a.log.begin(), a.log.end(),
                               [&](auto& l) { return l.rfind(fmt::format("pong {} at ", n), 0) == 0; });
        REQUIRE(it != a.log.end());
        auto ms = std::stoll(it->substr(it->find(" at ") + 4));
        CHECK(ms > n * 100);
        CHECK(ms < n * 100 + 100);
    }
    auto again = run_timers(21);
    CHECK(a.trace == again.trace);
    CHECK(a.log == again.log);
    CHECK(run_timers(22).trace != a.trace);  // other latencies: another interleaving
}

TEST_CASE("a SimClock reads virtual time; waiting on it runs the simulation, but not inside a handler",
          "[sim][clock]") {
    Simulation sim(sim::SimConfig{.seed = 4});
    SimClock clock(sim);
    CHECK(clock.monotonic_millis() == 0);
    CHECK(clock.get_time_millis() == SimClock::kDefaultEpochMs);
    CHECK(clock.wait_till(5000) == 5000);
    CHECK(sim.now() == 5s);
    CHECK(clock.get_time_millis() == SimClock::kDefaultEpochMs + 5000);

    // Inside a handler a wait could not run the loop it is in: it throws, and the run goes on.
    struct Waiter : rpc::RpcEndpoint {
        SimClock* clock;
        std::string* what;
        void receive(const rpc::Message&) override {
            try {
                clock->wait_till(clock->monotonic_millis() + 1000);
            } catch (const std::logic_error& e) {
                *what = e.what();
            }
        }
    };
    std::string what;
    auto& env = sim.create_env("a", "host-a");
    auto w = std::make_unique<Waiter>();
    w->clock = &clock;
    w->what = &what;
    auto ref = env.setup_endpoint("waiter", std::move(w));
    REQUIRE(ref);
    ref->send(test::ping(1));
    sim.run_for(1s);
    CHECK_THAT(what, Catch::Contains("inside an env's handler"));
}
