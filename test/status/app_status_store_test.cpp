// SPDX-License-Identifier: Apache-2.0
// AppStatusStore and the /api/v1 answers built from it: events in, Spark's JSON shapes out.
#include "scheduler/status/api_v1.hpp"
#include "scheduler/status/app_status_store.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <string>

using namespace ember;
using namespace ember::scheduler;
using namespace ember::status;
namespace json = boost::json;

namespace {

constexpr std::int64_t kT0 = 1714564800000;  // 2024-05-01T12:00:00.000GMT

StageInfo stage_info(int id, int attempt, int tasks, std::vector<int> parents = {}) {
    StageInfo s;
    s.stage_id = id;
    s.attempt_id = attempt;
    s.name = "stage " + std::to_string(id) + " at job.cpp:" + std::to_string(10 + id);
    s.num_tasks = tasks;
    s.parent_ids = std::move(parents);
    s.rdd_ids = {id * 10};
    return s;
}

TaskInfo task_info(std::int64_t tid, int index, std::string exec, std::int64_t launch) {
    TaskInfo t;
    t.task_id = tid;
    t.index = index;
    t.partition_id = index;
    t.executor_id = std::move(exec);
    t.host = "127.0.0.1";
    t.launch_time = launch;
    return t;
}

/// Runs a task start + end through the listener.
void run_task(SparkListener& l, int stage, int attempt, std::int64_t tid, int index, const std::string& exec,
              std::int64_t launch, std::int64_t duration, std::string reason = "Success", std::uint64_t run_ms = 0) {
    auto info = task_info(tid, index, exec, launch);
    l.on_task_start(SparkListenerTaskStart{stage, attempt, info});
    info.finish_time = launch + duration;
    info.failed = reason != "Success" && reason.rfind("TaskKilled", 0) != 0;
    info.killed = reason.rfind("TaskKilled", 0) == 0;
    TaskMetrics m;
    m.executor_run_time_ns = (run_ms ? run_ms : static_cast<std::uint64_t>(duration)) * 1'000'000;
    m.shuffle_write.bytes_written = 100;
    m.shuffle_write.records_written = 10;
    l.on_task_end(SparkListenerTaskEnd{stage, attempt, "ShuffleMapTask", std::move(reason), info, m});
}

json::value get(const AppStatusStore& store, const std::string& path, QueryParams q = {}, unsigned want = 200) {
    SingleApplicationSource src(std::shared_ptr<const AppStatusStore>(&store, [](auto*) {}));
    auto r = handle_api_v1(src, path, q, "0.1.0");
    INFO(path << " -> " << r.status << " " << r.body);
    REQUIRE(r.status == want);
    if (want != 200) return json::string(r.body);
    return json::parse(r.body);
}

/// An application with two executors and one job of two stages (0 -> 1).
void start_app(SparkListener& l) {
    l.on_application_start(SparkListenerApplicationStart{"demo", "app-1", kT0, "alice"});
    l.on_block_manager_added(SparkListenerBlockManagerAdded{kT0, "driver", "127.0.0.1", 7077, 1 << 20});
    l.on_executor_added(SparkListenerExecutorAdded{kT0 + 1, "0", "127.0.0.1", 2});
    l.on_executor_added(SparkListenerExecutorAdded{kT0 + 2, "1", "127.0.0.1", 2});
}

}  // namespace

