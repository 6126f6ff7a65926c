// SPDX-License-Identifier: Apache-2.0
// What an application leaves behind on local-cluster (issue 12, part 5), with real processes:
// after a job that shuffles and spills ends normally, after an executor is SIGKILLed mid-job,
// and after the driver itself is SIGKILLed, no executor process remains (by pid) and no
// executor's blockmgr-* dir (with its shuffle, temp shuffle and spill files) remains under a
// test-specific ember.local.dir; and no executor holds a socket whose local port is the
// driver's listening port (its listening socket or a connection it accepted), found by comparing
// the socket inodes in /proc/<executor>/fd against /proc/net/tcp{,6}. Each executor's dir is
// known independently of ember's bookkeeping, from EMBER_BLOCKMGR_DIR_NAME in its
// /proc/<pid>/environ. A SIGKILLed driver's own blockmgr dir stays (nothing runs in it), as a
// SIGKILLed Spark driver's does.
#include "scheduler/ember.hpp"
#include "test/support/process.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace ember;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

extern char** environ;

namespace {

/// Names of the blockmgr-* dirs directly under `root`.
std::set<std::string> blockmgr_dirs(const std::string& root) {
    std::set<std::string> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(root, ec)) {
        auto name = e.path().filename().string();
        if (name.starts_with("blockmgr-")) out.insert(name);
    }
    return out;
}

/// Regular files under `dir` (recursively) whose names start with `prefix`.
int files_named(const fs::path& dir, const std::string& prefix) {
    int n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        if (it->is_regular_file(ec) && it->path().filename().string().starts_with(prefix)) ++n;
    }
    return n;
}

/// The blockmgr dir name the launcher gave executor `pid` (EMBER_BLOCKMGR_DIR_NAME in its
/// environment), "" if unreadable.
std::string executor_dir_name(int pid) {
    std::string env = test::read_file_or_empty("/proc/" + std::to_string(pid) + "/environ");
    const std::string key = "EMBER_BLOCKMGR_DIR_NAME=";
    for (std::size_t at = 0; at < env.size();) {
        std::size_t end = env.find('\0', at);
        if (end == std::string::npos) end = env.size();
        if (env.compare(at, key.size(), key) == 0) return env.substr(at + key.size(), end - at - key.size());
        at = end + 1;
    }
    return {};
}

/// The paths under `dir`, relative to it, space-separated.
std::string listing(const fs::path& dir) {
    std::string out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        out += " " + fs::relative(it->path(), dir, ec).string();
    }
    return out.empty() ? "nothing" : out.substr(1);
}

/// The last lines of every executor log under `root` (<root>/ember-<app id>/executor-<id>/stderr).
std::string executor_log_tails(const std::string& root) {
    std::string out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        if (it->path().filename() != "stderr") continue;
        std::string text = test::read_file_or_empty(it->path().string());
        out += "\n" + it->path().string() + ":\n" + text.substr(text.size() > 1500 ? text.size() - 1500 : 0);
    }
    return out;
}

/// Inodes of the TCP sockets (IPv4 and IPv6) whose local port is `port`: a listening socket on
/// it and the connections it accepted. Parsed from /proc/net/tcp{,6}: "sl local rem st ... inode".
std::set<std::string> socket_inodes_with_local_port(int port) {
    std::set<std::string> out;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::istringstream in(test::read_file_or_empty(table));
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream f(line);
            std::string sl, local, remote, st, queues, timer, retr, uid, timeout, inode;
            if (!(f >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid >> timeout >> inode)) continue;
            auto colon = local.rfind(':');
            if (colon == std::string::npos) continue;
            if (std::stoi(local.substr(colon + 1), nullptr, 16) == port && inode != "0") out.insert(inode);
        }
    }
    return out;
}

/// The socket inodes process `pid` holds ("socket:[N]" links in /proc/<pid>/fd).
std::set<std::string> socket_inodes_of(int pid) {
    std::set<std::string> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        std::error_code lec;
        auto target = fs::read_symlink(e.path(), lec).string();
        if (!lec && target.starts_with("socket:[")) out.insert(target.substr(8, target.size() - 9));
    }
    return out;
}

