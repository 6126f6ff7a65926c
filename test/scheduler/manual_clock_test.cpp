// SPDX-License-Identifier: Apache-2.0
// The scheduler's injectable clock (issue: RpcEnv for endpoint authors, part 5: "the scheduler's
// timers go through the injectable clock (Spark's ManualClock)"): ManualClock and Timer on their
// own, then a real local-cluster driven by a ManualClock, where delay scheduling and heartbeat
// expiry follow the clock the test moves, not real time (Spark's TaskSetManagerSuite and
// HeartbeatReceiverSuite do the same with their ManualClock).
#include "scheduler/ember.hpp"
#include "scheduler/timer.hpp"
#include "scheduler/util/clock.hpp"
#include "test/support/placement.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>

using namespace ember;
using scheduler::TaskLocality;
using scheduler::util::ManualClock;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::SlowTriple;
using test::sorted;
using test::tripled;

namespace {

constexpr std::int64_t kStart = 1'700'000'000'000;  // ms since the epoch, as a real clock would read

struct Events : scheduler::SparkListener {
    std::mutex mu;
    std::map<std::string, std::string> executor_hosts;
    std::vector<scheduler::TaskInfo> starts;
    std::vector<scheduler::TaskInfo> ends;
    std::map<std::string, std::string> removed;  // executor -> reason
    std::map<std::string, int> heartbeats;       // executor -> metrics updates seen

    void on_executor_added(const scheduler::SparkListenerExecutorAdded& e) override {
        std::lock_guard lk(mu);
        executor_hosts[e.executor_id] = e.host;
    }
    void on_executor_removed(const scheduler::SparkListenerExecutorRemoved& e) override {
        std::lock_guard lk(mu);
        removed[e.executor_id] = e.reason;
    }
    void on_task_start(const scheduler::SparkListenerTaskStart& e) override {
        std::lock_guard lk(mu);
        starts.push_back(e.task_info);
    }
    void on_task_end(const scheduler::SparkListenerTaskEnd& e) override {
        std::lock_guard lk(mu);
        ends.push_back(e.task_info);
    }
    void on_executor_metrics_update(const scheduler::SparkListenerExecutorMetricsUpdate& e) override {
        std::lock_guard lk(mu);
        ++heartbeats[e.executor_id];
    }
    int heartbeats_of(const std::string& id) {
        std::lock_guard lk(mu);
        return heartbeats[id];
    }
    std::size_t started() {
        std::lock_guard lk(mu);
        return starts.size();
    }
};

/// Elements 0..n-1, each preferring executor `executor` (where it registered, as listeners heard).
Rdd<int> preferring(SparkContext& sc, Events& ev, int n, const std::string& executor) {
    std::string host;
    {
        std::lock_guard lk(ev.mu);
        host = ev.executor_hosts.at(executor);
    }
    return test::preferring(sc, host, executor, n);
}

}  // namespace

TEST_CASE("ManualClock moves only when told, never back, and wakes its waiters", "[scheduler][clock]") {
    ManualClock clock(kStart);
    CHECK(clock.get_time_millis() == kStart);
    CHECK(clock.monotonic_millis() == kStart);
    clock.advance(250);
    CHECK(clock.get_time_millis() == kStart + 250);
    clock.set_time(kStart + 1000);
    CHECK(clock.get_time_millis() == kStart + 1000);
    CHECK_THROWS_WITH(clock.advance(-1), "ManualClock::advance: negative duration -1 ms");
    CHECK_THROWS_WITH(clock.set_time(kStart), Catch::Contains("is before the clock's"));
    CHECK(clock.get_time_millis() == kStart + 1000);

    auto woke = std::async(std::launch::async, [&] { return clock.wait_till(kStart + 5000); });
    CHECK(woke.wait_for(50ms) == std::future_status::timeout);
    clock.advance(3000);
    CHECK(woke.wait_for(50ms) == std::future_status::timeout);
    clock.advance(3000);
    REQUIRE(woke.wait_for(10s) == std::future_status::ready);
    CHECK(woke.get() == kStart + 7000);
}

TEST_CASE("A Timer on a ManualClock fires when the clock passes each due time, in due order",
          "[scheduler][clock]") {
    auto clock = std::make_shared<ManualClock>(kStart);
    scheduler::Timer timer("manual-timer", clock);
    std::mutex mu;
    std::vector<std::string> fired;
    auto record = [&](std::string what) {
        return [&, what] {
            std::lock_guard lk(mu);
            fired.push_back(what);
        };
    };
    auto count = [&] {
        std::lock_guard lk(mu);
        return fired.size();
    };
    timer.schedule(3000ms, record("c"));
    timer.schedule(1000ms, record("a"));
    timer.schedule(1000ms, record("b"));  // same time: after "a", the order scheduled
    timer.schedule(-5ms, record("now"));  // a negative delay is due at once
    REQUIRE(ember::test::wait_until([&] { return count() == 1; }, 10s));
    std::this_thread::sleep_for(100ms);  // real time passes; nothing else is due
    CHECK(count() == 1);
    clock->advance(999);
    std::this_thread::sleep_for(50ms);
    CHECK(count() == 1);
    clock->advance(1);
    REQUIRE(ember::test::wait_until([&] { return count() == 3; }, 10s));
    clock->advance(5000);
    REQUIRE(ember::test::wait_until([&] { return count() == 4; }, 10s));
    {
        std::lock_guard lk(mu);
        CHECK(fired == std::vector<std::string>{"now", "a", "b", "c"});
    }
    // stop() drops what is pending: a later advance fires nothing.
    timer.schedule(10ms, record("dropped"));
    timer.stop();
    clock->advance(100);
    std::this_thread::sleep_for(50ms);
    CHECK(count() == 4);
}