TEST_CASE("a job's life: JobData and StageData follow Spark's counts and statuses", "[status]") {
    AppStatusStore store;
    auto& l = *store.listener();
    start_app(l);
    l.on_job_start(SparkListenerJobStart{0, kT0 + 10, {stage_info(0, 0, 3), stage_info(1, 0, 2, {0})}, "grp"});
    auto s0 = stage_info(0, 0, 3);
    s0.submission_time = kT0 + 11;
    l.on_stage_submitted(SparkListenerStageSubmitted{s0});

    auto jobs = get(store, "/applications/app-1/jobs");
    REQUIRE(jobs.as_array().size() == 1);
    auto& j = jobs.as_array()[0].as_object();
    CHECK(j.at("status") == "RUNNING");
    CHECK(j.at("numTasks") == 5);
    CHECK(j.at("jobGroup") == "grp");
    CHECK(j.at("submissionTime") == "2024-05-01T12:00:00.010GMT");
    CHECK_FALSE(j.contains("completionTime"));  // absent optionals are omitted
    CHECK(j.at("numActiveStages") == 1);
    CHECK(j.at("name") == "stage 1 at job.cpp:11");

    run_task(l, 0, 0, 0, 0, "0", kT0 + 12, 100);
    run_task(l, 0, 0, 1, 1, "1", kT0 + 12, 200, "ExceptionFailure: boom");
    run_task(l, 0, 0, 2, 1, "1", kT0 + 13, 300);
    run_task(l, 0, 0, 3, 2, "0", kT0 + 14, 50, "TaskKilled (another attempt succeeded)");
    run_task(l, 0, 0, 4, 2, "1", kT0 + 15, 60);
    auto info = task_info(5, 0, "0", kT0 + 20);
    l.on_task_start(SparkListenerTaskStart{0, 0, info});  // still running

    auto stage = get(store, "/applications/app-1/stages/0/0").as_object();
    CHECK(stage.at("status") == "ACTIVE");
    CHECK(stage.at("numCompleteTasks") == 3);
    CHECK(stage.at("numFailedTasks") == 1);
    CHECK(stage.at("numKilledTasks") == 1);
    CHECK(stage.at("numActiveTasks") == 1);
    CHECK(stage.at("numCompletedIndices") == 3);
    CHECK(stage.at("shuffleWriteBytes") == 500);
    CHECK(stage.at("killedTasksSummary").at("another attempt succeeded") == 1);
    CHECK(stage.at("firstTaskLaunchedTime") == "2024-05-01T12:00:00.012GMT");
    CHECK(stage.at("tasks").as_object().size() == 6);  // details=true by default for one stage
    CHECK(stage.at("tasks").at("1").at("status") == "FAILED");
    CHECK(stage.at("tasks").at("1").at("errorMessage") == "ExceptionFailure: boom");
    CHECK(stage.at("tasks").at("3").at("errorMessage") == "another attempt succeeded");
    CHECK(stage.at("tasks").at("5").at("status") == "RUNNING");
    CHECK_FALSE(stage.at("tasks").at("5").as_object().contains("taskMetrics"));
    CHECK(stage.at("executorSummary").at("1").at("failedTasks") == 1);

    auto job = get(store, "/applications/app-1/jobs/0").as_object();
    CHECK(job.at("numCompletedTasks") == 3);
    CHECK(job.at("numFailedTasks") == 1);
    CHECK(job.at("numKilledTasks") == 1);
    CHECK(job.at("numActiveTasks") == 1);
    CHECK(job.at("numCompletedIndices") == 3);

    auto done = s0;
    done.completion_time = kT0 + 400;
    l.on_task_end(SparkListenerTaskEnd{0, 0, "ShuffleMapTask", "TaskKilled (stage finished)", info, {}});
    l.on_stage_completed(SparkListenerStageCompleted{done});
    l.on_job_end(SparkListenerJobEnd{0, kT0 + 500, false, "Job aborted"});

    job = get(store, "/applications/app-1/jobs/0").as_object();
    CHECK(job.at("status") == "FAILED");
    CHECK(job.at("numCompletedStages") == 1);
    // Stage 1 never ran: SKIPPED, counted in the job.
    CHECK(job.at("numSkippedStages") == 1);
    CHECK(job.at("numSkippedTasks") == 2);
    CHECK(job.at("completionTime") == "2024-05-01T12:00:00.500GMT");
    auto skipped = get(store, "/applications/app-1/stages", {{"status", "skipped"}}).as_array();
    REQUIRE(skipped.size() == 1);
    CHECK(skipped[0].at("stageId") == 1);
    CHECK_FALSE(skipped[0].as_object().contains("tasks"));  // details=false for the list
    CHECK(get(store, "/applications/app-1/stages", {{"status", "complete,skipped"}}).as_array().size() == 2);
    CHECK(get(store, "/applications/app-1/jobs", {{"status", "running"}}).as_array().empty());
    CHECK(get(store, "/applications/app-1/jobs", {{"status", "failed"}}).as_array().size() == 1);

    auto graph = get(store, "/applications/app-1/jobs/0/stageGraph").as_object();
    REQUIRE(graph.at("stages").as_array().size() == 2);
    CHECK(graph.at("stages").as_array()[1].at("parentIds").as_array()[0] == 0);
}

