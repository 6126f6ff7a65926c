// SPDX-License-Identifier: Apache-2.0
// Task placement with real executor processes (issue: Spark's fault tolerance and scheduling
// semantics, "Placement" and "Listener bus"): preferred locations through narrow dependencies,
// locality levels and delay scheduling (ember.locality.wait*), speculation with the losing
// attempt killed, FIFO and FAIR pools, application start and end events. Results are compared
// with single-process computations.
#include "scheduler/ember.hpp"
#include "test/support/placement.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>

#include <unistd.h>

using namespace ember;
using scheduler::SparkListener;
using scheduler::TaskLocality;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::SlowTriple;
using test::sorted;
using test::tripled;

namespace {

/// What the scheduler tells listeners, for assertions.
struct Events : SparkListener {
    std::mutex mu;
    std::vector<std::string> order;  // event kinds in delivery order
    std::map<std::string, std::string> executor_hosts;
    std::vector<scheduler::SparkListenerJobStart> jobs;
    std::map<int, std::int64_t> job_end_ms;
    std::vector<scheduler::SparkListenerTaskStart> task_starts;
    std::vector<scheduler::SparkListenerTaskEnd> task_ends;
    std::vector<scheduler::SparkListenerSpeculativeTaskSubmitted> speculative;
    std::optional<scheduler::SparkListenerApplicationStart> app_start;
    int app_ends = 0;

    void on_application_start(const scheduler::SparkListenerApplicationStart& e) override {
        std::lock_guard lk(mu);
        app_start = e;
        order.push_back("app-start");
    }
    void on_application_end(const scheduler::SparkListenerApplicationEnd&) override {
        std::lock_guard lk(mu);
        ++app_ends;
        order.push_back("app-end");
    }
    void on_executor_added(const scheduler::SparkListenerExecutorAdded& e) override {
        std::lock_guard lk(mu);
        executor_hosts[e.executor_id] = e.host;
        order.push_back("executor-added");
    }
    void on_job_start(const scheduler::SparkListenerJobStart& e) override {
        std::lock_guard lk(mu);
        jobs.push_back(e);
        order.push_back("job-start");
    }
    void on_job_end(const scheduler::SparkListenerJobEnd& e) override {
        std::lock_guard lk(mu);
        job_end_ms[e.job_id] = e.time;
        order.push_back("job-end");
    }
    void on_task_start(const scheduler::SparkListenerTaskStart& e) override {
        std::lock_guard lk(mu);
        task_starts.push_back(e);
    }
    void on_task_end(const scheduler::SparkListenerTaskEnd& e) override {
        std::lock_guard lk(mu);
        task_ends.push_back(e);
    }
    void on_speculative_task_submitted(const scheduler::SparkListenerSpeculativeTaskSubmitted& e) override {
        std::lock_guard lk(mu);
        speculative.push_back(e);
    }

