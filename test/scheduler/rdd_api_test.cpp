// SPDX-License-Identifier: Apache-2.0
// The Rdd transformations beyond map/filter/reduce_by_key (map_partitions, union_with, distinct,
// cogroup, the joins, sort_by_key), in local[2] and on a local cluster of executor processes:
// results against a single-process oracle on seeded random data (duplicate keys, empty
// partitions, keys on one side only), and the stage structure each one must produce.
#include "scheduler/ember.hpp"

#define CATCH_CONFIG_ENABLE_PAIR_STRINGMAKER
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <ranges>
#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace ember;
using ember::scheduler::SparkListener;

namespace {

constexpr std::uint32_t kSeed = 20240611;

/// Records job starts and stage completions.
struct Recorder : SparkListener {
    std::mutex mu;
    std::vector<scheduler::SparkListenerJobStart> jobs;
    std::vector<scheduler::StageInfo> completed;
    void on_job_start(const scheduler::SparkListenerJobStart& e) override {
        std::lock_guard lk(mu);
        jobs.push_back(e);
    }
    void on_stage_completed(const scheduler::SparkListenerStageCompleted& e) override {
        std::lock_guard lk(mu);
        completed.push_back(e.stage_info);
    }
    std::size_t num_jobs() {
        std::lock_guard lk(mu);
        return jobs.size();
    }
    scheduler::SparkListenerJobStart job(std::size_t i) {
        std::lock_guard lk(mu);
        return jobs.at(i);
    }
    scheduler::SparkListenerJobStart last_job() {
        std::lock_guard lk(mu);
        return jobs.back();
    }
};

/// (shuffle map stages, result stages) of a job, skipped stages included.
std::pair<int, int> stage_shape(const scheduler::SparkListenerJobStart& job) {
    std::pair<int, int> out{0, 0};
    for (auto& s : job.stage_infos) (s.is_shuffle_map ? out.first : out.second)++;
    return out;
}

std::string master_for(const std::string& which) {
    return which == "cluster" ? "local-cluster[2,1,512]" : "local[2]";
}

template <class T>
int key_of(const T& x) {
    if constexpr (requires { x.first; }) {
        return x.first;
    } else {
        return x;
    }
}

/// `records` in `slices` partitions, the ones listed in `empty` holding nothing. Every slice is
/// filled to one length (parallelize cuts equal slices), padding with `filler` (a record whose
/// key is negative), which a filter then drops.
template <class T>
Rdd<T> with_empty_partitions(SparkContext& sc, const std::vector<T>& records, int slices, const std::set<int>& empty,
                             const T& filler, std::vector<std::vector<T>>* layout = nullptr) {
    const std::size_t full = static_cast<std::size_t>(slices) - empty.size();
    const std::size_t len = (records.size() + full - 1) / full;
    std::vector<T> data;
    std::vector<std::vector<T>> parts(static_cast<std::size_t>(slices));
    std::size_t next = 0;
    for (int s = 0; s < slices; ++s) {
        for (std::size_t i = 0; i < len; ++i) {
            if (!empty.count(s) && next < records.size()) {
                parts[static_cast<std::size_t>(s)].push_back(records[next]);
                data.push_back(records[next++]);
            } else {
                data.push_back(filler);
            }
        }
    }
    if (layout) *layout = parts;
    return sc.parallelize(data, slices).filter([](const T& x) { return key_of(x) >= 0; });
}

std::vector<std::pair<int, int>> random_pairs(std::mt19937& rng, int n, int key_lo, int key_hi) {
    std::uniform_int_distribution<int> key(key_lo, key_hi - 1), value(0, 1'000'000);
    std::vector<std::pair<int, int>> out;
    for (int i = 0; i < n; ++i) out.emplace_back(key(rng), value(rng));
    return out;
}

template <class T>
std::vector<T> sorted(std::vector<T> v) {
    std::sort(v.begin(), v.end());
    return v;
}

// A lambda, not a function: a function pointer would travel as a raw address, which means
// nothing in an executor process (closure.hpp).
constexpr auto add = [](int a, int b) { return a + b; };

}  // namespace

TEST_CASE("parallelize's slices reach the executors exactly, as fixed-width bytes or with their Serde",
          "[scheduler][rdd][api]") {
    // Numbers and pairs of numbers travel as native bytes, other records (bool, strings) with
    // their Serde: each kind, with its extreme values, comes back as it went.
    SparkContext sc("local-cluster[2,1,512]", "slices");
    constexpr auto lo = std::numeric_limits<int>::min(), hi = std::numeric_limits<int>::max();
    std::vector<std::pair<int, int>> edges{{lo, hi}, {0, -1}, {hi, lo}, {7, 7}, {-300, 300}};
    CHECK(sc.parallelize(edges, 2).collect() == edges);
    CHECK(sc.parallelize(edges, 4).collect() == edges);  // slices of one and two records
    CHECK(sc.parallelize(edges, 8).collect() == edges);  // and empty slices
    std::vector<double> doubles{-0.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::denorm_min(),
                                -std::numeric_limits<double>::max(), 1.5};
    auto got = sc.parallelize(doubles, 2).collect();
    REQUIRE(got.size() == doubles.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(std::memcmp(&got[i], &doubles[i], sizeof(double)) == 0);  // -0.0 stays -0.0
    }
    std::vector<std::pair<std::int64_t, std::uint8_t>> mixed{{std::numeric_limits<std::int64_t>::min(), 255}, {1, 0}};
    CHECK(sc.parallelize(mixed, 2).collect() == mixed);
    std::vector<std::pair<bool, int>> flags{{true, 1}, {false, -1}, {true, hi}};
    CHECK(sc.parallelize(flags, 2).collect() == flags);
    std::vector<std::pair<std::string, double>> named{{"a", 1.0}, {"", -2.5}, {std::string(300, 'x'), 0.0}};
    CHECK(sc.parallelize(named, 2).collect() == named);
    sc.stop();
}

