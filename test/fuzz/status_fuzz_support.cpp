// SPDX-License-Identifier: Apache-2.0
#include "test/fuzz/status_fuzz_support.hpp"

#include "scheduler/task_end_reason.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>

namespace ember::fuzz {

using namespace ember::scheduler;

namespace {

constexpr std::int64_t kT0 = 1714564800000;  // 2024-05-01T12:00:00.000GMT

RddInfo rdd(int id, std::string name, std::vector<int> parents, int partitions,
            std::string level = "NONE") {
    RddInfo r;
    r.id = id;
    r.name = std::move(name);
    r.call_site = "map at job.cpp:" + std::to_string(20 + id);
    r.parent_ids = std::move(parents);
    r.num_partitions = partitions;
    r.storage_level = std::move(level);
    return r;
}

StageInfo stage(int id, int attempt, int tasks, std::vector<int> parents, std::vector<RddInfo> rdds,
                bool shuffle_map) {
    StageInfo s;
    s.stage_id = id;
    s.attempt_id = attempt;
    s.name = (shuffle_map ? "reduceByKey at job.cpp:" : "collect at job.cpp:") + std::to_string(40 + id);
    s.num_tasks = tasks;
    s.parent_ids = std::move(parents);
    for (auto& r : rdds) s.rdd_ids.push_back(r.id);
    s.rdd_infos = std::move(rdds);
    s.is_shuffle_map = shuffle_map;
    return s;
}

TaskInfo task(std::int64_t tid, int index, int attempt, const std::string& exec, std::int64_t launch) {
    TaskInfo t;
    t.task_id = tid;
    t.index = index;
    t.attempt = attempt;
    t.partition_id = index;
    t.executor_id = exec;
    t.host = "10.0.0." + std::string(exec == "0" ? "1" : "2");
    t.launch_time = launch;
    t.locality = index % 2 ? TaskLocality::node_local : TaskLocality::process_local;
    return t;
}

TaskMetrics metrics(std::uint64_t run_ms, bool shuffle_map) {
    TaskMetrics m;
    m.executor_deserialize_time_ns = 3'000'000;
    m.executor_deserialize_cpu_time_ns = 2'500'000;
    m.executor_run_time_ns = run_ms * 1'000'000;
    m.executor_cpu_time_ns = run_ms * 800'000;
    m.result_serialization_time_ns = 1'000'000;
    m.result_size = 1500 + run_ms;
    m.peak_execution_memory = 65536;
    m.input_bytes_read = 4096;
    m.input_records_read = 100;
    if (shuffle_map) {
        m.shuffle_write.bytes_written = 2048 + run_ms;
        m.shuffle_write.records_written = 20;
        m.shuffle_write.write_time_ns = 400'000;
        m.memory_bytes_spilled = run_ms > 100 ? 1 << 20 : 0;
        m.disk_bytes_spilled = run_ms > 100 ? 1 << 18 : 0;
    } else {
        m.shuffle_read.remote_blocks_fetched = 2;
        m.shuffle_read.local_blocks_fetched = 2;
        m.shuffle_read.remote_bytes_read = 4096;
        m.shuffle_read.local_bytes_read = 4096;
        m.shuffle_read.fetch_wait_time_ns = 2'000'000;
        m.shuffle_read.records_read = 40;
        m.output_bytes_written = 512;
        m.output_records_written = 8;
    }
    return m;
}

}  // namespace

std::vector<SparkListenerEvent> seed_app_events() {
    std::vector<SparkListenerEvent> ev;
    const std::string app_id(kSeedAppId);
    ev.push_back(SparkListenerApplicationStart{"fuzz app", app_id, kT0, "alice"});
    ev.push_back(SparkListenerEnvironmentUpdate{
        {{"ember Version", "0.1.0"}, {"Program", "/usr/bin/wordcount"}, {"C++ Compiler", "clang 14"}},
        {{"ember.app.name", "fuzz app"}, {"ember.master", "local-cluster[2,2]"},
         {"ember.authenticate.secret", "*********(redacted)"}},
        {{"os.name", "Linux"}},
        {{"/usr/lib/libember.so", "System Classpath"}}});
    ev.push_back(SparkListenerBlockManagerAdded{kT0 + 1, "driver", "10.0.0.9", 7077, 1 << 24});
    ev.push_back(SparkListenerExecutorAdded{kT0 + 5, "0", "10.0.0.1", 2});
    ev.push_back(SparkListenerBlockManagerAdded{kT0 + 5, "0", "10.0.0.1", 7338, 1 << 26});
    ev.push_back(SparkListenerExecutorAdded{kT0 + 6, "1", "10.0.0.2", 2});
    ev.push_back(SparkListenerBlockManagerAdded{kT0 + 6, "1", "10.0.0.2", 7339, 1 << 26});

    // Job 0: stage 0 (4 map tasks, caches RDD 2) -> stage 1 (2 result tasks).
    auto s0 = stage(0, 0, 4, {}, {rdd(0, "HadoopRDD", {}, 4), rdd(1, "MapPartitionsRDD", {0}, 4),
                                  rdd(2, "MapPartitionsRDD", {1}, 4, "Memory Deserialized 1x Replicated")},
                    true);
    auto s1 = stage(1, 0, 2, {0}, {rdd(3, "ShuffledRDD", {2}, 2), rdd(4, "MapPartitionsRDD", {3}, 2)},
                    false);
    ev.push_back(SparkListenerJobStart{0, kT0 + 10, {s0, s1}, "nightly"});
    s0.submission_time = kT0 + 11;
    ev.push_back(SparkListenerStageSubmitted{s0});
    // A task from start to end; its metrics scale with its duration.
    auto run = [&](int stage_id, int attempt, TaskInfo t, std::int64_t duration,
                   const std::string& reason, bool shuffle_map) {
        ev.push_back(SparkListenerTaskStart{stage_id, attempt, t});
        t.finish_time = t.launch_time + duration;
        t.killed = reason.rfind("TaskKilled", 0) == 0;
        t.failed = reason != "Success" && !t.killed;
        ev.push_back(SparkListenerTaskEnd{stage_id, attempt, shuffle_map ? "ShuffleMapTask" : "ResultTask",
                                          reason, t,
                                          metrics(static_cast<std::uint64_t>(duration), shuffle_map)});
    };
    auto reason = [](TaskEndReason r) { return to_error_string(r); };
    auto block = [&](const std::string& exec, const std::string& id, bool memory, bool disk,
                     std::uint64_t mem_size, std::uint64_t disk_size) {
        SparkListenerBlockUpdated b;
        b.executor_id = exec;
        b.host = exec == "0" ? "10.0.0.1" : "10.0.0.2";
        b.port = exec == "0" ? 7338 : 7339;
        b.block_id = id;
        b.use_memory = memory;
        b.use_disk = disk;
        b.deserialized = memory;
        b.memory_size = mem_size;
        b.disk_size = disk_size;
        ev.push_back(b);
    };
    auto completed = [&](StageInfo s, std::int64_t at, std::optional<std::string> failure) {
        s.completion_time = at;
        s.failure_reason = std::move(failure);
        ev.push_back(SparkListenerStageCompleted{s});
    };

    run(0, 0, task(0, 0, 0, "0", kT0 + 12), 100, "Success", true);
    run(0, 0, task(1, 1, 0, "1", kT0 + 12), 150,
        reason(ExceptionFailure{"std::runtime_error", "bad record at line 7", "\tat parse_line(job.cpp:31)"}),
        true);
    run(0, 0, task(2, 1, 1, "0", kT0 + 170), 120, "Success", true);
    {
        // An indirect result: the driver fetches it from the executor's BlockManager.
        auto t = task(3, 2, 0, "1", kT0 + 13);
        ev.push_back(SparkListenerTaskStart{0, 0, t});
        t.getting_result_time = kT0 + 90;
        ev.push_back(SparkListenerTaskGettingResult{t});
        t.finish_time = kT0 + 103;
        ev.push_back(SparkListenerTaskEnd{0, 0, "ShuffleMapTask", "Success", t, metrics(90, true)});
    }
    run(0, 0, task(4, 3, 0, "0", kT0 + 14), 300, "Success", true);
    ev.push_back(SparkListenerSpeculativeTaskSubmitted{0, 0, 3, 3});
    {
        auto t = task(5, 3, 1, "1", kT0 + 200);
        t.speculative = true;
        run(0, 0, t, 114, reason(TaskKilled{"another attempt succeeded"}), true);
    }
    block("0", "rdd_2_0", true, false, 1000, 0);
    block("0", "rdd_2_1", true, false, 1200, 0);
    block("1", "rdd_2_2", true, true, 900, 700);
    block("0", "rdd_2_3", false, true, 0, 1500);
    block("0", "broadcast_0_piece0", true, false, 300, 0);
    ev.push_back(SparkListenerExecutorMetricsUpdate{kT0 + 250, "0", {90 << 20, 900 << 20, 3400, 65536, 2'000'000'000}});
    ev.push_back(SparkListenerExecutorMetricsUpdate{kT0 + 260, "1", {80 << 20, 850 << 20, 900, 0, 1'500'000'000}});
    ev.push_back(SparkListenerExecutorMetricsUpdate{kT0 + 270, "driver", {120 << 20, 1 << 30, 0, 0, 900'000'000}});
    s0.num_completed_tasks = 4;
    s0.num_failed_tasks = 1;
    completed(s0, kT0 + 330, std::nullopt);

    // Stage 1 fails on a fetch failure; map output 2 is resubmitted, then both stages retried.
    s1.submission_time = kT0 + 331;
    ev.push_back(SparkListenerStageSubmitted{s1});
    run(1, 0, task(6, 0, 0, "0", kT0 + 332), 50, "Success", false);
    run(1, 0, task(7, 1, 0, "1", kT0 + 332), 40,
        reason(FetchFailed{{"1", "10.0.0.2", 7339}, 0, 3, 2, 1, "connection refused"}), false);
    completed(s1, kT0 + 380, "org.apache.spark.shuffle.FetchFailedException: connection refused");
    {
        auto t = task(3, 2, 0, "1", kT0 + 13);
        t.finish_time = kT0 + 381;
        ev.push_back(SparkListenerTaskEnd{0, 0, "ShuffleMapTask", reason(Resubmitted{}), t, TaskMetrics{}});
    }
    auto s0a1 = stage(0, 1, 1, {}, s0.rdd_infos, true);
    s0a1.submission_time = kT0 + 385;
    ev.push_back(SparkListenerStageSubmitted{s0a1});
    run(0, 1, task(8, 2, 1, "0", kT0 + 390), 80, "Success", true);
    block("0", "rdd_2_2", true, false, 950, 0);
    completed(s0a1, kT0 + 475, std::nullopt);
    auto s1a1 = stage(1, 1, 1, {0}, s1.rdd_infos, false);
    s1a1.submission_time = kT0 + 480;
    ev.push_back(SparkListenerStageSubmitted{s1a1});
    run(1, 1, task(9, 1, 0, "0", kT0 + 481), 30, "Success", false);
    completed(s1a1, kT0 + 520, std::nullopt);
    ev.push_back(SparkListenerJobEnd{0, kT0 + 521, true, ""});

    // Job 1: stage 0's output is reused (skipped); stage 2 fails three times.
    auto s2 = stage(2, 0, 1, {0}, {rdd(5, "ShuffledRDD", {2}, 1, "Disk Serialized 1x Replicated")}, false);
    ev.push_back(SparkListenerJobStart{1, kT0 + 600, {s0, s2}, ""});
    s2.submission_time = kT0 + 601;
    ev.push_back(SparkListenerStageSubmitted{s2});
    run(2, 0, task(10, 0, 0, "1", kT0 + 602), 20,
        reason(ExecutorLostFailure{"1", false, "heartbeat timed out"}), false);
    block("1", "rdd_5_0", false, true, 0, 4096);
    run(2, 0, task(11, 0, 1, "0", kT0 + 630), 10, reason(TaskResultLost{}), false);
    run(2, 0, task(12, 0, 2, "0", kT0 + 650), 5,
        reason(ExceptionFailure{"ember::SparkException", "division by zero", ""}), false);
    const std::string abort_msg = "Job aborted due to stage failure: Task 0 in stage 2.0 failed 3 times";
    completed(s2, kT0 + 660, abort_msg);
    ev.push_back(SparkListenerJobEnd{1, kT0 + 661, false, abort_msg});
    ev.push_back(SparkListenerUnpersistRDD{5});

    // Job 2 is still running when executor 1 is lost and the application ends.
    auto s3 = stage(3, 0, 2, {}, {rdd(6, "ParallelCollectionRDD", {}, 2)}, false);
    ev.push_back(SparkListenerJobStart{2, kT0 + 700, {s3}, "nightly"});
    s3.submission_time = kT0 + 701;
    ev.push_back(SparkListenerStageSubmitted{s3});
    ev.push_back(SparkListenerTaskStart{3, 0, task(13, 0, 0, "1", kT0 + 702)});
    run(3, 0, task(14, 1, 0, "0", kT0 + 702), 25, "Success", false);
    ev.push_back(SparkListenerExecutorRemoved{kT0 + 800, "1", "heartbeat timed out"});
    ev.push_back(SparkListenerBlockManagerRemoved{kT0 + 800, "1", "10.0.0.2", 7339});
    ev.push_back(SparkListenerApplicationEnd{kT0 + 900});
    return ev;
}

void check_api_response(const status::ApiResponse& r, std::string_view path) {
    const char* problem = nullptr;
    if (r.status == 200) {
        boost::system::error_code ec;
        (void)boost::json::parse(r.body, ec);
        if (r.content_type != "application/json") problem = "200 without application/json";
        else if (ec) problem = "200 whose body is not JSON";
    } else if (r.status >= 400 && r.status < 500) {
        if (r.body.empty()) problem = "4xx with an empty body";
        else if (r.content_type.rfind("text/plain", 0) != 0) problem = "4xx not text/plain";
    } else {
        problem = "neither 200 nor 4xx";
    }
    if (!problem) return;
    std::fprintf(stderr, "/api/v1%.*s: %s: %u %s\n%.*s\n", static_cast<int>(path.size()), path.data(),
                 problem, r.status, r.content_type.c_str(), static_cast<int>(std::min<std::size_t>(r.body.size(), 4096)),
                 r.body.data());
    std::abort();
}

}  // namespace ember::fuzz