    /// Successful task ends of the stages of job `job_id`.
    std::vector<scheduler::TaskInfo> successful_tasks_of_job(int job_id) {
        std::lock_guard lk(mu);
        std::set<int> stages;
        for (auto& j : jobs) {
            if (j.job_id != job_id) continue;
            for (auto& s : j.stage_infos) stages.insert(s.stage_id);
        }
        std::vector<scheduler::TaskInfo> out;
        for (auto& t : task_ends) {
            if (stages.count(t.stage_id) && t.reason == "Success") out.push_back(t.task_info);
        }
        return out;
    }
    /// Launch times of the tasks of job `job_id`, in ms since the epoch.
    std::vector<std::int64_t> launches_of_job(int job_id) {
        std::lock_guard lk(mu);
        std::set<int> stages;
        for (auto& j : jobs) {
            if (j.job_id != job_id) continue;
            for (auto& s : j.stage_infos) stages.insert(s.stage_id);
        }
        std::vector<std::int64_t> out;
        for (auto& t : task_starts) {
            if (stages.count(t.stage_id)) out.push_back(t.task_info.launch_time);
        }
        return out;
    }
    int job_of_group(const std::string& group) {
        std::lock_guard lk(mu);
        for (auto& j : jobs) {
            if (j.job_group == group) return j.job_id;
        }
        return -1;
    }
};

/// The first attempt of partition `straggler` hangs (until killed); every other task takes `ms`.
struct Straggler {
    int straggler = 0;
    int ms = 0;
    int operator()(int x) const {
        auto* tc = scheduler::TaskContext::get();
        bool hang = tc->partition_id() == straggler && tc->attempt_number() == 0;
        auto until = std::chrono::steady_clock::now() + (hang ? std::chrono::milliseconds(60'000) : std::chrono::milliseconds(ms));
        while (std::chrono::steady_clock::now() < until) {
            tc->kill_if_interrupted();
            std::this_thread::sleep_for(2ms);
        }
        return x + 1;
    }
    EMBER_SERDE(straggler, ms)
};

struct KeyMod {
    std::pair<int, int> operator()(int x) const { return {x % 5, x}; }
    EMBER_SERDE()
};

struct Add {
    int operator()(int a, int b) const { return a + b; }
    EMBER_SERDE()
};

std::string temp_dir(const std::string& tag) { return ember::test::fresh_temp_dir("place-" + tag); }

Conf base_conf(const std::string& local_dir) {
    Conf conf;
    conf.set("ember.local.dir", local_dir);
    conf.set("ember.scheduler.revive.interval", "100ms");
    return conf;
}

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

TEST_CASE("Application start and end reach listeners given to the constructor, around the executors",
          "[scheduler][listener]") {
    auto dir = temp_dir("app");
    auto ev = std::make_shared<Events>();
    {
        SparkContext sc("local-cluster[2,1,512]", "placement-app", base_conf(dir), {ev});
        CHECK(sc.parallelize(std::vector<int>{1, 2, 3}, 2).count() == 3);
        std::string app_id = sc.app_id();
        sc.stop();
        std::lock_guard lk(ev->mu);
        REQUIRE(ev->app_start);
        CHECK(ev->app_start->app_name == "placement-app");
        CHECK(ev->app_start->app_id == app_id);
        CHECK(ev->app_ends == 1);
        // Start first, both executors seen (they registered during construction), end last of
        // the job events.
        REQUIRE(!ev->order.empty());
        CHECK(ev->order.front() == "app-start");
        CHECK(std::count(ev->order.begin(), ev->order.end(), "executor-added") == 2);
        auto end = std::find(ev->order.begin(), ev->order.end(), "app-end");
        auto job_end = std::find(ev->order.begin(), ev->order.end(), "job-end");
        CHECK(job_end < end);
    }
    fs::remove_all(dir);
}

TEST_CASE("Tasks wait for their preferred executor within ember.locality.wait, through narrow dependencies",
          "[scheduler][locality]") {
    auto dir = temp_dir("wait");
    auto ev = std::make_shared<Events>();
    auto conf = base_conf(dir);
    conf.set("ember.locality.wait", "30s");
    SparkContext sc("local-cluster[2,1,512]", "placement-wait", conf, {ev});
    // The result stage reads make_rdd through map(): the preference is found on the parent.
    auto out = preferring(sc, *ev, 4, "1").map(SlowTriple{150}).collect();
    CHECK(sorted(out) == tripled(4));
    auto tasks = ev->successful_tasks_of_job(0);
    REQUIRE(tasks.size() == 4);
    for (auto& t : tasks) {
        INFO("task " << t.index << " on executor " << t.executor_id << " at " << to_string(t.locality));
        CHECK(t.executor_id == "1");
        CHECK(t.locality == TaskLocality::process_local);
    }
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("With ember.locality.wait=0 tasks run at once wherever a core is free", "[scheduler][locality]") {
    auto dir = temp_dir("nowait");
    auto ev = std::make_shared<Events>();
    auto conf = base_conf(dir);
    conf.set("ember.locality.wait", "0");
    SparkContext sc("local-cluster[2,1,512]", "placement-nowait", conf, {ev});
    auto out = preferring(sc, *ev, 6, "1").map(SlowTriple{150}).collect();
    CHECK(sorted(out) == tripled(6));
    auto tasks = ev->successful_tasks_of_job(0);
    REQUIRE(tasks.size() == 6);
    int on_other = 0;
    for (auto& t : tasks) {
        INFO("task " << t.index << " on executor " << t.executor_id << " at " << to_string(t.locality));
        if (t.executor_id == "1") {
            CHECK(t.locality == TaskLocality::process_local);
        } else {
            // Same host as executor 1 (local-cluster): NODE_LOCAL.
            CHECK(t.locality == TaskLocality::node_local);
            ++on_other;
        }
    }
    CHECK(on_other >= 1);
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("A lone task goes to the executor that finished the last task; wider stages still spread",
          "[scheduler][locality]") {
    auto dir = temp_dir("warm");
    auto ev = std::make_shared<Events>();
    SparkContext sc("local-cluster[2,2,512]", "placement-warm", base_conf(dir), {ev});
    auto one = sc.parallelize(std::vector<int>{7}, 1);
    constexpr int kJobs = 16;
    for (int i = 0; i < kJobs; ++i) CHECK(one.count() == 1);
    // Then two slow tasks on two executors of two free cores each: one round of offers gives
    // each executor one task, so the warm executor does not take both.
    auto wide = sc.parallelize(std::vector<int>{1, 2}, 2).map(SlowTriple{150}).collect();
    CHECK(sorted(wide) == std::vector<int>{3, 6});
    REQUIRE(test::wait_until([&] { return ev->successful_tasks_of_job(kJobs).size() == 2; }));
    std::vector<std::string> ran_on;
    for (int job = 0; job < kJobs; ++job) {
        auto tasks = ev->successful_tasks_of_job(job);
        REQUIRE(tasks.size() == 1);
        ran_on.push_back(tasks[0].executor_id);
    }
    // Offers are shuffled, so without the rule each job would pick either executor: 15 repeats
    // in a row would happen by chance once in 32,768 runs.
    for (int job = 1; job < kJobs; ++job) {
        INFO("job " << job << " ran on executor " << ran_on[static_cast<std::size_t>(job)] << ", job " << job - 1
                    << " on " << ran_on[static_cast<std::size_t>(job) - 1]);
        CHECK(ran_on[static_cast<std::size_t>(job)] == ran_on[static_cast<std::size_t>(job) - 1]);
    }
    std::set<std::string> wide_on;
    for (auto& t : ev->successful_tasks_of_job(kJobs)) wide_on.insert(t.executor_id);
    CHECK(wide_on.size() == 2);
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("When the process-local wait expires, tasks go node-local to the idle executor", "[scheduler][locality]") {
    auto dir = temp_dir("expire");
    auto ev = std::make_shared<Events>();
    auto conf = base_conf(dir);
    conf.set("ember.locality.wait.process", "400ms");
    conf.set("ember.locality.wait.node", "30s");
    SparkContext sc("local-cluster[2,1,512]", "placement-expire", conf, {ev});
    auto out = preferring(sc, *ev, 10, "1").map(SlowTriple{200}).collect();
    CHECK(sorted(out) == tripled(10));
    auto tasks = ev->successful_tasks_of_job(0);
    REQUIRE(tasks.size() == 10);
    std::int64_t first = std::numeric_limits<std::int64_t>::max();
    for (auto& t : tasks) first = std::min(first, t.launch_time);
    int moved = 0;
    for (auto& t : tasks) {
        INFO("task " << t.index << " on executor " << t.executor_id << " at " << to_string(t.locality) << ", "
                     << t.launch_time - first << " ms after the first");
        if (t.executor_id == "1") {
            CHECK(t.locality == TaskLocality::process_local);
        } else {
            ++moved;
            CHECK(t.locality == TaskLocality::node_local);
            CHECK(t.launch_time - first >= 300);  // not at once: after most of the 400 ms wait
        }
    }
    CHECK(moved >= 1);
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("Tasks over cached partitions run process-local on the executor holding each block",
          "[scheduler][locality][cache]") {
    auto dir = temp_dir("cached");
    auto ev = std::make_shared<Events>();
    auto conf = base_conf(dir);
    conf.set("ember.locality.wait", "30s");
    SparkContext sc("local-cluster[2,1,512]", "placement-cached", conf, {ev});
    std::vector<int> xs(6);
    std::iota(xs.begin(), xs.end(), 0);
    auto cached = sc.parallelize(xs, 6).map(SlowTriple{50}).cache();
    CHECK(sorted(cached.collect()) == tripled(6));
    std::map<int, std::string> holder;  // partition -> executor that computed (and cached) it
    for (auto& t : ev->successful_tasks_of_job(0)) holder[t.partition_id] = t.executor_id;
    REQUIRE(holder.size() == 6);
    // The second job reads the cache through a narrow map: each task goes to its block.
    CHECK(sorted(cached.map(SlowTriple{20}).collect()) == [] {
        auto v = tripled(6);
        for (auto& x : v) x *= 3;
        return v;
    }());
    auto tasks = ev->successful_tasks_of_job(1);
    REQUIRE(tasks.size() == 6);
    for (auto& t : tasks) {
        INFO("partition " << t.partition_id << " cached on executor " << holder[t.partition_id] << ", ran on "
                          << t.executor_id << " at " << to_string(t.locality));
        CHECK(t.executor_id == holder[t.partition_id]);
        CHECK(t.locality == TaskLocality::process_local);
    }
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("Preferred locations no executor can satisfy do not delay tasks; reduce tasks prefer the map outputs' host",
          "[scheduler][locality]") {
    auto dir = temp_dir("nohost");
    auto ev = std::make_shared<Events>();
    auto conf = base_conf(dir);
    conf.set("ember.locality.wait", "30s");
    SparkContext sc("local-cluster[2,1,512]", "placement-nohost", conf, {ev});
    std::vector<std::pair<int, std::vector<std::string>>> data;
    for (int i = 0; i < 20; ++i) data.push_back({i, {"no-such-host.invalid"}});
    auto start = std::chrono::steady_clock::now();
    auto sums = sc.make_rdd(std::move(data)).map(KeyMod{}).reduce_by_key(Add{}, 3).collect();
    CHECK(std::chrono::steady_clock::now() - start < 20s);  // far below the 30 s wait
    std::map<int, int> expected;
    for (int i = 0; i < 20; ++i) expected[i % 5] += i;
    CHECK(std::map<int, int>(sums.begin(), sums.end()) == expected);
    sc.stop();
    std::lock_guard lk(ev->mu);
    int map_tasks = 0, reduce_tasks = 0;
    for (auto& t : ev->task_ends) {
        if (t.reason != "Success") continue;
        if (t.task_type == "ShuffleMapTask") {
            ++map_tasks;
            CHECK(t.task_info.locality == TaskLocality::any);
        } else {
            ++reduce_tasks;
            // Every map output is on 127.0.0.1, where both executors run.
            CHECK(t.task_info.locality == TaskLocality::node_local);
        }
    }
    CHECK(map_tasks == 20);
    CHECK(reduce_tasks == 3);
    fs::remove_all(dir);
}

TEST_CASE("Speculation: a straggler gets a copy on the other executor, the copy wins, the straggler is killed",
          "[scheduler][speculation]") {
    auto dir = temp_dir("spec");
    auto ev = std::make_shared<Events>();
    auto conf = base_conf(dir);
    conf.set("ember.speculation", "true");
    SparkContext sc("local-cluster[2,1,512]", "placement-spec", conf, {ev});
    std::vector<int> xs(8);
    std::iota(xs.begin(), xs.end(), 0);
    auto start = std::chrono::steady_clock::now();
    auto out = sc.parallelize(xs, 8).map(Straggler{2, 60}).collect();
    CHECK(std::chrono::steady_clock::now() - start < 30s);  // the straggler alone would take 60 s
    std::vector<int> expected(8);
    std::iota(expected.begin(), expected.end(), 1);
    CHECK(sorted(out) == expected);
    // The straggler reports KILLED once its copy has won.
    CHECK(ember::test::wait_until(
        [&] {
            std::lock_guard lk(ev->mu);
            for (auto& t : ev->task_ends) {
                if (t.task_info.index == 2 && t.task_info.attempt == 0) return true;
            }
            return false;
        },
        20s));
    sc.stop();
    std::lock_guard lk(ev->mu);
    REQUIRE(ev->speculative.size() >= 1);
    CHECK(ev->speculative.front().task_index == 2);
    bool copy_won = false, straggler_killed = false;
    std::string straggler_executor, copy_executor;
    for (auto& t : ev->task_ends) {
        if (t.task_info.index != 2) continue;
        if (t.task_info.attempt == 0) {
            INFO(t.reason);
            straggler_killed = t.reason == "TaskKilled (another attempt succeeded)" && t.task_info.killed;
            straggler_executor = t.task_info.executor_id;
        } else if (t.reason == "Success") {
            copy_won = t.task_info.speculative;
            copy_executor = t.task_info.executor_id;
        }
    }
    CHECK(copy_won);
    CHECK(straggler_killed);
    CHECK(straggler_executor != copy_executor);
    fs::remove_all(dir);
}

TEST_CASE("ember.speculation.task.duration.threshold speculates a lone hung task", "[scheduler][speculation]") {
    auto dir = temp_dir("spec1");
    auto ev = std::make_shared<Events>();
    auto conf = base_conf(dir);
    conf.set("ember.speculation", "true");
    conf.set("ember.speculation.task.duration.threshold", "300ms");
    SparkContext sc("local-cluster[2,1,512]", "placement-spec-one", conf, {ev});
    // One task: the quantile rule never applies; the threshold does (one executor has 1 slot).
    auto out = sc.parallelize(std::vector<int>{41}, 1).map(Straggler{0, 10}).collect();
    CHECK(out == std::vector<int>{42});
    sc.stop();
    std::lock_guard lk(ev->mu);
    REQUIRE(ev->speculative.size() == 1);
    bool copy_won = false;
    for (auto& t : ev->task_ends) copy_won |= t.reason == "Success" && t.task_info.speculative;
    CHECK(copy_won);
    fs::remove_all(dir);
}

namespace {

/// Runs job A (pool "a", 12 tasks of 200 ms) and, once A runs, job B (pool "b", 2 tasks of
/// 50 ms) from another thread. Returns (launch times of A's tasks, of B's tasks).
std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> run_two_pools(SparkContext& sc, Events& ev) {
    std::vector<int> xs(12);
    std::iota(xs.begin(), xs.end(), 0);
    std::vector<int> a_out;  // checked on this thread: Catch's assertions are not thread-safe
    std::thread a([&] {
        sc.set_job_group("A");
        sc.set_local_property("ember.scheduler.pool", "a");
        a_out = sc.parallelize(xs, 12).map(SlowTriple{200}).collect();
    });
    // Not REQUIRE: thread `a` must be joined whatever happens.
    CHECK(ember::test::wait_until([&] { return ev.launches_of_job(ev.job_of_group("A")).size() >= 2; }, 20s));
    sc.set_job_group("B");
    sc.set_local_property("ember.scheduler.pool", "b");
    CHECK(sorted(sc.parallelize(std::vector<int>{0, 1}, 2).map(SlowTriple{50}).collect()) == tripled(2));
    sc.clear_job_group();
    sc.set_local_property("ember.scheduler.pool", std::nullopt);
    a.join();
    CHECK(sorted(a_out) == tripled(12));
    return {ev.launches_of_job(ev.job_of_group("A")), ev.launches_of_job(ev.job_of_group("B"))};
}

}  // namespace

TEST_CASE("FIFO: a later job waits until every task of the earlier one has launched", "[scheduler][pools]") {
    auto dir = temp_dir("fifo");
    auto ev = std::make_shared<Events>();
    SparkContext sc("local-cluster[2,1,512]", "placement-fifo", base_conf(dir), {ev});
    auto [a, b] = run_two_pools(sc, *ev);
    REQUIRE(a.size() == 12);
    REQUIRE(b.size() == 2);
    CHECK(*std::min_element(b.begin(), b.end()) >= *std::max_element(a.begin(), a.end()));
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("FAIR: a job in another pool gets the next free core instead of waiting", "[scheduler][pools]") {
    auto dir = temp_dir("fair");
    auto file = dir + "/fairscheduler.xml";
    std::ofstream(file) << "<?xml version=\"1.0\"?>\n<allocations>\n"
                           "  <pool name=\"a\"><schedulingMode>FIFO</schedulingMode><weight>1</weight></pool>\n"
                           "  <pool name=\"b\"><schedulingMode>FAIR</schedulingMode><weight>1</weight>"
                           "<minShare>1</minShare></pool>\n</allocations>\n";
    auto ev = std::make_shared<Events>();
    auto conf = base_conf(dir);
    conf.set("ember.scheduler.mode", "FAIR");
    conf.set("ember.scheduler.allocation.file", file);
    SparkContext sc("local-cluster[2,1,512]", "placement-fair", conf, {ev});
    auto [a, b] = run_two_pools(sc, *ev);
    REQUIRE(a.size() == 12);
    REQUIRE(b.size() == 2);
    // B's tasks went ahead of A's remaining ones.
    CHECK(*std::max_element(b.begin(), b.end()) < *std::max_element(a.begin(), a.end()));
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("A bad scheduling mode or allocation file stops the SparkContext with a message naming it",
          "[scheduler][pools]") {
    auto dir = temp_dir("badpool");
    {
        auto conf = base_conf(dir);
        conf.set("ember.scheduler.mode", "ROUND_ROBIN");
        try {
            SparkContext sc("local[1]", "bad-mode", conf);
            FAIL("no exception");
        } catch (const SparkException& e) {
            CHECK(std::string(e.what()) ==
                  "ember.scheduler.mode: unsupported scheduling mode 'ROUND_ROBIN' (FIFO or FAIR)");
        }
    }
    {
        auto file = dir + "/bad.xml";
        std::ofstream(file) << "<allocations><pool name=\"p\"><weight>heavy</weight></pool></allocations>";
        auto conf = base_conf(dir);
        conf.set("ember.scheduler.mode", "FAIR");
        conf.set("ember.scheduler.allocation.file", file);
        try {
            SparkContext sc("local[1]", "bad-file", conf);
            FAIL("no exception");
        } catch (const SparkException& e) {
            CHECK(std::string(e.what()) == "FAIR scheduler allocation file " + file +
                                               ": pool 'p' weight must be a non-negative integer, got 'heavy'");
        }
    }
    {
        auto conf = base_conf(dir);
        conf.set("ember.scheduler.mode", "FAIR");
        conf.set("ember.scheduler.allocation.file", dir + "/missing.xml");
        CHECK_THROWS_WITH(SparkContext("local[1]", "missing-file", conf),
                          Catch::Contains("Cannot read the FAIR scheduler allocation file " + dir + "/missing.xml"));
    }
    fs::remove_all(dir);
}
