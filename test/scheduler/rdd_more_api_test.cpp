// SPDX-License-Identifier: Apache-2.0
// The rest of the Rdd API a Spark user reaches for (sample, coalesce, repartition, the *_by_key
// aggregations, map_values, flat_map_values, keys, values, count_by_key, count_by_value,
// zip_with_index, cartesian, foreach, foreach_partition, take, first, lookup, sum, mean, stats,
// empty_rdd), each checked against a plain single-process computation on seeded random data, on
// local[2] and, for the shuffle-based ones, zip_with_index and take, on a local cluster of
// executor processes. Partitions computed are counted with a side-effect file.
#include "scheduler/ember.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#define CATCH_CONFIG_ENABLE_PAIR_STRINGMAKER
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace ember;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kSeed = 20261202;

std::string master_for(const std::string& which) {
    return which == "cluster" ? "local-cluster[2,1,1024]" : "local[2]";
}

/// Job starts and task starts, as listeners hear them.
struct Recorder : scheduler::SparkListener {
    std::mutex mu;
    std::vector<scheduler::SparkListenerJobStart> jobs;
    std::atomic<int> jobs_ended{0};
    std::atomic<int> tasks_started{0};
    void on_job_start(const scheduler::SparkListenerJobStart& e) override {
        std::lock_guard lk(mu);
        jobs.push_back(e);
    }
    void on_job_end(const scheduler::SparkListenerJobEnd&) override { ++jobs_ended; }
    void on_task_start(const scheduler::SparkListenerTaskStart&) override { ++tasks_started; }
    std::size_t num_jobs() {
        std::lock_guard lk(mu);
        return jobs.size();
    }
    scheduler::SparkListenerJobStart job(std::size_t i) {
        std::lock_guard lk(mu);
        return jobs.at(i);
    }
    /// Waits until every started job has ended (listener events arrive asynchronously).
    bool settle() {
        return ember::test::wait_until([&] { return jobs_ended.load() == static_cast<int>(num_jobs()); }, 10s);
    }
};

int num_stages(const scheduler::SparkListenerJobStart& job) { return static_cast<int>(job.stage_infos.size()); }

/// Appends "<partition>\n" to `path` each time a partition is computed, then passes it on.
template <class T>
struct Touch {
    std::string path;
    std::vector<T> operator()(int index, std::vector<T>&& part) const {
        std::string line = std::to_string(index) + "\n";
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            (void)!::write(fd, line.data(), line.size());
            ::close(fd);
        }
        return std::move(part);
    }
    EMBER_SERDE(path)
};

/// The partitions computed, one per line of a Touch file.
std::vector<int> touched(const std::string& path) {
    std::vector<int> out;
    std::ifstream in(path);
    int p;
    while (in >> p) out.push_back(p);
    return out;
}

/// Appends "<line>\n" to `path` (foreach's side effect).
void append_line(const std::string& path, const std::string& line) {
    std::string l = line + "\n";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        (void)!::write(fd, l.data(), l.size());
        ::close(fd);
    }
}

std::vector<std::string> lines_of(const std::string& path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    std::string l;
    while (std::getline(in, l)) out.push_back(l);
    return out;
}

std::vector<std::pair<int, int>> random_pairs(std::size_t n, int keys, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> k(0, keys - 1), v(-1000, 1000);
    std::vector<std::pair<int, int>> out;
    for (std::size_t i = 0; i < n; ++i) out.emplace_back(k(rng), v(rng));
    return out;
}

template <class T>
std::vector<T> sorted(std::vector<T> v) {
    std::sort(v.begin(), v.end());
    return v;
}

/// foreach's function: one line per record.
struct AppendRecord {
    std::string path;
    void operator()(int x) const { append_line(path, std::to_string(x)); }
    EMBER_SERDE(path)
};
/// foreach_partition's function: one line per partition, its size.
struct AppendSize {
    std::string path;
    void operator()(std::vector<int>&& part) const { append_line(path, std::to_string(part.size())); }
    EMBER_SERDE(path)
};

struct PlusInt {
    int operator()(int a, int b) const { return a + b; }
    EMBER_SERDE()
};

}  // namespace

