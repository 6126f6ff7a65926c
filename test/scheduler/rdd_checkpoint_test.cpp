// SPDX-License-Identifier: Apache-2.0
// Rdd::checkpoint with SparkContext::set_checkpoint_dir (Spark's reliable checkpointing): the
// files written after the first job, the lineage truncated, later jobs (also after a SIGKILLed
// executor) reading the files instead of recomputing; and SparkContext::rdd_storage_info
// (Spark's getRDDStorageInfo) for persisted RDDs. Partition computations are counted with a
// side-effect file; results are checked against a single-process computation.
#include "scheduler/ember.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
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

/// Appends "<tag> <partition>\n" to `path` each time a partition is computed.
template <class T>
struct Touch {
    std::string path;
    std::string tag;
    std::vector<T> operator()(int index, std::vector<T>&& part) const {
        std::string line = tag + " " + std::to_string(index) + "\n";
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            (void)!::write(fd, line.data(), line.size());
            ::close(fd);
        }
        return std::move(part);
    }
    EMBER_SERDE(path, tag)
};

/// Lines of a Touch file with the given tag.
int count_of(const std::string& path, const std::string& tag) {
    std::ifstream in(path);
    std::string t;
    int p, n = 0;
    while (in >> t >> p) n += t == tag ? 1 : 0;
    return n;
}

std::vector<int> numbers(int n) {
    std::vector<int> xs;
    for (int i = 0; i < n; ++i) xs.push_back(i * 7 + 3);
    return xs;
}

std::map<int, std::int64_t> oracle(const std::vector<int>& xs) {
    std::map<int, std::int64_t> m;
    for (int x : xs) m[x % 37] += x;
    return m;
}

template <class R>
std::map<int, std::int64_t> as_map(const R& rows) {
    return std::map<int, std::int64_t>(rows.begin(), rows.end());
}

struct Removed : scheduler::SparkListener {
    std::mutex mu;
    std::set<std::string> removed;
    void on_executor_removed(const scheduler::SparkListenerExecutorRemoved& e) override {
        std::lock_guard lk(mu);
        removed.insert(e.executor_id);
    }
    bool has(const std::string& id) {
        std::lock_guard lk(mu);
        return removed.count(id) > 0;
    }
};

}  // namespace

TEST_CASE("checkpoint() without a checkpoint directory throws Spark's message", "[scheduler][checkpoint]") {
    SparkContext sc("local[2]", "no-dir");
    auto rdd = sc.parallelize(std::vector<int>{1, 2, 3}, 2);
    CHECK_FALSE(sc.checkpoint_dir());
    CHECK_THROWS_WITH(rdd.checkpoint(), "Checkpoint directory has not been set in the SparkContext");
    CHECK_FALSE(rdd.is_checkpointed());
}