TEST_CASE("map_partitions sees each partition whole, empty ones included, and adds no stage", "[scheduler][rdd][api]") {
    for (std::string which : {"local", "cluster"}) {
        SECTION(which) {
            SparkContext sc(master_for(which), "map-partitions");
            auto rec = std::make_shared<Recorder>();
            sc.add_spark_listener(rec);
            std::mt19937 rng(kSeed);
            INFO("seed " << kSeed);
            std::uniform_int_distribution<int> dist(0, 100'000);
            std::vector<int> records(5000);
            for (auto& x : records) x = dist(rng);
            std::vector<std::vector<int>> layout;
            auto rdd = with_empty_partitions(sc, records, 8, {0, 3, 7}, -1, &layout);

            // (count, sum) per partition, in partition order.
            auto stats = rdd.map_partitions([](std::vector<int>&& part) {
                                std::int64_t sum = std::accumulate(part.begin(), part.end(), std::int64_t{0});
                                return std::vector<std::pair<std::size_t, std::int64_t>>{{part.size(), sum}};
                            })
                             .collect();
            REQUIRE(stats.size() == 8);
            for (std::size_t p = 0; p < 8; ++p) {
                CHECK(stats[p].first == layout[p].size());
                CHECK(stats[p].second == std::accumulate(layout[p].begin(), layout[p].end(), std::int64_t{0}));
            }
            auto shape = stage_shape(rec->last_job());
            CHECK(shape == std::pair<int, int>{0, 1});
            CHECK(rec->last_job().stage_infos[0].num_tasks == 8);

            // A view into the partition, and the partition index.
            auto evens = rdd.map_partitions([](std::vector<int>&& part) {
#if defined(__clang__) && __clang_major__ < 15
                                // clang 14 (the sanitizer and fuzz build) cannot compile libstdc++
                                // 12's views: the same records as a vector there.
                                std::vector<int> out;
                                std::copy_if(part.begin(), part.end(), std::back_inserter(out),
                                             [](int x) { return x % 2 == 0; });
                                return out;
#else
                                return part | std::views::filter([](int x) { return x % 2 == 0; });
#endif
                            })
                             .collect();
            std::vector<int> expected_evens;
            for (auto& part : layout) {
                for (int x : part) {
                    if (x % 2 == 0) expected_evens.push_back(x);
                }
            }
            CHECK(evens == expected_evens);
            int offset = 1000;  // a captured number travels with the task
            auto tagged = rdd.map_partitions_with_index([offset](int index, std::vector<int>&& part) {
                                 std::vector<std::pair<int, std::string>> out;
                                 for (int x : part) out.emplace_back(index + offset, std::to_string(x));
                                 return out;
                             })
                              .collect();
            std::vector<std::pair<int, std::string>> expected_tagged;
            for (int p = 0; p < 8; ++p) {
                for (int x : layout[static_cast<std::size_t>(p)]) expected_tagged.emplace_back(p + 1000, std::to_string(x));
            }
            CHECK(tagged == expected_tagged);
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{0, 1});
        }
    }
}

TEST_CASE("union_with concatenates partitions without a shuffle, or zips co-partitioned ones", "[scheduler][rdd][api]") {
    for (std::string which : {"local", "cluster"}) {
        SECTION(which) {
            SparkContext sc(master_for(which), "union");
            auto rec = std::make_shared<Recorder>();
            sc.add_spark_listener(rec);
            std::mt19937 rng(kSeed + 1);
            INFO("seed " << kSeed + 1);
            auto a_records = random_pairs(rng, 3000, 0, 500);
            auto b_records = random_pairs(rng, 2000, 300, 900);
            auto a = with_empty_partitions(sc, a_records, 5, {1}, std::pair{-1, 0});
            auto b = with_empty_partitions(sc, b_records, 4, {3}, std::pair{-1, 0});

            auto u = a.union_with(b);
            CHECK(u.num_partitions() == 9);
            CHECK_FALSE(u.node()->partitioner());
            CHECK(u.node()->kind() == "UnionRDD");
            auto all = u.collect();
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{0, 1});
            CHECK(rec->last_job().stage_infos[0].num_tasks == 9);
            auto expected = a_records;
            expected.insert(expected.end(), b_records.begin(), b_records.end());
            CHECK(all == expected);  // a's partitions, then b's, each in order
            CHECK(u.union_with(u).count() == 2 * expected.size());

            // Two RDDs hash-partitioned alike: partition p of the union is partition p of both.
            auto sa = a.reduce_by_key(add, 4);
            auto sb = b.reduce_by_key(add, 4);
            auto zipped = sa.union_with(sb);
            CHECK(zipped.num_partitions() == 4);
            CHECK(zipped.node()->kind() == "PartitionerAwareUnionRDD");
            REQUIRE(zipped.node()->partitioner());
            CHECK(zipped.node()->partitioner()->num_partitions == 4);
            std::map<int, int> sums_a, sums_b;
            for (auto& [k, v] : a_records) sums_a[k] += v;
            for (auto& [k, v] : b_records) sums_b[k] += v;
            std::vector<std::pair<int, int>> expected_zipped(sums_a.begin(), sums_a.end());
            expected_zipped.insert(expected_zipped.end(), sums_b.begin(), sums_b.end());
            CHECK(sorted(zipped.collect()) == sorted(expected_zipped));
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{2, 1});  // the two reduce_by_key shuffles
            // Reducing the union again needs no shuffle: it is partitioned already.
            auto total = zipped.reduce_by_key(add);
            CHECK(total.num_partitions() == 4);
            std::map<int, int> both = sums_a;
            for (auto& [k, v] : sums_b) both[k] += v;
            auto got = total.collect();
            CHECK(std::map<int, int>(got.begin(), got.end()) == both);
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{2, 1});
            // Different partition counts: concatenated.
            CHECK(sa.union_with(b.reduce_by_key(add, 3)).num_partitions() == 7);
        }
    }
}

