// SPDX-License-Identifier: Apache-2.0
// Indirect task results and ember.driver.maxResultSize (Spark's TaskResultGetter): results over
// ember.task.maxDirectResultSize come back through the executor's BlockManager, exact, with a
// TaskGettingResult event per task; results over ember.driver.maxResultSize fail the job with
// Spark's message, and the context keeps serving jobs. Real executor processes, checked against
// a single-process computation of the same records.
#include "scheduler/ember.hpp"
#include "scheduler/task_result.hpp"
#include "test/support/process.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <unistd.h>

using namespace ember;
namespace fs = std::filesystem;

namespace {

/// x -> a string of `size` pseudo-random bytes determined by x (an LCG seeded with x).
struct BigString {
    std::uint64_t size = 0;
    std::string operator()(int x) const {
        std::string s(size, '\0');
        std::uint64_t state = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(x + 1);
        for (auto& c : s) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            c = static_cast<char>(state >> 56);
        }
        return s;
    }
    EMBER_SERDE(size)
};

struct Events : scheduler::SparkListener {
    std::mutex mu;
    std::vector<std::int64_t> getting_result;  // task ids
    std::vector<std::string> task_ends;        // reasons
    void on_task_getting_result(const scheduler::SparkListenerTaskGettingResult& e) override {
        std::lock_guard lk(mu);
        getting_result.push_back(e.task_info.task_id);
    }
    void on_task_end(const scheduler::SparkListenerTaskEnd& e) override {
        std::lock_guard lk(mu);
        task_ends.push_back(e.reason);
    }
    std::size_t num_getting_result() {
        std::lock_guard lk(mu);
        return getting_result.size();
    }
};

std::string temp_dir(const std::string& tag) { return ember::test::fresh_temp_dir("trg-" + tag); }

constexpr std::uint64_t kThreeMiB = 3u << 20;

}  // namespace

TEST_CASE("bytes_to_string prints sizes as Spark's Utils.bytesToString", "[scheduler][task-result]") {
    CHECK(scheduler::bytes_to_string(0) == "0.0 B");
    CHECK(scheduler::bytes_to_string(2047) == "2047.0 B");
    CHECK(scheduler::bytes_to_string(2048) == "2.0 KiB");
    CHECK(scheduler::bytes_to_string(1u << 20) == "1024.0 KiB");
    CHECK(scheduler::bytes_to_string(2u << 20) == "2.0 MiB");
    CHECK(scheduler::bytes_to_string(6291466) == "6.0 MiB");
    CHECK(scheduler::bytes_to_string(3ull << 30) == "3.0 GiB");
}

