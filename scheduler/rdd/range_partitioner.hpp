// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RangePartitioner: sort_by_key's partitioner, whose key ranges come from sampling the input
/// with a job (Spark's RangePartitioner, with its sketch and determineBounds).

#include "scheduler/closure.hpp"
#include "scheduler/rdd/actions.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/registry.hpp"
#include "scheduler/spark_context.hpp"
#include "shuffle/partitioner.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace ember::scheduler {

/// Assigns keys to bounds.size() + 1 ranges: partition i (ascending) holds the keys k with
/// bounds[i-1] < k <= bounds[i] under `cmp`; descending numbers the ranges from the other end,
/// so that partitions in order hold keys in descending order. Equal keys share a partition.
/// Threading: immutable.
template <class K, class Cmp = std::less<>>
struct RangePartitioner {
    std::vector<K> bounds;  ///< strictly increasing under cmp
    bool ascending = true;
    Cmp cmp{};

    int partition(const K& key) const {
        auto first_not_below = std::lower_bound(bounds.begin(), bounds.end(), key,
                                                [this](const K& b, const K& k) { return std::invoke(cmp, b, k); });
        int i = static_cast<int>(first_not_below - bounds.begin());
        return ascending ? i : static_cast<int>(bounds.size()) - i;
    }
};

template <class K, class Cmp>
int partition_count(const RangePartitioner<K, Cmp>& p) {
    return static_cast<int>(p.bounds.size()) + 1;
}

}  // namespace ember::scheduler

namespace ember {
template <class K, class Cmp>
struct ClosureCodec<scheduler::RangePartitioner<K, Cmp>> {
    static void encode(Encoder& e, const scheduler::RangePartitioner<K, Cmp>& p) {
        e.write(p.bounds);
        e.write(p.ascending);
        ClosureCodec<Cmp>::encode(e, p.cmp);
    }
    static scheduler::RangePartitioner<K, Cmp> decode(Decoder& d) {
        auto bounds = d.read<std::vector<K>>();
        bool ascending = d.read<bool>();
        return {std::move(bounds), ascending, ClosureCodec<Cmp>::decode(d)};
    }
};
}  // namespace ember

namespace ember::scheduler {

namespace detail {
/// A sampling seed per (RDD, partition, purpose), fixed so that a job samples alike every run.
inline std::uint64_t sample_seed(int rdd_id, int partition, std::uint64_t purpose) {
    return shuffle::mix64((static_cast<std::uint64_t>(static_cast<std::uint32_t>(rdd_id)) << 32) ^
                          static_cast<std::uint32_t>(partition) ^ (purpose << 56));
}
}  // namespace detail

/// The sampling task of sort_by_key (Spark's RangePartitioner.sketch): a uniform sample of at
/// most `sample_size` keys of the partition (reservoir sampling) and the partition's record
/// count, encoded as (uint64 count, vector<K> sample). The sample is the same on every run.
/// Threading: immutable; run() may run concurrently for different partitions.
template <class K, class V>
class SketchFn final : public ResultFunctionBase {
public:
    explicit SketchFn(std::uint64_t sample_size) : sample_size_(sample_size) {}

    std::string run(RddBase& rdd, int p, TaskContext& tc) override {
        std::vector<K> reservoir;
        std::uint64_t n = 0;
        std::mt19937_64 rng(detail::sample_seed(rdd.id(), p, 1));
        detail::typed<std::pair<K, V>>(rdd).iterator(p, tc, [&](std::pair<K, V>&& kv) {
            ++n;
            if (reservoir.size() < sample_size_) {
                reservoir.push_back(std::move(kv.first));
                return;
            }
            // Record n replaces a sampled one with probability sample_size / n.
            std::uint64_t slot = std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng);
            if (slot < sample_size_) reservoir[static_cast<std::size_t>(slot)] = std::move(kv.first);
        });
        Encoder e;
        e.write(n);
        e.write(reservoir);
        return e.take();
    }
    const char* type_key() const override { return result_fn_type_key<SketchFn>(); }
    void encode_params(Encoder& e) const override { e.write(sample_size_); }
    static std::shared_ptr<ResultFunctionBase> decode(Decoder& d) {
        return std::make_shared<SketchFn>(d.read<std::uint64_t>());
    }

private:
    std::uint64_t sample_size_;
};

/// The re-sampling task of sort_by_key for partitions much larger than average: each key with
/// probability `fraction` (Spark's sample(withReplacement = false)), encoded as vector<K>.
/// Threading: immutable; run() may run concurrently for different partitions.
template <class K, class V>
class BernoulliSampleFn final : public ResultFunctionBase {
public:
    explicit BernoulliSampleFn(double fraction) : fraction_(fraction) {}