TEST_CASE("distinct removes duplicates through one shuffle", "[scheduler][rdd][api]") {
    for (std::string which : {"local", "cluster"}) {
        SECTION(which) {
            SparkContext sc(master_for(which), "distinct");
            auto rec = std::make_shared<Recorder>();
            sc.add_spark_listener(rec);
            std::mt19937 rng(kSeed + 2);
            INFO("seed " << kSeed + 2);
            std::uniform_int_distribution<int> dist(0, 700);
            std::vector<int> records(6000);
            for (auto& x : records) x = dist(rng);
            auto rdd = with_empty_partitions(sc, records, 6, {2, 5}, -1);

            auto d = rdd.distinct();
            CHECK(d.num_partitions() == 6);  // Spark: this RDD's partition count
            auto got = d.collect();
            std::set<int> expected(records.begin(), records.end());
            CHECK(sorted(got) == std::vector<int>(expected.begin(), expected.end()));
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{1, 1});
            auto d3 = rdd.distinct(3);
            CHECK(d3.num_partitions() == 3);
            CHECK(d3.count() == expected.size());

            std::vector<std::string> words;
            std::set<std::string> distinct_words;
            for (int i = 0; i < 3000; ++i) {
                words.push_back("w" + std::to_string(dist(rng) % 250));
                distinct_words.insert(words.back());
            }
            auto dw = sc.parallelize(words, 5).distinct(4).collect();
            CHECK(sorted(dw) == std::vector<std::string>(distinct_words.begin(), distinct_words.end()));

            // Already hash-partitioned pairs: duplicates share a partition, no new shuffle.
            std::vector<std::pair<int, int>> pairs;
            for (int i = 0; i < 2000; ++i) pairs.emplace_back(i % 300, i % 7);
            auto grouped = sc.parallelize(pairs, 4).reduce_by_key([](int a, int b) { return std::min(a, b); }, 4);
            auto doubled = grouped.union_with(grouped);  // every record twice, still partitioned
            auto unique = doubled.distinct();
            auto unique_records = unique.collect();
            CHECK(unique_records.size() == 300);
            CHECK(sorted(unique_records) == sorted(grouped.collect()));
            unique.count();
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{1, 1});  // only reduce_by_key's
        }
    }
}

TEST_CASE("cogroup shuffles each unpartitioned parent and reads a co-partitioned one narrowly", "[scheduler][rdd][api]") {
    for (std::string which : {"local", "cluster"}) {
        SECTION(which) {
            SparkContext sc(master_for(which), "cogroup");
            auto rec = std::make_shared<Recorder>();
            sc.add_spark_listener(rec);
            std::mt19937 rng(kSeed + 3);
            INFO("seed " << kSeed + 3);
            auto left_records = random_pairs(rng, 4000, 0, 600);    // keys 0..599
            auto right_int = random_pairs(rng, 3000, 400, 1000);     // keys 400..999: some on one side only
            std::vector<std::pair<int, std::string>> right_records;
            for (auto& [k, v] : right_int) right_records.emplace_back(k, "v" + std::to_string(v));
            auto left = with_empty_partitions(sc, left_records, 6, {0, 4}, std::pair{-1, 0});
            auto right = with_empty_partitions(sc, right_records, 5, {2}, std::pair{-1, std::string()});

            std::map<int, std::pair<std::vector<int>, std::vector<std::string>>> expected;
            for (auto& [k, v] : left_records) expected[k].first.push_back(v);
            for (auto& [k, v] : right_records) expected[k].second.push_back(v);
            for (auto& [k, g] : expected) {
                std::sort(g.first.begin(), g.first.end());
                std::sort(g.second.begin(), g.second.end());
            }
            auto check = [&](auto rdd) {
                auto got = rdd.collect();
                std::map<int, std::pair<std::vector<int>, std::vector<std::string>>> m;
                for (auto& [k, g] : got) {
                    CHECK(m.count(k) == 0);  // one record per key
                    std::sort(g.first.begin(), g.first.end());
                    std::sort(g.second.begin(), g.second.end());
                    m[k] = g;
                }
                CHECK(m == expected);
            };

            auto cg = left.cogroup(right, 7);
            CHECK(cg.num_partitions() == 7);
            CHECK(cg.node()->kind() == "CoGroupedRDD");
            check(cg);
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{2, 1});
            auto cg_default = left.cogroup(right);  // the larger parent's partition count
            CHECK(cg_default.num_partitions() == 6);
            check(cg_default);

            // A parent partitioned like the output is read through a narrow dependency.
            auto left_sums = left.reduce_by_key(add, 4);
            std::map<int, int> sums;
            for (auto& [k, v] : left_records) sums[k] += v;
            auto check_sums = [&](auto rdd) {
                auto got = rdd.collect();
                std::size_t keys = 0;
                for (auto& [k, g] : got) {
                    auto it = expected.find(k);
                    REQUIRE(it != expected.end());
                    std::sort(g.second.begin(), g.second.end());
                    CHECK(g.second == it->second.second);
                    if (sums.count(k)) {
                        CHECK(g.first == std::vector<int>{sums[k]});
                    } else {
                        CHECK(g.first.empty());
                    }
                    ++keys;
                }
                CHECK(keys == expected.size());
            };
            auto narrow = left_sums.cogroup(right, 4);
            check_sums(narrow);
            // reduce_by_key's shuffle and right's; left_sums is not shuffled again.
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{2, 1});
            auto shuffled = left_sums.cogroup(right, 5);
            check_sums(shuffled);
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{3, 1});
            // Default partitioner: left_sums' (4 is within 10x of right's 5 partitions).
            auto by_default = left_sums.cogroup(right);
            CHECK(by_default.num_partitions() == 4);
            check_sums(by_default);
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{2, 1});
            // Partitioning survives a filter and a map_partitions that says it keeps keys.
            auto kept = left_sums.filter([](const std::pair<int, int>&) { return true; })
                            .map_partitions([](std::vector<std::pair<int, int>>&& p) { return std::move(p); }, true);
            check_sums(right.cogroup(kept).map_partitions([](auto&& part) {
                std::vector<std::pair<int, std::pair<std::vector<int>, std::vector<std::string>>>> out;
                for (auto& [k, g] : part) out.emplace_back(k, std::pair{std::move(g.second), std::move(g.first)});
                return out;
            }));
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{2, 1});
        }
    }
}