TEST_CASE("aggregate_by_key, combine_by_key and fold_by_key match a single-process oracle",
          "[scheduler][rdd_more]") {
    auto which = GENERATE(as<std::string>{}, "local", "cluster");
    INFO("master " << which);
    SparkContext sc(master_for(which), "by-key");
    auto rec = std::make_shared<Recorder>();
    sc.add_spark_listener(rec);
    const auto data = random_pairs(5000, 97, kSeed);
    std::map<int, std::pair<std::int64_t, std::int64_t>> sum_count;
    std::map<int, std::vector<int>> groups;
    std::map<int, int> sums;
    for (auto& [k, v] : data) {
        sum_count[k].first += v;
        sum_count[k].second += 1;
        groups[k].push_back(v);
        sums[k] += v;
    }
    auto rdd = sc.parallelize(data, 6);

    using SC = std::pair<std::int64_t, std::int64_t>;
    auto agg = rdd.aggregate_by_key(
                      SC{0, 0}, [](SC acc, int v) { return SC{acc.first + v, acc.second + 1}; },
                      [](SC a, SC b) { return SC{a.first + b.first, a.second + b.second}; }, 4)
                   .collect();
    CHECK(std::map<int, SC>(agg.begin(), agg.end()) == sum_count);
    CHECK(agg.size() == sum_count.size());

    auto combined = rdd.combine_by_key([](int v) { return std::vector<int>{v}; },
                                       [](std::vector<int> c, int v) {
                                           c.push_back(v);
                                           return c;
                                       },
                                       [](std::vector<int> a, std::vector<int> b) {
                                           a.insert(a.end(), b.begin(), b.end());
                                           return a;
                                       })
                        .collect();
    std::map<int, std::vector<int>> got_groups;
    for (auto& [k, c] : combined) CHECK(got_groups.emplace(k, sorted(c)).second);
    for (auto& [k, g] : groups) g = sorted(g);
    CHECK(got_groups == groups);

    auto folded = rdd.fold_by_key(0, PlusInt{}, 3);
    CHECK(folded.num_partitions() == 3);
    auto folded_rows = folded.collect();
    CHECK(std::map<int, int>(folded_rows.begin(), folded_rows.end()) == sums);
    CHECK(folded_rows.size() == sums.size());
    REQUIRE(rec->settle());
    // Each is one shuffle: a ShuffleMapStage and the result stage.
    for (std::size_t i = 0; i < rec->num_jobs(); ++i) CHECK(num_stages(rec->job(i)) == 2);
}

TEST_CASE("map_values and flat_map_values keep the partitioner; keys and values; count_by_key and count_by_value",
          "[scheduler][rdd_more]") {
    SparkContext sc("local[2]", "values");
    auto rec = std::make_shared<Recorder>();
    sc.add_spark_listener(rec);
    const auto data = random_pairs(3000, 41, kSeed + 1);
    auto rdd = sc.parallelize(data, 5);

    std::vector<std::pair<int, std::int64_t>> mapped_oracle;
    std::vector<std::pair<int, int>> flat_oracle;
    std::vector<int> keys_oracle, values_oracle;
    std::map<int, std::uint64_t> by_key;
    std::map<int, std::uint64_t> by_value;
    for (auto& [k, v] : data) {
        mapped_oracle.emplace_back(k, static_cast<std::int64_t>(v) * 3);
        for (int i = 0; i < (v & 3); ++i) flat_oracle.emplace_back(k, v + i);
        keys_oracle.push_back(k);
        values_oracle.push_back(v);
        ++by_key[k];
        ++by_value[v % 10];
    }
    auto mapped = rdd.map_values([](int v) { return static_cast<std::int64_t>(v) * 3; });
    CHECK(mapped.collect() == mapped_oracle);  // narrow: order kept
    auto flat = rdd.flat_map_values([](int v) {
        std::vector<int> out;
        for (int i = 0; i < (v & 3); ++i) out.push_back(v + i);
        return out;
    });
    CHECK(flat.collect() == flat_oracle);
    CHECK(rdd.keys().collect() == keys_oracle);
    CHECK(rdd.values().collect() == values_oracle);
    CHECK(rdd.count_by_key() == by_key);
    CHECK(rdd.values().map([](int v) { return v % 10; }).count_by_value() == by_value);

    // The partitioner survives map_values and flat_map_values, so a reduce_by_key into the same
    // partitions is narrow: one stage.
    auto reduced = rdd.reduce_by_key(PlusInt{}, 4);
    REQUIRE(reduced.node()->partitioner());
    auto kept = reduced.map_values([](int v) { return v + 1; }).flat_map_values([](int v) {
        return std::vector<int>{v, -v};
    });
    CHECK(kept.node()->partitioner() == reduced.node()->partitioner());
    CHECK_FALSE(reduced.map([](std::pair<int, int> kv) { return kv; }).node()->partitioner());
    std::size_t before = rec->num_jobs();
    auto again = kept.reduce_by_key(PlusInt{}, 4).collect();
    REQUIRE(rec->settle());
    REQUIRE(rec->num_jobs() == before + 1);
    CHECK(num_stages(rec->job(before)) == 2);  // reduce_by_key's shuffle only, not a second one
    for (auto& [k, v] : again) CHECK(v == 0);
    CHECK(again.size() == by_key.size());
}

