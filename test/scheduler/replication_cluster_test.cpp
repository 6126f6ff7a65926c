// SPDX-License-Identifier: Apache-2.0
// Replicated cached RDDs on local-cluster[3,1,1024] (Spark's MEMORY_ONLY_2, DISK_ONLY_2,
// MEMORY_AND_DISK_2): after the caching job every block is on exactly 2 executors as the
// driver's BlockManagerMaster answers GetLocations; after one executor is SIGKILLed the next
// job recomputes no partition and gives the exact result; with
// ember.storage.replication.proactive every block is back on 2 (surviving) executors within a
// bounded time, without it the lost copies stay lost. Each computation of a partition appends
// "<partition> <executor>" to a file the test reads (the observable side effect).
#include "rpc/rpc_env.hpp"
#include "scheduler/ember.hpp"
#include "storage/block_manager_master.hpp"
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
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace ember;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr int kPartitions = 6;

/// Appends "<partition> <executor>" to `path` once per computation of a partition and squares
/// its numbers.
struct Touch {
    std::string path;
    std::vector<std::int64_t> operator()(int index, std::vector<std::int64_t>&& part) const {
        auto* tc = scheduler::TaskContext::get();
        std::string line = std::to_string(index) + " " + (tc ? tc->services().executor_id : "?") + "\n";
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            (void)!::write(fd, line.data(), line.size());
            ::close(fd);
        }
        for (auto& x : part) x = x * x;
        return std::move(part);
    }
    EMBER_SERDE(path)
};

std::vector<std::pair<int, std::string>> computations(const std::string& path) {
    std::vector<std::pair<int, std::string>> out;
    std::ifstream in(path);
    int p;
    std::string exec;
    while (in >> p >> exec) out.emplace_back(p, exec);
    return out;
}

/// Learns where the driver's BlockManagerMaster is (the driver's BlockManagerAdded) and which
/// executors were removed.
struct Recorder : scheduler::SparkListener {
    std::mutex mu;
    std::string driver_host;
    int driver_port = 0;
    std::set<std::string> removed;
    void on_block_manager_added(const scheduler::SparkListenerBlockManagerAdded& e) override {
        std::lock_guard lk(mu);
        if (e.executor_id == "driver") {
            driver_host = e.host;
            driver_port = e.port;
        }
    }
    void on_executor_removed(const scheduler::SparkListenerExecutorRemoved& e) override {
        std::lock_guard lk(mu);
        removed.insert(e.executor_id);
    }
};

/// Asks the driver's BlockManagerMaster (GetLocations) from a client env of the test's own, as
/// any BlockManager would.
class MasterProbe {
public:
    explicit MasterProbe(Recorder& rec) {
        REQUIRE(ember::test::wait_until([&] {
            std::lock_guard lk(rec.mu);
            return rec.driver_port > 0;
        }, 10s));
        rpc::RpcEnvConfig cfg;
        cfg.name = "probe";
        cfg.client_mode = true;
        env_ = std::move(rpc::RpcEnv::create(cfg).value());
        std::lock_guard lk(rec.mu);
        master_ = std::make_unique<storage::BlockManagerMaster>(
            env_->endpoint_ref(rpc::RpcAddress{rec.driver_host, static_cast<std::uint16_t>(rec.driver_port)},
                               std::string(storage::BlockManagerMaster::kEndpointName)),
            rpc::RpcTimeout{10s});
    }
    ~MasterProbe() {
        master_.reset();
        env_->shutdown();
        env_->await_termination();
    }
    /// Executor ids holding each partition's block.
    std::vector<std::set<std::string>> holders(int rdd_id) {
        std::vector<std::set<std::string>> out;
        for (int p = 0; p < kPartitions; ++p) {
            std::set<std::string> execs;
            for (auto& id : master_->get_locations(storage::RddBlockId{rdd_id, p})) execs.insert(id.executor_id);
            out.push_back(std::move(execs));
        }
        return out;
    }

private:
    std::unique_ptr<rpc::RpcEnv> env_;
    std::unique_ptr<storage::BlockManagerMaster> master_;
};

std::vector<std::int64_t> numbers() {
    std::vector<std::int64_t> xs(3000);
    std::iota(xs.begin(), xs.end(), 1);
    return xs;
}

std::int64_t sum_of_squares(const std::vector<std::int64_t>& xs) {
    std::int64_t s = 0;
    for (auto x : xs) s += x * x;
    return s;
}

std::int64_t sum(const std::vector<std::int64_t>& xs) { return std::accumulate(xs.begin(), xs.end(), std::int64_t{0}); }