TEST_CASE("a stage that already ran is SKIPPED in the next job, as Spark shows it", "[status]") {
    AppStatusStore store;
    auto& l = *store.listener();
    start_app(l);
    auto map = stage_info(0, 0, 2);
    auto result = stage_info(1, 0, 3, {0});
    l.on_job_start(SparkListenerJobStart{0, kT0, {map, result}, ""});
    for (auto* si : {&map, &result}) {
        si->submission_time = kT0 + 1;
        l.on_stage_submitted(SparkListenerStageSubmitted{*si});
        for (int i = 0; i < si->num_tasks; ++i) run_task(l, si->stage_id, 0, si->stage_id * 10 + i, i, "0", kT0 + 2, 5);
        si->completion_time = kT0 + 10;
        l.on_stage_completed(SparkListenerStageCompleted{*si});
    }
    l.on_job_end(SparkListenerJobEnd{0, kT0 + 11, true, ""});
    // Job 1 reuses the map stage's output: listed with its times, never submitted.
    auto result2 = stage_info(2, 0, 3, {0});
    l.on_job_start(SparkListenerJobStart{1, kT0 + 20, {map, result2}, ""});
    result2.submission_time = kT0 + 21;
    l.on_stage_submitted(SparkListenerStageSubmitted{result2});
    for (int i = 0; i < 3; ++i) run_task(l, 2, 0, 30 + i, i, "0", kT0 + 22, 5);
    result2.completion_time = kT0 + 30;
    l.on_stage_completed(SparkListenerStageCompleted{result2});
    l.on_job_end(SparkListenerJobEnd{1, kT0 + 31, true, ""});
    auto job = get(store, "/applications/app-1/jobs/1").as_object();
    CHECK(job.at("numTasks") == 3);  // the skipped stage's tasks are not the job's
    CHECK(job.at("numSkippedStages") == 1);
    CHECK(job.at("numSkippedTasks") == 2);
    CHECK(job.at("numCompletedStages") == 1);
    CHECK(job.at("numCompletedIndices") == 3);
    auto skipped = get(store, "/applications/app-1/stages", {{"status", "skipped"}}).as_array();
    REQUIRE(skipped.size() == 1);
    CHECK(skipped[0].at("stageId") == 0);
}

TEST_CASE("taskSummary and taskList: quantiles, paging and sorting as Spark", "[status]") {
    AppStatusStore store;
    auto& l = *store.listener();
    start_app(l);
    l.on_job_start(SparkListenerJobStart{0, kT0, {stage_info(0, 0, 5)}, ""});
    auto s = stage_info(0, 0, 5);
    s.submission_time = kT0;
    l.on_stage_submitted(SparkListenerStageSubmitted{s});
    for (int i = 0; i < 5; ++i) run_task(l, 0, 0, i, i, "0", kT0 + i, (i + 1) * 100);

    auto summary = get(store, "/applications/app-1/stages/0/0/taskSummary", {{"quantiles", "1,0.5,0"}}).as_object();
    CHECK(summary.at("quantiles").as_array()[0].to_number<double>() == 0.0);  // sorted, as Spark
    auto& d = summary.at("duration").as_array();
    REQUIRE(d.size() == 3);
    CHECK(d[0].to_number<double>() == 100);
    CHECK(d[1].to_number<double>() == 300);
    CHECK(d[2].to_number<double>() == 500);
    CHECK(summary.at("shuffleWriteMetrics").at("writeBytes").as_array()[0].to_number<double>() == 100);

    auto page = get(store, "/applications/app-1/stages/0/0/taskList", {{"offset", "1"}, {"length", "2"}}).as_array();
    REQUIRE(page.size() == 2);
    CHECK(page[0].at("taskId") == 1);
    auto longest = get(store, "/applications/app-1/stages/0/0/taskList", {{"sortBy", "-DURATION"}, {"length", "1"}});
    CHECK(longest.as_array()[0].at("taskId") == 4);
    auto slowest = get(store, "/applications/app-1/stages/0/0/taskList", {{"sortBy", "DECREASING_RUNTIME"}});
    CHECK(slowest.as_array()[0].at("taskId") == 4);
    CHECK(get(store, "/applications/app-1/stages/0/0/taskList", {{"sortBy", "runtime"}}).as_array()[0].at("taskId") == 0);
    get(store, "/applications/app-1/stages/0/0/taskList", {{"sortBy", "NAME"}}, 400);
    get(store, "/applications/app-1/stages/0/0/taskList", {{"offset", "x"}}, 400);

    auto with = get(store, "/applications/app-1/stages", {{"withSummaries", "true"}}).as_array();
    CHECK(with[0].as_object().contains("taskMetricsDistributions"));
    CHECK(with[0].as_object().contains("executorMetricsDistributions"));
}