TEST_CASE("sample keeps about fraction of the records and is the same for one seed", "[scheduler][rdd_more]") {
    SparkContext sc("local[2]", "sample");
    std::vector<int> xs(100000);
    std::iota(xs.begin(), xs.end(), 0);
    auto rdd = sc.parallelize(xs, 4);

    auto a = rdd.sample(false, 0.1, 42).collect();
    auto b = rdd.sample(false, 0.1, 42).collect();
    auto c = rdd.sample(false, 0.1, 43).collect();
    CHECK(a == b);
    CHECK(a != c);
    // Binomial(100000, 0.1): sd ~ 95; 5 sd either way.
    CHECK(std::abs(static_cast<double>(a.size()) - 10000) < 475);
    CHECK(std::is_sorted(a.begin(), a.end()));
    CHECK(std::adjacent_find(a.begin(), a.end()) == a.end());  // no duplicates without replacement
    // Every quarter is sampled about evenly (each partition has its own generator).
    for (int q = 0; q < 4; ++q) {
        auto n = std::count_if(a.begin(), a.end(), [&](int x) { return x / 25000 == q; });
        CHECK(std::abs(static_cast<double>(n) - 2500) < 250);
    }
    CHECK(rdd.sample(false, 0.0, 1).count() == 0);
    CHECK(rdd.sample(false, 1.0, 1).count() == 100000);

    auto w = rdd.sample(true, 0.5, 7).collect();
    CHECK(w == rdd.sample(true, 0.5, 7).collect());
    CHECK(std::abs(static_cast<double>(w.size()) - 50000) < 5 * std::sqrt(50000.0));
    std::map<int, int> copies;
    for (int x : w) ++copies[x];
    int repeated = 0;
    for (auto& [_, n] : copies) repeated += n > 1 ? 1 : 0;
    // P(k >= 2) for Poisson(0.5) is about 0.09: some 9000 records appear more than once.
    CHECK(repeated > 7000);
    CHECK(repeated < 11000);
    auto over = rdd.sample(true, 2.0, 9).count();
    CHECK(std::abs(static_cast<double>(over) - 200000) < 5 * std::sqrt(200000.0));

    CHECK_THROWS_WITH(rdd.sample(false, -0.1, 1), Catch::Contains("Negative fraction value"));
    CHECK_THROWS_WITH(rdd.sample(false, 1.5, 1), Catch::Contains("must be on interval [0, 1]"));
}

TEST_CASE("coalesce groups partitions without a shuffle; repartition spreads records with one",
          "[scheduler][rdd_more]") {
    auto which = GENERATE(as<std::string>{}, "local", "cluster");
    INFO("master " << which);
    SparkContext sc(master_for(which), "coalesce");
    auto rec = std::make_shared<Recorder>();
    sc.add_spark_listener(rec);
    std::vector<int> xs(1000);
    std::iota(xs.begin(), xs.end(), 1);
    auto rdd = sc.parallelize(xs, 10);

    auto three = rdd.coalesce(3);
    CHECK(three.num_partitions() == 3);
    CHECK(three.collect() == xs);  // contiguous groups keep the order
    auto sizes = three.map_partitions([](std::vector<int>&& p) { return std::vector<std::size_t>{p.size()}; }).collect();
    CHECK(sizes == std::vector<std::size_t>{300, 300, 400});
    CHECK(rdd.coalesce(20).num_partitions() == 10);  // no shuffle: never more partitions
    REQUIRE(rec->settle());
    for (std::size_t i = 0; i < rec->num_jobs(); ++i) CHECK(num_stages(rec->job(i)) == 1);

    for (int n : {7, 3, 16}) {
        INFO("repartition(" << n << ")");
        auto re = rdd.repartition(n);
        CHECK(re.num_partitions() == n);
        CHECK(sorted(re.collect()) == xs);
        auto counts =
            re.map_partitions([](std::vector<int>&& p) { return std::vector<std::size_t>{p.size()}; }).collect();
        REQUIRE(counts.size() == static_cast<std::size_t>(n));
        auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
        // Round-robin from each of the 10 input partitions: outputs differ by at most 10.
        CHECK(*hi - *lo <= 10);
    }
    std::size_t before = rec->num_jobs();
    CHECK(sorted(rdd.coalesce(4, true).collect()) == xs);
    REQUIRE(rec->settle());
    CHECK(num_stages(rec->job(before)) == 2);
    CHECK_THROWS_WITH(rdd.coalesce(0), Catch::Contains("Number of partitions (0) must be positive."));
}

