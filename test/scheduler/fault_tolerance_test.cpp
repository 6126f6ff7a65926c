// SPDX-License-Identifier: Apache-2.0
// Fault tolerance with real executor processes (issue: Spark's fault tolerance and scheduling
// semantics): SIGKILL of an executor during the map stage, between the stages and during the
// fetch; deleted and corrupt shuffle files; tasks that call exit(); an executor stopped with
// SIGSTOP (heartbeat expiry); replacement executors; job and job group cancellation. Every job's
// result is compared with a single-process computation of the same data.
#include "scheduler/ember.hpp"
#include "scheduler/cluster/coarse_grained_scheduler_backend.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <unistd.h>

using namespace ember;
using scheduler::SparkListener;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

/// Everything the scheduler tells listeners, for assertions, plus hooks that fire once.
struct Events : SparkListener {
    std::mutex mu;
    std::vector<scheduler::StageInfo> submitted, completed;
    std::vector<scheduler::SparkListenerTaskEnd> task_ends;
    std::vector<std::string> added, removed;
    std::map<std::string, std::string> removed_reason;
    std::vector<scheduler::SparkListenerJobStart> jobs;
    // Hooks, run on the scheduler loop: (event) -> done (true: do not call again).
    std::function<bool(const scheduler::SparkListenerTaskStart&)> on_task_start_hook;
    std::function<bool(const scheduler::StageInfo&)> on_stage_completed_hook;

    void on_job_start(const scheduler::SparkListenerJobStart& e) override {
        std::lock_guard lk(mu);
        jobs.push_back(e);
    }
    void on_stage_submitted(const scheduler::SparkListenerStageSubmitted& e) override {
        std::lock_guard lk(mu);
        submitted.push_back(e.stage_info);
    }
    void on_stage_completed(const scheduler::SparkListenerStageCompleted& e) override {
        std::function<bool(const scheduler::StageInfo&)> hook;
        {
            std::lock_guard lk(mu);
            completed.push_back(e.stage_info);
            hook = on_stage_completed_hook;
        }
        if (hook && hook(e.stage_info)) {
            std::lock_guard lk(mu);
            on_stage_completed_hook = nullptr;
        }
    }
    void on_task_start(const scheduler::SparkListenerTaskStart& e) override {
        std::function<bool(const scheduler::SparkListenerTaskStart&)> hook;
        {
            std::lock_guard lk(mu);
            hook = on_task_start_hook;
        }
        if (hook && hook(e)) {
            std::lock_guard lk(mu);
            on_task_start_hook = nullptr;
        }
    }
    void on_task_end(const scheduler::SparkListenerTaskEnd& e) override {
        std::lock_guard lk(mu);
        task_ends.push_back(e);
    }
    void on_executor_added(const scheduler::SparkListenerExecutorAdded& e) override {
        std::lock_guard lk(mu);
        added.push_back(e.executor_id);
    }
    void on_executor_removed(const scheduler::SparkListenerExecutorRemoved& e) override {
        std::lock_guard lk(mu);
        removed.push_back(e.executor_id);
        removed_reason[e.executor_id] = e.reason;
    }
    std::size_t num_added() {
        std::lock_guard lk(mu);
        return added.size();
    }
    /// Attempts submitted of the shuffle map stages.
    int map_stage_attempts() {
        std::lock_guard lk(mu);
        int n = 0;
        for (auto& s : submitted) n += s.is_shuffle_map ? 1 : 0;
        return n;
    }
};