    std::string run(RddBase& rdd, int p, TaskContext& tc) override {
        std::vector<K> sample;
        std::mt19937_64 rng(detail::sample_seed(rdd.id(), p, 2));
        std::bernoulli_distribution keep(fraction_);
        detail::typed<std::pair<K, V>>(rdd).iterator(p, tc, [&](std::pair<K, V>&& kv) {
            if (keep(rng)) sample.push_back(std::move(kv.first));
        });
        return encode(sample);
    }
    const char* type_key() const override { return result_fn_type_key<BernoulliSampleFn>(); }
    void encode_params(Encoder& e) const override { e.write(fraction_); }
    static std::shared_ptr<ResultFunctionBase> decode(Decoder& d) {
        return std::make_shared<BernoulliSampleFn>(d.read<double>());
    }

private:
    double fraction_;
};

/// At most `partitions - 1` strictly increasing bounds that cut the weighted candidates into
/// `partitions` ranges of about equal weight (Spark's RangePartitioner.determineBounds). A
/// candidate's weight is the number of input records it stands for.
template <class K, class Cmp>
std::vector<K> determine_bounds(std::vector<std::pair<K, double>> candidates, int partitions, const Cmp& cmp) {
    std::vector<K> bounds;
    if (partitions <= 1 || candidates.empty()) return bounds;
    std::sort(candidates.begin(), candidates.end(),
              [&](const auto& a, const auto& b) { return std::invoke(cmp, a.first, b.first); });
    double total = 0;
    for (auto& c : candidates) total += c.second;
    const double step = total / partitions;
    double cumulative = 0;
    double target = step;
    for (auto& [key, weight] : candidates) {
        if (static_cast<int>(bounds.size()) >= partitions - 1) break;
        cumulative += weight;
        // A bound is placed once the weight so far reaches the next target; equal keys cannot
        // be split between partitions, so a repeated key is skipped.
        if (cumulative >= target && (bounds.empty() || std::invoke(cmp, bounds.back(), key))) {
            bounds.push_back(key);
            target += step;
        }
    }
    return bounds;
}

/// Builds sort_by_key's RangePartitioner for `partitions` output partitions over the keys of
/// `rdd`, running jobs on `sc` as Spark does when sortByKey is called (eagerly, before any
/// action):
/// 1. a sketch job over every partition: a reservoir sample of
///    ceil(3 x min(20 x partitions, 1e6) / rdd partitions) keys and the record count of each;
/// 2. only if some partition holds more than its share (its count x the overall sampling
///    fraction exceeds the per-partition sample), a second job re-samples just those partitions
///    with that fraction (Bernoulli), so large partitions are not under-represented;
/// 3. determine_bounds over the samples weighted by records per sample.
/// No job runs when partitions <= 1; an empty input gives no bounds (one output partition).
/// Throws SparkException if a sampling job fails.
template <class K, class V, class Cmp>
RangePartitioner<K, Cmp> sample_range_partitioner(SparkContext& sc, const std::shared_ptr<RddNode<std::pair<K, V>>>& rdd,
                                                  int partitions, bool ascending, Cmp cmp, const std::string& call_site) {
    RangePartitioner<K, Cmp> out{{}, ascending, cmp};
    const int inputs = rdd->num_partitions();
    if (partitions <= 1 || inputs == 0) return out;
    const double sample_size = std::min(20.0 * partitions, 1e6);
    const auto per_partition = static_cast<std::uint64_t>(std::ceil(3.0 * sample_size / inputs));

    std::vector<std::pair<std::uint64_t, std::vector<K>>> sketches(static_cast<std::size_t>(inputs));
    std::vector<int> all(static_cast<std::size_t>(inputs));
    std::iota(all.begin(), all.end(), 0);
    sc.run_job(rdd, std::make_shared<SketchFn<K, V>>(per_partition), all,
               [&](int i, std::string_view bytes) {
                   Decoder d(bytes);
                   auto& s = sketches[static_cast<std::size_t>(i)];
                   s.first = d.read<std::uint64_t>();
                   s.second = d.read<std::vector<K>>();
               },
               call_site);
    std::uint64_t total = 0;
    for (auto& s : sketches) total += s.first;
    if (total == 0) return out;

    const double fraction = std::min(sample_size / static_cast<double>(total), 1.0);
    std::vector<std::pair<K, double>> candidates;
    std::vector<int> imbalanced;
    for (int i = 0; i < inputs; ++i) {
        auto& [n, sample] = sketches[static_cast<std::size_t>(i)];
        if (fraction * static_cast<double>(n) > static_cast<double>(per_partition)) {
            imbalanced.push_back(i);
        } else if (!sample.empty()) {
            double weight = static_cast<double>(n) / static_cast<double>(sample.size());
            for (auto& k : sample) candidates.emplace_back(std::move(k), weight);
        }
    }
    if (!imbalanced.empty()) {
        const double weight = 1.0 / fraction;
        sc.run_job(rdd, std::make_shared<BernoulliSampleFn<K, V>>(fraction), imbalanced,
                   [&](int, std::string_view bytes) {
                       for (auto& k : decode<std::vector<K>>(bytes)) candidates.emplace_back(std::move(k), weight);
                   },
                   call_site);
    }
    int cuts = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(partitions), candidates.size()));
    out.bounds = determine_bounds(std::move(candidates), cuts, out.cmp);
    return out;
}

}  // namespace ember::scheduler
