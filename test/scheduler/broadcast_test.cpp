// SPDX-License-Identifier: Apache-2.0
// sc.broadcast() through real jobs: a broadcast map used by the tasks of local[2]; 200 MiB sent
// to the three executor processes of local-cluster[3,1,1024], where each executor reads it once
// for all its tasks and takes pieces from the others, so the driver serves less than three
// copies; a SIGKILLed executor's replacement reads it again; unpersist makes executors read it
// again; destroy makes value() fail on the driver and in tasks. Results are checked against the
// value computed on the driver; the counters come from each process's BroadcastManager and
// BlockManager, read by tasks.
#include "scheduler/broadcast/broadcast_manager.hpp"
#include "scheduler/ember.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <xxhash.h>

#include <chrono>
#include <csignal>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace ember;
using namespace std::chrono_literals;

namespace {

/// What one task saw of its process: the executor, its broadcast reads and transfers.
struct ProcessStats {
    std::string executor_id;
    std::uint64_t values_read = 0;
    std::uint64_t pieces_fetched = 0;
    std::uint64_t bytes_fetched = 0;
    std::uint64_t bytes_served = 0;
    EMBER_SERDE(executor_id, values_read, pieces_fetched, bytes_fetched, bytes_served)
};

ProcessStats stats_here() {
    auto* tc = scheduler::TaskContext::get();
    auto* m = broadcast::BroadcastManager::current();
    ProcessStats s;
    s.executor_id = tc ? tc->services().executor_id : "?";
    if (m) {
        auto st = m->stats();
        s.values_read = st.values_read;
        s.pieces_fetched = st.pieces_fetched;
        s.bytes_fetched = st.bytes_fetched;
        s.bytes_served = m->block_manager().transfer_counters().bytes_served;
    }
    return s;
}

/// Each executor's stats, from enough short tasks that every executor runs some.
std::map<std::string, ProcessStats> executor_stats(SparkContext& sc, std::size_t executors) {
    std::map<std::string, ProcessStats> out;
    for (int round = 0; round < 5 && out.size() < executors; ++round) {
        std::vector<int> xs(30, 0);
        auto got = sc.parallelize(xs, 30)
                       .map([](int) {
                           std::this_thread::sleep_for(20ms);
                           return stats_here();
                       })
                       .collect();
        for (auto& s : got) out[s.executor_id] = s;
    }
    return out;
}

std::string random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string s(n, '\0');
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
        std::uint64_t v = rng();
        std::memcpy(s.data() + i, &v, 8);
    }
    return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("local[2]: tasks look words up in a broadcast map; destroy makes later use fail", "[broadcast]") {
    SparkContext sc("local[2]", "broadcast-local");
    std::map<std::string, int> table{{"apple", 1}, {"banana", 2}, {"cherry", 3}};
    auto b = sc.broadcast(table);
    CHECK(b.id() == 0);
    CHECK(b.to_string() == "Broadcast(0)");
    static_assert(std::is_trivially_copyable_v<decltype(b)> && sizeof(b) == 8);

    std::vector<std::string> words;
    for (int i = 0; i < 300; ++i) words.push_back(i % 4 == 0 ? "durian" : (i % 4 == 1 ? "apple" : (i % 4 == 2 ? "banana" : "cherry")));
    auto scores = sc.parallelize(words, 6)
                      .map([b](const std::string& w) {
                          auto it = b.value().find(w);
                          return it == b.value().end() ? -1 : it->second;
                      })
                      .collect();
    REQUIRE(scores.size() == words.size());
    for (std::size_t i = 0; i < words.size(); ++i) {
        auto it = table.find(words[i]);
        CHECK(scores[i] == (it == table.end() ? -1 : it->second));
    }
    CHECK(b.value() == table);  // the driver's copy

    // A second broadcast, in a bound value, of another type.
    auto offsets = sc.broadcast(std::vector<std::int64_t>{10, 20, 30});
    auto shifted = sc.parallelize(std::vector<int>{0, 1, 2, 0}, 2)
                       .map(ember::bind([](Broadcast<std::vector<std::int64_t>> o, int i) { return o.value()[static_cast<std::size_t>(i)]; },
                                        offsets))
                       .collect();
    CHECK(shifted == std::vector<std::int64_t>{10, 20, 30, 10});

    // unpersist keeps the driver's copy (local tasks use it).
    b.unpersist(true);
    CHECK(b.value() == table);
    CHECK(sc.parallelize(words, 3).filter([b](const std::string& w) { return b.value().count(w) > 0; }).count() == 225);

    int destroy_line = __LINE__ + 1;
    b.destroy(true);
    std::string expected = fmt::format("Attempted to use Broadcast(0) after it was destroyed (destroy at broadcast_test.cpp:{})",
                                       destroy_line);
    CHECK_THROWS_WITH(b.value(), expected);
    try {
        sc.parallelize(words, 2).map([b](const std::string& w) { return b.value().count(w); }).count();
        FAIL("a job using a destroyed broadcast succeeded");
    } catch (const SparkException& e) {
        CHECK_THAT(e.what(), Catch::Contains(expected));
    }
    CHECK(offsets.value().size() == 3);  // the other broadcast is untouched

    // Stopping the context drops the driver's copies.
    sc.stop();
    CHECK(broadcast::BroadcastManager::current() == nullptr);
    CHECK_THROWS_WITH(offsets.value(), Catch::Contains("needs a running SparkContext"));
    CHECK_THROWS_AS(sc.broadcast(1), SparkException);
}