/// The test job: (key, count) over `n` numbers with key = x % 101, two stages, 8 map tasks. Each
/// record of the map side sleeps `us` microseconds so that the stages last long enough to be hit.
struct SlowKey {
    int us = 0;
    std::pair<int, std::int64_t> operator()(int x) const {
        if (us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
        return {x % 101, static_cast<std::int64_t>(x)};
    }
    EMBER_SERDE(us)
};

struct Sum {
    std::int64_t operator()(std::int64_t a, std::int64_t b) const { return a + b; }
    EMBER_SERDE()
};

std::vector<int> numbers(int n) {
    std::vector<int> xs(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) xs[static_cast<std::size_t>(i)] = i * 7 + 3;
    return xs;
}

/// The oracle: the same sums in one process.
std::map<int, std::int64_t> expected_sums(const std::vector<int>& xs) {
    std::map<int, std::int64_t> m;
    for (int x : xs) m[x % 101] += x;
    return m;
}

std::map<int, std::int64_t> run_sums(SparkContext& sc, const std::vector<int>& xs, int us, int reduce_partitions = 4) {
    auto out = sc.parallelize(xs, 8).map(SlowKey{us}).reduce_by_key(Sum{}, reduce_partitions).collect();
    std::map<int, std::int64_t> m;
    for (auto& [k, v] : out) {
        INFO("key " << k << " appears twice");
        REQUIRE(m.emplace(k, v).second);
    }
    return m;
}

std::string temp_dir(const std::string& tag) { return ember::test::fresh_temp_dir("ft-" + tag); }

Conf base_conf(const std::string& local_dir) {
    Conf conf;
    conf.set("ember.local.dir", local_dir);
    conf.set("ember.scheduler.revive.interval", "100ms");
    return conf;
}

bool kill_executor(SparkContext& sc, const std::string& id, int sig) {
    int pid = sc.executor_pid(id);
    return pid > 0 && ::kill(pid, sig) == 0;
}

}  // namespace

TEST_CASE("SIGKILL of an executor during the map stage: exact result, tasks rerun, a replacement joins",
          "[scheduler][fault][sigkill]") {
    auto dir = temp_dir("map");
    SparkContext sc("local-cluster[2,1,512]", "ft-map", base_conf(dir));
    auto ev = std::make_shared<Events>();
    sc.add_spark_listener(ev);
    std::atomic<bool> killed{false};
    ev->on_task_start_hook = [&](const scheduler::SparkListenerTaskStart& e) {
        // The third map task: both executors are busy with the first stage.
        if (e.task_info.task_id < 2) return false;
        killed = kill_executor(sc, "0", SIGKILL);
        return true;
    };
    auto xs = numbers(4000);
    CHECK(run_sums(sc, xs, 200) == expected_sums(xs));
    CHECK(killed);
    {
        std::lock_guard lk(ev->mu);
        CHECK(std::count(ev->removed.begin(), ev->removed.end(), "0") == 1);
        // Tasks that ran on executor 0 failed with ExecutorLostFailure and ran again.
        bool lost = false;
        for (auto& t : ev->task_ends) lost |= t.reason.find("ExecutorLostFailure (executor 0 exited") != std::string::npos;
        CHECK(lost);
    }
    // local-cluster starts executor 2 in place of executor 0.
    CHECK(ember::test::wait_until([&] { return ev->num_added() >= 1; }, 20s));
    CHECK(sc.executor_pid("2") > 0);
    CHECK(sc.executor_pids().size() == 2);
    // And the next job uses it.
    CHECK(run_sums(sc, xs, 0) == expected_sums(xs));
    sc.stop();
    {
        // The clean stop is reported as one; only the real loss reads as a loss.
        std::lock_guard lk(ev->mu);
        // (local-cluster reports the exit status: "executor 0 was killed by signal 9 (SIGKILL)".)
        CHECK_THAT(ev->removed_reason["0"], Catch::Contains("killed by signal 9 (SIGKILL)") ||
                                                Catch::Contains("exited") || Catch::Contains("disassociated"));
        for (const char* id : {"1", "2"}) {
            CAPTURE(id);
            CHECK(ev->removed_reason[id] == scheduler::CoarseGrainedSchedulerBackend::kStoppedByDriver);
        }
    }
    fs::remove_all(dir);
}

