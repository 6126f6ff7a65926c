// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ember-bench shuffle: sort_by_key and reduce_by_key over generated records (shuffle_jobs.hpp)
/// at several map x reduce layouts, against GNU sort in the same run; with each run's fetch
/// failures, stage retries and the executors' peak memory against their declared memory.

#include "rpc/conf.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

struct ShuffleBenchOptions {
    std::string master = "local-cluster[2,1,1024]";
    std::uint64_t bytes = 4'000'000'000;          ///< input size (--size, e.g. 4g, 1000m)
    std::vector<std::string> layouts{"4x4", "64x4", "4x64", "64x64"};  ///< MAPSxREDUCES
    std::vector<std::string> ops{"sort", "reduce_by_key"};
    std::size_t prefix_chars = 6;                 ///< reduce_by_key groups keys by this prefix
    std::string dir;                              ///< work dir (input, outputs); default: a temp dir
    ember::Conf conf;                             ///< SparkContext configuration
};

/// For each op and layout, lines `<op>-<layout>` (seconds, against GNU sort -S <memory of all
/// executors> --parallel=<cores of the cluster>, plus a group-by pass for reduce_by_key) and
/// `<op>-<layout>-executor-peak-rss` (MiB: the largest executor VmHWM against the declared
/// executor memory); both carry "fetch_failed", "stage_retries", "exact" (the output matched GNU
/// sort's) and "remote_bytes_to_disk". Returns 1 if any output differed or any fetch failed.
int bench_shuffle(const ShuffleBenchOptions& o);

}  // namespace bench
