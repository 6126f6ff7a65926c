// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Jobs for placement tests (delay scheduling, speculation, the manual clock): a slow task that
/// honours kills, an RDD whose partitions prefer one executor, and the single-process oracle of
/// their result.

#include "scheduler/ember.hpp"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ember::test {

/// Spins `ms` of real time per record (checking for kills every 2 ms), then returns x * 3.
struct SlowTriple {
    int ms = 0;
    int operator()(int x) const {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < until) {
            scheduler::TaskContext::get()->kill_if_interrupted();
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        return x * 3;
    }
    EMBER_SERDE(ms)
};

/// Elements 0..n-1, one per partition, each preferring executor `executor` on `host` (Spark's
/// makeRDD with "executor_<host>_<id>" locations).
inline Rdd<int> preferring(SparkContext& sc, const std::string& host, const std::string& executor, int n) {
    std::vector<std::pair<int, std::vector<std::string>>> data;
    for (int i = 0; i < n; ++i) data.push_back({i, {"executor_" + host + "_" + executor}});
    return sc.make_rdd(std::move(data));
}

/// 0, 3, ..., 3(n-1): what preferring(...).map(SlowTriple{...}) collects, sorted.
inline std::vector<int> tripled(int n) {
    std::vector<int> v(static_cast<std::size_t>(n));
    std::iota(v.begin(), v.end(), 0);
    for (auto& x : v) x *= 3;
    return v;
}

inline std::vector<int> sorted(std::vector<int> v) {
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace ember::test