TEST_CASE("zip_with_index numbers records in order after a counting job", "[scheduler][rdd_more]") {
    auto which = GENERATE(as<std::string>{}, "local", "cluster");
    INFO("master " << which);
    SparkContext sc(master_for(which), "zip");
    auto rec = std::make_shared<Recorder>();
    sc.add_spark_listener(rec);
    std::mt19937 rng(kSeed + 2);
    std::vector<std::string> words;
    for (int i = 0; i < 2000; ++i) words.push_back("w" + std::to_string(rng() % 1000));
    // Uneven partitions, some empty: keep the words of a few partitions only partly.
    auto rdd = sc.parallelize(words, 9).filter([](const std::string& w) { return w.size() % 3 != 0; });
    std::vector<std::string> kept;
    for (auto& w : words) {
        if (w.size() % 3 != 0) kept.push_back(w);
    }
    std::size_t before = rec->num_jobs();
    auto zipped = rdd.zip_with_index();
    REQUIRE(rec->settle());
    CHECK(rec->num_jobs() == before + 1);  // the counting job, at once
    CHECK(rec->job(before).stage_infos.at(0).num_tasks == 8);  // every partition but the last
    auto got = zipped.collect();
    REQUIRE(got.size() == kept.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].first == kept[i]);
        CHECK(got[i].second == i);
    }
    CHECK(sc.parallelize(std::vector<int>{5, 6}, 1).zip_with_index().collect() ==
          std::vector<std::pair<int, std::uint64_t>>{{5, 0}, {6, 1}});
}

TEST_CASE("cartesian pairs every record of one RDD with every record of another", "[scheduler][rdd_more]") {
    SparkContext sc("local[2]", "cartesian");
    auto rec = std::make_shared<Recorder>();
    sc.add_spark_listener(rec);
    std::vector<int> a{1, 2, 3, 4, 5, 6, 7};
    std::vector<std::string> b{"x", "y", "z"};
    auto prod = sc.parallelize(a, 3).cartesian(sc.parallelize(b, 2));
    CHECK(prod.num_partitions() == 6);
    std::vector<std::pair<int, std::string>> oracle;
    for (int x : a) {
        for (auto& y : b) oracle.emplace_back(x, y);
    }
    CHECK(sorted(prod.collect()) == oracle);
    auto self = sc.parallelize(a, 2);
    CHECK(self.cartesian(self).count() == a.size() * a.size());
    REQUIRE(rec->settle());
    CHECK(num_stages(rec->job(0)) == 1);
}