/// Kills the executor holding the most blocks; returns its id.
std::string kill_busiest(SparkContext& sc, Recorder& rec, const std::vector<std::set<std::string>>& holders) {
    std::map<std::string, int> count;
    for (auto& h : holders) {
        for (auto& e : h) ++count[e];
    }
    std::string victim;
    int most = -1;
    for (auto& [e, n] : count) {
        if (n > most) {
            most = n;
            victim = e;
        }
    }
    int pid = sc.executor_pid(victim);
    REQUIRE(pid > 0);
    REQUIRE(::kill(pid, SIGKILL) == 0);
    REQUIRE(ember::test::wait_until([&] {
        std::lock_guard lk(rec.mu);
        return rec.removed.count(victim) > 0;
    }, 30s));
    return victim;
}

}  // namespace

TEST_CASE("A replicated cached RDD survives a SIGKILLed executor without recomputing a partition",
          "[scheduler][replication][sigkill]") {
    auto level = GENERATE(storage::StorageLevel::memory_only(2), storage::StorageLevel::disk_only(2),
                          storage::StorageLevel::memory_and_disk(2));
    INFO("level " << level.description());
    auto dir = ember::test::fresh_temp_dir("replication");
    Conf conf;
    conf.set("ember.local.dir", dir);
    conf.set("ember.scheduler.revive.interval", "100ms");
    auto rec = std::make_shared<Recorder>();
    SparkContext sc("local-cluster[3,1,1024]", "replication", conf, {rec});
    const auto xs = numbers();
    const std::string log = dir + "/computed";
    auto squares = sc.parallelize(xs, kPartitions).map_partitions_with_index(Touch{log});
    squares.persist(level);

    CHECK(sum(squares.collect()) == sum_of_squares(xs));  // computes and caches (2 copies each)
    REQUIRE(computations(log).size() == kPartitions);
    MasterProbe probe(*rec);
    auto holders = probe.holders(squares.id());
    for (int p = 0; p < kPartitions; ++p) {
        INFO("partition " << p);
        CHECK(holders[static_cast<std::size_t>(p)].size() == 2);  // exactly 2 executors, known once the job ended
        CHECK_FALSE(holders[static_cast<std::size_t>(p)].count("driver"));
    }

    std::string victim = kill_busiest(sc, *rec, holders);
    INFO("killed executor " << victim);
    // The master forgets the lost copies; the others stay, and no new ones are made (proactive
    // replication is off by default).
    std::vector<std::set<std::string>> expected;
    for (auto h : holders) {
        h.erase(victim);
        expected.push_back(std::move(h));
    }
    std::vector<std::set<std::string>> after;
    CHECK(ember::test::wait_until([&] { return (after = probe.holders(squares.id())) == expected; }, 10s));
    std::this_thread::sleep_for(500ms);
    CHECK(probe.holders(squares.id()) == expected);
    // ... and every partition is read from its surviving copy.
    CHECK(sum(squares.collect()) == sum_of_squares(xs));
    CHECK(computations(log).size() == kPartitions);
    CHECK(sum(squares.map([](std::int64_t x) { return x + 1; }).collect()) ==
          sum_of_squares(xs) + static_cast<std::int64_t>(xs.size()));
    CHECK(computations(log).size() == kPartitions);
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("With ember.storage.replication.proactive a lost executor's blocks are back on 2 executors",
          "[scheduler][replication][sigkill]") {
    auto dir = ember::test::fresh_temp_dir("replication-proactive");
    Conf conf;
    conf.set("ember.local.dir", dir);
    conf.set("ember.scheduler.revive.interval", "100ms");
    conf.set("ember.storage.replication.proactive", "true");
    auto rec = std::make_shared<Recorder>();
    SparkContext sc("local-cluster[3,1,1024]", "replication-proactive", conf, {rec});
    const auto xs = numbers();
    const std::string log = dir + "/computed";
    auto squares = sc.parallelize(xs, kPartitions).map_partitions_with_index(Touch{log});
    squares.persist(storage::StorageLevel::memory_only(2));
    CHECK(sum(squares.collect()) == sum_of_squares(xs));
    MasterProbe probe(*rec);
    auto holders = probe.holders(squares.id());
    for (auto& h : holders) CHECK(h.size() == 2);

    auto start = std::chrono::steady_clock::now();
    std::string victim = kill_busiest(sc, *rec, holders);
    INFO("killed executor " << victim);
    // Back to 2 copies each, on live executors (the two survivors, or a replacement executor
    // local-cluster started meanwhile).
    std::vector<std::set<std::string>> now;
    bool restored = ember::test::wait_until([&] {
        now = probe.holders(squares.id());
        for (auto& h : now) {
            if (h.size() != 2 || h.count(victim)) return false;
        }
        return true;
    }, 20s);
    for (auto& h : now) {
        CHECK(h.size() == 2);
        CHECK_FALSE(h.count(victim));
        for (auto& e : h) CHECK(sc.executor_pid(e) > 0);
    }
    REQUIRE(restored);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    WARN("copies restored " << ms << " ms after the SIGKILL");

    CHECK(sum(squares.collect()) == sum_of_squares(xs));
    CHECK(computations(log).size() == kPartitions);
    sc.stop();
    fs::remove_all(dir);
}