TEST_CASE("join and the outer joins match a nested-loop join", "[scheduler][rdd][api]") {
    for (std::string which : {"local", "cluster"}) {
        SECTION(which) {
            SparkContext sc(master_for(which), "join");
            auto rec = std::make_shared<Recorder>();
            sc.add_spark_listener(rec);
            std::mt19937 rng(kSeed + 4);
            INFO("seed " << kSeed + 4);
            auto left_records = random_pairs(rng, 2500, 0, 500);
            auto right_int = random_pairs(rng, 1500, 250, 800);
            std::vector<std::pair<int, std::string>> right_records;
            for (auto& [k, v] : right_int) right_records.emplace_back(k, std::to_string(v % 1000));
            auto left = with_empty_partitions(sc, left_records, 5, {3}, std::pair{-1, 0});
            auto right = with_empty_partitions(sc, right_records, 4, {0}, std::pair{-1, std::string()});

            std::multimap<int, int> lm(left_records.begin(), left_records.end());
            std::multimap<int, std::string> rm(right_records.begin(), right_records.end());
            using Inner = std::pair<int, std::pair<int, std::string>>;
            using LeftOuter = std::pair<int, std::pair<int, std::optional<std::string>>>;
            using RightOuter = std::pair<int, std::pair<std::optional<int>, std::string>>;
            using FullOuter = std::pair<int, std::pair<std::optional<int>, std::optional<std::string>>>;
            std::vector<Inner> inner;
            std::vector<LeftOuter> left_outer;
            std::vector<RightOuter> right_outer;
            std::vector<FullOuter> full_outer;
            for (auto& [k, v] : left_records) {
                auto [lo, hi] = rm.equal_range(k);
                if (lo == hi) {
                    left_outer.push_back({k, {v, std::nullopt}});
                    full_outer.push_back({k, {v, std::nullopt}});
                }
                for (auto it = lo; it != hi; ++it) {
                    inner.push_back({k, {v, it->second}});
                    left_outer.push_back({k, {v, it->second}});
                    right_outer.push_back({k, {v, it->second}});
                    full_outer.push_back({k, {v, it->second}});
                }
            }
            for (auto& [k, w] : right_records) {
                if (!lm.count(k)) {
                    right_outer.push_back({k, {std::nullopt, w}});
                    full_outer.push_back({k, {std::nullopt, w}});
                }
            }
            REQUIRE(inner.size() > 1000);  // the data really overlap, with duplicate keys

            auto joined = left.join(right, 6);
            CHECK(joined.num_partitions() == 6);
            CHECK(sorted(joined.collect()) == sorted(inner));
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{2, 1});
            CHECK(sorted(left.join(right).collect()) == sorted(inner));
            CHECK(sorted(left.left_outer_join(right, 3).collect()) == sorted(left_outer));
            CHECK(sorted(left.right_outer_join(right).collect()) == sorted(right_outer));
            CHECK(sorted(left.full_outer_join(right, 2).collect()) == sorted(full_outer));
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{2, 1});

            // Both sides partitioned alike: the join itself shuffles nothing.
            auto left_max = left.reduce_by_key([](int a, int b) { return std::max(a, b); }, 4);
            auto right_min = right.reduce_by_key([](std::string a, std::string b) { return std::min(a, b); }, 4);
            std::map<int, int> lmax;
            std::map<int, std::string> rmin;
            for (auto& [k, v] : left_records) lmax[k] = lmax.count(k) ? std::max(lmax[k], v) : v;
            for (auto& [k, w] : right_records) rmin[k] = rmin.count(k) ? std::min(rmin[k], w) : w;
            std::vector<Inner> expected;
            for (auto& [k, v] : lmax) {
                if (rmin.count(k)) expected.push_back({k, {v, rmin[k]}});
            }
            auto co = left_max.join(right_min);
            CHECK(co.num_partitions() == 4);
            REQUIRE(co.node()->partitioner());
            CHECK(sorted(co.collect()) == expected);
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{2, 1});  // the two reduce_by_key shuffles
            CHECK(sorted(left_max.join(right_min, 5).collect()) == expected);
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{4, 1});
        }
    }
}

