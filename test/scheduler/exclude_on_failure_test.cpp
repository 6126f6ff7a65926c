// SPDX-License-Identifier: Apache-2.0
// excludeOnFailure with real executor processes (issue 11, part 5): a job whose function fails
// only on one executor (it reads its executor id from the TaskContext) succeeds with exclusion
// on, never retrying a task on that executor; the executor is then excluded for the
// application (SparkListenerExecutorExcluded), gets no task of the next job and is back after
// ember.excludeOnFailure.timeout; a job that fails everywhere is aborted with Spark's
// "cannot run anywhere due to node and executor excludeOnFailure"; killExcludedExecutors
// stops the excluded executor's process (and local-cluster replaces it); with exclusion off a
// failing job still ends with "failed 4 times". Results are compared with a plain computation.
#include "scheduler/ember.hpp"
#include "scheduler/cluster/coarse_grained_scheduler_backend.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <stdexcept>
#include <thread>

#include <unistd.h>

using namespace ember;
using scheduler::SparkListener;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

/// Throws on executor `bad` ("*": on every executor); elsewhere sleeps `ms` per record and
/// returns x + 1.
struct FailOn {
    std::string bad;
    int ms = 0;
    int operator()(int x) const {
        auto* tc = scheduler::TaskContext::get();
        const std::string& id = tc->services().executor_id;
        if (bad == "*" || id == bad) throw std::runtime_error("this executor is bad: " + id);
        if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return x + 1;
    }
    EMBER_SERDE(bad, ms)
};

struct Events : SparkListener {
    std::mutex mu;
    std::vector<scheduler::SparkListenerTaskStart> starts;
    std::vector<scheduler::SparkListenerTaskEnd> ends;
    std::vector<scheduler::SparkListenerExecutorExcluded> excluded;
    std::vector<scheduler::SparkListenerExecutorUnexcluded> unexcluded;
    std::vector<scheduler::SparkListenerExecutorExcludedForStage> excluded_for_stage;
    std::map<std::string, std::string> removed_reason;
    std::set<std::string> added;

    void on_task_start(const scheduler::SparkListenerTaskStart& e) override {
        std::lock_guard lk(mu);
        starts.push_back(e);
    }
    void on_task_end(const scheduler::SparkListenerTaskEnd& e) override {
        std::lock_guard lk(mu);
        ends.push_back(e);
    }
    void on_executor_excluded(const scheduler::SparkListenerExecutorExcluded& e) override {
        std::lock_guard lk(mu);
        excluded.push_back(e);
    }
    void on_executor_unexcluded(const scheduler::SparkListenerExecutorUnexcluded& e) override {
        std::lock_guard lk(mu);
        unexcluded.push_back(e);
    }
    void on_executor_excluded_for_stage(const scheduler::SparkListenerExecutorExcludedForStage& e) override {
        std::lock_guard lk(mu);
        excluded_for_stage.push_back(e);
    }
    void on_executor_added(const scheduler::SparkListenerExecutorAdded& e) override {
        std::lock_guard lk(mu);
        added.insert(e.executor_id);
    }
    void on_executor_removed(const scheduler::SparkListenerExecutorRemoved& e) override {
        std::lock_guard lk(mu);
        removed_reason[e.executor_id] = e.reason;
    }
    /// Executors that started a task of stage `stage`.
    std::set<std::string> executors_of_stage(int stage) {
        std::lock_guard lk(mu);
        std::set<std::string> out;
        for (auto& s : starts) {
            if (s.stage_id == stage) out.insert(s.task_info.executor_id);
        }
        return out;
    }
    int max_stage() {
        std::lock_guard lk(mu);
        int m = -1;
        for (auto& s : starts) m = std::max(m, s.stage_id);
        return m;
    }
};

Conf base_conf(const std::string& dir, bool exclude) {
    Conf conf;
    conf.set("ember.local.dir", dir);
    conf.set("ember.scheduler.revive.interval", "100ms");
    conf.set("ember.locality.wait", "0");
    if (exclude) conf.set("ember.excludeOnFailure.enabled", "true");
    return conf;
}

std::vector<int> numbers(int n) {
    std::vector<int> v(static_cast<std::size_t>(n));
    std::iota(v.begin(), v.end(), 0);
    return v;
}

std::vector<int> plus_one(std::vector<int> v) {
    for (auto& x : v) ++x;
    return v;
}

