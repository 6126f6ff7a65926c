// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The seed-sweep scenarios of `ember-sim` (and of test/scheduler/sim_cluster_test.cpp): jobs
/// on a simulated cluster (master sim[E,C,M]) checked against an answer computed without ember.

#include "rpc/sim/simulation.hpp"
#include "scheduler/ember.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember::sim_scenarios {

/// The scenarios' network and fault mix: 1-5 ms latencies, a fault every `mean_interval` on
/// average (kills, partitions and clogs by the given weights), killed processes restarted after
/// 20-300 ms, partitions and clogs lasting 20-500 ms. `ember-sim`'s options set the same fields.
inline sim::SimConfig fault_mix(std::chrono::milliseconds mean_interval = std::chrono::milliseconds(40),
                                double kill_weight = 2, double partition_weight = 1, double clog_weight = 0) {
    using std::chrono::milliseconds;
    sim::SimConfig cfg;
    cfg.latency_min = milliseconds(1);
    cfg.latency_max = milliseconds(5);
    cfg.chaos.mean_interval = mean_interval;
    cfg.chaos.kill_weight = kill_weight;
    cfg.chaos.partition_weight = partition_weight;
    cfg.chaos.clog_weight = clog_weight;
    cfg.chaos.restart_delay_min = milliseconds(20);
    cfg.chaos.restart_delay_max = milliseconds(300);
    cfg.chaos.partition_duration_min = milliseconds(20);
    cfg.chaos.partition_duration_max = milliseconds(500);
    cfg.chaos.clog_duration_min = milliseconds(20);
    cfg.chaos.clog_duration_max = milliseconds(500);
    return cfg;
}

/// `n` words of 97 distinct ones ("w0".."w96"), spread so each partition sees many.
inline std::vector<std::string> corpus_words(int n) {
    std::vector<std::string> words;
    words.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) words.push_back(fmt::format("w{}", (static_cast<long>(i) * 7919) % 97));
    return words;
}

struct WordCountOptions {
    int executors = 3;
    int cores = 2;
    int words = 3000;
    int map_partitions = 12;
    int reduce_partitions = 6;
    Conf conf;  ///< more configuration (ember.testing.*, ember.sim.jobTimeout, ...)
};

/// What a run of the scenario came to.
enum class Outcome {
    correct,  ///< the counts equal the oracle's
    aborted,  ///< Spark's failure limits ended the job, or kept the cluster from starting (not a bug)
    failed,   ///< a wrong answer, or a job that never ended: a bug
};

/// A two-stage word count (parallelize, map to (word, 1), reduce_by_key, collect) on `sim`,
/// compared with std::map counts. `what` says what went wrong (empty when correct).
inline Outcome word_count(sim::Simulation& sim, const WordCountOptions& o, std::string& what) {
    (void)sim;  // the SparkContext finds it: Simulation::current()
    auto words = corpus_words(o.words);
    std::map<std::string, std::int64_t> expected;
    for (auto& w : words) ++expected[w];
    Conf conf{{"ember.master", fmt::format("sim[{},{},512]", o.executors, o.cores)}, {"ember.app.name", "sim-wordcount"}};
    // Shuffle files and block manager dirs in memory when it can: a sweep makes and removes
    // thousands of them, and on ext4 that costs more than the simulation itself.
    if (std::error_code ec; std::filesystem::is_directory("/dev/shm", ec)) conf.set("ember.local.dir", "/dev/shm");
    for (auto& [k, v] : o.conf.entries()) conf.set(k, v);
    try {
        SparkContext sc(conf);
        auto counts = sc.parallelize(words, o.map_partitions)
                          .map([](const std::string& w) { return std::pair<std::string, std::int64_t>(w, 1); })
                          .reduce_by_key([](std::int64_t a, std::int64_t b) { return a + b; }, o.reduce_partitions)
                          .collect();
        std::map<std::string, std::int64_t> got(counts.begin(), counts.end());
        if (counts.size() != got.size()) {
            what = fmt::format("wrong answer: {} records for {} distinct words", counts.size(), got.size());
            return Outcome::failed;
        }
        if (got != expected) {
            std::size_t differ = 0;
            for (auto& [w, n] : expected) differ += !got.count(w) || got.at(w) != n;
            what = fmt::format("wrong answer: {} of {} words counted wrong or missing", differ, expected.size());
            return Outcome::failed;
        }
        what.clear();
        return Outcome::correct;
    } catch (const SparkException& e) {
        what = e.what();
        // Spark's limits, not bugs: a job aborted after too many failures, or a cluster whose
        // executors the faults kept from registering within
        // ember.scheduler.maxRegisteredResourcesWaitingTime.
        std::string_view w(what);
        bool limit = w.find("Job aborted due to stage failure") != std::string_view::npos ||
                     (w.find("executors registered") != std::string_view::npos &&
                      w.find("ember.scheduler.maxRegisteredResourcesWaitingTime") != std::string_view::npos);
        return limit ? Outcome::aborted : Outcome::failed;
    }
}

}  // namespace ember::sim_scenarios