TEST_CASE("errors name what is missing, as Spark's", "[status]") {
    AppStatusStore store;
    start_app(*store.listener());
    CHECK(get(store, "/applications/app-2/jobs", {}, 404).as_string() == "no such app: app-2");
    CHECK(get(store, "/applications/app-2", {}, 404).as_string() == "unknown app: app-2");
    CHECK(get(store, "/applications/app-1/jobs/7", {}, 404).as_string() == "unknown job: 7");
    CHECK(get(store, "/applications/app-1/stages/3", {}, 404).as_string() == "unknown stage: 3");
    get(store, "/applications/app-1/jobs", {{"status", "bogus"}}, 400);
    get(store, "/applications/app-1/stages", {{"quantiles", "2"}}, 400);
    get(store, "/applications/app-1/nothing", {}, 404);
    CHECK(get(store, "/version").at("spark") == "0.1.0");
}

TEST_CASE("executors: the driver first, dead executors only in allexecutors", "[status]") {
    AppStatusStore store;
    auto& l = *store.listener();
    start_app(l);
    l.on_block_manager_added(SparkListenerBlockManagerAdded{kT0, "0", "127.0.0.1", 40001, 1000});
    l.on_executor_removed(SparkListenerExecutorRemoved{kT0 + 50, "1", "killed by signal 9"});
    ExecutorMetrics m;
    m.process_rss_bytes = 5 << 20;
    m.cpu_time_ns = 10;
    l.on_executor_metrics_update(SparkListenerExecutorMetricsUpdate{kT0 + 60, "0", m});
    m.process_rss_bytes = 3 << 20;
    m.cpu_time_ns = 20;
    l.on_executor_metrics_update(SparkListenerExecutorMetricsUpdate{kT0 + 70, "0", m});

    auto active = get(store, "/applications/app-1/executors").as_array();
    REQUIRE(active.size() == 2);  // Spark's order: ids descending, so the driver first
    CHECK(active[0].at("id") == "driver");
    CHECK(active[0].at("hostPort") == "127.0.0.1:7077");
    CHECK(active[1].at("hostPort") == "127.0.0.1:40001");
    CHECK(active[1].at("maxMemory") == 1000);
    CHECK(active[1].at("peakMemoryMetrics").at("ProcessTreeJVMRSSMemory") == 5 << 20);
    CHECK(active[1].at("peakMemoryMetrics").at("ProcessCpuTime") == 20);
    auto all = get(store, "/applications/app-1/allexecutors").as_array();
    REQUIRE(all.size() == 3);  // Spark's order: by id
    CHECK(all[0].at("id") == "0");
    CHECK(all[1].at("id") == "1");
    CHECK(all[2].at("id") == "driver");
    CHECK(all[1].at("isActive") == false);
    CHECK(all[1].at("removeReason") == "killed by signal 9");
    CHECK(all[1].at("removeTime") == "2024-05-01T12:00:00.050GMT");
}