TEST_CASE("Results over ember.task.maxDirectResultSize come back through the BlockManager, exact",
          "[scheduler][task-result]") {
    auto master = GENERATE(as<std::string>{}, "local-cluster[2,1,512]", "local[2]");
    INFO("master " << master);
    auto dir = temp_dir("indirect");
    Conf conf;
    conf.set("ember.local.dir", dir);
    conf.set("ember.task.maxDirectResultSize", "1m");
    SparkContext sc(master, "task-results", conf);
    auto events = std::make_shared<Events>();
    sc.add_spark_listener(events);

    std::vector<int> xs{0, 1, 2, 3};
    auto out = sc.parallelize(xs, 4).map(BigString{kThreeMiB}).collect();
    REQUIRE(out.size() == 4);
    for (int x : xs) {
        INFO("partition " << x);
        CHECK(out[static_cast<std::size_t>(x)] == BigString{kThreeMiB}(x));  // the oracle
    }
    // Listener events are delivered on the loop before the job's waiter is told.
    CHECK(events->num_getting_result() == 4);

    // Small results stay direct: no fetch.
    auto small = sc.parallelize(xs, 4).map(BigString{1000}).collect();
    REQUIRE(small.size() == 4);
    CHECK(small[2] == BigString{1000}(2));
    CHECK(events->num_getting_result() == 4);
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("Results over ember.driver.maxResultSize fail the job with Spark's message; the next job works",
          "[scheduler][task-result]") {
    auto dir = temp_dir("max");
    Conf conf;
    conf.set("ember.local.dir", dir);
    conf.set("ember.task.maxDirectResultSize", "1m");
    std::string expected;
    SECTION("each result is under the limit, two together are over it: fetched, then the total fails") {
        conf.set("ember.driver.maxResultSize", "5m");
        // A collect of one 3 MiB string: 3 MiB and 5 bytes of lengths; two are 6291466 bytes.
        expected = "Job aborted due to stage failure: Total size of serialized results of 2 tasks (6.0 MiB) is "
                   "bigger than ember.driver.maxResultSize (5.0 MiB)";
    }
    SECTION("one result is over the limit: the executor drops it and sends its size only") {
        conf.set("ember.driver.maxResultSize", "1m");
        expected = "Job aborted due to stage failure: Total size of serialized results of 1 tasks (3.0 MiB) is "
                   "bigger than ember.driver.maxResultSize (1024.0 KiB)";
    }
    SparkContext sc("local-cluster[2,1,512]", "max-result-size", conf);
    auto events = std::make_shared<Events>();
    sc.add_spark_listener(events);
    // One core per executor and four tasks: the first two results arrive before any other.
    std::vector<int> xs{0, 1, 2, 3};
    REQUIRE_THROWS_WITH(sc.parallelize(xs, 4).map(BigString{kThreeMiB}).collect(), expected);
    // The killed task's TaskEnd may follow the job's failure (both are loop events).
    CHECK(ember::test::wait_until([&] {
        std::lock_guard lk(events->mu);
        bool killed = false;
        for (auto& r : events->task_ends) killed |= r == "TaskKilled (Tasks result size has exceeded maxResultSize)";
        return killed;
    }));
    // The context still runs jobs, with small results.
    CHECK(sc.parallelize(xs, 4).map(BigString{100}).collect().at(3) == BigString{100}(3));
    sc.stop();
    fs::remove_all(dir);
}

namespace {

/// Kills the executor of the first task whose indirect result the driver starts to fetch, and
/// waits (on the scheduler loop, so before the fetch starts) until its process is gone.
struct KillHolder : scheduler::SparkListener {
    SparkContext* sc = nullptr;
    std::mutex mu;
    std::int64_t victim_tid = -1;
    std::string victim_executor;
    int victim_index = -1;
    std::vector<scheduler::SparkListenerTaskEnd> ends;

    void on_task_getting_result(const scheduler::SparkListenerTaskGettingResult& e) override {
        {
            std::lock_guard lk(mu);
            if (victim_tid >= 0) return;
            victim_tid = e.task_info.task_id;
            victim_executor = e.task_info.executor_id;
            victim_index = e.task_info.index;
        }
        int pid = sc->executor_pid(e.task_info.executor_id);
        if (pid <= 0) return;
        ::kill(pid, SIGKILL);
        // Dead once it is a zombie or gone: its sockets are closed by then.
        ember::test::wait_until([&] { return !ember::test::process_alive(pid); }, std::chrono::seconds(10));
    }
    void on_task_end(const scheduler::SparkListenerTaskEnd& e) override {
        std::lock_guard lk(mu);
        ends.push_back(e);
    }
};

}  // namespace

TEST_CASE("An indirect result lost with its executor is computed again: the job stays exact",
          "[scheduler][task-result]") {
    auto dir = temp_dir("lost");
    Conf conf;
    conf.set("ember.local.dir", dir);
    conf.set("ember.task.maxDirectResultSize", "1m");
    auto killer = std::make_shared<KillHolder>();
    SparkContext sc("local-cluster[2,1,512]", "task-results-lost", conf, {killer});
    killer->sc = &sc;
    std::vector<int> xs{0, 1, 2, 3, 4, 5};
    auto out = sc.parallelize(xs, 6).map(BigString{kThreeMiB}).collect();
    REQUIRE(out.size() == 6);
    for (int x : xs) {
        INFO("partition " << x);
        CHECK(out[static_cast<std::size_t>(x)] == BigString{kThreeMiB}(x));
    }
    sc.stop();
    std::lock_guard lk(killer->mu);
    REQUIRE(killer->victim_tid >= 0);
    // The victim's attempt failed, either because the fetch found the block gone (TaskResultLost)
    // or because the driver saw the executor go first; a later attempt of its index succeeded.
    bool victim_failed = false, retried = false;
    for (auto& e : killer->ends) {
        if (e.task_info.task_id == killer->victim_tid) {
            INFO(e.reason);
            victim_failed = e.reason.starts_with("TaskResultLost") || e.reason.starts_with("ExecutorLostFailure");
            CHECK(victim_failed);
        } else if (e.task_info.index == killer->victim_index && e.reason == "Success") {
            retried = e.task_info.executor_id != killer->victim_executor;
        }
    }
    CHECK(victim_failed);
    CHECK(retried);
    fs::remove_all(dir);
}