TEST_CASE("SparkContext on a ManualClock: tasks keep to their preferred executor until the clock passes "
          "ember.locality.wait, however long they take in real time",
          "[scheduler][clock][locality]") {
    auto dir = ember::test::fresh_temp_dir("manual-locality");
    auto clock = std::make_shared<ManualClock>(kStart);
    auto ev = std::make_shared<Events>();
    Conf conf;
    conf.set("ember.master", "local-cluster[2,1,512]").set("ember.app.name", "manual-locality");
    conf.set("ember.local.dir", dir);
    conf.set("ember.locality.wait", "1s");
    conf.set("ember.scheduler.revive.interval", "100ms");
    SparkContext sc(conf, clock, {ev});

    // 4 tasks of 400 ms each on one core: 1.6 s of real time, more than the 1 s wait, but the
    // clock stands still, so none leaves executor 1.
    CHECK(sorted(preferring(sc, *ev, 4, "1").map(SlowTriple{400}).collect()) == tripled(4));
    {
        std::lock_guard lk(ev->mu);
        REQUIRE(ev->ends.size() == 4);
        for (auto& t : ev->ends) {
            INFO("task " << t.index << " on executor " << t.executor_id);
            CHECK(t.executor_id == "1");
            CHECK(t.locality == TaskLocality::process_local);
            CHECK(t.launch_time == kStart);  // the scheduler's times are the clock's
        }
    }

    // A second job: once its first task runs on executor 1, the clock passes the wait; the next
    // offer round (the revive timer, also on the clock) gives executor 0 work at NODE_LOCAL.
    auto job = std::async(std::launch::async, [&] { return preferring(sc, *ev, 4, "1").map(SlowTriple{1500}).collect(); });
    REQUIRE(ember::test::wait_until([&] { return ev->started() == 5; }, 20s));
    std::this_thread::sleep_for(300ms);  // real time alone moves nothing
    CHECK(ev->started() == 5);
    clock->advance(1001);
    REQUIRE(job.wait_for(60s) == std::future_status::ready);
    CHECK(sorted(job.get()) == tripled(4));
    {
        std::lock_guard lk(ev->mu);
        REQUIRE(ev->ends.size() == 8);
        int moved = 0;
        for (std::size_t i = 4; i < ev->ends.size(); ++i) {
            auto& t = ev->ends[i];
            INFO("task " << t.index << " on executor " << t.executor_id << " launched at +" << t.launch_time - kStart);
            if (t.executor_id == "0") {
                ++moved;
                CHECK(t.locality == TaskLocality::node_local);
                CHECK(t.launch_time == kStart + 1001);
            } else {
                CHECK(t.locality == TaskLocality::process_local);
            }
        }
        CHECK(moved >= 1);
    }
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("SparkContext on a ManualClock: a silent executor expires after ember.network.timeout of clock "
          "time, checked every ember.network.timeoutInterval, in seconds of real time",
          "[scheduler][clock][heartbeat]") {
    auto dir = ember::test::fresh_temp_dir("manual-heartbeat");
    auto clock = std::make_shared<ManualClock>(kStart);
    auto ev = std::make_shared<Events>();
    Conf conf;
    conf.set("ember.master", "local-cluster[2,1,512]").set("ember.app.name", "manual-heartbeat");
    conf.set("ember.local.dir", dir);
    conf.set("ember.executor.heartbeatInterval", "100ms");  // executors beat on real time
    // Spark's defaults: ember.network.timeout 120s, ember.network.timeoutInterval 60s.
    SparkContext sc(conf, clock, {ev});
    int stopped_pid = sc.executor_pid("0");
    REQUIRE(stopped_pid > 0);
    REQUIRE(::kill(stopped_pid, SIGSTOP) == 0);
    // A heartbeat executor 0 sent just before it stopped may still be on its way: once executor
    // 1 has beaten three more times, it has arrived, at the clock's start.
    int beats = ev->heartbeats_of("1");
    REQUIRE(ember::test::wait_until([&] { return ev->heartbeats_of("1") >= beats + 3; }, 20s));

    // 20 s of clock per step; between steps executor 1 beats twice (the first beat may have
    // been taken before the step), so its silence never exceeds one step.
    auto step = [&] {
        clock->advance(20'000);
        int seen = ev->heartbeats_of("1");
        REQUIRE(ember::test::wait_until([&] { return ev->heartbeats_of("1") >= seen + 2; }, 20s));
    };
    for (int i = 0; i < 8; ++i) step();  // +160 s: checks ran at +60 s and +120 s (silence 120 s is not over)
    {
        std::lock_guard lk(ev->mu);
        CHECK(ev->removed.empty());
    }
    step();  // +180 s: the third check finds 180 s of silence
    REQUIRE(ember::test::wait_until(
        [&] {
            std::lock_guard lk(ev->mu);
            return ev->removed.count("0") == 1;
        },
        20s));
    {
        std::lock_guard lk(ev->mu);
        CHECK(ev->removed["0"] == "Executor heartbeat timed out after 180000 ms");
        CHECK(ev->removed.count("1") == 0);
    }
    // The hung process is killed and replaced; the cluster runs the next job exactly.
    CHECK(ember::test::wait_until([&] { return ::kill(stopped_pid, 0) != 0; }, 10s));
    CHECK(ember::test::wait_until([&] { return sc.executor_pid("2") > 0; }, 20s));
    std::vector<int> xs(1000);
    std::iota(xs.begin(), xs.end(), 0);
    auto out = sc.parallelize(xs, 4).collect();
    CHECK(out == xs);
    sc.stop();
    fs::remove_all(dir);
}
