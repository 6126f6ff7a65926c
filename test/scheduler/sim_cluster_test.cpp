// SPDX-License-Identifier: Apache-2.0
// The scheduler in a deterministic simulation (issue: RpcEnv for endpoint authors, part 5):
// master sim[E,C,M] runs the real driver (DAGScheduler, TaskSchedulerImpl, DriverEndpoint,
// HeartbeatReceiver, BlockManagerMaster, MapOutputTrackerMaster) and E real executors
// (CoarseGrainedExecutorBackend, Executor, BlockManager) as envs of one ember::sim::Simulation:
// one thread, virtual time, every latency and fault from the seed. A run replays exactly.
#include "apps/sim/scenarios.hpp"
#include "rpc/sim/simulation.hpp"
#include "scheduler/ember.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

using namespace ember;
using namespace std::chrono_literals;

// Seeds per sweep: sanitizer builds (-O0, ASan) run a seed about 100x slower.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kSeeds = 8;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr int kSeeds = 8;
#else
constexpr int kSeeds = 100;
#endif
#else
constexpr int kSeeds = 100;
#endif

namespace {

struct JobRun {
    std::vector<std::int64_t> squares;
    std::int64_t sum = 0;
    std::string trace;
    std::chrono::microseconds virtual_time{0};
    std::vector<std::string> threads_during;
};

/// Names of this process's threads now (from /proc).
std::vector<std::string> thread_names() {
    std::vector<std::string> names;
    for (auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(e.path() / "comm");
        std::string name;
        std::getline(comm, name);
        names.push_back(name);
    }
    return names;
}

JobRun run_jobs(sim::SimConfig cfg) {
    sim::Simulation sim(cfg);
    JobRun out;
    {
        SparkContext sc("sim[2,2,512]", "sim-jobs");
        std::vector<int> data(1000);
        std::iota(data.begin(), data.end(), 0);
        auto rdd = sc.parallelize(data, 8);
        out.squares = rdd.map([](int x) { return static_cast<std::int64_t>(x) * x; }).collect();
        out.sum = rdd.map([](int x) { return static_cast<std::int64_t>(x); }).reduce([](auto a, auto b) { return a + b; });
        out.threads_during = thread_names();
    }
    out.trace = sim.trace_text();
    out.virtual_time = sim.now();
    return out;
}

}  // namespace

TEST_CASE("jobs run on a simulated cluster of real executors, in virtual time, replayed exactly", "[sim][scheduler]") {
    sim::SimConfig cfg;
    cfg.seed = 17;
    auto wall = std::chrono::steady_clock::now();
    auto a = run_jobs(cfg);
    CHECK(std::chrono::steady_clock::now() - wall < 30s);
    REQUIRE(a.squares.size() == 1000);
    for (std::size_t i = 0; i < a.squares.size(); ++i) CHECK(a.squares[i] == static_cast<std::int64_t>(i * i));
    CHECK(a.sum == 499500);
    // The tasks ran on the executors, through the driver's scheduler, over the simulated network.
    CHECK_THAT(a.trace, Catch::Contains("REQUEST RegisterExecutor"));
    CHECK_THAT(a.trace, Catch::Contains("LaunchTask"));
    CHECK_THAT(a.trace, Catch::Contains("StatusUpdate"));
    // No task, timer, heartbeat or I/O threads: the simulation's thread ran the driver's and the
    // executors' work. (Each BlockManager's idle upload and replication pools still exist.)
    for (auto& name : a.threads_during) {
        INFO("thread " << name);
        CHECK_FALSE(name.starts_with("task-"));
        CHECK(name.find("-io-") == std::string::npos);
        CHECK(name.find("heartbeat") == std::string::npos);
        CHECK(name.find("executor-loss") == std::string::npos);
        CHECK(name.find("revive") == std::string::npos);
    }
    if (std::getenv("EMBER_SIM_TRACE")) fmt::print("{}", a.trace);

    auto b = run_jobs(cfg);
    CHECK(a.trace == b.trace);
    CHECK(a.virtual_time == b.virtual_time);
    cfg.seed = 18;
    CHECK(run_jobs(cfg).trace != a.trace);
}

namespace {

/// The first line where two traces differ ("" if they are equal).
std::string first_difference(const std::string& a, const std::string& b) {
    std::size_t line = 0, start = 0;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
        if (a[i] != b[i]) {
            return fmt::format("line {}:\n  first:  {}\n  second: {}", line, a.substr(start, a.find('\n', start) - start),
                               b.substr(start, b.find('\n', start) - start));
        }
        if (a[i] == '\n') {
            ++line;
            start = i + 1;
        }
    }
    return a.size() == b.size() ? "" : "one trace is a prefix of the other";
}

