// SPDX-License-Identifier: Apache-2.0
// Endpoint timers (issue 13, part 1): schedule_once / schedule_every run on the endpoint's loop,
// in due order, serialised with its messages, cancellable, and never after on_stop; and the
// env-level TimerService driven by hand from a clock of the test's (as a simulator will).
#include "rpc/env_core.hpp"
#include "rpc/inbox.hpp"
#include "rpc/rpc_env.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/probe.hpp"
#include "rpc/timer_service.hpp"
#include "test/support/ping.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace ember;
using namespace ember::rpc;
using namespace std::chrono_literals;
using ember::test::ping;
using ember::test::wait_until;
using testkit::LocalEnvs;
namespace tw = ember::test::wire;
using Clock = std::chrono::steady_clock;

namespace {

/// What an endpoint's callbacks did, for the test thread.
struct Journal {
    std::mutex mu;
    std::vector<std::string> events;          // guarded by mu
    std::vector<Clock::time_point> ticks;     // guarded by mu
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    std::atomic<int> messages{0};
    std::atomic<int> timer_runs{0};
    void add(std::string e) {
        std::lock_guard lk(mu);
        events.push_back(std::move(e));
    }
    std::vector<std::string> snapshot() {
        std::lock_guard lk(mu);
        return events;
    }
    bool has(const std::string& e) {
        auto s = snapshot();
        return std::find(s.begin(), s.end(), e) != s.end();
    }
};

/// An endpoint whose on_start is a function of the test's.
class Scripted final : public RpcEndpoint {
public:
    Scripted(Journal& j, std::function<void(Scripted&)> start) : j_(j), start_(std::move(start)) {}
    void on_start() override { start_(*this); }
    void receive(const Message& msg) override {
        if (msg.is<tw::Ping>()) {
            enter();
            ++j_.messages;
            leave();
            return;
        }
        RpcEndpoint::receive(msg);
    }
    void on_error(std::exception_ptr e) override { j_.add("on_error: " + describe(e)); }
    void on_stop() override {
        j_.add("on_stop");
        after_stop_ = schedule_once(0ms, [this] { j_.add("scheduled in on_stop"); });
    }
    /// Marks a callback's start and end; counts overlaps (there must be none).
    void enter() {
        if (j_.inside.fetch_add(1) != 0) ++j_.overlaps;
        // A little work, so that a callback running off the loop would overlap one on it.
        auto until = Clock::now() + 50us;
        while (Clock::now() < until) {
        }
    }
    void leave() { j_.inside.fetch_sub(1); }

    Journal& j_;
    std::function<void(Scripted&)> start_;
    TimerHandle after_stop_;
};

}  // namespace

TEST_CASE("One-shot timers run in due order, equal due times in the order they were set", "[rpc][timer]") {
    bool dedicated = GENERATE(false, true);
    Journal j;
    LocalEnvs envs(1);
    envs[0]
        .setup_endpoint("t",
                        std::make_unique<Scripted>(j,
                                                   [&j](Scripted& ep) {
                                                       for (auto [ms, name] : std::vector<std::pair<int, std::string>>{
                                                                {60, "60"}, {20, "20"}, {30, "30a"}, {40, "40"},
                                                                {30, "30b"}, {0, "0"}}) {
                                                           ep.schedule_once(std::chrono::milliseconds(ms),
                                                                            [&j, name = name] { j.add(name); });
                                                       }
                                                   }),
                        {.dedicated_thread = dedicated})
        .value();
    REQUIRE(wait_until([&] { return j.snapshot().size() == 6; }, 5s));
    CHECK(j.snapshot() == std::vector<std::string>{"0", "20", "30a", "30b", "40", "60"});
}