/// The driver-port sockets that executor `pid` holds (should be none).
std::vector<std::string> driver_port_sockets_in(int pid, int driver_port) {
    auto driver = socket_inodes_with_local_port(driver_port);
    std::vector<std::string> held;
    for (auto& inode : socket_inodes_of(pid)) {
        if (driver.count(inode)) held.push_back(inode);
    }
    return held;
}

Conf conf_for(const std::string& dir, int driver_port) {
    Conf conf;
    conf.set("ember.local.dir", dir);
    conf.set("ember.driver.port", std::to_string(driver_port));
    conf.set("ember.driver.host", "127.0.0.1");
    conf.set("ember.task.maxFailures", "8");
    conf.set("ember.scheduler.revive.interval", "100ms");
    // Reduce-side aggregation spills past 50 keys (temp_local_* files in the blockmgr dirs).
    conf.set("ember.shuffle.spill.numElementsForceSpillThreshold", "50");
    return conf;
}

std::vector<int> numbers(int n) {
    std::vector<int> xs(static_cast<std::size_t>(n));
    std::iota(xs.begin(), xs.end(), 0);
    return xs;
}

std::map<int, long> expected_sums(const std::vector<int>& xs, int keys) {
    std::map<int, long> out;
    for (int x : xs) out[x % keys] += x;
    return out;
}

struct SlowPair {
    int keys = 7;  ///< distinct keys: more than the force-spill threshold makes the combiners spill
    int sleep_us = 0;
    std::pair<int, long> operator()(int x) const {
        if (sleep_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
        return {x % keys, static_cast<long>(x)};
    }
    EMBER_SERDE(keys, sleep_us)
};

struct Sum {
    int sleep_us = 0;
    long operator()(long a, long b) const {
        if (sleep_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
        return a + b;
    }
    EMBER_SERDE(sleep_us)
};

/// Bytes the finished tasks spilled to disk.
struct SpillBytes : scheduler::SparkListener {
    std::atomic<std::uint64_t> bytes{0};
    void on_task_end(const scheduler::SparkListenerTaskEnd& e) override { bytes += e.task_metrics.disk_bytes_spilled; }
};

/// Checks that none of `pids` holds a socket on the driver's port.
void check_no_driver_sockets(const std::vector<int>& pids, int driver_port) {
    REQUIRE(!socket_inodes_with_local_port(driver_port).empty());  // the driver listens there
    for (int pid : pids) {
        auto held = driver_port_sockets_in(pid, driver_port);
        INFO("executor pid " << pid << " holds " << held.size() << " socket(s) on the driver's port " << driver_port);
        CHECK(held.empty());
    }
}

/// A driver in its own process (this binary, running the hidden test below), its stdout on a pipe.
struct DriverProcess {
    int pid = -1;
    int out = -1;
    std::string buffered;