TEST_CASE("A checkpointed RDD is written after its first job and later jobs read the files",
          "[scheduler][checkpoint]") {
    auto master = GENERATE(as<std::string>{}, "local[2]", "local-cluster[2,1,1024]");
    INFO("master " << master);
    auto dir = ember::test::fresh_temp_dir("checkpoint");
    Conf conf;
    conf.set("ember.local.dir", dir + "/local");
    conf.set("ember.scheduler.revive.interval", "100ms");
    SparkContext sc(master, "checkpoint", conf);
    auto removed = std::make_shared<Removed>();
    sc.add_spark_listener(removed);
    sc.set_checkpoint_dir(dir + "/cp");
    REQUIRE(sc.checkpoint_dir());
    CHECK(fs::is_directory(*sc.checkpoint_dir()));
    CHECK(fs::path(*sc.checkpoint_dir()).parent_path() == fs::absolute(dir + "/cp"));

    const auto xs = numbers(3000);
    const auto want = oracle(xs);
    const std::string log = dir + "/computed";
    using KV = std::pair<int, std::int64_t>;
    auto sums = sc.parallelize(xs, 4)
                    .map_partitions_with_index(Touch<int>{log, "map"})
                    .map(KeyMod{})
                    .reduce_by_key(Sum{}, 4)
                    .map_partitions_with_index(Touch<KV>{log, "result"});
    sums.checkpoint();
    CHECK_FALSE(sums.is_checkpointed());
    CHECK_FALSE(sums.get_checkpoint_file());

    CHECK(as_map(sums.collect()) == want);
    REQUIRE(sums.is_checkpointed());
    // Spark's second job computes the RDD again (it is not persisted); the map stage's outputs
    // are reused.
    CHECK(count_of(log, "map") == 4);
    CHECK(count_of(log, "result") == 8);
    auto files = sums.get_checkpoint_file();
    REQUIRE(files);
    CHECK(*files == (fs::path(*sc.checkpoint_dir()) / ("rdd-" + std::to_string(sums.id()))).string());
    for (int p = 0; p < 4; ++p) CHECK(fs::is_regular_file(fs::path(*files) / fmt::format("part-{:05d}", p)));
    // The lineage is truncated: one narrow dependency, the checkpoint reader; no shuffle.
    REQUIRE(sums.node()->narrow_dependencies().size() == 1);
    CHECK(sums.node()->narrow_dependencies()[0].rdd->kind() == "ReliableCheckpointRDD");
    CHECK(sums.node()->shuffle_dependencies().empty());

    CHECK(as_map(sums.collect()) == want);
    CHECK(as_map(sums.map([](KV kv) { return KV{kv.first, kv.second * 2}; }).collect()).size() == want.size());
    CHECK(count_of(log, "map") == 4);
    CHECK(count_of(log, "result") == 8);

    if (master.rfind("local-cluster", 0) == 0) {
        // Executors lost: the files are still there, nothing upstream runs again.
        auto pids = sc.executor_pids();
        REQUIRE(!pids.empty());
        std::string victim = "0";
        int pid = sc.executor_pid(victim);
        if (pid <= 0) {
            victim = "1";
            pid = sc.executor_pid(victim);
        }
        REQUIRE(pid > 0);
        REQUIRE(::kill(pid, SIGKILL) == 0);
        REQUIRE(ember::test::wait_until([&] { return removed->has(victim); }, 20s));
        CHECK(as_map(sums.collect()) == want);
        CHECK(count_of(log, "map") == 4);
        CHECK(count_of(log, "result") == 8);
    }
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("A persisted checkpointed RDD is computed once: the write job reads the cached blocks",
          "[scheduler][checkpoint]") {
    auto dir = ember::test::fresh_temp_dir("checkpoint-cached");
    SparkContext sc("local[2]", "checkpoint-cached");
    sc.set_checkpoint_dir(dir + "/cp");
    const auto xs = numbers(1000);
    const std::string log = dir + "/computed";
    auto rdd = sc.parallelize(xs, 3).map_partitions_with_index(Touch<int>{log, "p"}).cache();
    rdd.checkpoint();
    CHECK(rdd.count() == xs.size());
    CHECK(rdd.is_checkpointed());
    CHECK(count_of(log, "p") == 3);
    CHECK(rdd.collect() == xs);
    CHECK(count_of(log, "p") == 3);
    // A child of the checkpointed RDD computed later reads the files too.
    auto doubled = rdd.map([](int x) { return 2 * x; }).collect();
    CHECK(doubled.size() == xs.size());
    CHECK(doubled.front() == 2 * xs.front());
    CHECK(count_of(log, "p") == 3);
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("rdd_storage_info lists persisted RDDs with cached partitions and their sizes",
          "[scheduler][storage_info]") {
    auto master = GENERATE(as<std::string>{}, "local[2]", "local-cluster[2,1,1024]");
    INFO("master " << master);
    auto dir = ember::test::fresh_temp_dir("storage-info");
    Conf conf;
    conf.set("ember.local.dir", dir);
    SparkContext sc(master, "storage-info", conf);
    auto removed = std::make_shared<Removed>();
    sc.add_spark_listener(removed);
    const auto xs = numbers(4000);
    auto plain = sc.parallelize(xs, 4).map([](int x) { return x + 1; });
    auto mem = sc.parallelize(xs, 4).map([](int x) { return x + 2; });
    mem.set_name("in memory");
    mem.cache();
    auto disk = sc.parallelize(xs, 3).map([](int x) { return x + 3; }).persist(storage::StorageLevel::disk_only());
    CHECK(sc.rdd_storage_info().empty());  // nothing cached yet

    CHECK(plain.count() == xs.size());
    CHECK(mem.count() == xs.size());
    CHECK(disk.count() == xs.size());
    std::vector<RddStorageInfo> infos;
    REQUIRE(ember::test::wait_until([&] {
        infos = sc.rdd_storage_info();
        return infos.size() == 2 && infos[0].num_cached_partitions == 4 && infos[1].num_cached_partitions == 3;
    }, 10s));
    CHECK(infos[0].id == mem.id());
    CHECK(infos[0].name == "in memory");
    CHECK(infos[0].storage_level == "Memory Deserialized 1x Replicated");
    CHECK(infos[0].num_partitions == 4);
    CHECK(infos[0].mem_size > 0);
    CHECK(infos[0].disk_size == 0);
    CHECK(infos[1].id == disk.id());
    CHECK(infos[1].storage_level == storage::StorageLevel::disk_only().description());
    CHECK(infos[1].num_partitions == 3);
    CHECK(infos[1].mem_size == 0);
    CHECK(infos[1].disk_size > 0);

    if (master.rfind("local-cluster", 0) == 0) {
        std::string victim = "0";
        int pid = sc.executor_pid(victim);
        REQUIRE(pid > 0);
        REQUIRE(::kill(pid, SIGKILL) == 0);
        REQUIRE(ember::test::wait_until([&] { return removed->has(victim); }, 20s));
        REQUIRE(ember::test::wait_until([&] {
            infos = sc.rdd_storage_info();
            int cached = 0;
            for (auto& i : infos) cached += i.num_cached_partitions;
            return cached < 7;
        }, 10s));
    }

    mem.unpersist(true);
    infos = sc.rdd_storage_info();
    for (auto& i : infos) CHECK(i.id != mem.id());
    sc.stop();
    fs::remove_all(dir);
}