TEST_CASE("sort_by_key samples with a job, then sorts globally through one shuffle", "[scheduler][rdd][api]") {
    for (std::string which : {"local", "cluster"}) {
        SECTION(which) {
            SparkContext sc(master_for(which), "sort");
            auto rec = std::make_shared<Recorder>();
            sc.add_spark_listener(rec);
            std::mt19937 rng(kSeed + 5);
            INFO("seed " << kSeed + 5);
            auto records = random_pairs(rng, 10000, 0, 1'000'000);
            for (int i = 0; i < 2000; ++i) records.push_back({records[static_cast<std::size_t>(i) * 3].first, i});  // duplicates
            std::shuffle(records.begin(), records.end(), rng);
            auto rdd = with_empty_partitions(sc, records, 8, {1, 6}, std::pair{-1, 0});
            auto expected_keys = [&](bool ascending) {
                std::vector<int> keys;
                for (auto& r : records) keys.push_back(r.first);
                std::sort(keys.begin(), keys.end());
                if (!ascending) std::reverse(keys.begin(), keys.end());
                return keys;
            };

            auto jobs_before = rec->num_jobs();
            auto asc = rdd.sort_by_key(true, 4);
            // The sampling job ran at once, over every input partition.
            REQUIRE(rec->num_jobs() == jobs_before + 1);
            auto sample_job = rec->job(jobs_before);
            CHECK(stage_shape(sample_job) == std::pair<int, int>{0, 1});
            CHECK(sample_job.stage_infos[0].num_tasks == 8);
            CHECK(asc.num_partitions() == 4);
            auto got = asc.collect();
            CHECK(rec->num_jobs() == jobs_before + 2);
            CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{1, 1});
            std::vector<int> keys;
            for (auto& r : got) keys.push_back(r.first);
            CHECK(keys == expected_keys(true));
            CHECK(sorted(got) == sorted(records));
            // The ranges are balanced: every output partition holds a fair share.
            auto sizes = asc.map_partitions([](std::vector<std::pair<int, int>>&& p) {
                               return std::vector<std::size_t>{p.size()};
                           })
                             .collect();
            REQUIRE(sizes.size() == 4);
            for (auto n : sizes) CHECK(n > records.size() / 8);

            auto desc = rdd.sort_by_key(false);
            CHECK(desc.num_partitions() == rdd.num_partitions());
            keys.clear();
            auto got_desc = desc.collect();
            for (auto& r : got_desc) keys.push_back(r.first);
            CHECK(keys == expected_keys(false));
            CHECK(sorted(got_desc) == sorted(records));

            // A custom order on string keys (by length, then text), descending.
            std::vector<std::pair<std::string, int>> words;
            for (int i = 0; i < 3000; ++i) words.emplace_back(std::string(static_cast<std::size_t>(i % 13 + 1), static_cast<char>('a' + i % 26)), i);
            auto by_length = [](const std::string& a, const std::string& b) {
                return a.size() != b.size() ? a.size() < b.size() : a < b;
            };
            auto got_words = sc.parallelize(words, 5).sort_by_key(false, 3, by_length).collect();
            REQUIRE(got_words.size() == words.size());
            for (std::size_t i = 1; i < got_words.size(); ++i) {
                CHECK_FALSE(by_length(got_words[i - 1].first, got_words[i].first));
            }
            CHECK(sorted(got_words) == sorted(words));

            // One output partition needs no sample; an empty input gives one partition.
            jobs_before = rec->num_jobs();
            auto single = rdd.sort_by_key(true, 1);
            CHECK(rec->num_jobs() == jobs_before);
            CHECK(single.num_partitions() == 1);
            keys.clear();
            for (auto& r : single.collect()) keys.push_back(r.first);
            CHECK(keys == expected_keys(true));
            auto none = rdd.filter([](const std::pair<int, int>&) { return false; }).sort_by_key(true, 4);
            CHECK(none.num_partitions() == 1);
            CHECK(none.collect().empty());
        }
    }
}