TEST_CASE("cached RDDs come from block updates and go with unpersist", "[status]") {
    AppStatusStore store;
    auto& l = *store.listener();
    start_app(l);
    auto s = stage_info(0, 0, 2);
    RddInfo r;
    r.id = 3;
    r.name = "MapPartitionsRDD";
    r.call_site = "map at job.cpp:3";
    r.num_partitions = 2;
    r.storage_level = "Memory Deserialized 1x Replicated";
    s.rdd_infos = {r};
    l.on_job_start(SparkListenerJobStart{0, kT0, {s}, ""});
    l.on_stage_submitted(SparkListenerStageSubmitted{s});
    SparkListenerBlockUpdated u;
    u.executor_id = "0";
    u.host = "127.0.0.1";
    u.port = 1;
    u.block_id = "rdd_3_0";
    u.use_memory = true;
    u.deserialized = true;
    u.memory_size = 400;
    l.on_block_updated(u);
    auto list = get(store, "/applications/app-1/storage/rdd").as_array();
    REQUIRE(list.size() == 1);
    CHECK(list[0].at("name") == "MapPartitionsRDD");  // Spark: the RDD's name, else its class
    CHECK(list[0].at("numCachedPartitions") == 1);
    CHECK(list[0].at("numPartitions") == 2);
    CHECK(list[0].at("memoryUsed") == 400);
    auto one = get(store, "/applications/app-1/storage/rdd/3").as_object();
    CHECK(one.at("partitions").as_array()[0].at("blockName") == "rdd_3_0");
    auto exec0 = [&] {
        auto all = get(store, "/applications/app-1/executors");
        for (auto& e : all.as_array()) {
            if (e.at("id") == "0") return e.as_object();
        }
        FAIL("executor 0 missing");
        return json::object();
    };
    CHECK(exec0().at("rddBlocks") == 1);
    CHECK(exec0().at("memoryUsed") == 400);
    l.on_unpersist_rdd(SparkListenerUnpersistRDD{3});
    CHECK(get(store, "/applications/app-1/storage/rdd").as_array().empty());
    CHECK(exec0().at("memoryUsed") == 0);
}

TEST_CASE("retention: a million tasks keep a bounded store", "[status]") {
    StoreLimits limits;
    limits.retained_tasks = 1000;
    limits.retained_stages = 20;
    limits.retained_jobs = 10;
    AppStatusStore store(limits);
    auto& l = *store.listener();
    start_app(l);
    // One big stage.
    l.on_job_start(SparkListenerJobStart{0, kT0, {stage_info(0, 0, 1'000'000)}, ""});
    auto s = stage_info(0, 0, 1'000'000);
    l.on_stage_submitted(SparkListenerStageSubmitted{s});
    for (int i = 0; i < 1'000'000; ++i) run_task(l, 0, 0, i, i, i % 2 ? "0" : "1", kT0 + i, 1);
    store.read([&](const AppState& st) {
        const auto& stage = st.stages.at({0, 0});
        CHECK(stage.tasks.size() <= 1000);
        CHECK(stage.complete_tasks == 1'000'000);
        CHECK(stage.completed_indices.size() == 1'000'000);
        CHECK(st.counters.tasks_succeeded == 1'000'000);
        return 0;
    });
    // Many small jobs.
    for (int j = 1; j <= 100; ++j) {
        auto si = stage_info(j, 0, 1);
        si.submission_time = kT0;
        l.on_job_start(SparkListenerJobStart{j, kT0, {si}, ""});
        l.on_stage_submitted(SparkListenerStageSubmitted{si});
        si.completion_time = kT0 + 1;
        l.on_stage_completed(SparkListenerStageCompleted{si});
        l.on_job_end(SparkListenerJobEnd{j, kT0 + 2, true, ""});
    }
    store.read([&](const AppState& st) {
        CHECK(st.jobs.size() <= 11);
        CHECK(st.stages.size() <= 21);
        CHECK(st.jobs.rbegin()->first == 100);  // the newest are kept
        CHECK(st.counters.jobs_succeeded == 100);
        return 0;
    });
}

TEST_CASE("application list: status and date filters", "[status]") {
    AppStatusStore store;
    auto& l = *store.listener();
    start_app(l);
    CHECK(get(store, "/applications", {{"status", "running"}}).as_array().size() == 1);
    CHECK(get(store, "/applications", {{"status", "completed"}}).as_array().empty());
    l.on_application_end(SparkListenerApplicationEnd{kT0 + 1000});
    auto apps = get(store, "/applications", {{"status", "completed"}}).as_array();
    REQUIRE(apps.size() == 1);
    auto& attempt = apps[0].at("attempts").as_array()[0].as_object();
    CHECK(attempt.at("completed") == true);
    CHECK(attempt.at("duration") == 1000);
    CHECK(attempt.at("sparkUser") == "alice");
    CHECK(attempt.at("startTime") == "2024-05-01T12:00:00.000GMT");
    CHECK(get(store, "/applications", {{"minDate", "2024-05-02"}}).as_array().empty());
    CHECK(get(store, "/applications", {{"maxDate", "2024-05-02"}}).as_array().size() == 1);
    CHECK(get(store, "/applications", {{"minEndDate", "2024-05-01T12:00:00.500GMT"}}).as_array().size() == 1);
    get(store, "/applications", {{"minDate", "yesterday"}}, 400);
}