TEST_CASE("A cancelled timer does not run; a timer may cancel others and itself", "[rpc][timer]") {
    Journal j;
    LocalEnvs envs(1);
    std::vector<TimerHandle> handles;  // written in on_start, read after it: happens-before via the sentinel
    envs[0]
        .setup_endpoint("t", std::make_unique<Scripted>(j, [&](Scripted& ep) {
                            auto never = ep.schedule_once(30ms, [&j] { j.add("cancelled at once"); });
                            bool was_active = never.active();
                            never.cancel();
                            never.cancel();  // idempotent
                            if (!was_active || never.active()) j.add("active() is wrong");
                            auto victim = ep.schedule_once(60ms, [&j] { j.add("cancelled by a timer"); });
                            ep.schedule_once(20ms, [&j, victim] {
                                j.add("canceller");
                                victim.cancel();
                            });
                            auto self = std::make_shared<TimerHandle>();
                            *self = ep.schedule_every(5ms, [&j, self] {
                                int n = ++j.timer_runs;
                                if (n == 3) self->cancel();
                            });
                            handles.push_back(*self);
                            ep.schedule_once(120ms, [&j] { j.add("sentinel"); });
                        }))
        .value();
    REQUIRE(wait_until([&] { return j.has("sentinel"); }, 5s));
    CHECK(j.snapshot() == std::vector<std::string>{"canceller", "sentinel"});
    CHECK(j.timer_runs == 3);
    CHECK_FALSE(handles.at(0).active());
}

TEST_CASE("A periodic timer runs at a fixed rate until cancelled; an exception does not end it", "[rpc][timer]") {
    Journal j;
    LocalEnvs envs(1);
    Clock::time_point start;
    const auto period = 20ms;
    envs[0]
        .setup_endpoint("t", std::make_unique<Scripted>(j, [&](Scripted& ep) {
                            start = Clock::now();
                            auto h = std::make_shared<TimerHandle>();
                            *h = ep.schedule_every(period, [&j, h] {
                                int n = ++j.timer_runs;
                                {
                                    std::lock_guard lk(j.mu);
                                    j.ticks.push_back(Clock::now());
                                }
                                if (n == 2) throw std::runtime_error("tick 2 failed");
                                if (n == 6) h->cancel();
                            });
                        }))
        .value();
    REQUIRE(wait_until([&] { return j.timer_runs == 6; }, 5s));
    // No seventh run: wait three periods past the sixth.
    std::this_thread::sleep_for(3 * period);
    CHECK(j.timer_runs == 6);
    std::lock_guard lk(j.mu);
    REQUIRE(j.ticks.size() == 6);
    for (std::size_t k = 0; k < j.ticks.size(); ++k) {
        // Never early: run k+1 is due at start + (k+1) * period.
        CHECK(j.ticks[k] >= start + (k + 1) * period);
    }
    CHECK(j.events == std::vector<std::string>{"on_error: tick 2 failed"});
}

TEST_CASE("No timer callback runs after on_stop; the stopped endpoint's timers are gone", "[rpc][timer]") {
    Journal j;
    Journal other;
    LocalEnvs envs(1);
    auto ref = envs[0]
                   .setup_endpoint("t", std::make_unique<Scripted>(j, [&](Scripted& ep) {
                                       ep.schedule_every(2ms, [&j] {
                                           if (j.has("on_stop")) j.add("periodic after on_stop");
                                           ++j.timer_runs;
                                       });
                                       ep.schedule_once(150ms, [&j] { j.add("one-shot after on_stop"); });
                                   }))
                   .value();
    auto& timers = envs[0].core().timers();
    REQUIRE(wait_until([&] { return j.timer_runs >= 5; }, 5s));
    CHECK(timers.size() == 2);
    envs[0].stop(ref);
    REQUIRE(wait_until([&] { return j.has("on_stop"); }, 5s));
    CHECK(timers.size() == 0);  // cancelled when it stopped, the one set in on_stop never set
    // Past the one-shot's due time, measured by a timer of another endpoint.
    envs[0]
        .setup_endpoint("sentinel", std::make_unique<Scripted>(other, [&other](Scripted& ep) {
                            ep.schedule_once(200ms, [&other] { other.add("sentinel"); });
                        }))
        .value();
    REQUIRE(wait_until([&] { return other.has("sentinel"); }, 5s));
    CHECK(j.snapshot() == std::vector<std::string>{"on_stop"});
}