TEST_CASE("sort_by_key re-samples a partition much larger than the others", "[scheduler][rdd][api]") {
    SparkContext sc("local-cluster[2,1,512]", "sort-skew");
    auto rec = std::make_shared<Recorder>();
    sc.add_spark_listener(rec);
    std::mt19937 rng(kSeed + 6);
    INFO("seed " << kSeed + 6);
    // Partition 0 holds 8000 of 10000 records: 8000 x (160 / 10000) = 128 sampled keys wanted
    // there, more than the 60 each partition's sketch keeps.
    std::vector<std::pair<int, int>> big = random_pairs(rng, 8000, 0, 500'000);
    std::vector<std::pair<int, int>> small = random_pairs(rng, 2000, 250'000, 1'000'000);
    auto rdd = sc.parallelize(big, 1).union_with(sc.parallelize(small, 7));
    auto jobs_before = rec->num_jobs();
    auto sorted_rdd = rdd.sort_by_key(true, 8);
    REQUIRE(rec->num_jobs() == jobs_before + 2);
    auto resample = rec->job(jobs_before + 1);
    CHECK(stage_shape(resample) == std::pair<int, int>{0, 1});
    CHECK(resample.stage_infos[0].num_tasks == 1);  // only the large partition
    auto got = sorted_rdd.collect();
    std::vector<std::pair<int, int>> all = big;
    all.insert(all.end(), small.begin(), small.end());
    std::vector<int> keys, expected;
    for (auto& r : got) keys.push_back(r.first);
    for (auto& r : all) expected.push_back(r.first);
    std::sort(expected.begin(), expected.end());
    CHECK(keys == expected);
    CHECK(sorted(got) == sorted(all));
    auto sizes = sorted_rdd.map_partitions([](std::vector<std::pair<int, int>>&& p) {
                               return std::vector<std::size_t>{p.size()};
                           })
                     .collect();
    for (auto n : sizes) CHECK(n < all.size() / 3);  // the big partition was split
}

TEST_CASE("reduce_by_key and group_by_key on a partitioned RDD aggregate in place", "[scheduler][rdd][api]") {
    SparkContext sc("local-cluster[2,1,512]", "combine-in-place");
    auto rec = std::make_shared<Recorder>();
    sc.add_spark_listener(rec);
    std::mt19937 rng(kSeed + 7);
    auto records = random_pairs(rng, 4000, 0, 300);
    std::map<int, int> counts;
    std::map<int, std::vector<int>> groups;
    for (auto& [k, v] : records) {
        counts[k] += 1;
        groups[k].push_back(v);
    }
    auto ones = sc.parallelize(records, 6).map([](std::pair<int, int> kv) { return std::pair{kv.first, 1}; });
    auto per_key = ones.reduce_by_key(add, 5);
    auto again = per_key.reduce_by_key(add);  // already partitioned: no second shuffle
    CHECK(again.num_partitions() == 5);
    auto got = again.collect();
    CHECK(std::map<int, int>(got.begin(), got.end()) == counts);
    CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{1, 1});
    auto reshuffled = per_key.reduce_by_key(add, 3);
    CHECK(reshuffled.count() == counts.size());
    CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{2, 1});
    auto grouped = sc.parallelize(records, 4).group_by_key(5);
    auto regrouped = grouped.group_by_key().collect();
    REQUIRE(regrouped.size() == groups.size());
    for (auto& [k, vss] : regrouped) {
        REQUIRE(vss.size() == 1);
        CHECK(sorted(vss[0]) == sorted(groups[k]));
    }
    CHECK(stage_shape(rec->last_job()) == std::pair<int, int>{1, 1});
}

TEST_CASE("String keys combine on both sides, spilling, and count exactly", "[scheduler][rdd][api][spill]") {
    // Word-count shaped: string keys of every length (empty, short, past the small-string
    // buffer, and larger than a quarter of the map side's arena block), many repeated. A tiny
    // execution memory makes the map side's combine table dump and spill every few hundred
    // keys; the element threshold makes the reduce side spill.
    for (std::string which : {"local", "cluster"}) {
        DYNAMIC_SECTION(which) {
            Conf conf;
            conf.set("ember.memory.fraction", "0.0001");
            conf.set("ember.shuffle.spill.numElementsForceSpillThreshold", "500");
            SparkContext sc(master_for(which), "string-keys", conf);
            auto rec = std::make_shared<Recorder>();
            sc.add_spark_listener(rec);
            std::mt19937 rng(kSeed + 11);
            std::vector<std::string> vocabulary{"", std::string(300 << 10, 'x'), std::string(300 << 10, 'y')};
            for (int i = 0; i < 4000; ++i) {
                std::string w(std::uniform_int_distribution<int>(1, i % 50 == 0 ? 100 : 20)(rng), 'a');
                for (auto& c : w) c = static_cast<char>('a' + rng() % 26);
                vocabulary.push_back(std::move(w));
            }
            std::vector<std::string> words;
            std::map<std::string, std::uint64_t> expected;
            for (int i = 0; i < 30000; ++i) {
                // Skewed: low indices are frequent.
                auto r = std::uniform_real_distribution<double>(0, 1)(rng);
                auto& w = vocabulary[static_cast<std::size_t>(r * r * static_cast<double>(vocabulary.size()))];
                words.push_back(w);
                ++expected[w];
            }
            auto got = sc.parallelize(words, 5)
                           .map([](std::string w) { return std::pair<std::string, std::uint64_t>(std::move(w), 1); })
                           .reduce_by_key([](std::uint64_t a, std::uint64_t b) { return a + b; }, 4)
                           .collect();
            CHECK(got.size() == expected.size());
            CHECK(std::map<std::string, std::uint64_t>(got.begin(), got.end()) == expected);

            std::lock_guard lk(rec->mu);
            int map_spills = 0, reduce_spills = 0;
            for (auto& st : rec->completed) {
                if (st.metrics.disk_bytes_spilled > 0) ++(st.is_shuffle_map ? map_spills : reduce_spills);
            }
            CHECK(map_spills >= 1);
            CHECK(reduce_spills >= 1);
        }
    }
}

