// SPDX-License-Identifier: Apache-2.0
// A second executor process started under a live executor's id, or a lost one's (issue 11,
// part 8): it is refused ("Duplicate executor ID"), and the refusal leaves the live executor
// alone: its BlockManager registration, and so the locations of its cached blocks, stay as they
// were, a cached RDD is not recomputed, and the refused process leaves no BlockManager behind.
// ember's executors register their BlockManager before RegisterExecutor (Spark's do it after),
// so the BlockManagerMaster refuses the ids the driver would.
#include "scheduler/ember.hpp"
#include "test/support/process.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
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

/// Appends "<partition> <executor>" to `path` once per computation of a partition.
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

std::vector<std::pair<int, std::string>> computations(const std::string& path) {
    std::vector<std::pair<int, std::string>> out;
    std::ifstream in(path);
    int p;
    std::string exec;
    while (in >> p >> exec) out.emplace_back(p, exec);
    return out;
}

std::string self_exe() { return fs::read_symlink("/proc/self/exe").string(); }

}  // namespace

TEST_CASE("An executor started under a live executor's id is refused and the live one keeps its cached blocks",
          "[scheduler][cluster][duplicate]") {
    auto dir = ember::test::fresh_temp_dir("duplicate-executor");
    std::uint16_t port = ember::test::free_port();
    Conf conf;
    conf.set("ember.local.dir", dir)
        .set("ember.driver.port", std::to_string(port))
        .set("ember.driver.host", "127.0.0.1")
        .set("ember.driver.bindAddress", "127.0.0.1");
    SparkContext sc("local-cluster[2,1,512]", "duplicate-executor", conf);
    std::vector<int> xs;
    std::map<int, std::int64_t> oracle;
    for (int i = 0; i < 3000; ++i) {
        xs.push_back(i * 7 + 3);
        oracle[(i * 7 + 3) % 37] += i * 7 + 3;
    }
    const std::string log = dir + "/computed";
    auto sums = sc.parallelize(xs, 6).map(KeyMod{}).reduce_by_key(Sum{}, 6).map_partitions_with_index(Touch{log});
    sums.cache();
    auto got = sums.collect();
    CHECK(std::map<int, std::int64_t>(got.begin(), got.end()) == oracle);
    auto first = computations(log);
    REQUIRE(first.size() == 6);
    auto memory_before = sc.executor_memory_status();
    REQUIRE(memory_before.size() == 3);  // the driver's BlockManager and both executors'

    // Every live executor id in turn, as a second process of the test binary (which is also the
    // executor), with the arguments local-cluster gives its own executors.
    for (std::string id : {"0", "1"}) {
        CAPTURE(id);
        auto r = ember::test::run_process({self_exe(), "--ember-executor", "--driver-url",
                                           "ember://CoarseGrainedScheduler@127.0.0.1:" + std::to_string(port),
                                           "--executor-id", id, "--cores", "1", "--memory", "512", "--hostname",
                                           "127.0.0.1"},
                                          "--ember-executor", 60);
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Catch::Contains("Duplicate executor ID: " + id));
    }

    // The live executors are still registered, with their BlockManagers, and the cached blocks
    // are read where they are: no partition is computed again.
    CHECK(sc.executor_pids().size() == 2);
    CHECK(sc.executor_memory_status().size() == 3);
    for (auto& [hostport, mem] : memory_before) {
        CAPTURE(hostport);
        CHECK(sc.executor_memory_status().count(hostport) == 1);
    }
    got = sums.collect();
    CHECK(std::map<int, std::int64_t>(got.begin(), got.end()) == oracle);
    CHECK(computations(log).size() == 6);

    // The id of an executor that was lost (and replaced by executor 2) is refused too, and the
    // refused process leaves no BlockManager behind in the master.
    int pid = sc.executor_pid("1");
    REQUIRE(pid > 0);
    REQUIRE(::kill(pid, SIGKILL) == 0);
    // Executor 1's BlockManager forgotten, executor 2's registered.
    REQUIRE(ember::test::wait_until(
        [&] {
            auto now = sc.executor_memory_status();
            return now.size() == 3 && now != memory_before;
        },
        30s));
    auto memory_after_loss = sc.executor_memory_status();
    auto r = ember::test::run_process({self_exe(), "--ember-executor", "--driver-url",
                                       "ember://CoarseGrainedScheduler@127.0.0.1:" + std::to_string(port),
                                       "--executor-id", "1", "--cores", "1", "--memory", "512", "--hostname",
                                       "127.0.0.1"},
                                      "--ember-executor", 60);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains("Duplicate executor ID: 1"));
    CHECK(sc.executor_memory_status() == memory_after_loss);
    got = sums.collect();
    CHECK(std::map<int, std::int64_t>(got.begin(), got.end()) == oracle);
    sc.stop();
    fs::remove_all(dir);
}
