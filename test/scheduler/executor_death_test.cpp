// SPDX-License-Identifier: Apache-2.0
// An executor that dies in a task reports why (scheduler/cluster/local_cluster.hpp,
// CoarseGrainedSchedulerBackend::executor_exited): a task that raises SIGSEGV or calls _exit(3)
// fails the job with the exit status, the task it was running and the last lines of its log,
// not the network guess. And the blockmgr-* directories of a SIGKILLed executor are removed.
#include "scheduler/ember.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace ember;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

/// How a task on partition `partition` ends its executor: 0 raise(SIGSEGV), else _exit(code).
struct DieOnPartition {
    int partition = 1;
    int exit_code = 0;
    int operator()(int x) const {
        auto* tc = scheduler::TaskContext::get();
        if (tc && tc->partition_id() == partition) {
            if (exit_code == 0) std::raise(SIGSEGV);
            ::_exit(exit_code);
        }
        return x;
    }
    EMBER_SERDE(partition, exit_code)
};

struct Removals : scheduler::SparkListener {
    std::mutex mu;
    std::map<std::string, std::string> reasons;
    void on_executor_removed(const scheduler::SparkListenerExecutorRemoved& e) override {
        std::lock_guard lk(mu);
        reasons[e.executor_id] = e.reason;
    }
};

Conf conf_for(const std::string& dir, int max_failures) {
    Conf conf;
    conf.set("ember.local.dir", dir);
    conf.set("ember.task.maxFailures", std::to_string(max_failures));
    conf.set("ember.scheduler.revive.interval", "100ms");
    return conf;
}

std::string failure_of(SparkContext& sc, DieOnPartition die) {
    std::vector<int> xs(40);
    std::iota(xs.begin(), xs.end(), 0);
    try {
        sc.parallelize(xs, 4).map(die).collect();
    } catch (const SparkException& e) {
        return e.what();
    }
    FAIL("the job should fail");
    return {};
}

std::vector<fs::path> blockmgr_dirs(const std::string& root) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(root, ec)) {
        if (e.path().filename().string().starts_with("blockmgr-")) out.push_back(e.path());
    }
    return out;
}

/// The executors `pids` exited within 10 s and no blockmgr-* dir is left under `dir`.
void check_executors_gone(const std::vector<int>& pids, const std::string& dir) {
    for (int pid : pids) {
        CHECK(pid > 0);
        CHECK(test::wait_until([&] { return ::kill(pid, 0) != 0; }, 10s));
    }
    CHECK(blockmgr_dirs(dir).empty());
}

}  // namespace

TEST_CASE("A task that raises SIGSEGV fails the job with the signal, the task and its log", "[scheduler][exit]") {
    // Under ASan or TSan (test/sanitize.sh) the executors would report the SIGSEGV as a
    // sanitizer error and exit; let them die of the signal as an uninstrumented build does.
    for (const char* var : {"ASAN_OPTIONS", "TSAN_OPTIONS"}) {
        if (const char* opts = std::getenv(var)) ::setenv(var, (std::string(opts) + ":handle_segv=0").c_str(), 1);
    }
    auto dir = test::fresh_temp_dir("death-segv");
    {
        SparkContext sc("local-cluster[2,1,512]", "death-segv", conf_for(dir, 2));
        auto removals = std::make_shared<Removals>();
        sc.add_spark_listener(removals);
        std::string msg = failure_of(sc, DieOnPartition{1, 0});
        INFO(msg);
        // Both attempts crashed their executor; each counted toward ember.task.maxFailures.
        CHECK_THAT(msg, Catch::Contains("Task 1 in stage 0.0 failed 2 times"));
        CHECK_THAT(msg, Catch::Contains("ExecutorLostFailure"));
        // (Tasks queued behind it on that executor are named too.)
        CHECK_THAT(msg, Catch::Matches("[\\s\\S]*Reason: executor \\d+ was killed by signal 11 \\(SIGSEGV\\) while running "
                                       "[^;]*task 1\\.1 in stage 0\\.0 \\(TID \\d+\\)[^;]*; last lines of its log:\n[\\s\\S]*",
                                       Catch::CaseSensitive::Yes));
        CHECK_THAT(msg, Catch::Contains("fatal signal 11 (SIGSEGV) in thread"));
        CHECK_THAT(msg, !Catch::Contains("Remote RPC client disassociated"));
        // The log part is bounded.
        auto log_part = msg.substr(msg.find("last lines of its log:"));
        CHECK(log_part.size() < 2048 + 200);
        std::lock_guard lk(removals->mu);
        bool any = false;
        for (auto& [id, why] : removals->reasons) any |= why.find("killed by signal 11 (SIGSEGV)") != std::string::npos;
        CHECK(any);
    }
    fs::remove_all(dir);
}