TEST_CASE("String keys group and cogroup exactly while the reduce side spills", "[scheduler][rdd][api][spill]") {
    // The reduce side keeps string keys in an arena table whose growing combiners (vectors) are
    // sized by sampling; the element threshold makes every reduce task spill and merge by hash.
    for (std::string which : {"local", "cluster"}) {
        DYNAMIC_SECTION(which) {
            Conf conf;
            conf.set("ember.shuffle.spill.numElementsForceSpillThreshold", "100");
            SparkContext sc(master_for(which), "string-groups", conf);
            std::mt19937 rng(kSeed + 13);
            auto key = [&] {
                std::string k(std::uniform_int_distribution<int>(0, 40)(rng), 'a');
                for (auto& c : k) c = static_cast<char>('a' + rng() % 3);  // short keys repeat
                return k;
            };
            std::vector<std::pair<std::string, int>> left, right;
            for (int i = 0; i < 5000; ++i) left.emplace_back(key(), i);
            for (int i = 0; i < 2000; ++i) right.emplace_back(key(), -i);
            std::map<std::string, std::pair<std::vector<int>, std::vector<int>>> expected;
            for (auto& [k, v] : left) expected[k].first.push_back(v);
            for (auto& [k, w] : right) expected[k].second.push_back(w);

            auto groups = sc.parallelize(left, 4).group_by_key(3).collect();
            std::size_t with_left = 0;
            for (auto& [k, g] : expected) with_left += g.first.empty() ? 0 : 1;
            REQUIRE(groups.size() == with_left);
            for (auto& [k, vs] : groups) {
                INFO("key '" << k << "'");
                CHECK(sorted(vs) == sorted(expected.at(k).first));
            }
            auto cg = sc.parallelize(left, 4).cogroup(sc.parallelize(right, 2), 3).collect();
            REQUIRE(cg.size() == expected.size());
            for (auto& [k, g] : cg) {
                INFO("key '" << k << "'");
                CHECK(sorted(g.first) == sorted(expected.at(k).first));
                CHECK(sorted(g.second) == sorted(expected.at(k).second));
            }
        }
    }
}

TEST_CASE("Reduce sides spill past their memory and still give exact results", "[scheduler][rdd][api][spill]") {
    // A threshold of 64 records in memory forces many spills in every reduce task (Spark's
    // spark.shuffle.spill.numElementsForceSpillThreshold).
    for (std::string which : {"local", "cluster"}) {
        DYNAMIC_SECTION(which) {
            Conf conf;
            conf.set("ember.shuffle.spill.numElementsForceSpillThreshold", "64");
            SparkContext sc(master_for(which), "spill", conf);
            auto rec = std::make_shared<Recorder>();
            sc.add_spark_listener(rec);
            std::mt19937 rng(kSeed + 7);
            auto left = random_pairs(rng, 6000, 0, 1500);
            auto right = random_pairs(rng, 3000, 500, 2500);

            std::map<int, std::int64_t> sums;
            std::map<int, std::vector<int>> groups;
            for (auto& [k, v] : left) {
                sums[k] += v;
                groups[k].push_back(v);
            }
            auto got_sums = sc.parallelize(left, 4)
                                .map([](std::pair<int, int> kv) { return std::pair<int, std::int64_t>(kv.first, kv.second); })
                                .reduce_by_key([](std::int64_t a, std::int64_t b) { return a + b; }, 3)
                                .collect();
            CHECK(std::map<int, std::int64_t>(got_sums.begin(), got_sums.end()) == sums);

            auto got_groups = sc.parallelize(left, 4).group_by_key(3).collect();
            REQUIRE(got_groups.size() == groups.size());
            for (auto& [k, vs] : got_groups) {
                INFO("key " << k);
                CHECK(sorted(vs) == sorted(groups.at(k)));
            }

            std::map<int, std::pair<std::vector<int>, std::vector<int>>> cg;
            for (auto& [k, v] : left) cg[k].first.push_back(v);
            for (auto& [k, w] : right) cg[k].second.push_back(w);
            auto got_cg = sc.parallelize(left, 4).cogroup(sc.parallelize(right, 3), 3).collect();
            REQUIRE(got_cg.size() == cg.size());
            for (auto& [k, g] : got_cg) {
                INFO("key " << k);
                CHECK(sorted(g.first) == sorted(cg.at(k).first));
                CHECK(sorted(g.second) == sorted(cg.at(k).second));
            }

            // The inner join builds its right side in memory and streams the left past it; when
            // the right side spills it goes through the spilling cogroup instead.
            std::vector<std::pair<int, std::pair<int, int>>> inner;
            std::multimap<int, int> rm(right.begin(), right.end());
            for (auto& [k, v] : left) {
                auto [lo, hi] = rm.equal_range(k);
                for (auto it = lo; it != hi; ++it) inner.push_back({k, {v, it->second}});
            }
            REQUIRE(inner.size() > 1000);
            CHECK(sorted(sc.parallelize(left, 4).join(sc.parallelize(right, 3), 3).collect()) == sorted(inner));

            auto got_sorted = sc.parallelize(left, 4).sort_by_key(true, 3).collect();
            REQUIRE(got_sorted.size() == left.size());
            CHECK(std::is_sorted(got_sorted.begin(), got_sorted.end(),
                                 [](auto& a, auto& b) { return a.first < b.first; }));
            CHECK(sorted(got_sorted) == sorted(left));

            // The result stages (reduce sides) report what they spilled.
            std::lock_guard lk(rec->mu);
            int spilled_stages = 0;
            for (auto& s : rec->completed) {
                if (!s.is_shuffle_map && s.metrics.disk_bytes_spilled > 0) ++spilled_stages;
            }
            CHECK(spilled_stages >= 4);
        }
    }
}