TEST_CASE("Timer callbacks never run concurrently with the endpoint's messages", "[rpc][timer]") {
    Conf conf;
    conf.set("ember.rpc.io.threads", "2");  // a timer run off the endpoint's loop could overlap
    Journal j;
    LocalEnvs envs(2, conf);
    envs[0]
        .setup_endpoint("t", std::make_unique<Scripted>(j, [&j](Scripted& ep) {
                            for (int i = 0; i < 4; ++i) {
                                ep.schedule_every(std::chrono::microseconds(500 + 100 * i), [&j, &ep] {
                                    ep.enter();
                                    ++j.timer_runs;
                                    ep.leave();
                                });
                            }
                        }))
        .value();
    auto ref = envs[1].endpoint_ref(envs[0].address(), "t");
    auto local = envs[0].endpoint_ref(envs[0].address(), "t");
    // Bursts of messages, over TCP and local, until the timers ran 100 times among them and more
    // than 100 messages went (a slow build, ASan's, reached 100 timer runs in three bursts of 32);
    // after each burst the endpoint catches up, so that the timers' runs interleave with messages.
    int sent = 0;
    auto until = Clock::now() + 20s;
    while ((j.timer_runs < 100 || sent <= 100) && Clock::now() < until) {
        for (int i = 0; i < 16; ++i, sent += 2) {
            ref.send(ping(i));
            local.send(ping(i));
        }
        REQUIRE(wait_until([&] { return j.messages == sent; }, 10s));
    }
    CHECK(j.timer_runs >= 100);
    CHECK(j.messages > 100);
    CHECK(j.overlaps == 0);
}

TEST_CASE("The TimerService can be driven by hand from a clock of its owner's", "[rpc][timer]") {
    Journal j;
    LocalEnvs envs(1);
    // An endpoint to queue timers to; the test then drives a manual service for it.
    std::shared_ptr<detail::Inbox> inbox;
    envs[0].setup_endpoint("t", std::make_unique<Scripted>(j, [](Scripted&) {})).value();
    REQUIRE(envs[0].post_task(envs[0].endpoint_ref(envs[0].address(), "t"), [&] {
        inbox = detail::Inbox::current()->shared_from_this();
        j.add("captured");
    }));
    REQUIRE(wait_until([&] { return j.has("captured"); }, 3s));

    Clock::time_point now{};  // simulated time, starting at the epoch
    auto service = detail::TimerService::manual([&] { return now; });
    service->schedule(inbox, now + 30ms, 0ms, [&j] { j.add("b"); });
    service->schedule(inbox, now + 10ms, 0ms, [&j] { j.add("a"); });
    service->schedule(inbox, now + 10ms, 25ms, [&j] { j.add("p"); });
    CHECK(service->next_due() == now + 10ms);
    CHECK(service->fire_due(now + 9ms) == 0);
    now += 10ms;
    CHECK(service->fire_due(now) == 2);
    REQUIRE(wait_until([&] { return j.snapshot().size() == 3; }, 3s));
    // Periodic: rescheduled from its due time when it ran, not from the (simulated) wall clock.
    CHECK(service->next_due() == now + 20ms);  // "b" at 30ms
    now += 100ms;  // late: "p" skips the periods it missed
    CHECK(service->fire_due(now) == 2);
    REQUIRE(wait_until([&] { return j.snapshot().size() == 5; }, 3s));
    CHECK(j.snapshot() == std::vector<std::string>{"captured", "a", "p", "b", "p"});
    CHECK(service->next_due() == Clock::time_point{} + 135ms);  // 10 + 5 * 25, the first due after 110
    service->shutdown();
    CHECK(service->size() == 0);
}