TEST_CASE("foreach and foreach_partition run on every record and partition", "[scheduler][rdd_more]") {
    auto dir = ember::test::fresh_temp_dir("foreach");
    SparkContext sc("local[2]", "foreach");
    std::vector<int> xs(500);
    std::iota(xs.begin(), xs.end(), 0);
    auto rdd = sc.parallelize(xs, 4).filter([](int x) { return x < 100 || x >= 300; });  // an empty partition
    rdd.foreach(AppendRecord{dir + "/records"});
    std::vector<int> got;
    for (auto& l : lines_of(dir + "/records")) got.push_back(std::stoi(l));
    std::vector<int> oracle;
    for (int x : xs) {
        if (x < 100 || x >= 300) oracle.push_back(x);
    }
    CHECK(sorted(got) == oracle);
    rdd.foreach_partition(AppendSize{dir + "/sizes"});
    CHECK(sorted(lines_of(dir + "/sizes")) == std::vector<std::string>{"0", "100", "125", "75"});
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("take scans partitions incrementally and computes only the partitions it needs",
          "[scheduler][rdd_more]") {
    auto which = GENERATE(as<std::string>{}, "local", "cluster");
    INFO("master " << which);
    auto dir = ember::test::fresh_temp_dir("take-" + which);
    SparkContext sc(master_for(which), "take");
    auto rec = std::make_shared<Recorder>();
    sc.add_spark_listener(rec);
    std::vector<int> xs(2000);
    std::iota(xs.begin(), xs.end(), 0);
    auto base = sc.parallelize(xs, 20);  // 100 records per partition

    auto dense = base.map_partitions_with_index(Touch<int>{dir + "/dense"});
    std::size_t jobs0 = rec->num_jobs();
    CHECK(dense.take(5) == std::vector<int>{0, 1, 2, 3, 4});
    CHECK(touched(dir + "/dense") == std::vector<int>{0});
    // 250: partition 0 gives 100, so 1.5 x 150 / 100 -> 3 more partitions (within 4 x 1).
    auto first250 = dense.take(250);
    CHECK(first250 == std::vector<int>(xs.begin(), xs.begin() + 250));
    CHECK(sorted(touched(dir + "/dense")) == std::vector<int>{0, 0, 1, 2, 3});
    REQUIRE(rec->settle());
    CHECK(rec->num_jobs() == jobs0 + 3);

    // Records only in the last 5 partitions: 1 partition, then 4 (4 x 1), then the other 15.
    auto sparse = base.filter([](int x) { return x >= 1500; }).map_partitions_with_index(Touch<int>{dir + "/sparse"});
    std::size_t jobs1 = rec->num_jobs();
    CHECK(sparse.take(3) == std::vector<int>{1500, 1501, 1502});
    REQUIRE(rec->settle());
    CHECK(rec->num_jobs() == jobs1 + 3);
    CHECK(rec->job(jobs1).stage_infos.at(0).num_tasks == 1);
    CHECK(rec->job(jobs1 + 1).stage_infos.at(0).num_tasks == 4);
    CHECK(rec->job(jobs1 + 2).stage_infos.at(0).num_tasks == 15);
    std::vector<int> all(20);
    std::iota(all.begin(), all.end(), 0);
    CHECK(sorted(touched(dir + "/sparse")) == all);  // each computed once

    CHECK(dense.take(5000) == xs);  // more than there are: everything
    CHECK(dense.first() == 0);
    std::size_t jobs2 = rec->num_jobs();
    CHECK(dense.take(0).empty());
    REQUIRE(rec->settle());
    CHECK(rec->num_jobs() == jobs2);  // no job for take(0)
    CHECK_THROWS_WITH(base.filter([](int) { return false; }).first(), "empty collection");

    // A persisted RDD's partition is computed whole by take, so it is cached for later jobs.
    auto cached = base.map_partitions_with_index(Touch<int>{dir + "/cached"}).cache();
    CHECK(cached.take(2) == std::vector<int>{0, 1});
    CHECK(cached.take(150) == std::vector<int>(xs.begin(), xs.begin() + 150));
    CHECK(cached.collect() == xs);
    CHECK(sorted(touched(dir + "/cached")) == all);  // partitions 0 and 1 were not computed again
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("lookup runs on the key's partition when the partitioner is known", "[scheduler][rdd_more]") {
    SparkContext sc("local[2]", "lookup");
    auto rec = std::make_shared<Recorder>();
    sc.add_spark_listener(rec);
    const auto data = random_pairs(2000, 50, kSeed + 3);
    std::map<int, std::vector<int>> oracle;
    std::map<int, int> sums;
    for (auto& [k, v] : data) {
        oracle[k].push_back(v);
        sums[k] += v;
    }
    auto rdd = sc.parallelize(data, 6);
    CHECK(sorted(rdd.lookup(7)) == sorted(oracle[7]));
    CHECK(rdd.lookup(12345).empty());
    auto reduced = rdd.reduce_by_key(PlusInt{}, 5);
    std::size_t before = rec->num_jobs();
    CHECK(reduced.lookup(7) == std::vector<int>{sums[7]});
    REQUIRE(rec->settle());
    REQUIRE(rec->num_jobs() == before + 1);
    auto job = rec->job(before);
    for (auto& s : job.stage_infos) {
        if (!s.is_shuffle_map) CHECK(s.num_tasks == 1);  // only the key's partition
    }
    REQUIRE(rec->settle());
    CHECK(rec->job(0).stage_infos.at(0).num_tasks == 6);  // no partitioner: every partition
}

TEST_CASE("sum, mean and stats match a two-pass oracle to 1e-9", "[scheduler][rdd_more]") {
    SparkContext sc("local[2]", "stats");
    std::mt19937_64 rng(kSeed + 4);
    std::normal_distribution<double> normal(1000.0, 25.0);
    std::vector<double> xs;
    for (int i = 0; i < 20000; ++i) xs.push_back(normal(rng));
    xs.push_back(1e6);  // an outlier in one partition
    long double total = 0;
    for (double x : xs) total += x;
    const long double n = static_cast<long double>(xs.size());
    const long double mean = total / n;
    long double ss = 0;
    for (double x : xs) ss += (x - mean) * (x - mean);
    auto close = [](double got, long double want) {
        return std::abs(static_cast<long double>(got) - want) <= 1e-9 * std::max<long double>(1, std::abs(want));
    };
    auto rdd = sc.parallelize(xs, 7);
    auto s = rdd.stats();
    CHECK(s.count() == xs.size());
    CHECK(close(s.mean(), mean));
    CHECK(close(s.sum(), total));
    CHECK(close(s.variance(), ss / n));
    CHECK(close(s.sample_variance(), ss / (n - 1)));
    CHECK(close(s.stdev(), std::sqrt(ss / n)));
    CHECK(close(s.sample_stdev(), std::sqrt(ss / (n - 1))));
    CHECK(s.max() == *std::max_element(xs.begin(), xs.end()));
    CHECK(s.min() == *std::min_element(xs.begin(), xs.end()));
    CHECK(close(rdd.sum(), total));
    CHECK(close(rdd.mean(), mean));

    std::vector<int> ints{3, -4, 10, 0, 7};
    auto is = sc.parallelize(ints, 3).stats();
    CHECK(is.count() == 5);
    CHECK(is.mean() == Approx(3.2).epsilon(1e-12));
    CHECK(is.max() == 10);
    CHECK(is.min() == -4);
    CHECK(sc.parallelize(ints, 2).sum() == 16);
}

TEST_CASE("empty_rdd has no partitions and its actions run no task", "[scheduler][rdd_more]") {
    SparkContext sc("local[2]", "empty");
    auto rec = std::make_shared<Recorder>();
    sc.add_spark_listener(rec);
    auto e = sc.empty_rdd<int>();
    CHECK(e.num_partitions() == 0);
    CHECK(e.collect().empty());
    CHECK(e.count() == 0);
    CHECK(e.take(3).empty());
    CHECK(e.sum() == 0);
    CHECK(e.stats().count() == 0);
    CHECK(std::isnan(e.stats().variance()));
    CHECK(e.aggregate(5, [](int a, int b) { return a + b; }, [](int a, int b) { return a + b; }) == 5);
    CHECK_THROWS_WITH(e.reduce([](int a, int b) { return a + b; }), "empty collection");
    CHECK_THROWS_WITH(e.first(), "empty collection");
    CHECK(e.map([](int x) { return x * 2; }).collect().empty());
    CHECK(e.coalesce(3).num_partitions() == 0);
    CHECK(e.zip_with_index().collect().empty());
    REQUIRE(rec->settle());
    CHECK(rec->tasks_started.load() == 0);
}

TEST_CASE("A job failed by a task's exception carries the typed TaskEndReason as its cause", "[scheduler][rdd_more]") {
    SparkContext sc("local[2,2]", "cause");  // two attempts per task
    auto rdd = sc.parallelize(std::vector<int>{1, 2, 3, 4}, 2).map([](int x) {
        if (x == 3) throw std::runtime_error("boom at record 3");
        return x;
    });
    bool threw = false;
    try {
        rdd.collect();
    } catch (const SparkException& e) {
        threw = true;
        CHECK_THAT(e.what(), Catch::StartsWith("Job aborted due to stage failure: Task 1 in stage"));
        CHECK_THAT(e.what(), Catch::Contains("boom at record 3"));
        REQUIRE(e.cause() != nullptr);
        const auto& cause = *e.cause();
        auto* ex = std::get_if<scheduler::ExceptionFailure>(&cause.reason);
        REQUIRE(ex != nullptr);
        CHECK_THAT(ex->description, Catch::Contains("boom at record 3"));
        CHECK_THAT(ex->class_name, Catch::Contains("runtime_error"));
        CHECK(cause.partition == 1);
        CHECK(cause.attempt_number == 1);  // the second (last) attempt
        CHECK(cause.stage_id == 0);
        CHECK_FALSE(cause.executor_id.empty());
    }
    CHECK(threw);
    // A cancelled job has no task cause.
    try {
        sc.empty_rdd<int>().first();
    } catch (const SparkException& e) {
        CHECK(e.cause() == nullptr);
    }
}
