// SPDX-License-Identifier: Apache-2.0
// Rdd::persist / cache / unpersist with the BlockManagerMaster (Spark's RDD caching): a cached
// RDD is computed once and later jobs read its blocks (and skip the shuffle map stage it came
// from), kept as objects (cache() is MEMORY_ONLY, deserialized); unpersist makes jobs recompute
// it; blocks lost with a SIGKILLed executor are recomputed; a partition that does not fit is
// computed but not cached. Each partition's computation appends a line "<partition> <executor
// id>" to a file the test reads; results are checked against a single-process computation.
#include "scheduler/ember.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace ember;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct KeyMod {
    std::pair<int, std::int64_t> operator()(int x) const { return {x % 37, static_cast<std::int64_t>(x)}; }
    EMBER_SERDE()
};
struct Sum {
    std::int64_t operator()(std::int64_t a, std::int64_t b) const { return a + b; }
    EMBER_SERDE()
};
struct Swap {
    std::pair<std::int64_t, int> operator()(std::pair<int, std::int64_t> kv) const { return {kv.second % 5, kv.first}; }
    EMBER_SERDE()
};
struct AddInts {
    int operator()(int a, int b) const { return a + b; }
    EMBER_SERDE()
};

/// The side effect the test observes: appends "<partition> <executor>" to `path` once per
/// computation of a partition, then passes the records on.
struct Touch {
    std::string path;
    std::vector<std::pair<int, std::int64_t>> operator()(int index, std::vector<std::pair<int, std::int64_t>>&& part) const {
        auto* tc = scheduler::TaskContext::get();
        std::string line = std::to_string(index) + " " + (tc ? tc->services().executor_id : "?") + "\n";
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            (void)!::write(fd, line.data(), line.size());
            ::close(fd);
        }
        return std::move(part);
    }
    EMBER_SERDE(path)
};

/// (partition, executor) per line of the side-effect file.
std::vector<std::pair<int, std::string>> computations(const std::string& path) {
    std::vector<std::pair<int, std::string>> out;
    std::ifstream in(path);
    int p;
    std::string exec;
    while (in >> p >> exec) out.emplace_back(p, exec);
    return out;
}

struct Recorder : scheduler::SparkListener {
    std::mutex mu;
    std::vector<scheduler::SparkListenerJobStart> jobs;
    std::vector<std::pair<int, int>> submitted;  // (job count when submitted, stage id)
    std::set<std::string> removed;
    std::vector<int> unpersisted;  // SparkListenerUnpersistRDD's rdd ids, in order
    void on_unpersist_rdd(const scheduler::SparkListenerUnpersistRDD& e) override {
        std::lock_guard lk(mu);
        unpersisted.push_back(e.rdd_id);
    }
    void on_job_start(const scheduler::SparkListenerJobStart& e) override {
        std::lock_guard lk(mu);
        jobs.push_back(e);
    }
    void on_stage_submitted(const scheduler::SparkListenerStageSubmitted& e) override {
        std::lock_guard lk(mu);
        submitted.emplace_back(static_cast<int>(jobs.size()), e.stage_info.stage_id);
    }
    void on_executor_removed(const scheduler::SparkListenerExecutorRemoved& e) override {
        std::lock_guard lk(mu);
        removed.insert(e.executor_id);
    }
    /// Stage ids submitted while the n-th job (1-based) was the latest.
    std::set<int> submitted_in_job(int n) {
        std::lock_guard lk(mu);
        std::set<int> out;
        for (auto& [j, s] : submitted) {
            if (j == n) out.insert(s);
        }
        return out;
    }
};

std::string temp_dir(const std::string& tag) { return ember::test::fresh_temp_dir("cache-" + tag); }

/// Block files of RDD `rdd_id` ("rdd_<id>_<partition>") under `dir`.
int rdd_block_files(const std::string& dir, int rdd_id) {
    const std::string prefix = "rdd_" + std::to_string(rdd_id) + "_";
    int n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        if (it->path().filename().string().starts_with(prefix)) ++n;
    }
    return n;
}

std::vector<int> numbers(int n) {
    std::vector<int> xs;
    for (int i = 0; i < n; ++i) xs.push_back(i * 13 + 1);
    return xs;
}