/// The two-stage word count of `ember-sim` on a simulated cluster: "" if the counts match the
/// oracle, else what went wrong. A job Spark's failure limits aborted throws its SparkException.
std::string word_count_scenario(sim::Simulation& sim, const Conf& extra = {}) {
    sim_scenarios::WordCountOptions o;
    o.conf = extra;
    std::string what;
    if (sim_scenarios::word_count(sim, o, what) == sim_scenarios::Outcome::aborted) throw SparkException(what);
    return what;
}

}  // namespace

TEST_CASE("a shuffle runs on a simulated cluster: map outputs fetched across the simulated network", "[sim][scheduler]") {
    sim::SimConfig cfg;
    cfg.seed = 3;
    std::string trace;
    {
        sim::Simulation sim(cfg);
        CHECK(word_count_scenario(sim) == "");
        trace = sim.trace_text();
    }
    CHECK_THAT(trace, Catch::Contains("GetMapOutputStatuses"));
    CHECK_THAT(trace, Catch::Contains("FetchBlocks"));
    sim::Simulation again(cfg);
    CHECK(word_count_scenario(again) == "");
    CHECK(first_difference(trace, again.trace_text()) == "");
}

namespace {

/// Faults while a job runs: executors killed (restarted 20-300 ms later) and cut off from the
/// driver or each other, every 40 ms on average, over a job of about 100 ms.
sim::SimConfig chaos_config() { return sim_scenarios::fault_mix(); }

struct SweepStats {
    int seeds = 0, with_kills = 0, with_partitions = 0, with_resubmits = 0, aborted = 0;
};

/// The word count under chaos; counts what the faults did. A job that Spark's rules abort
/// (a stage failed ember.stage.maxConsecutiveAttempts times, a task 4 times) ends cleanly with
/// its reason: counted, not a failure. A wrong answer or a job that never ends is one.
std::function<std::string(sim::Simulation&)> counted_word_count(SweepStats& stats, Conf extra = {}) {
    return [&stats, extra](sim::Simulation& s) {
        std::string what;
        try {
            what = word_count_scenario(s, extra);
        } catch (const SparkException& e) {
            if (std::string_view(e.what()).find("Job aborted due to stage failure") == std::string_view::npos) throw;
            ++stats.aborted;
        }
        auto t = s.trace_text();
        ++stats.seeds;
        stats.with_kills += t.find(" kill executor-") != std::string::npos;
        stats.with_partitions += t.find(" partition ") != std::string::npos;
        stats.with_resubmits += t.find("(incarnation 2)") != std::string::npos;
        return what;
    };
}

}  // namespace

TEST_CASE("executors killed, restarted and cut off by the seed: jobs still give the right answer", "[sim][scheduler]") {
    SweepStats stats;
    auto wall = std::chrono::steady_clock::now();
    auto failures = sim::sweep(chaos_config(), 1, kSeeds, counted_word_count(stats));
    auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
    fmt::print("{} seeds of a two-stage word count with kills and partitions: {:.2f} s; {} with kills, {} with "
               "partitions, {} with a restarted executor, {} aborted by Spark's failure limits\n",
               kSeeds, seconds, stats.with_kills, stats.with_partitions, stats.with_resubmits, stats.aborted);
    for (auto& f : failures) FAIL_CHECK("seed " << f.seed << ": " << f.what);
    // The faults happened during the jobs, not only after them.
    CHECK(stats.with_kills >= kSeeds / 2);
    CHECK(stats.with_partitions >= kSeeds * 3 / 10);
    CHECK(stats.aborted <= kSeeds / 5);
    if (kSeeds == 100) CHECK(seconds < 60);  // the bar: 100 seeds a minute
}

TEST_CASE("a seed sweep finds a planted scheduler bug (a FetchFailed ignored) and the failing seed replays exactly",
          "[sim][scheduler]") {
    Conf planted{{"ember.testing.dagScheduler.ignoreFetchFailures", "1"}, {"ember.sim.jobTimeout", "2min"}};
    SweepStats stats;
    auto failures = sim::sweep(chaos_config(), 1, kSeeds, counted_word_count(stats, planted));
    fmt::print("planted bug: {} of {} seeds fail\n", failures.size(), kSeeds);
    REQUIRE(failures.size() >= (kSeeds == 100 ? 5u : 1u));
    for (auto& f : failures) CHECK_THAT(f.what, Catch::Contains("did not finish"));
    // The first failing seed again: the same failure, event for event.
    auto& first = failures.front();
    auto cfg = chaos_config();
    cfg.seed = first.seed;
    std::string what, trace;
    {
        sim::Simulation sim(cfg);
        try {
            what = counted_word_count(stats, planted)(sim);
        } catch (const std::exception& e) {
            what = std::string("exception: ") + e.what();
        }
        trace = sim.trace_text();
    }
    CHECK(what == first.what);
    CHECK(first_difference(first.trace, trace) == "");
}