TEST_CASE("Ask deadlines share one timer of the service, set to the earliest pending deadline", "[rpc][timer]") {
    LocalEnvs envs(1);
    testkit::Probe server(envs[0], "server");
    auto& timers = envs[0].core().timers();
    auto before = timers.size();
    auto t0 = timers.now();
    auto answered = server.ref().ask(ping(1), RpcTimeout{10s, "ember.rpc.askTimeout"});
    CHECK(timers.size() == before + 1);
    REQUIRE(timers.next_due().has_value());
    CHECK(*timers.next_due() >= t0 + 10s);
    // An earlier deadline moves the one timer earlier; a later one leaves it.
    auto expiring = server.ref().ask(ping(2), RpcTimeout{100ms, "test.shortTimeout"});
    auto later = server.ref().ask(ping(3), RpcTimeout{400ms, "test.laterTimeout"});
    CHECK(timers.size() == before + 1);
    CHECK(*timers.next_due() >= t0 + 100ms);
    CHECK(*timers.next_due() < t0 + 400ms);
    server.expect_msg<tw::Ping>();
    server.reply<tw::Pong>([](auto) {});
    REQUIRE(answered.get().has_value());
    CHECK(timers.size() == before + 1);  // not moved when an ask completes
    REQUIRE(wait_until([&] { return expiring.ready(); }, 5s));
    auto expired_at = timers.now();
    auto r = expiring.get();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == RpcErrc::timeout);
    CHECK(expired_at >= t0 + 100ms);
    CHECK_THAT(r.error().message, Catch::EndsWith("in 100 milliseconds. This timeout is controlled by test.shortTimeout"));
    // The sweep re-armed the timer for the ask still pending, and only for it.
    CHECK(timers.size() == before + 1);
    REQUIRE(wait_until([&] { return later.ready(); }, 5s));  // a sweep that forgot it would hang here
    auto r2 = later.get();
    REQUIRE_FALSE(r2.has_value());
    CHECK(r2.error().code == RpcErrc::timeout);
    CHECK(timers.now() >= t0 + 400ms);
    CHECK_THAT(r2.error().message, Catch::EndsWith("in 400 milliseconds. This timeout is controlled by test.laterTimeout"));
    REQUIRE(wait_until([&] { return timers.size() == before; }, 3s));  // no ask left: no timer
}

TEST_CASE("Many asks with mixed deadlines each time out at their own deadline", "[rpc][timer]") {
    LocalEnvs envs(1);
    testkit::Probe server(envs[0], "server");  // never replies
    auto& timers = envs[0].core().timers();
    auto before = timers.size();
    auto t0 = timers.now();
    // Deadlines out of order: 250, 50, 150, 50, 300, 100 ms ...
    std::vector<int> ms{250, 50, 150, 50, 300, 100, 200, 50, 350, 100};
    std::mutex mu;
    std::vector<Clock::time_point> failed_at(ms.size());  // guarded by mu
    std::vector<RpcFuture<Message>> futures;
    for (std::size_t i = 0; i < ms.size(); ++i) {
        auto f = server.ref().ask(ping(static_cast<int>(i)), RpcTimeout{std::chrono::milliseconds(ms[i]), "test.mixed"});
        (void)f.then([&, i](RpcResult<Message>) {
            std::lock_guard lk(mu);
            failed_at[i] = timers.now();
        });
        futures.push_back(f);
    }
    CHECK(timers.size() == before + 1);
    for (std::size_t i = 0; i < ms.size(); ++i) {
        REQUIRE(wait_until([&] { return futures[i].ready(); }, 5s));
        auto r = futures[i].get();
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == RpcErrc::timeout);
        CHECK_THAT(r.error().message, Catch::Contains(fmt::format("in {} milliseconds", ms[i])));
    }
    REQUIRE(wait_until([&] {
        std::lock_guard lk(mu);
        return std::none_of(failed_at.begin(), failed_at.end(), [](auto t) { return t == Clock::time_point{}; });
    }, 3s));
    {
        std::lock_guard lk(mu);
        for (std::size_t i = 0; i < ms.size(); ++i) {
            INFO("ask " << i << " with a timeout of " << ms[i] << " ms");
            CHECK(failed_at[i] >= t0 + std::chrono::milliseconds(ms[i]));  // never early
        }
    }
    // The last deadline (350 ms) has passed, and not long ago: each sweep re-armed for the next.
    auto elapsed = timers.now() - t0;
    CHECK(elapsed >= 350ms);
    CHECK(elapsed < 3s);
    REQUIRE(wait_until([&] { return timers.size() == before; }, 3s));
}