/// The oracle: sums by x % 37 in one process.
std::map<int, std::int64_t> expected(const std::vector<int>& xs) {
    std::map<int, std::int64_t> m;
    for (int x : xs) m[x % 37] += x;
    return m;
}

template <class R>
std::map<int, std::int64_t> as_map(const R& records) {
    std::map<int, std::int64_t> m;
    for (auto& [k, v] : records) {
        INFO("key " << k << " twice");
        CHECK(m.emplace(k, v).second);
    }
    return m;
}

}  // namespace

TEST_CASE("A cached RDD is computed once; later jobs read its blocks and skip its parent map stage",
          "[scheduler][cache]") {
    auto master = GENERATE(as<std::string>{}, "local-cluster[2,1,512]", "local[2]");
    INFO("master " << master);
    auto dir = temp_dir("once");
    Conf conf;
    conf.set("ember.local.dir", dir);
    SparkContext sc(master, "rdd-cache", conf);
    auto rec = std::make_shared<Recorder>();
    sc.add_spark_listener(rec);
    const auto xs = numbers(2000);
    const auto oracle = expected(xs);
    const std::string log = dir + "/computed";

    auto sums = sc.parallelize(xs, 4).map(KeyMod{}).reduce_by_key(Sum{}, 4).map_partitions_with_index(Touch{log});
    CHECK(sums.storage_level().is_none());
    sums.cache();
    CHECK(sums.storage_level() == storage::StorageLevel::memory_only());
    CHECK(sums.storage_level().description() == "Memory Deserialized 1x Replicated");

    CHECK(as_map(sums.collect()) == oracle);  // job 1 computes and caches
    CHECK(computations(log).size() == 4);
    // Kept as objects (MEMORY_ONLY is deserialized): the 37 (int, int64) records take 16 bytes
    // each in memory, more than their encoded 2-5.
    auto infos = sc.rdd_storage_info();
    REQUIRE(infos.size() == 1);
    CHECK(infos[0].num_cached_partitions == 4);
    CHECK(infos[0].mem_size >= 37 * sizeof(std::pair<int, std::int64_t>));

    CHECK(as_map(sums.collect()) == oracle);  // job 2 reads the blocks
    CHECK(computations(log).size() == 4);
    scheduler::SparkListenerJobStart job2;
    {
        std::lock_guard lk(rec->mu);
        REQUIRE(rec->jobs.size() == 2);
        job2 = rec->jobs.at(1);
    }
    int map_stage = -1;
    for (auto& s : job2.stage_infos) {
        if (s.is_shuffle_map) map_stage = s.stage_id;
    }
    REQUIRE(map_stage >= 0);                      // in the job's stages ...
    auto ran = rec->submitted_in_job(2);
    CHECK(ran.size() == 1);                       // ... but only the result stage ran
    CHECK_FALSE(ran.count(map_stage));

    // A cached RDD feeding a new shuffle: the map stage reads the blocks too.
    auto swapped = sums.map(Swap{}).reduce_by_key(AddInts{}, 3).collect();
    std::map<std::int64_t, int> swapped_oracle;
    for (auto& [k, v] : oracle) swapped_oracle[v % 5] += k;
    CHECK(std::map<std::int64_t, int>(swapped.begin(), swapped.end()) == swapped_oracle);
    CHECK(computations(log).size() == 4);

    // unpersist: the next job computes every partition again.
    sums.unpersist(true);
    CHECK(sums.storage_level().is_none());
    CHECK(as_map(sums.collect()) == oracle);
    CHECK(computations(log).size() == 8);
    CHECK(as_map(sums.collect()) == oracle);
    CHECK(computations(log).size() == 12);
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("Cached blocks lost with a SIGKILLed executor are recomputed, the others are read",
          "[scheduler][cache][sigkill]") {
    auto dir = temp_dir("kill");
    Conf conf;
    conf.set("ember.local.dir", dir);
    conf.set("ember.scheduler.revive.interval", "100ms");
    SparkContext sc("local-cluster[2,1,512]", "rdd-cache-kill", conf);
    auto rec = std::make_shared<Recorder>();
    sc.add_spark_listener(rec);
    const auto xs = numbers(3000);
    const auto oracle = expected(xs);
    const std::string log = dir + "/computed";

    auto sums = sc.parallelize(xs, 6).map(KeyMod{}).reduce_by_key(Sum{}, 6).map_partitions_with_index(Touch{log});
    sums.persist(storage::StorageLevel::memory_and_disk());
    CHECK(as_map(sums.collect()) == oracle);
    auto first = computations(log);
    REQUIRE(first.size() == 6);
    std::string victim = first.front().second;
    int on_victim = 0;
    for (auto& [p, e] : first) on_victim += e == victim ? 1 : 0;

    int pid = sc.executor_pid(victim);
    REQUIRE(pid > 0);
    REQUIRE(::kill(pid, SIGKILL) == 0);
    REQUIRE(ember::test::wait_until([&] {
        std::lock_guard lk(rec->mu);
        return rec->removed.count(victim) > 0;
    }, 20s));

    CHECK(as_map(sums.collect()) == oracle);
    auto second = computations(log);
    INFO("executor " << victim << " had computed " << on_victim << " of 6 partitions");
    CHECK(second.size() == 6 + static_cast<std::size_t>(on_victim));  // only the lost ones again
    for (std::size_t i = 6; i < second.size(); ++i) CHECK(second[i].second != victim);
    CHECK(as_map(sums.collect()) == oracle);
    CHECK(computations(log).size() == second.size());
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("A partition larger than the MemoryStore is computed every time but never cached",
          "[scheduler][cache]") {
    auto dir = temp_dir("nofit");
    Conf conf;
    conf.set("ember.local.dir", dir);
    conf.set("ember.storage.memoryCapacity", "64");  // bytes: no partition of 4 fits
    SparkContext sc("local[2]", "rdd-cache-nofit", conf);
    const auto xs = numbers(1000);
    const auto oracle = expected(xs);
    const std::string log = dir + "/computed";
    auto sums = sc.parallelize(xs, 2).map(KeyMod{}).reduce_by_key(Sum{}, 2).map_partitions_with_index(Touch{log});
    sums.cache();
    CHECK(as_map(sums.collect()) == oracle);
    CHECK(as_map(sums.collect()) == oracle);
    CHECK(computations(log).size() == 4);
    // The same data on disk is kept.
    auto on_disk = sc.parallelize(xs, 2).map(KeyMod{}).reduce_by_key(Sum{}, 2).map_partitions_with_index(
        Touch{dir + "/disk"});
    on_disk.persist(storage::StorageLevel::memory_and_disk());
    CHECK(as_map(on_disk.collect()) == oracle);
    CHECK(as_map(on_disk.collect()) == oracle);
    CHECK(computations(dir + "/disk").size() == 2);
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("A fully cached RDD needs none of its parents: lost map outputs upstream are not recomputed",
          "[scheduler][cache]") {
    // Spark's getMissingParentStages stops at an RDD whose partitions are all cached. Six map
    // tasks spread over both executors (a round of offers gives each one task); the one reduce
    // partition is cached where it ran, then the other executor dies with the map outputs it
    // wrote. (The reduce task goes to the executor that finished the last map task, ember's
    // placement of a lone task, so which executor that is varies from run to run.)
    auto dir = temp_dir("upstream");
    Conf conf;
    conf.set("ember.local.dir", dir);
    auto rec = std::make_shared<Recorder>();
    SparkContext sc("local-cluster[2,1,512]", "rdd-cache-upstream", conf, {rec});
    const auto xs = numbers(600);
    const auto oracle = expected(xs);
    const std::string maps_log = dir + "/maps";
    const std::string log = dir + "/computed";

    auto sums = sc.parallelize(xs, 6)
                    .map(KeyMod{})
                    .map_partitions_with_index(Touch{maps_log})
                    .reduce_by_key(Sum{}, 1)
                    .map_partitions_with_index(Touch{log});
    sums.cache();
    CHECK(as_map(sums.collect()) == oracle);
    auto reduce = computations(log);
    REQUIRE(reduce.size() == 1);
    const std::string keeper = reduce.front().second;
    const std::string victim = keeper == "0" ? "1" : "0";
    auto maps = computations(maps_log);
    REQUIRE(maps.size() == 6);
    REQUIRE(std::count_if(maps.begin(), maps.end(), [&](auto& m) { return m.second == victim; }) > 0);
    int pid = sc.executor_pid(victim);
    REQUIRE(pid > 0);
    REQUIRE(::kill(pid, SIGKILL) == 0);
    REQUIRE(ember::test::wait_until(
        [&] {
            std::lock_guard lk(rec->mu);
            return rec->removed.count(victim) > 0;
        },
        20s));

    // Some map outputs of the parent stage are gone with the victim; the cached partition is not.
    CHECK(as_map(sums.collect()) == oracle);
    CHECK(computations(log).size() == 1);       // read from the cache, not computed again
    CHECK(computations(maps_log).size() == 6);  // no map task ran again
    auto ran = rec->submitted_in_job(2);
    CHECK(ran.size() == 1);  // the result stage only: the lost map stage was not rerun
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("A persisted RDD's blocks go once the driver holds no reference to it (ContextCleaner)",
          "[scheduler][cache]") {
    for (std::string which : {"local", "cluster", "cluster, reference tracking off"}) {
        SECTION(which) {
            const bool tracking = which != "cluster, reference tracking off";
            auto dir = temp_dir(tracking ? "cleaner-" + which : "cleaner-off");
            Conf conf;
            conf.set("ember.local.dir", dir).set("ember.cleaner.referenceTracking", tracking ? "true" : "false");
            SparkContext sc(which == "local" ? "local[2]" : "local-cluster[2,1,512]", "rdd-cleaner", conf);
            auto rec = std::make_shared<Recorder>();
            sc.add_spark_listener(rec);
            const auto xs = numbers(2000);
            const auto oracle = expected(xs);
            const std::string log = dir + "/computed";

            // One RDD on disk (its blocks are files the test can see), one in memory; both stay
            // referenced.
            auto kept = sc.parallelize(xs, 4).map(KeyMod{}).persist(storage::StorageLevel::disk_only());
            CHECK(kept.count() == 2000);
            REQUIRE(rdd_block_files(dir, kept.id()) == 4);
            auto sums =
                sc.parallelize(xs, 4).map(KeyMod{}).reduce_by_key(Sum{}, 3).map_partitions_with_index(Touch{log});
            sums.cache();
            CHECK(as_map(sums.collect()) == oracle);
            REQUIRE(computations(log).size() == 3);
            auto memory_used = [&] {
                std::uint64_t used = 0;
                for (auto& [bm, mem] : sc.executor_memory_status()) used += mem.first - mem.second;
                return used;
            };
            const std::uint64_t used_before = memory_used();

            int dropped_disk = -1, dropped_memory = -1;
            {
                auto on_disk = sc.parallelize(xs, 4).map(KeyMod{}).persist(storage::StorageLevel::disk_only());
                CHECK(on_disk.count() == 2000);
                CHECK(on_disk.count() == 2000);  // read from its blocks
                dropped_disk = on_disk.id();
                REQUIRE(rdd_block_files(dir, dropped_disk) == 4);
                auto in_memory = sc.parallelize(xs, 4).map(KeyMod{}).cache();
                CHECK(in_memory.count() == 2000);
                dropped_memory = in_memory.id();
                CHECK(sc.rdd_storage_info().size() == 4);
            }
            if (tracking) {
                CHECK(ember::test::wait_until([&] { return rdd_block_files(dir, dropped_disk) == 0; }));
                CHECK(ember::test::wait_until([&] { return sc.rdd_storage_info().size() == 2; }));
                CHECK(ember::test::wait_until([&] { return memory_used() <= used_before; }));
                std::lock_guard lk(rec->mu);
                CHECK(std::set<int>(rec->unpersisted.begin(), rec->unpersisted.end()) ==
                      std::set<int>{dropped_disk, dropped_memory});
            } else {
                std::this_thread::sleep_for(300ms);
                // The blocks stay (rdd_storage_info forgets the RDDs: it holds them weakly, as
                // Spark's persistentRdds does).
                CHECK(rdd_block_files(dir, dropped_disk) == 4);
                CHECK(memory_used() > used_before);
                std::lock_guard lk(rec->mu);
                CHECK(rec->unpersisted.empty());
            }
            // The RDDs still referenced keep their blocks: their jobs read them.
            CHECK(rdd_block_files(dir, kept.id()) == 4);
            CHECK(kept.count() == 2000);
            CHECK(as_map(sums.collect()) == oracle);
            CHECK(computations(log).size() == 3);
            sc.stop();
            fs::remove_all(dir);
        }
    }
}