    explicit DriverProcess(const std::string& dir) {
        int p[2];
        REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        std::string self = fs::read_symlink("/proc/self/exe").string();
        std::vector<std::string> args{self, "A driver SIGKILLed mid-job (driver role)"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::setenv("EMBER_TEST_CLEANUP_DIR", dir.c_str(), 1);
        int rc = ::posix_spawn(&pid, self.c_str(), &fa, nullptr, argv.data(), environ);
        ::unsetenv("EMBER_TEST_CLEANUP_DIR");
        posix_spawn_file_actions_destroy(&fa);
        ::close(p[1]);
        out = p[0];
        REQUIRE(rc == 0);
    }
    ~DriverProcess() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        if (out >= 0) ::close(out);
    }
    /// The next line starting with `prefix` the driver prints within `timeout` ("" if none).
    std::string wait_for_line(const std::string& prefix, std::chrono::milliseconds timeout) {
        auto until = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            for (std::size_t nl; (nl = buffered.find('\n')) != std::string::npos;) {
                std::string line = buffered.substr(0, nl);
                buffered.erase(0, nl + 1);
                if (line.starts_with(prefix)) return line;
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            if (left.count() <= 0) return {};
            pollfd pfd{out, POLLIN, 0};
            if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[4096];
            ssize_t n = ::read(out, buf, sizeof buf);
            if (n <= 0) return {};
            buffered.append(buf, static_cast<std::size_t>(n));
        }
    }
};

}  // namespace

TEST_CASE("A job that shuffles and spills leaves no executor, no dir and no shared driver socket",
          "[scheduler][cleanup]") {
    auto dir = test::fresh_temp_dir("cleanup-normal");
    int port = test::free_port();
    std::vector<int> pids;
    {
        SparkContext sc("local-cluster[2,1,512]", "cleanup-normal", conf_for(dir, port));
        auto spilled = std::make_shared<SpillBytes>();
        sc.add_spark_listener(spilled);
        REQUIRE(test::wait_until([&] { return sc.executor_pids().size() == 2; }, 20s));
        pids = sc.executor_pids();
        auto xs = numbers(2000);
        // Held while the files are counted: once the driver drops the RDD, the ContextCleaner
        // removes its shuffle, files included.
        auto summed = sc.parallelize(xs, 4).map(SlowPair{500, 0}).reduce_by_key(Sum{});
        auto sums = summed.collect();
        CHECK(std::map<int, long>(sums.begin(), sums.end()) == expected_sums(xs, 500));
        CHECK(test::wait_until([&] { return spilled->bytes > 0; }, 10s));  // the reduce tasks spilled
        // The executors' dirs hold the shuffle files while the app runs.
        std::set<std::string> names;
        for (int pid : pids) names.insert(executor_dir_name(pid));
        REQUIRE(names.size() == 2);
        int shuffle_files = 0;
        for (auto& n : names) shuffle_files += files_named(fs::path(dir) / n, "shuffle_");
        CHECK(shuffle_files > 0);
        check_no_driver_sockets(pids, port);
    }
    for (int pid : pids) CHECK_FALSE(test::process_alive(pid));
    CHECK(blockmgr_dirs(dir).empty());
    // Nothing else either: the executors' logs (ember-<app id>) go with the application.
    std::vector<std::string> left;
    for (auto& e : fs::directory_iterator(dir)) left.push_back(e.path().filename().string());
    INFO("left under ember.local.dir: " << left.size());
    CHECK(left.empty());
    fs::remove_all(dir);
}

TEST_CASE("An executor SIGKILLed mid-job leaves nothing; its replacement holds no driver socket",
          "[scheduler][cleanup]") {
    auto dir = test::fresh_temp_dir("cleanup-kill");
    int port = test::free_port();
    std::vector<int> all_pids;
    {
        SparkContext sc("local-cluster[2,1,512]", "cleanup-kill", conf_for(dir, port));
        REQUIRE(test::wait_until([&] { return sc.executor_pids().size() == 2; }, 20s));
        int victim = sc.executor_pid("0");
        REQUIRE(victim > 0);
        std::string victim_dir = executor_dir_name(victim);
        REQUIRE(victim_dir.starts_with("blockmgr-"));
        auto xs = numbers(600);
        std::thread killer([&] {
            // Mid-job, once the victim has written shuffle or spill files.
            test::wait_until([&] {
                auto d = fs::path(dir) / victim_dir;
                return files_named(d, "shuffle_") + files_named(d, "temp_") > 0;
            }, 20s);
            ::kill(victim, SIGKILL);
        });
        auto sums = sc.parallelize(xs, 8).map(SlowPair{300, 3000}).reduce_by_key(Sum{}).collect();
        killer.join();
        CHECK(std::map<int, long>(sums.begin(), sums.end()) == expected_sums(xs, 300));
        CHECK(test::wait_until([&] { return !fs::exists(fs::path(dir) / victim_dir); }, 10s));
        // The replacement started after the driver had accepted the first executors'
        // connections: it must hold none of them, nor the listening socket.
        REQUIRE(test::wait_until([&] { return sc.executor_pids().size() == 2; }, 20s));
        all_pids = sc.executor_pids();
        CHECK(std::find(all_pids.begin(), all_pids.end(), victim) == all_pids.end());
        check_no_driver_sockets(all_pids, port);
        all_pids.push_back(victim);
    }
    for (int pid : all_pids) CHECK_FALSE(test::process_alive(pid));
    CHECK(blockmgr_dirs(dir).empty());
    fs::remove_all(dir);
}

// Run by the next test in a process of its own (hidden: "[.]"): a driver that starts a slow
// job and waits to be SIGKILLed.
TEST_CASE("A driver SIGKILLed mid-job (driver role)", "[.][cleanup-driver-role]") {
    const char* dir = std::getenv("EMBER_TEST_CLEANUP_DIR");
    REQUIRE(dir);
    SparkContext sc("local-cluster[2,1,512]", "cleanup-driver", conf_for(dir, test::free_port()));
    REQUIRE(test::wait_until([&] { return sc.executor_pids().size() == 2; }, 20s));
    // A finished shuffle, then a job that never ends before the driver is killed.
    auto xs = numbers(2000);
    auto sums = sc.parallelize(xs, 4).map(SlowPair{7, 0}).reduce_by_key(Sum{}).collect();
    REQUIRE(sums.size() == 7);
    std::thread([&sc] {
        try {
            // Each map partition holds keys 0..999 once, so only the reduce side adds (slowly),
            // in maps that spill every 50 keys.
            sc.parallelize(numbers(4000), 4).map(SlowPair{1000, 0}).reduce_by_key(Sum{20000}).count();
        } catch (...) {
        }
    }).detach();
    std::string line = "EXECUTORS";
    for (int pid : sc.executor_pids()) line += " " + std::to_string(pid);
    std::cout << line << std::endl;
    for (;;) std::this_thread::sleep_for(1s);
}

TEST_CASE("A driver SIGKILLed mid-job takes its executors and their dirs with it", "[scheduler][cleanup]") {
    auto dir = test::fresh_temp_dir("cleanup-driver");
    DriverProcess driver(dir);
    std::string line = driver.wait_for_line("EXECUTORS", 60s);
    REQUIRE(!line.empty());
    std::vector<int> pids;
    std::istringstream in(line.substr(9));
    for (int pid; in >> pid;) pids.push_back(pid);
    REQUIRE(pids.size() == 2);
    std::set<std::string> executor_dirs;
    for (int pid : pids) executor_dirs.insert(executor_dir_name(pid));
    REQUIRE(executor_dirs.size() == 2);
    for (auto& name : executor_dirs) {
        CHECK(name.starts_with("blockmgr-"));
        CHECK(fs::exists(fs::path(dir) / name));
    }
    // Mid-job: the slow job's reduce tasks are spilling.
    CHECK(test::wait_until([&] {
        int n = 0;
        for (auto& name : executor_dirs) n += files_named(fs::path(dir) / name, "temp_");
        return n > 0;
    }, 20s));
    auto before = blockmgr_dirs(dir);
    REQUIRE(before.size() == 3);  // the driver's own and the executors'

    REQUIRE(::kill(driver.pid, SIGKILL) == 0);
    ::waitpid(driver.pid, nullptr, 0);
    driver.pid = -1;
    CHECK(test::wait_until([&] {
        for (int pid : pids) {
            if (test::process_alive(pid)) return false;
        }
        return true;
    }, 15s));
    for (int pid : pids) CHECK_FALSE(test::process_alive(pid));
    // Every executor removed its dir on the way out. The driver's own dir stays: a process
    // killed with SIGKILL runs no clean-up (as Spark's driver, whose shutdown hook cannot run).
    auto after = blockmgr_dirs(dir);
    for (auto& name : executor_dirs) {
        INFO(name << " holds " << listing(fs::path(dir) / name) << " (executors' logs: " << executor_log_tails(dir)
                  << ")");
        CHECK(after.count(name) == 0);
    }
    CHECK(after.size() == 1);
    fs::remove_all(dir);
}