TEST_CASE("SIGKILL of an executor between the stages: its map outputs are recomputed", "[scheduler][fault][sigkill]") {
    auto dir = temp_dir("between");
    SparkContext sc("local-cluster[2,1,512]", "ft-between", base_conf(dir));
    auto ev = std::make_shared<Events>();
    sc.add_spark_listener(ev);
    std::atomic<bool> killed{false};
    ev->on_stage_completed_hook = [&](const scheduler::StageInfo& s) {
        if (!s.is_shuffle_map) return false;
        killed = kill_executor(sc, "1", SIGKILL);
        return true;
    };
    auto xs = numbers(4000);
    CHECK(run_sums(sc, xs, 50) == expected_sums(xs));
    CHECK(killed);
    // The map stage ran again (a second attempt, for the lost outputs only).
    CHECK(ev->map_stage_attempts() >= 2);
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("SIGKILL of an executor during the fetch: FetchFailed, the map stage reruns, exact result",
          "[scheduler][fault][sigkill]") {
    auto dir = temp_dir("fetch");
    auto conf = base_conf(dir);
    SparkContext sc("local-cluster[2,1,512]", "ft-fetch", conf);
    auto ev = std::make_shared<Events>();
    sc.add_spark_listener(ev);
    std::atomic<bool> killed{false};
    ev->on_task_start_hook = [&](const scheduler::SparkListenerTaskStart& e) {
        // The first reduce task: the other executor's outputs are being fetched.
        if (e.stage_id == 0) return false;
        std::string victim = e.task_info.executor_id == "0" ? "1" : "0";
        killed = kill_executor(sc, victim, SIGKILL);
        return true;
    };
    auto xs = numbers(20000);
    // Many reduce partitions so that fetching is still going on when the executor dies.
    CHECK(run_sums(sc, xs, 0, 16) == expected_sums(xs));
    CHECK(killed);
    CHECK(ev->map_stage_attempts() >= 2);
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("A deleted or corrupt shuffle file gives FetchFailed and the lost output is recomputed",
          "[scheduler][fault][fetch]") {
    for (std::string damage : {"deleted", "corrupt"}) {
        SECTION(damage) {
            auto dir = temp_dir("files");
            SparkContext sc("local-cluster[2,1,512]", "ft-files", base_conf(dir));
            auto ev = std::make_shared<Events>();
            sc.add_spark_listener(ev);
            auto xs = numbers(4000);
            auto sums = sc.parallelize(xs, 8).map(SlowKey{0}).reduce_by_key(Sum{}, 4);
            auto collect = [&] {
                std::map<int, std::int64_t> m;
                for (auto& [k, v] : sums.collect()) m[k] = v;
                return m;
            };
            CHECK(collect() == expected_sums(xs));
            int attempts_before = ev->map_stage_attempts();
            // Damage every shuffle data file; the next job reuses the shuffle (its map stage is
            // skipped) and must find out on reading.
            int damaged = 0;
            for (auto& e : fs::recursive_directory_iterator(dir)) {
                auto name = e.path().filename().string();
                if (!e.is_regular_file() || !name.starts_with("shuffle_") || !name.ends_with(".data")) continue;
                if (damage == "deleted") {
                    fs::remove(e.path());
                } else {
                    auto size = fs::file_size(e.path());
                    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
                    std::string junk(static_cast<std::size_t>(std::min<std::uintmax_t>(size, 64)), '\x5a');
                    f.seekp(0);
                    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
                }
                ++damaged;
            }
            REQUIRE(damaged > 0);
            CHECK(collect() == expected_sums(xs));
            CHECK(ev->map_stage_attempts() > attempts_before);
            bool fetch_failed = false;
            {
                std::lock_guard lk(ev->mu);
                for (auto& t : ev->task_ends) fetch_failed |= t.reason.starts_with("FetchFailed(");
            }
            CHECK(fetch_failed);
            sc.stop();
            fs::remove_all(dir);
        }
    }
}

struct ExitOnFirstAttempt {
    int partition = 0;
    bool always = false;
    int operator()(int x) const {
        auto* tc = scheduler::TaskContext::get();
        if (tc && tc->partition_id() == partition && (always || tc->attempt_number() == 0)) ::_exit(3);
        return x;
    }
    EMBER_SERDE(partition, always)
};

TEST_CASE("A task that calls exit() loses its executor; the task reruns or, every time, fails the job",
          "[scheduler][fault][exit]") {
    auto dir = temp_dir("exit");
    auto conf = base_conf(dir);
    conf.set("ember.task.maxFailures", "2");
    SparkContext sc("local-cluster[2,1,512]", "ft-exit", conf);
    auto ev = std::make_shared<Events>();
    sc.add_spark_listener(ev);
    auto xs = numbers(1000);
    auto total = std::accumulate(xs.begin(), xs.end(), std::int64_t{0});
    // Once: the retry on a live executor succeeds.
    auto sum = [](const std::vector<int>& v) { return std::accumulate(v.begin(), v.end(), std::int64_t{0}); };
    CHECK(sum(sc.parallelize(xs, 4).map(ExitOnFirstAttempt{2, false}).collect()) == total);
    // Every time: the job fails after ember.task.maxFailures attempts, with the loss as its cause.
    try {
        sc.parallelize(xs, 4).map(ExitOnFirstAttempt{1, true}).collect();
        FAIL("the job should fail");
    } catch (const SparkException& e) {
        std::string msg = e.what();
        CHECK_THAT(msg, Catch::Contains("Task 1 in stage"));
        CHECK_THAT(msg, Catch::Contains("failed 2 times, most recent failure"));
        CHECK_THAT(msg, Catch::Contains("ExecutorLostFailure"));
    }
    // Replacements keep the cluster at two executors and the next job runs.
    CHECK(ember::test::wait_until([&] { return sc.executor_pids().size() == 2; }, 20s));
    CHECK(sum(sc.parallelize(xs, 4).collect()) == total);
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("An executor stopped with SIGSTOP is removed by heartbeat expiry, killed and replaced",
          "[scheduler][fault][heartbeat]") {
    auto dir = temp_dir("sigstop");
    auto conf = base_conf(dir);
    conf.set("ember.executor.heartbeatInterval", "200ms");
    conf.set("ember.network.timeout", "2s");
    conf.set("ember.network.timeoutInterval", "250ms");
    SparkContext sc("local-cluster[2,1,512]", "ft-sigstop", conf);
    auto ev = std::make_shared<Events>();
    sc.add_spark_listener(ev);
    int stopped_pid = sc.executor_pid("0");
    REQUIRE(stopped_pid > 0);
    std::atomic<bool> stopped{false};
    ev->on_task_start_hook = [&](const scheduler::SparkListenerTaskStart& e) {
        if (e.task_info.executor_id != "0") return false;
        stopped = ::kill(stopped_pid, SIGSTOP) == 0;
        return true;
    };
    auto xs = numbers(4000);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(run_sums(sc, xs, 100) == expected_sums(xs));
    CHECK(stopped);
    CHECK(std::chrono::steady_clock::now() - t0 < 30s);
    {
        std::lock_guard lk(ev->mu);
        REQUIRE(ev->removed_reason.count("0"));
        CHECK_THAT(ev->removed_reason["0"], Catch::StartsWith("Executor heartbeat timed out after"));
    }
    // The hung process was killed (no process outlives its removal) and replaced.
    CHECK(ember::test::wait_until([&] { return ::kill(stopped_pid, 0) != 0; }, 10s));
    CHECK(ember::test::wait_until([&] { return sc.executor_pid("2") > 0; }, 10s));
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("Heartbeat settings are validated as Spark does", "[scheduler][heartbeat]") {
    Conf conf;
    conf.set("ember.executor.heartbeatInterval", "5s");
    conf.set("ember.network.timeout", "5s");
    CHECK_THROWS_WITH(SparkContext("local-cluster[1,1,512]", "bad-heartbeat", conf),
                      "The value of ember.network.timeout=5000ms must be greater than the value of "
                      "ember.executor.heartbeatInterval=5000ms.");
}

struct SlowRecord {
    int ms = 0;
    int operator()(int x) const {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return x;
    }
    EMBER_SERDE(ms)
};

TEST_CASE("Cancelling a job or a job group kills its running tasks and frees their cores",
          "[scheduler][cancel]") {
    for (std::string how : {"job", "group"}) {
        SECTION(how) {
            auto dir = temp_dir("cancel");
            SparkContext sc("local-cluster[2,1,512]", "ft-cancel", base_conf(dir));
            auto ev = std::make_shared<Events>();
            sc.add_spark_listener(ev);
            std::promise<void> started;
            auto started_f = started.get_future();
            ev->on_task_start_hook = [&](const scheduler::SparkListenerTaskStart&) {
                started.set_value();
                return true;
            };
            // Two tasks of 2000 records x 10 ms: 20 s each unless killed.
            auto slow = sc.parallelize(numbers(4000), 2).map(SlowRecord{10});
            auto job = std::async(std::launch::async, [&] {
                sc.set_job_group("nightly");
                return slow.count();
            });
            REQUIRE(started_f.wait_for(20s) == std::future_status::ready);
            std::this_thread::sleep_for(100ms);
            auto ids = sc.active_job_ids(std::string("nightly"));
            REQUIRE(ids.size() == 1);
            auto t0 = std::chrono::steady_clock::now();
            if (how == "job") {
                sc.cancel_job(ids[0], std::string("the test asked"));
            } else {
                sc.cancel_job_group("nightly");
            }
            std::string expected = how == "job" ? fmt::format("Job {} cancelled because the test asked", ids[0])
                                                 : fmt::format("Job {} cancelled part of cancelled job group nightly", ids[0]);
            CHECK_THROWS_WITH(job.get(), expected);
            CHECK(std::chrono::steady_clock::now() - t0 < 5s);
            // The killed tasks report KILLED and give back their cores: a new job runs at once.
            CHECK(ember::test::wait_until(
                [&] {
                    std::lock_guard lk(ev->mu);
                    int killed = 0;
                    for (auto& t : ev->task_ends) killed += t.reason.starts_with("TaskKilled") ? 1 : 0;
                    return killed == 2;
                },
                5s));
            auto t1 = std::chrono::steady_clock::now();
            CHECK(sc.parallelize(numbers(100), 2).count() == 100);
            CHECK(std::chrono::steady_clock::now() - t1 < 5s);
            CHECK(sc.active_job_ids().empty());
            sc.stop();
            fs::remove_all(dir);
        }
    }
}

TEST_CASE("Stopping the SparkContext fails its running jobs with Spark's message", "[scheduler][cancel]") {
    auto dir = temp_dir("stop");
    SparkContext sc("local-cluster[2,1,512]", "ft-stop", base_conf(dir));
    auto ev = std::make_shared<Events>();
    sc.add_spark_listener(ev);
    std::promise<void> started;
    auto started_f = started.get_future();
    ev->on_task_start_hook = [&](const scheduler::SparkListenerTaskStart&) {
        started.set_value();
        return true;
    };
    // Two stages (a shuffle): both jobs' stages are cancelled, the map stage shared by them too.
    auto slow = sc.parallelize(numbers(4000), 2).map(SlowKey{10'000}).reduce_by_key(Sum{}, 2);
    auto first = std::async(std::launch::async, [&] { return slow.count(); });
    auto second = std::async(std::launch::async, [&] { return slow.count(); });
    REQUIRE(started_f.wait_for(20s) == std::future_status::ready);
    REQUIRE(ember::test::wait_until([&] { return sc.active_job_ids().size() == 2; }, 10s));
    auto ids = sc.active_job_ids();
    auto t0 = std::chrono::steady_clock::now();
    sc.stop();
    CHECK(std::chrono::steady_clock::now() - t0 < 20s);
    std::set<std::string> errors;
    for (auto* f : {&first, &second}) {
        try {
            f->get();
            FAIL("a job survived stop()");
        } catch (const SparkException& e) {
            errors.insert(e.what());
        }
    }
    CHECK(errors == std::set<std::string>{fmt::format("Job {} cancelled because SparkContext was shut down", ids[0]),
                                          fmt::format("Job {} cancelled because SparkContext was shut down", ids[1])});
    {
        std::lock_guard lk(ev->mu);
        int cancelled = 0;
        for (auto& s : ev->completed) {
            cancelled += s.failure_reason == std::optional<std::string>("Stage cancelled because SparkContext was shut down");
        }
        CHECK(cancelled >= 1);  // the running map stage
    }
    fs::remove_all(dir);
}

TEST_CASE("SIGKILL of a random executor at a random moment of a multi-stage job leaves it exact",
          "[scheduler][fault][sigkill][random]") {
    auto dir = temp_dir("random");
    SparkContext sc("local-cluster[2,1,512]", "ft-random", base_conf(dir));
    std::mt19937 rng(std::random_device{}());
    auto xs = numbers(6000);
    auto want = expected_sums(xs);
    for (int round = 0; round < 4; ++round) {
        auto pids = sc.executor_pids();
        REQUIRE(!pids.empty());
        int victim = pids[std::uniform_int_distribution<std::size_t>(0, pids.size() - 1)(rng)];
        auto delay = std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 1200)(rng));
        INFO("round " << round << ": SIGKILL pid " << victim << " after " << delay.count() << " ms");
        std::thread killer([victim, delay] {
            std::this_thread::sleep_for(delay);
            ::kill(victim, SIGKILL);
        });
        auto got = run_sums(sc, xs, 150);
        killer.join();
        CHECK(got == want);
        // Wait for the replacement before the next round.
        CHECK(ember::test::wait_until([&] { return sc.executor_pids().size() == 2; }, 20s));
    }
    sc.stop();
    fs::remove_all(dir);
}
