// SPDX-License-Identifier: Apache-2.0
// Shuffle fetch like Spark's, in jobs on local-cluster (real executor processes):
// - transport retries: an executor whose block server stops answering (SIGSTOP) for a few
//   seconds is retried (ember.shuffle.io.maxRetries) instead of failing the fetch;
// - checksum diagnosis: a byte flipped in a shuffle data file between two jobs makes the
//   FetchFailed say "corrupted due to DISK_ISSUE", and the job still gets the exact result;
// - the task reaper (ember.task.reaper.*, Spark's TaskReaper): a killed task that never reaches
//   a record boundary (it loops inside one record) ends its executor process after killTimeout,
//   so the executor is lost and its core comes back; without the reaper the cancel completes
//   but the looping task keeps its executor busy.
#include "scheduler/ember.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <map>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace ember;
using namespace std::chrono_literals;

namespace {

/// Loops forever inside one record when x == spin_on (never returns: no record boundary).
struct SpinForever {
    int spin_on = 0;
    int operator()(int x) const {
        if (x == spin_on) {
            volatile std::uint64_t n = 0;
            for (;;) n = n + 1;
        }
        return x;
    }
    EMBER_SERDE(spin_on)
};

struct Events : scheduler::SparkListener {
    std::mutex mu;
    std::vector<std::string> task_failures;
    std::vector<std::string> removed;
    std::vector<std::chrono::steady_clock::time_point> removed_at;
    std::atomic<int> started{0};
    void on_task_start(const scheduler::SparkListenerTaskStart&) override { ++started; }
    std::map<int, std::set<std::string>> succeeded_on;  // stage id -> executors of its successful tasks
    void on_task_end(const scheduler::SparkListenerTaskEnd& e) override {
        std::lock_guard lk(mu);
        if (e.reason != "Success") {
            task_failures.push_back(e.reason);
        } else {
            succeeded_on[e.stage_id].insert(e.task_info.executor_id);
        }
    }
    std::set<std::string> executors_of_stage(int stage_id) {
        std::lock_guard lk(mu);
        return succeeded_on[stage_id];
    }
    std::vector<std::string> failures() {
        std::lock_guard lk(mu);
        return task_failures;
    }
    void on_executor_removed(const scheduler::SparkListenerExecutorRemoved& e) override {
        std::lock_guard lk(mu);
        removed.push_back(e.executor_id + ": " + e.reason);
        removed_at.push_back(std::chrono::steady_clock::now());
    }
    std::size_t removed_count() {
        std::lock_guard lk(mu);
        return removed.size();
    }
};

Conf reaper_conf(const std::string& dir, bool enabled) {
    Conf conf;
    conf.set("ember.local.dir", dir);
    conf.set("ember.scheduler.revive.interval", "100ms");
    conf.set("ember.executor.stopTimeout", "2s");
    conf.set("ember.task.reaper.enabled", enabled ? "true" : "false");
    conf.set("ember.task.reaper.killTimeout", "2s");
    return conf;
}

std::vector<int> numbers(int n) {
    std::vector<int> v(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
    return v;
}

struct KeyMod {
    int mod = 1;
    std::pair<int, long> operator()(int x) const { return {x % mod, static_cast<long>(x)}; }
    EMBER_SERDE(mod)
};

struct Add {
    long operator()(long a, long b) const { return a + b; }
    EMBER_SERDE()
};

/// The oracle: sum of x in [0, n) per x % mod.
std::map<int, long> sums(int n, int mod) {
    std::map<int, long> out;
    for (int x = 0; x < n; ++x) out[x % mod] += x;
    return out;
}

template <class Pairs>
std::map<int, long> as_map(const Pairs& pairs) {
    return std::map<int, long>(pairs.begin(), pairs.end());
}

Conf fetch_conf(const std::string& dir) {
    Conf conf;
    conf.set("ember.local.dir", dir);
    conf.set("ember.scheduler.revive.interval", "100ms");
    return conf;
}

/// Every shuffle data file under `dir` (all executors' local dirs).
std::vector<std::string> shuffle_data_files(const std::string& dir) {
    std::vector<std::string> out;
    for (auto& e : std::filesystem::recursive_directory_iterator(dir)) {
        auto name = e.path().filename().string();
        if (e.is_regular_file() && name.starts_with("shuffle_") && name.ends_with("_0.data")) {
            out.push_back(e.path().string());
        }
    }
    return out;
}

}  // namespace

TEST_CASE("A block server that stops answering for a while is retried: no fetch failure, exact result",
          "[scheduler][fetch][retry]") {
    for (int max_retries : {3, 0}) {
        DYNAMIC_SECTION("maxRetries=" << max_retries) {
            auto dir = test::fresh_temp_dir("fetch-retry");
            Conf conf = fetch_conf(dir);
            conf.set("ember.shuffle.io.connectionTimeout", "1s");
            conf.set("ember.shuffle.io.retryWait", "1s");
            conf.set("ember.shuffle.io.maxRetries", std::to_string(max_retries));
            SparkContext sc("local-cluster[2,1,512]", "fetch-retry", conf);
            auto ev = std::make_shared<Events>();
            sc.add_spark_listener(ev);
            auto summed = sc.parallelize(numbers(4000), 4).map(KeyMod{7}).reduce_by_key(Add{}, 4);
            REQUIRE(summed.count() == 7);
            // The executor to stop holds map output (stage 0 is the map stage; both executors may
            // have run its tasks, or only one), so the other one's reduce tasks fetch from it.
            auto holders = ember::test::wait_until([&] { return !ev->executors_of_stage(0).empty(); })
                               ? ev->executors_of_stage(0)
                               : std::set<std::string>{};
            REQUIRE(!holders.empty());
            std::string stopped = *holders.begin();
            int pid = sc.executor_pid(stopped);
            REQUIRE(pid > 0);
            INFO("map output on executors " << holders.size() << ", executor " << stopped << " stopped");
            // That executor stops answering for 3.5 s: the other one's fetches from it time out
            // (1 s) and are retried every second until it answers again.
            REQUIRE(::kill(pid, SIGSTOP) == 0);
            std::thread resume([pid] {
                std::this_thread::sleep_for(3500ms);
                ::kill(pid, SIGCONT);
            });
            auto t0 = std::chrono::steady_clock::now();
            auto result = as_map(summed.collect());
            resume.join();
            CHECK(result == sums(4000, 7));
            CHECK(std::chrono::steady_clock::now() - t0 >= 3s);
            auto failures = ev->failures();
            bool fetch_failed = std::any_of(failures.begin(), failures.end(),
                                            [](auto& f) { return f.starts_with("FetchFailed"); });
            INFO((failures.empty() ? std::string("no task failures") : failures[0]));
            CHECK(fetch_failed == (max_retries == 0));
            sc.stop();
            std::filesystem::remove_all(dir);
        }
    }
}

TEST_CASE("A byte flipped in a shuffle file between two jobs is a FetchFailed saying DISK_ISSUE",
          "[scheduler][fetch][checksum]") {
    auto dir = test::fresh_temp_dir("fetch-disk");
    SparkContext sc("local-cluster[2,1,512]", "fetch-disk", fetch_conf(dir));
    auto ev = std::make_shared<Events>();
    sc.add_spark_listener(ev);
    auto summed = sc.parallelize(numbers(20000), 2).map(KeyMod{101}).reduce_by_key(Add{}, 2);
    REQUIRE(summed.count() == 101);
    auto files = shuffle_data_files(dir);
    REQUIRE(files.size() == 2);
    for (auto& f : files) {
        auto size = std::filesystem::file_size(f);
        std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
        io.seekg(static_cast<std::streamoff>(size / 4));
        char c = 0;
        io.get(c);
        io.seekp(static_cast<std::streamoff>(size / 4));
        io.put(static_cast<char>(c ^ 0x5a));
    }
    // The map stage is skipped (its outputs exist); the reducers find the corruption, the map
    // outputs are regenerated and the job still gets the exact result.
    CHECK(as_map(summed.collect()) == sums(20000, 101));
    auto failures = ev->failures();
    REQUIRE_FALSE(failures.empty());
    INFO(failures[0]);
    CHECK(std::any_of(failures.begin(), failures.end(), [](auto& f) {
        return f.starts_with("FetchFailed") && f.find("is corrupted due to DISK_ISSUE") != std::string::npos;
    }));
    sc.stop();
    std::filesystem::remove_all(dir);
}

TEST_CASE("With the task reaper, a killed task stuck inside a record ends its executor after killTimeout",
          "[scheduler][reaper]") {
    auto dir = test::fresh_temp_dir("reaper-on");
    SparkContext sc("local-cluster[2,1,512]", "reaper-on", reaper_conf(dir, true));
    auto ev = std::make_shared<Events>();
    sc.add_spark_listener(ev);
    // Partition 1 holds 5..9 and spins on 7; partition 0 finishes.
    auto stuck = sc.parallelize(numbers(10), 2).map(SpinForever{7});
    auto job = std::async(std::launch::async, [&] { return stuck.count(); });
    REQUIRE(test::wait_until([&] { return ev->started.load() >= 2; }, 20s));
    std::this_thread::sleep_for(300ms);
    auto ids = sc.active_job_ids();
    REQUIRE(ids.size() == 1);
    auto t0 = std::chrono::steady_clock::now();
    sc.cancel_job(ids[0]);
    CHECK_THROWS_WITH(job.get(), Catch::Contains("cancelled"));
    // The reaper ends the stuck executor's process after 2 s: the driver loses it.
    REQUIRE(test::wait_until([&] { return ev->removed_count() >= 1; }, 15s));
    auto lost_after = ev->removed_at[0] - t0;
    CHECK(lost_after >= 1900ms);
    CHECK(lost_after < 8s);
    INFO(ev->removed[0]);
    // Its core came back (a replacement executor): jobs that need both cores run.
    CHECK(sc.parallelize(numbers(100), 2).map(SpinForever{-1}).count() == 100);
    sc.stop();
    std::filesystem::remove_all(dir);
}

TEST_CASE("Without the task reaper, the cancel completes but the stuck task keeps its executor",
          "[scheduler][reaper]") {
    // Documented behaviour (Spark's with spark.task.reaper.enabled=false): the job fails as
    // cancelled at once; the task cannot be stopped, so its executor stays up and busy.
    auto dir = test::fresh_temp_dir("reaper-off");
    SparkContext sc("local-cluster[2,1,512]", "reaper-off", reaper_conf(dir, false));
    auto ev = std::make_shared<Events>();
    sc.add_spark_listener(ev);
    auto stuck = sc.parallelize(numbers(10), 2).map(SpinForever{7});
    auto job = std::async(std::launch::async, [&] { return stuck.count(); });
    REQUIRE(test::wait_until([&] { return ev->started.load() >= 2; }, 20s));
    std::this_thread::sleep_for(300ms);
    auto ids = sc.active_job_ids();
    REQUIRE(ids.size() == 1);
    sc.cancel_job(ids[0]);
    CHECK_THROWS_WITH(job.get(), Catch::Contains("cancelled"));
    std::this_thread::sleep_for(4s);  // twice killTimeout: nothing ends the executor
    CHECK(ev->removed_count() == 0);
    // The other executor still runs one-partition jobs.
    CHECK(sc.parallelize(numbers(10), 1).count() == 10);
    sc.stop();  // the stuck executor is killed after ember.executor.stopTimeout
    std::filesystem::remove_all(dir);
}