TEST_CASE("A task that calls _exit(3) fails the job with 'exited with code 3'", "[scheduler][exit]") {
    auto dir = test::fresh_temp_dir("death-exit");
    {
        SparkContext sc("local-cluster[2,1,512]", "death-exit", conf_for(dir, 1));
        std::string msg = failure_of(sc, DieOnPartition{2, 3});
        INFO(msg);
        CHECK_THAT(msg, Catch::Contains("Task 2 in stage 0.0 failed 1 times"));
        CHECK_THAT(msg, Catch::Matches("[\\s\\S]*Reason: executor \\d+ exited with code 3 while running [^;]*task 2\\.0 in "
                                       "stage 0\\.0 \\(TID \\d+\\)[\\s\\S]*",
                                       Catch::CaseSensitive::Yes));
        CHECK_THAT(msg, !Catch::Contains("Remote RPC client disassociated"));
        // The next job runs on the replacement.
        CHECK(test::wait_until([&] { return sc.executor_pids().size() == 2; }, 20s));
        std::vector<int> xs(10, 1);
        CHECK(sc.parallelize(xs, 2).count() == 10);
    }
    fs::remove_all(dir);
}

TEST_CASE("The blockmgr dirs of a SIGKILLed executor are removed, and none is left after stop",
          "[scheduler][exit][blockmgr]") {
    auto dir = test::fresh_temp_dir("death-blockmgr");
    {
        SparkContext sc("local-cluster[2,1,512]", "death-blockmgr", conf_for(dir, 4));
        // Executors and the driver each have one under the local dir.
        REQUIRE(test::wait_until([&] { return blockmgr_dirs(dir).size() == 3; }, 10s));
        auto before = blockmgr_dirs(dir);
        std::vector<int> xs(400);
        std::iota(xs.begin(), xs.end(), 0);
        auto slow = sc.parallelize(xs, 8).map([](int x) {
            std::this_thread::sleep_for(5ms);
            return std::pair<int, int>{x % 7, x};
        });
        // Kill executor 0 mid-job (it has written shuffle files by then), then finish the job.
        int victim = sc.executor_pid("0");
        REQUIRE(victim > 0);
        std::thread killer([&] {
            std::this_thread::sleep_for(600ms);
            ::kill(victim, SIGKILL);
        });
        auto sums = slow.reduce_by_key([](int a, int b) { return a + b; }).collect();
        killer.join();
        std::map<int, int> expected;
        for (int x : xs) expected[x % 7] += x;
        CHECK(std::map<int, int>(sums.begin(), sums.end()) == expected);
        // The dead executor's dir is removed while the app runs; the driver's and the other
        // executor's remain (the replacement has a new one).
        auto surviving = [&] {
            int n = 0;
            for (auto& p : before) n += fs::exists(p) ? 1 : 0;
            return n;
        };
        CHECK(test::wait_until([&] { return surviving() == 2; }, 10s));
        CHECK(surviving() == 2);
    }
    CHECK(blockmgr_dirs(dir).empty());
    fs::remove_all(dir);
}