TEST_CASE("An inner join steps over the unmatched records of its streamed side, stored or shuffled",
          "[scheduler][rdd][api]") {
    for (std::string which : {"local", "cluster"}) {
        SECTION(which) {
            SparkContext sc(master_for(which), "join-skip");
            std::mt19937 rng(kSeed + 11);
            INFO("seed " << kSeed + 11);
            // PageRank's shape: (node, out-links) grouped and cached, joined with a few nodes'
            // values. Link ids of every varint length, negative ones too.
            auto edges = random_pairs(rng, 20000, 0, 5000);
            for (auto& e : edges) e.second = (e.second % 2 ? -1 : 1) * (e.second << (e.second % 12));
            std::vector<std::pair<int, double>> small;
            for (int k = 0; k < 5000; k += 17) small.emplace_back(k, k * 0.5);
            for (int k = 0; k < 5000; k += 170) small.emplace_back(k, -1.0);  // two values for these keys

            using Out = std::pair<int, std::pair<std::vector<int>, double>>;
            std::map<int, std::vector<int>> groups;
            for (auto& [k, v] : edges) groups[k].push_back(v);
            std::vector<Out> expected;
            for (auto& [k, w] : small) {
                if (auto g = groups.find(k); g != groups.end()) {
                    auto vs = g->second;
                    std::sort(vs.begin(), vs.end());
                    expected.push_back({k, {vs, w}});
                }
            }
            REQUIRE(expected.size() > 250);
            auto normalised = [](std::vector<Out> got) {
                for (auto& r : got) std::sort(r.second.first.begin(), r.second.first.end());
                std::sort(got.begin(), got.end());
                return got;
            };
            std::sort(expected.begin(), expected.end());

            // Cached and partitioned like the join: read through the narrow dependency, computed
            // and stored by the first job, read from the stored blocks (on either executor) by
            // the next ones.
            auto links = sc.parallelize(edges, 4).group_by_key(4).cache();
            auto right = sc.parallelize(small, 3);
            for (int pass = 0; pass < 3; ++pass) {
                INFO("pass " << pass);
                CHECK(normalised(links.join(right, 4).collect()) == expected);
            }
            // Partitioned otherwise: the links come through a shuffle, whose unmatched vectors
            // are skipped in the fetched blocks.
            CHECK(normalised(links.join(right, 5).collect()) == expected);
            CHECK(normalised(sc.parallelize(edges, 3).group_by_key(3).join(right, 2).collect()) == expected);
        }
    }
}

TEST_CASE("A join looks a few keys up in a cached partition's key index, repeated keys and string keys included",
          "[scheduler][rdd][api]") {
    for (std::string which : {"local", "cluster"}) {
        SECTION(which) {
            SparkContext sc(master_for(which), "join-index");
            std::mt19937 rng(kSeed + 12);
            INFO("seed " << kSeed + 12);
            // (node, link) pairs partitioned like the join and cached as objects: every key repeats.
            auto edges = random_pairs(rng, 20000, 0, 3000);
            auto pairs = sc.parallelize(edges, 4)
                             .group_by_key(4)
                             .flat_map_values([](const std::vector<int>& vs) { return vs; })
                             .cache();
            // A few keys (under half of a partition's records: the index is used), two values
            // for some, and keys no edge has.
            std::vector<std::pair<int, double>> few;
            for (int k = 0; k < 3100; k += 23) few.emplace_back(k, k * 0.25);
            for (int k = 0; k < 3100; k += 230) few.emplace_back(k, -1.0);
            std::vector<std::pair<int, std::pair<int, double>>> expected;
            for (auto& [k, v] : edges) {
                for (auto& [j, w] : few) {
                    if (j == k) expected.push_back({k, {v, w}});
                }
            }
            std::sort(expected.begin(), expected.end());
            REQUIRE(expected.size() > 800);
            auto right = sc.parallelize(few, 3);
            // The first pass computes and stores the partitions; the next ones read them (through
            // the index where an executor holds its partition, as bytes from the other one).
            for (int pass = 0; pass < 3; ++pass) {
                INFO("pass " << pass);
                CHECK(sorted(pairs.join(right, 4).collect()) == expected);
            }
            // The records come in the cached partition's order: against a keyed right side
            // (one value per key), the join's left values are the cached side filtered.
            auto keyed = sc.parallelize(few, 3).reduce_by_key([](double a, double) { return a; }, 4);
            auto order = pairs.join(keyed, 4).map([](const std::pair<int, std::pair<int, double>>& r) {
                return std::pair<int, int>(r.first, r.second.first);
            });
            auto in_few = [](const std::pair<int, int>& r) { return r.first % 23 == 0; };
            CHECK(order.collect() == pairs.filter(in_few).collect());
            // Two keys: the few positions found are sorted instead of marked in a bitmap.
            std::vector<std::pair<int, std::pair<int, double>>> two_expected;
            for (auto& [k, v] : edges) {
                if (k == 46 || k == 2277) two_expected.push_back({k, {v, k * 0.25}});
            }
            REQUIRE(!two_expected.empty());
            std::vector<std::pair<int, double>> two{{46, 46 * 0.25}, {2277, 2277 * 0.25}};
            CHECK(sorted(pairs.join(sc.parallelize(two, 2), 4).collect()) == sorted(two_expected));

            // String keys: the index views the cached records' keys.
            std::vector<std::pair<std::string, int>> named;
            for (auto& [k, v] : edges) named.emplace_back("node-" + std::to_string(k), v);
            auto named_pairs = sc.parallelize(named, 4).group_by_key(4).flat_map_values([](const std::vector<int>& vs) {
                return vs;
            });
            named_pairs.cache();
            std::vector<std::pair<std::string, double>> named_few;
            for (auto& [k, w] : few) named_few.emplace_back("node-" + std::to_string(k), w);
            std::vector<std::pair<std::string, std::pair<int, double>>> named_expected;
            for (auto& [k, vw] : expected) named_expected.push_back({"node-" + std::to_string(k), vw});
            std::sort(named_expected.begin(), named_expected.end());
            for (int pass = 0; pass < 2; ++pass) {
                INFO("string keys, pass " << pass);
                CHECK(sorted(named_pairs.join(sc.parallelize(named_few, 2), 4).collect()) == named_expected);
            }
        }
    }
}
