// SPDX-License-Identifier: Apache-2.0
// ember-sim: runs a scenario on a simulated cluster (master sim[E,C,M]: the real driver and
// executors as envs of one ember::sim::Simulation, on one thread, in virtual time) once per
// seed, with kills, restarts, partitions, clogs and dropped frames drawn from the seed, and
// reports each seed whose run went wrong, with its trace. `--replay SEED` runs one seed again
// and prints its whole trace: the same seed gives the same run, event for event.
#include "apps/sim/scenarios.hpp"
#include "rpc/log.hpp"
#include "rpc/sim/simulation.hpp"

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

using namespace ember;
using namespace std::chrono_literals;

namespace {

struct Args {
    std::uint64_t seeds = 100;
    std::uint64_t first_seed = 1;
    std::optional<std::uint64_t> replay;
    std::string trace_dir;
    sim_scenarios::WordCountOptions wc;
    std::vector<std::string> conf;
    double mean_interval_ms = 40;
    double kill_weight = 2, partition_weight = 1, clog_weight = 0;
    double drop_probability = 0;
    double latency_min_ms = 1, latency_max_ms = 5;
};

sim::SimConfig sim_config(const Args& a) {
    auto cfg = sim_scenarios::fault_mix(std::chrono::milliseconds(static_cast<std::int64_t>(a.mean_interval_ms)),
                                        a.kill_weight, a.partition_weight, a.clog_weight);
    cfg.latency_min = std::chrono::microseconds(static_cast<std::int64_t>(a.latency_min_ms * 1000));
    cfg.latency_max = std::chrono::microseconds(static_cast<std::int64_t>(a.latency_max_ms * 1000));
    cfg.drop_probability = a.drop_probability;
    return cfg;
}

struct SeedRun {
    sim_scenarios::Outcome outcome;
    std::string what;
    std::string trace;
    std::chrono::microseconds virtual_time{0};
};

SeedRun run_seed(const Args& a, std::uint64_t seed) {
    auto cfg = sim_config(a);
    cfg.seed = seed;
    SeedRun r;
    sim::Simulation sim(cfg);
    try {
        r.outcome = sim_scenarios::word_count(sim, a.wc, r.what);
    } catch (const std::exception& e) {
        r.outcome = sim_scenarios::Outcome::failed;
        r.what = std::string("exception: ") + e.what();
    }
    r.trace = sim.trace_text();
    r.virtual_time = sim.now();
    return r;
}

const char* outcome_name(sim_scenarios::Outcome o) {
    switch (o) {
        case sim_scenarios::Outcome::correct: return "correct";
        case sim_scenarios::Outcome::aborted: return "aborted";
        case sim_scenarios::Outcome::failed: return "failed";
    }
    return "?";
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    CLI::App cli{"ember-sim: a word count on a simulated cluster, once per seed, with faults from the seed; "
                 "reports each failing seed with its trace"};
    cli.add_option("--seeds", a.seeds, "how many seeds to run")->capture_default_str()->check(CLI::PositiveNumber);
    cli.add_option("--first-seed", a.first_seed, "the first seed")->capture_default_str();
    cli.add_option("--replay", a.replay, "run this one seed and print its whole trace");
    cli.add_option("--trace-dir", a.trace_dir, "write each failing seed's trace to DIR/seed-<n>.trace");
    cli.add_option("--executors", a.wc.executors, "simulated executors")->capture_default_str()->check(CLI::PositiveNumber);
    cli.add_option("--cores", a.wc.cores, "cores per executor")->capture_default_str()->check(CLI::PositiveNumber);
    cli.add_option("--words", a.wc.words, "words in the corpus")->capture_default_str()->check(CLI::PositiveNumber);
    cli.add_option("--mean-interval", a.mean_interval_ms, "mean virtual ms between faults (0: none)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    cli.add_option("--kill-weight", a.kill_weight, "relative odds of killing an executor")->capture_default_str();
    cli.add_option("--partition-weight", a.partition_weight, "relative odds of a partition")->capture_default_str();
    cli.add_option("--clog-weight", a.clog_weight, "relative odds of a clog")->capture_default_str();
    cli.add_option("--drop-probability", a.drop_probability, "per frame: lost, its connection reset")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    cli.add_option("--latency-min", a.latency_min_ms, "one-way latency, ms")->capture_default_str();
    cli.add_option("--latency-max", a.latency_max_ms, "one-way latency, ms")->capture_default_str();
    cli.add_option("--conf", a.conf, "KEY=VALUE for the application (repeatable), e.g. "
                                     "ember.testing.dagScheduler.ignoreFetchFailures=1");
    CLI11_PARSE(cli, argc, argv);
    if (a.latency_max_ms < a.latency_min_ms) {
        std::fprintf(stderr, "ember-sim: error: --latency-max (%g) is below --latency-min (%g)\n", a.latency_max_ms,
                     a.latency_min_ms);
        return 2;
    }
    for (auto& kv : a.conf) {
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
            std::fprintf(stderr, "ember-sim: error: --conf %s: expected KEY=VALUE\n", kv.c_str());
            return 2;
        }
        a.wc.conf.set(kv.substr(0, eq), kv.substr(eq + 1));
    }
    // A hung job is a bug here: give it a bound in virtual time unless the user set one.
    if (!a.wc.conf.contains("ember.sim.jobTimeout")) a.wc.conf.set("ember.sim.jobTimeout", "2min");
    if (!std::getenv("EMBER_LOG_LEVEL")) log::set_level(spdlog::level::off);  // the faults make many warnings

    if (a.replay) {
        auto r = run_seed(a, *a.replay);
        std::fputs(r.trace.c_str(), stdout);
        std::fprintf(stderr, "seed %llu: %s%s%s (%.3f s of virtual time)\n", static_cast<unsigned long long>(*a.replay),
                     outcome_name(r.outcome), r.what.empty() ? "" : ": ", r.what.c_str(),
                     std::chrono::duration<double>(r.virtual_time).count());
        return r.outcome == sim_scenarios::Outcome::failed ? 1 : 0;
    }

    // The command that replays a seed: this one's options, with --replay.
    std::string command = argv[0];
    for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
    if (!a.trace_dir.empty()) std::filesystem::create_directories(a.trace_dir);
    auto wall = std::chrono::steady_clock::now();
    std::uint64_t correct = 0, aborted = 0, failed = 0;
    for (std::uint64_t seed = a.first_seed; seed - a.first_seed < a.seeds; ++seed) {
        auto r = run_seed(a, seed);
        if (r.outcome == sim_scenarios::Outcome::correct) ++correct;
        if (r.outcome == sim_scenarios::Outcome::aborted) ++aborted;
        if (r.outcome != sim_scenarios::Outcome::failed) continue;
        ++failed;
        boost::json::object line{{"seed", seed}, {"outcome", "failed"}, {"what", r.what}};
        if (!a.trace_dir.empty()) {
            auto path = std::filesystem::path(a.trace_dir) / fmt::format("seed-{}.trace", seed);
            std::ofstream(path) << r.trace;
            line["trace"] = path.string();
        } else {
            line["trace_lines"] = std::count(r.trace.begin(), r.trace.end(), '\n');
        }
        line["replay"] = fmt::format("{} --replay {}", command, seed);
        std::cout << boost::json::serialize(line) << std::endl;
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
    boost::json::object summary{{"seeds", a.seeds},
                                {"first_seed", a.first_seed},
                                {"correct", correct},
                                {"aborted", aborted},
                                {"failed", failed},
                                {"seconds", seconds},
                                {"seeds_per_minute", seconds > 0 ? static_cast<double>(a.seeds) * 60 / seconds : 0.0}};
    std::cout << boost::json::serialize(summary) << std::endl;
    return failed > 0 ? 1 : 0;
}