TEST_CASE("REST dates are Spark's GMT format", "[status]") {
    CHECK(format_api_date(0) == "1970-01-01T00:00:00.000GMT");
    CHECK(format_api_date(kT0 + 123) == "2024-05-01T12:00:00.123GMT");
    CHECK(format_api_date(-1) == "1969-12-31T23:59:59.999GMT");
}

TEST_CASE("a hostile event log's times and indices: sums saturate, a far index costs no bitmap", "[status]") {
    constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
    constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
    constexpr int kIntMax = std::numeric_limits<int>::max();

    SECTION("IndexSet keeps a far index aside until the bitmap reaches it") {
        IndexSet s;
        CHECK(s.insert(kIntMax));  // a 256 MB bitmap before
        CHECK_FALSE(s.insert(kIntMax));
        CHECK(s.insert(100000));
        for (int i = 0; i < 100000; ++i) s.insert(i);  // the bitmap grows past 100000 and takes it in
        CHECK(s.size() == 100002);
        CHECK_FALSE(s.insert(100000));
        CHECK_FALSE(s.insert(kIntMax));
        CHECK(s.insert(100001));
        CHECK(s.size() == 100003);
    }

    SECTION("durations, task counts and dates at the ends of their types") {
        AppStatusStore store;
        auto& l = *store.listener();
        l.on_application_start(SparkListenerApplicationStart{"demo", "app-1", kMin, "alice"});
        l.on_executor_added(SparkListenerExecutorAdded{kT0, "0", "127.0.0.1", 2});
        l.on_job_start(SparkListenerJobStart{0, kT0, {stage_info(0, 0, kIntMax), stage_info(1, 0, kIntMax, {0})}, ""});
        l.on_stage_submitted(SparkListenerStageSubmitted{stage_info(0, 0, kIntMax)});
        for (std::int64_t tid : {0, 1}) {
            auto info = task_info(tid, static_cast<int>(tid), "0", kMin);
            l.on_task_start(SparkListenerTaskStart{0, 0, info});
            info.finish_time = kMax;
            l.on_task_end(SparkListenerTaskEnd{0, 0, "ResultTask", "Success", info, TaskMetrics{}});
        }
        auto still_running = task_info(2, 2, "0", kMin);
        l.on_task_start(SparkListenerTaskStart{0, 0, still_running});

        CHECK(get(store, "/applications/app-1/jobs/0").at("numTasks") == kIntMax);
        auto stage = get(store, "/applications/app-1/stages/0/0").as_object();
        CHECK(stage.at("tasks").at("0").at("duration") == kMax);
        CHECK(stage.at("tasks").at("2").at("duration") == kMax);  // now - launch
        CHECK(stage.at("executorSummary").at("0").at("taskTime") == kMax);
        auto execs = get(store, "/applications/app-1/allexecutors").as_array();
        auto e0 = std::find_if(execs.begin(), execs.end(), [](auto& e) { return e.at("id") == "0"; });
        REQUIRE(e0 != execs.end());
        CHECK(e0->at("totalDuration") == kMax);
        ExecutorMetrics m;
        m.execution_memory_bytes = kMax;
        m.storage_memory_bytes = 900;
        l.on_executor_metrics_update(SparkListenerExecutorMetricsUpdate{kT0, "0", m});
        execs = get(store, "/applications/app-1/allexecutors").as_array();
        e0 = std::find_if(execs.begin(), execs.end(), [](auto& e) { return e.at("id") == "0"; });
        REQUIRE(e0 != execs.end());
        CHECK(e0->at("peakMemoryMetrics").at("OnHeapUnifiedMemory") == kMax);

        l.on_application_end(SparkListenerApplicationEnd{kMax});
        auto app = get(store, "/applications/app-1").as_object();
        auto& attempt = app.at("attempts").as_array()[0].as_object();
        CHECK(attempt.at("duration") == kMax);
        CHECK(attempt.at("startTimeEpoch") == kMin);
        // Floor division: -9223372036854775808 ms is 808 ms before a whole second.
        std::string start(attempt.at("startTime").as_string());
        CHECK(start.substr(start.size() - 7) == ".192GMT");
    }
}