TEST_CASE("local-cluster[3,1,1024]: 200 MiB reach each executor once, partly from other executors; a replacement "
          "executor reads it again",
          "[broadcast][cluster]") {
    Conf conf;
    conf.set("ember.task.maxFailures", "2");
    // The killed executor's logs are kept there (a failed executor's are): removed at exit.
    conf.set("ember.local.dir", ember::test::fresh_temp_dir("broadcast-local"));
    SparkContext sc("local-cluster[3,1,1024]", "broadcast-200m", conf);
    const std::size_t size = 200u << 20;
    std::uint64_t expected_hash = 0;
    broadcast::BroadcastManager* driver = broadcast::BroadcastManager::current();
    REQUIRE(driver);
    auto served0 = driver->block_manager().transfer_counters().bytes_served;

    auto t0 = std::chrono::steady_clock::now();
    Broadcast<std::string> b;
    {
        std::string value = random_bytes(size, 2026);
        expected_hash = XXH3_64bits(value.data(), value.size());
        t0 = std::chrono::steady_clock::now();
        b = sc.broadcast(std::move(value));
    }
    double put_s = seconds_since(t0);

    // Twelve tasks, four per executor: each hashes the value it sees.
    auto check_job = [&] {
        std::vector<int> xs(12, 0);
        return sc.parallelize(xs, 12)
            .map([b](int) {
                const std::string& v = b.value();
                return std::make_pair(scheduler::TaskContext::get()->services().executor_id,
                                      std::make_pair(static_cast<std::uint64_t>(v.size()), XXH3_64bits(v.data(), v.size())));
            })
            .collect();
    };
    auto t1 = std::chrono::steady_clock::now();
    auto results = check_job();
    double job_s = seconds_since(t1);
    std::set<std::string> ran_on;
    for (auto& [exec, sh] : results) {
        CHECK(sh.first == size);
        CHECK(sh.second == expected_hash);
        ran_on.insert(exec);
    }
    fmt::print("broadcast of {} MiB to 3 executors: broadcast() {:.2f} s, first job (all executors read it) {:.2f} s, "
               "total {:.2f} s\n",
               size >> 20, put_s, job_s, seconds_since(t0));

    auto stats = executor_stats(sc, 3);
    REQUIRE(stats.size() == 3);
    std::uint64_t fetched = 0;
    std::uint64_t served_by_executors = 0;
    for (auto& [exec, s] : stats) {
        CAPTURE(exec);
        CHECK(s.values_read == (ran_on.count(exec) ? 1u : 0u));  // once for all the executor's tasks
        fetched += s.bytes_fetched;
        served_by_executors += s.bytes_served;
    }
    auto stored = stats.begin()->second.bytes_fetched;  // every piece once
    for (auto& [exec, s] : stats) {
        if (ran_on.count(exec)) CHECK(s.bytes_fetched == stored);
    }
    CHECK(stored >= size);
    std::uint64_t driver_served = driver->block_manager().transfer_counters().bytes_served - served0;
    fmt::print("driver served {:.1f} MiB, executors served {:.1f} MiB, executors fetched {:.1f} MiB ({} pieces each)\n",
               driver_served / 1048576.0, served_by_executors / 1048576.0, fetched / 1048576.0,
               stats.begin()->second.pieces_fetched);
    CHECK(driver_served < 3 * stored);
    CHECK(served_by_executors > 0);
    CHECK(driver_served + served_by_executors >= fetched);

    // SIGKILL one executor; its replacement reads the broadcast when its tasks first need it.
    auto pids = sc.executor_pids();
    REQUIRE(pids.size() == 3);
    REQUIRE(::kill(pids[0], SIGKILL) == 0);
    REQUIRE(test::wait_until(
        [&] {
            auto now = sc.executor_pids();
            return now.size() == 3 && std::find(now.begin(), now.end(), pids[0]) == now.end() &&
                   sc.executor_memory_status().size() == 4;
        },
        60s));
    for (auto& [exec, sh] : check_job()) {
        CHECK(sh.first == size);
        CHECK(sh.second == expected_hash);
    }
    auto after = executor_stats(sc, 3);
    REQUIRE(after.size() == 3);
    int replacements = 0;
    for (auto& [exec, s] : after) {
        CAPTURE(exec);
        if (!stats.count(exec)) {
            ++replacements;
            CHECK(s.values_read == 1);
        } else {
            CHECK(s.values_read == stats[exec].values_read);  // the survivors use their cached copy
        }
    }
    CHECK(replacements == 1);

    // unpersist: executors read it again on next use; destroy: tasks fail with the clear error.
    b.unpersist(true);
    for (auto& [exec, sh] : check_job()) CHECK(sh.second == expected_hash);
    for (auto& [exec, s] : executor_stats(sc, 3)) {
        CAPTURE(exec);
        CHECK(s.values_read == after[exec].values_read + 1);
    }
    b.destroy();
    try {
        check_job();
        FAIL("a job using a destroyed broadcast succeeded");
    } catch (const SparkException& e) {
        CHECK_THAT(e.what(), Catch::Contains("Attempted to use Broadcast(0) after it was destroyed"));
    }
    CHECK_THROWS_WITH(b.value(), Catch::StartsWith("Attempted to use Broadcast(0) after it was destroyed (destroy at "
                                                   "broadcast_test.cpp:"));
}