TEST_CASE("Executors whose idle task threads run their I/O loop work and stop cleanly", "[scheduler][exit][drive]") {
    // An idle task thread runs its executor's I/O loop for ember.rpc.io.spinTime of quiet
    // (Executor::set_io_env): 10 s keeps it there from one job to the next and through the
    // stop, so the LaunchTasks, the shuffle's fetches and the StopExecutor with the backend's
    // on_stop (which stops the Executor, whose threads include this one) run on it. With two
    // cores, the other idle task thread takes the loop over while one runs a task.
    for (const char* master : {"local-cluster[2,1,512]", "local-cluster[1,2,512]"}) {
        INFO(master);
        auto dir = test::fresh_temp_dir("drive-stop");
        auto conf = conf_for(dir, 1);
        conf.set("ember.rpc.io.spinTime", "10s");
        std::vector<int> pids;
        auto t0 = std::chrono::steady_clock::now();
        {
            SparkContext sc(master, "drive-stop", conf);
            pids.push_back(sc.executor_pid("0"));
            if (std::string(master).starts_with("local-cluster[2")) pids.push_back(sc.executor_pid("1"));
            std::vector<int> xs(2000);
            std::iota(xs.begin(), xs.end(), 0);
            std::map<int, long> expected;
            for (int x : xs) expected[x % 13] += x;
            for (int round = 0; round < 20; ++round) {
                auto sums = sc.parallelize(xs, 4)
                                .map([](int x) { return std::pair<int, long>{x % 13, x}; })
                                .reduce_by_key([](long a, long b) { return a + b; }, 3)
                                .collect();
                REQUIRE(std::map<int, long>(sums.begin(), sums.end()) == expected);
                REQUIRE(sc.parallelize(xs, 2).count() == 2000);
            }
        }
        // The stop did not wait for the 10 s of polling, and the executors exited and cleaned up.
        CHECK(std::chrono::steady_clock::now() - t0 < 60s);
        check_executors_gone(pids, dir);
        fs::remove_all(dir);
    }
}

TEST_CASE("An executor stopped while its task waits in a shuffle fetch, driving the loop, exits cleanly",
          "[scheduler][exit][drive]") {
    // The task's fetch from a SIGSTOPped executor waits, and with 10 s of spinTime the task
    // thread runs its executor's loop meanwhile, so the shutdown's handlers run on it, inside
    // the task: the backend's on_stop stops the Executor and the backend is destroyed before
    // the task returns (Executor::outlive_owner keeps the Executor until then, and the task
    // reports no status through the destroyed backend). Under ASan a use of either after it is
    // freed fails the test; here the process must still leave within the bound and clean up.
    auto dir = test::fresh_temp_dir("drive-stop-in-task");
    auto conf = conf_for(dir, 1);
    conf.set("ember.rpc.io.spinTime", "10s");
    std::vector<int> xs(2000);
    std::iota(xs.begin(), xs.end(), 0);
    struct Starts : scheduler::SparkListener {
        std::mutex mu;
        std::vector<std::pair<int, std::string>> started;  // (stage, executor)
        void on_task_start(const scheduler::SparkListenerTaskStart& e) override {
            std::lock_guard lk(mu);
            started.emplace_back(e.stage_id, e.task_info.executor_id);
        }
        int count() {
            std::lock_guard lk(mu);
            return static_cast<int>(started.size());
        }
    };
    auto starts = std::make_shared<Starts>();
    std::vector<int> pids;
    std::thread job, resume;
    std::atomic<bool> job_failed{false};
    auto t0 = std::chrono::steady_clock::now();
    {
        SparkContext sc("local-cluster[2,1,512]", "drive-stop-in-task", conf);
        sc.add_spark_listener(starts);
        pids = {sc.executor_pid("0"), sc.executor_pid("1")};
        auto sums = sc.parallelize(xs, 4)
                        .map([](int x) { return std::pair<int, long>{x % 13, x}; })
                        .reduce_by_key([](long a, long b) { return a + b; }, 2);
        REQUIRE(sums.collect().size() == 13);  // map outputs on both executors
        const int before = starts->count();
        REQUIRE(::kill(pids[1], SIGSTOP) == 0);
        job = std::thread([&] {
            try {
                sums.collect();  // the reduce stage again: fetches from the stopped executor wait
            } catch (const std::exception&) {
                job_failed = true;
            }
        });
        REQUIRE(test::wait_until([&] { return starts->count() > before; }, 30s));
        std::this_thread::sleep_for(1s);  // the task reaches its fetch's wait
        resume = std::thread([pid = pids[1]] {
            std::this_thread::sleep_for(3s);
            ::kill(pid, SIGCONT);
        });
        sc.stop();
    }
    job.join();
    resume.join();
    CHECK(job_failed);
    CHECK(std::chrono::steady_clock::now() - t0 < 90s);
    check_executors_gone(pids, dir);
    fs::remove_all(dir);
}