std::vector<int> sorted(std::vector<int> v) {
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace

TEST_CASE("One bad executor: the job succeeds, no task is retried there, the executor is excluded and back "
          "after the timeout",
          "[scheduler][exclude][cluster]") {
    auto dir = ember::test::fresh_temp_dir("exclude-one");
    auto ev = std::make_shared<Events>();
    auto conf = base_conf(dir, true);
    conf.set("ember.excludeOnFailure.timeout", "6s");
    SparkContext sc("local-cluster[3,1,1024]", "exclude-one", conf, {ev});
    auto xs = numbers(120);

    // Job 1: 12 tasks of 10 records; good tasks take 150 ms, so executor 0 (failing at once) is
    // offered another task before the others are done.
    auto out = sc.parallelize(xs, 12).map(FailOn{"0", 15}).collect();
    CHECK(sorted(out) == plus_one(xs));
    int stage1 = ev->max_stage();
    {
        std::lock_guard lk(ev->mu);
        std::map<std::pair<int, std::string>, int> failures;  // (index, executor) -> failed attempts
        int on_bad = 0;
        for (auto& e : ev->ends) {
            if (e.reason == "Success") {
                CHECK(e.task_info.executor_id != "0");
                continue;
            }
            CHECK_THAT(e.reason, Catch::Contains("this executor is bad: 0"));
            ++failures[{e.task_info.index, e.task_info.executor_id}];
            ++on_bad;
        }
        // Executor 0 failed two distinct tasks (then it was excluded for the stage), each once
        // (ember.excludeOnFailure.task.maxTaskAttemptsPerExecutor = 1).
        CHECK(on_bad == 2);
        for (auto& [key, n] : failures) {
            INFO("task " << key.first << " on executor " << key.second);
            CHECK(key.second == "0");
            CHECK(n == 1);
        }
        REQUIRE(ev->excluded_for_stage.size() == 1);
        CHECK(ev->excluded_for_stage[0].executor_id == "0");
        CHECK(ev->excluded_for_stage[0].task_failures == 2);
    }
    // The stage succeeded: executor 0 is excluded for the application (the event is posted
    // right after the last task's, so it may reach the listener just after the job's end).
    CHECK(ember::test::wait_until(
        [&] {
            std::lock_guard lk(ev->mu);
            return !ev->excluded.empty();
        },
        5s));
    {
        std::lock_guard lk(ev->mu);
        REQUIRE(ev->excluded.size() == 1);
        CHECK(ev->excluded[0].executor_id == "0");
        CHECK(ev->excluded[0].task_failures == 2);
    }
    auto excluded_at = std::chrono::steady_clock::now();

    // Job 2, at once: no task reaches executor 0 although its core is free.
    out = sc.parallelize(xs, 9).map(FailOn{"", 10}).collect();
    CHECK(sorted(out) == plus_one(xs));
    int stage2 = ev->max_stage();
    CHECK(stage2 > stage1);
    auto used = ev->executors_of_stage(stage2);
    CHECK(used.count("0") == 0);
    CHECK(used.size() == 2);

    // After the timeout executor 0 is unexcluded and runs tasks again.
    std::this_thread::sleep_until(excluded_at + 6500ms);
    out = sc.parallelize(xs, 9).map(FailOn{"", 10}).collect();
    CHECK(sorted(out) == plus_one(xs));
    CHECK(ev->executors_of_stage(ev->max_stage()).count("0") == 1);
    {
        std::lock_guard lk(ev->mu);
        REQUIRE(ev->unexcluded.size() == 1);
        CHECK(ev->unexcluded[0].executor_id == "0");
    }
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("A task that fails on every executor aborts the stage: cannot run anywhere due to excludeOnFailure",
          "[scheduler][exclude][cluster]") {
    auto dir = ember::test::fresh_temp_dir("exclude-all");
    auto conf = base_conf(dir, true);
    conf.set("ember.scheduler.excludeOnFailure.unschedulableTaskSetTimeout", "1s");
    SparkContext sc("local-cluster[3,1,1024]", "exclude-all", conf);
    auto t0 = std::chrono::steady_clock::now();
    try {
        sc.parallelize(numbers(30), 3).map(FailOn{"*", 0}).collect();
        FAIL("the job succeeded");
    } catch (const SparkException& e) {
        std::string what = e.what();
        INFO(what);
        CHECK_THAT(what, Catch::Contains("Aborting TaskSet 0.0 because task "));
        CHECK_THAT(what, Catch::Contains("cannot run anywhere due to node and executor excludeOnFailure. "
                                         "Most recent failure: "));
        CHECK_THAT(what, Catch::Contains("this executor is bad"));
        CHECK_THAT(what, !Catch::Contains("failed 4 times"));
    }
    CHECK(std::chrono::steady_clock::now() - t0 < 30s);
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("With excludeOnFailure off a task failing everywhere still fails the job after 4 attempts",
          "[scheduler][exclude][cluster]") {
    auto dir = ember::test::fresh_temp_dir("exclude-off");
    SparkContext sc("local-cluster[2,1,1024]", "exclude-off", base_conf(dir, false));
    try {
        sc.parallelize(numbers(4), 2).map(FailOn{"*", 0}).collect();
        FAIL("the job succeeded");
    } catch (const SparkException& e) {
        std::string what = e.what();
        INFO(what);
        CHECK_THAT(what, Catch::Contains("failed 4 times, most recent failure: Lost task"));
        CHECK_THAT(what, !Catch::Contains("excludeOnFailure"));
    }
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("A single bad executor: off, the job fails on it; on, its idle executor is replaced and the job succeeds",
          "[scheduler][exclude][cluster]") {
    auto xs = numbers(20);
    {
        auto dir = ember::test::fresh_temp_dir("exclude-single-off");
        SparkContext sc("local-cluster[1,1,1024]", "exclude-single-off", base_conf(dir, false));
        CHECK_THROWS_WITH(sc.parallelize(xs, 2).map(FailOn{"0", 0}).collect(), Catch::Contains("failed 4 times"));
        sc.stop();
        fs::remove_all(dir);
    }
    auto dir = ember::test::fresh_temp_dir("exclude-single-on");
    auto ev = std::make_shared<Events>();
    SparkContext sc("local-cluster[1,1,1024]", "exclude-single-on", base_conf(dir, true), {ev});
    int pid0 = sc.executor_pid("0");
    REQUIRE(pid0 > 0);
    // Task 0 fails on executor 0, which is then excluded for it and idle: it is killed (Spark's
    // killExcludedIdleExecutor), local-cluster starts executor 1, and the task runs there. One
    // task only: with a second one running on the one-core executor, a revive in that moment
    // finds no idle executor to kill and aborts at once, as Spark's resourceOffers does.
    auto out = sc.parallelize(xs, 1).map(FailOn{"0", 0}).collect();
    CHECK(sorted(out) == plus_one(xs));
    CHECK(ember::test::wait_until([&] { return ::kill(pid0, 0) != 0; }, 10s));
    {
        std::lock_guard lk(ev->mu);
        CHECK(ev->removed_reason["0"] == scheduler::CoarseGrainedSchedulerBackend::kKilledByDriver);
        CHECK(ev->added.count("1") == 1);
    }
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("killExcludedExecutors stops the process of an executor excluded for the application",
          "[scheduler][exclude][cluster]") {
    auto dir = ember::test::fresh_temp_dir("exclude-kill");
    auto ev = std::make_shared<Events>();
    auto conf = base_conf(dir, true);
    conf.set("ember.excludeOnFailure.killExcludedExecutors", "true");
    SparkContext sc("local-cluster[3,1,1024]", "exclude-kill", conf, {ev});
    int pid0 = sc.executor_pid("0");
    REQUIRE(pid0 > 0);
    auto xs = numbers(120);
    auto out = sc.parallelize(xs, 12).map(FailOn{"0", 15}).collect();
    CHECK(sorted(out) == plus_one(xs));
    CHECK(ember::test::wait_until(
        [&] {
            std::lock_guard lk(ev->mu);
            return !ev->excluded.empty();
        },
        5s));
    {
        std::lock_guard lk(ev->mu);
        REQUIRE(ev->excluded.size() == 1);
        CHECK(ev->excluded[0].executor_id == "0");
    }
    CHECK(ember::test::wait_until([&] { return ::kill(pid0, 0) != 0; }, 10s));
    CHECK(ember::test::wait_until(
        [&] {
            std::lock_guard lk(ev->mu);
            return ev->removed_reason.count("0") > 0;
        },
        10s));
    {
        std::lock_guard lk(ev->mu);
        CHECK(ev->removed_reason["0"] == scheduler::CoarseGrainedSchedulerBackend::kKilledByDriver);
    }
    // local-cluster replaces it, and the next job runs on three executors again.
    CHECK(ember::test::wait_until([&] { return sc.executor_pids().size() == 3; }, 20s));
    out = sc.parallelize(xs, 6).map(FailOn{"", 0}).collect();
    CHECK(sorted(out) == plus_one(xs));
    sc.stop();
    fs::remove_all(dir);
}
