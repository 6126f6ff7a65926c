// SPDX-License-Identifier: Apache-2.0
// The event log: JsonProtocol's round trip for every event, EventLoggingListener's files (plain,
// zstd, LZ4), replay with truncated and garbled lines, and the History Server's listing.

#include "scheduler/status/event_log.hpp"
#include "scheduler/status/json_protocol.hpp"
#include "scheduler/status/replay.hpp"
#include "scheduler/task_end_reason.hpp"
#include "test/support/process.hpp"
#include "test/support/temp_dir.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <sys/resource.h>
#include <zstd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

using namespace ember;
using namespace ember::scheduler;
namespace fs = std::filesystem;

namespace {

constexpr const char* kVersion = "3.3.1-ember";

TaskMetrics sample_metrics(std::uint64_t k) {
    TaskMetrics m;
    m.executor_deserialize_time_ns = 1'234'567 + k;
    m.executor_run_time_ns = 987'654'321 + k;
    m.result_size = 2048 + k;
    m.input_bytes_read = 10 + k;
    m.input_records_read = 11 + k;
    m.output_bytes_written = 12 + k;
    m.output_records_written = 13 + k;
    m.shuffle_write = {1000 + k, 50 + k, 123'456 + k};
    m.memory_bytes_spilled = 7 + k;
    m.disk_bytes_spilled = 8 + k;
    m.shuffle_read = {3 + k, 4 + k, 5000 + k, 6000 + k, 7'654'321 + k, 80 + k, 90 + k};
    return m;
}

TaskInfo sample_task(std::int64_t id) {
    TaskInfo t;
    t.task_id = id;
    t.index = static_cast<int>(id % 7);
    t.attempt = 1;
    t.partition_id = static_cast<int>(id % 7) + 100;
    t.launch_time = 1'714'567'890'000 + id;
    t.executor_id = "exec-" + std::to_string(id % 3);
    t.host = "host-" + std::to_string(id % 2);
    t.finish_time = t.launch_time + 250;
    t.getting_result_time = t.launch_time + 200;
    t.failed = id % 5 == 1;
    t.killed = id % 5 == 2;
    t.locality = static_cast<TaskLocality>(id % 5);
    t.speculative = id % 2 == 0;
    return t;
}

StageInfo sample_stage(int id, bool finished) {
    StageInfo s;
    s.stage_id = id;
    s.attempt_id = 2;
    s.name = "reduceByKey at word_count.cpp:42";
    s.num_tasks = 8;
    s.parent_ids = {id - 1, id - 2};
    s.rdd_ids = {10, 11};
    s.rdd_infos = {RddInfo{10, "ShuffledRDD", "reduceByKey at word_count.cpp:42", {9}, 8,
                           "Memory Deserialized 1x Replicated"},
                   RddInfo{11, "MapPartitionsRDD", "map at word_count.cpp:43", {10}, 8, "NONE"},
                   RddInfo{12, "MapPartitionsRDD", "cache at word_count.cpp:44", {11, 10}, 4,
                           "Disk Memory Serialized 2x Replicated"}};
    s.is_shuffle_map = true;
    s.submission_time = 1'714'567'890'123;
    if (finished) {
        s.completion_time = 1'714'567'899'999;
        s.failure_reason = "Job aborted due to stage failure: boom";
        s.num_completed_tasks = 6;
        s.num_failed_tasks = 2;
        s.metrics = sample_metrics(17);
    }
    return s;
}

/// Reason strings of every kind, with the Spark "Reason" each must map to.
std::vector<std::pair<std::string, std::string>> sample_reasons() {
    return {
        {"Success", "Success"},
        {to_error_string(Resubmitted{}), "Resubmitted"},
        {to_error_string(TaskResultLost{}), "TaskResultLost"},
        {to_error_string(FetchFailed{storage::BlockManagerId{"exec-2", "host-b", 7337}, 3, 42, 5, 1,
                                     "Connection refused\nat the second line"}),
         "FetchFailed"},
        {to_error_string(FetchFailed{{}, 4, -1, -1, 0, "Missing an output location for shuffle 4"}), "FetchFailed"},
        {to_error_string(ExceptionFailure{"std::runtime_error", "bad input: line 3", "frame one\nframe two"}),
         "ExceptionFailure"},
        {to_error_string(ExceptionFailure{"ember.InvalidMapStatus", "short status", ""}), "ExceptionFailure"},
        {to_error_string(TaskKilled{"Stage cancelled (job 3)"}), "TaskKilled"},
        {to_error_string(ExecutorLostFailure{"exec-3", true, "Executor heartbeat timed out"}), "ExecutorLostFailure"},
        {to_error_string(ExecutorLostFailure{"exec-4", false, ""}), "ExecutorLostFailure"},
        {"UnknownReason", "UnknownReason"},
        {"a failure with no class name at all", "ExceptionFailure"},
        {"TaskKilled (unbalanced", "ExceptionFailure"},
        {"FetchFailed(garbage)", "ExceptionFailure"},
    };
}

/// One event of every kind (with non-default values), TaskEnds with every kind of reason.
std::vector<SparkListenerEvent> sample_events() {
    std::vector<SparkListenerEvent> v;
    v.push_back(SparkListenerApplicationStart{"word count", "app-20240501120000-0042", 1'714'567'880'000, "alice"});
    v.push_back(SparkListenerEnvironmentUpdate{
        {{"Runtime Version", "ember 0.1.0"}, {"Compiler", "g++ 12.2"}},
        {{"ember.app.name", "word count"}, {"ember.master", "local-cluster[2,1,1024]"},
         {"ember.authenticate.secret", "*********(redacted)"}},
        {{"os.name", "Linux"}, {"user.name", "alice"}},
        {{"/usr/lib/libember.so", "System Classpath"}}});
    v.push_back(SparkListenerBlockManagerAdded{1'714'567'880'100, "driver", "10.0.0.1", 40000, 512ull << 20});
    v.push_back(SparkListenerExecutorAdded{1'714'567'880'200, "exec-1", "10.0.0.2", 4});
    v.push_back(SparkListenerBlockManagerAdded{1'714'567'880'300, "exec-1", "10.0.0.2", 40001, (6ull << 30) + 7});
    v.push_back(SparkListenerJobStart{0, 1'714'567'881'000, {sample_stage(1, false), sample_stage(2, false)}, "nightly"});
    v.push_back(SparkListenerJobStart{1, 1'714'567'881'001, {}, ""});
    v.push_back(SparkListenerStageSubmitted{sample_stage(2, false)});
    std::int64_t tid = 1;
    for (const auto& [reason, kind] : sample_reasons()) {
        (void)kind;
        TaskInfo t = sample_task(tid);
        v.push_back(SparkListenerTaskStart{2, 2, t});
        if (tid == 3) v.push_back(SparkListenerTaskGettingResult{t});
        v.push_back(SparkListenerTaskEnd{2, 2, tid % 2 ? "ShuffleMapTask" : "ResultTask", reason, t,
                                         sample_metrics(static_cast<std::uint64_t>(tid))});
        ++tid;
    }
    v.push_back(SparkListenerSpeculativeTaskSubmitted{2, 2, 5, 105});
    v.push_back(SparkListenerBlockUpdated{"exec-1", "10.0.0.2", 40001, "rdd_12_3", true, true, true, 2, 4096, 8192});
    v.push_back(SparkListenerBlockUpdated{"exec-1", "10.0.0.2", 40001, "rdd_12_3", false, false, false, 1, 0, 0});
    v.push_back(SparkListenerExecutorMetricsUpdate{1'714'567'885'000, "exec-1",
                                                   ExecutorMetrics{300 << 20, 2ll << 30, 1 << 20, 2 << 20, 5'000'000'123}});
    // excludeOnFailure (issue 11, part 5).
    v.push_back(SparkListenerExecutorExcludedForStage{1'714'567'885'100, "exec-1", 2, 2, 2});
    v.push_back(SparkListenerNodeExcludedForStage{1'714'567'885'101, "10.0.0.2", 2, 2, 2});
    v.push_back(SparkListenerExecutorExcluded{1'714'567'885'102, "exec-1", 2});
    v.push_back(SparkListenerNodeExcluded{1'714'567'885'103, "10.0.0.2", 2});
    v.push_back(SparkListenerExecutorUnexcluded{1'714'567'885'104, "exec-1"});
    v.push_back(SparkListenerNodeUnexcluded{1'714'567'885'105, "10.0.0.2"});
    v.push_back(SparkListenerStageCompleted{sample_stage(2, true)});
    v.push_back(SparkListenerJobEnd{0, 1'714'567'890'000, true, ""});
    v.push_back(SparkListenerJobEnd{1, 1'714'567'890'001, false, "Job aborted due to stage failure: Task 3 failed"});
    v.push_back(SparkListenerUnpersistRDD{12});
    v.push_back(SparkListenerExecutorRemoved{1'714'567'891'000, "exec-1", "Executor heartbeat timed out"});
    v.push_back(SparkListenerBlockManagerRemoved{1'714'567'891'001, "exec-1", "10.0.0.2", 40001});
    v.push_back(SparkListenerApplicationEnd{1'714'567'899'000});
    return v;
}

std::string text_of(const SparkListenerEvent& e) { return boost::json::serialize(to_json(e)); }

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_all(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
}

EventLogOptions options_for(const std::string& dir, const std::string& codec) {
    EventLogOptions o;
    o.dir = dir;
    o.compress = !codec.empty();
    if (!codec.empty()) o.codec = codec;
    o.log_block_updates = true;
    o.log_executor_metrics = true;
    return o;
}

/// Writes `events` through an EventLoggingListener (ApplicationEnd, if last, stops it).
std::string write_log(const std::string& dir, const std::string& codec, const std::string& app_id,
                      const std::vector<SparkListenerEvent>& events) {
    EventLoggingListener l(options_for(dir, codec), app_id, kVersion);
    for (const auto& e : events) dispatch(l, e);
    l.stop();
    return l.path();
}

std::vector<SparkListenerEvent> replay_all(const std::string& path, bool maybe_truncated, ReplayResult* result = nullptr) {
    std::vector<SparkListenerEvent> out;
    ReplayResult r = replay_event_log(
        path, [&out](const SparkListenerEvent& e) { out.push_back(e); }, maybe_truncated);
    if (result) *result = r;
    return out;
}

/// CPU time this thread has used, in ns (wall time on a shared machine says little).
double thread_cpu_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

bool have(const char* program) { return ::access(program, X_OK) == 0; }

/// The first event of type E in sample_events(), as JSON.
template <class E>
boost::json::object first_json() {
    for (const auto& e : sample_events()) {
        if (std::holds_alternative<E>(e)) return to_json(e);
    }
    throw std::logic_error("no such sample event");
}

}  // namespace

TEST_CASE("Every listener event survives JSON -> event -> JSON unchanged", "[status][event_log]") {
    auto events = sample_events();
    std::set<std::size_t> kinds;
    for (const auto& e : events) {
        kinds.insert(e.index());
        boost::json::object j1 = to_json(e);
        std::string text = boost::json::serialize(j1);
        INFO(text);
        CHECK(text.find('\n') == std::string::npos);
        // The text as a file holds it, parsed by a fresh parser.
        auto e2 = event_from_json(boost::json::parse(text).as_object());
        REQUIRE(e2);
        CHECK(e2->index() == e.index());
        CHECK(boost::json::serialize(to_json(*e2)) == text);
        // The per-type overload writes the same as the variant one.
        std::visit([&](const auto& ev) { CHECK(boost::json::serialize(to_json(ev)) == text); }, e);
    }
    CHECK(kinds.size() == std::variant_size_v<SparkListenerEvent>);
}

TEST_CASE("TaskEventJson's reused trees equal to_json for every task event", "[status][event_log]") {
    TaskEventJson fast;
    int checked = 0;
    for (int round = 0; round < 2; ++round) {
        for (const auto& e : sample_events()) {
            if (auto* te = std::get_if<SparkListenerTaskEnd>(&e)) {
                CHECK(boost::json::serialize(fast(*te)) == text_of(e));
                ++checked;
            } else if (auto* ts = std::get_if<SparkListenerTaskStart>(&e)) {
                CHECK(boost::json::serialize(fast(*ts)) == text_of(e));
                ++checked;
            }
        }
    }
    CHECK(checked == 4 * static_cast<int>(sample_reasons().size()));
    // Negative and extreme values too.
    TaskInfo t = sample_task(-5);
    t.launch_time = -1;
    t.executor_id = std::string(100, 'x');
    TaskMetrics m = sample_metrics(std::numeric_limits<std::uint64_t>::max() - 10'000'000'000ull);
    SparkListenerTaskEnd odd{-1, -2, "", "Success", t, m};
    CHECK(boost::json::serialize(fast(odd)) == boost::json::serialize(to_json(odd)));
}

TEST_CASE("Replayed events carry the values that were logged, nanoseconds and reasons included",
          "[status][event_log]") {
    for (const auto& e : sample_events()) {
        auto back = event_from_json(to_json(e));
        REQUIRE(back);
        if (auto* te = std::get_if<SparkListenerTaskEnd>(&e)) {
            const auto& b = std::get<SparkListenerTaskEnd>(*back);
            CHECK(b.reason == te->reason);
            CHECK(b.task_metrics.executor_run_time_ns == te->task_metrics.executor_run_time_ns);
            CHECK(b.task_metrics.executor_deserialize_time_ns == te->task_metrics.executor_deserialize_time_ns);
            CHECK(b.task_metrics.shuffle_read.fetch_wait_time_ns == te->task_metrics.shuffle_read.fetch_wait_time_ns);
            CHECK(b.task_metrics.shuffle_write.write_time_ns == te->task_metrics.shuffle_write.write_time_ns);
            CHECK(b.task_metrics.disk_bytes_spilled == te->task_metrics.disk_bytes_spilled);
            CHECK(b.task_info.locality == te->task_info.locality);
            CHECK(b.task_info.speculative == te->task_info.speculative);
        }
        if (auto* sc = std::get_if<SparkListenerStageCompleted>(&e)) {
            const auto& b = std::get<SparkListenerStageCompleted>(*back).stage_info;
            CHECK(b.failure_reason == sc->stage_info.failure_reason);
            CHECK(b.completion_time == sc->stage_info.completion_time);
            REQUIRE(b.rdd_infos.size() == 3);
            CHECK(b.rdd_infos[0].storage_level == "Memory Deserialized 1x Replicated");
            CHECK(b.rdd_infos[1].storage_level == "NONE");
            CHECK(b.rdd_infos[2].storage_level == "Disk Memory Serialized 2x Replicated");
            CHECK(b.rdd_infos[2].parent_ids == std::vector<int>{11, 10});
            CHECK(b.metrics.result_size == sc->stage_info.metrics.result_size);
            CHECK(b.num_failed_tasks == 2);
            CHECK(b.is_shuffle_map);
        }
        if (auto* js = std::get_if<SparkListenerJobStart>(&e)) {
            CHECK(std::get<SparkListenerJobStart>(*back).job_group == js->job_group);
        }
        if (auto* mu = std::get_if<SparkListenerExecutorMetricsUpdate>(&e)) {
            const auto& b = std::get<SparkListenerExecutorMetricsUpdate>(*back);
            CHECK(b.metrics.cpu_time_ns == mu->metrics.cpu_time_ns);
            CHECK(b.metrics.process_vmem_bytes == mu->metrics.process_vmem_bytes);
            CHECK(b.time == mu->time);
        }
    }
}

TEST_CASE("Task end reasons become Spark's reason objects and render back to the same string",
          "[status][event_log]") {
    for (const auto& [reason, kind] : sample_reasons()) {
        INFO(reason);
        boost::json::object j = task_end_reason_to_json(reason);
        CHECK(j.at("Reason").as_string() == kind);
        CHECK(task_end_reason_from_json(boost::json::parse(boost::json::serialize(j)).as_object()) == reason);
    }
    auto fetch = task_end_reason_to_json(sample_reasons()[3].first);
    CHECK(fetch.at("Block Manager Address").at("Executor ID").as_string() == "exec-2");
    CHECK(fetch.at("Block Manager Address").at("Port").as_int64() == 7337);
    CHECK(fetch.at("Map ID").as_int64() == 42);
    CHECK(fetch.at("Map Index").as_int64() == 5);
    CHECK(fetch.at("Message").as_string() == "Connection refused\nat the second line");
    CHECK(task_end_reason_to_json(sample_reasons()[4].first).at("Block Manager Address").is_null());
    auto ex = task_end_reason_to_json(sample_reasons()[5].first);
    CHECK(ex.at("Class Name").as_string() == "std::runtime_error");
    CHECK(ex.at("Description").as_string() == "bad input: line 3");
    CHECK(ex.at("Stack Trace").as_array().empty());
    CHECK(ex.at("Full Stack Trace").as_string() == sample_reasons()[5].first);
    auto killed = task_end_reason_to_json(sample_reasons()[7].first);
    CHECK(killed.at("Kill Reason").as_string() == "Stage cancelled (job 3)");
    auto lost = task_end_reason_to_json(sample_reasons()[9].first);
    CHECK(lost.at("Executor ID").as_string() == "exec-4");
    CHECK(lost.at("Exit Caused By App").as_bool() == false);
}

TEST_CASE("Events use Spark's field names, units and nesting", "[status][event_log]") {
    TaskInfo t = sample_task(8);
    auto j = to_json(SparkListenerTaskEnd{4, 1, "ResultTask", "Success", t, sample_metrics(0)});
    CHECK(boost::json::serialize(j).rfind(R"({"Event":"SparkListenerTaskEnd","Stage ID":4,"Stage Attempt ID":1,)", 0) == 0);
    CHECK(j.at("Task End Reason") == boost::json::parse(R"({"Reason":"Success"})"));
    const auto& ti = j.at("Task Info").as_object();
    CHECK(ti.at("Task ID").to_number<std::int64_t>() == 8);
    CHECK(ti.at("Launch Time").to_number<std::int64_t>() == t.launch_time);
    CHECK(ti.at("Locality").as_string() == "RACK_LOCAL");
    CHECK(ti.at("Getting Result Time").to_number<std::int64_t>() == t.getting_result_time);
    const auto& tm = j.at("Task Metrics").as_object();
    CHECK(tm.at("Executor Run Time").to_number<std::int64_t>() == 987);  // ms
    CHECK(tm.at("Executor Deserialize Time").to_number<std::int64_t>() == 1);
    CHECK(tm.at("Memory Bytes Spilled").to_number<std::int64_t>() == 7);
    CHECK(tm.at("Shuffle Write Metrics").at("Shuffle Write Time").to_number<std::int64_t>() == 123'456);  // ns
    CHECK(tm.at("Shuffle Write Metrics").at("Shuffle Bytes Written").to_number<std::int64_t>() == 1000);
    CHECK(tm.at("Shuffle Read Metrics").at("Fetch Wait Time").to_number<std::int64_t>() == 7);  // ms
    CHECK(tm.at("Shuffle Read Metrics").at("Remote Bytes Read To Disk").to_number<std::int64_t>() == 90);
    CHECK(tm.at("Shuffle Read Metrics").at("Total Records Read").to_number<std::int64_t>() == 80);
    CHECK(tm.at("Input Metrics").at("Bytes Read").to_number<std::int64_t>() == 10);
    CHECK(tm.at("Output Metrics").at("Records Written").to_number<std::int64_t>() == 13);

    auto stage = to_json(SparkListenerStageSubmitted{sample_stage(3, false)});
    const auto& si = stage.at("Stage Info").as_object();
    CHECK(si.at("Stage Name").as_string() == "reduceByKey at word_count.cpp:42");
    CHECK(si.at("Number of Tasks").to_number<int>() == 8);
    CHECK(!si.contains("Completion Time"));
    const auto& rdd = si.at("RDD Info").as_array()[0].as_object();
    CHECK(rdd.at("Callsite").as_string() == "reduceByKey at word_count.cpp:42");
    CHECK(rdd.at("Storage Level") ==
          boost::json::parse(R"({"Use Disk":false,"Use Memory":true,"Use Off Heap":false,"Deserialized":true,"Replication":1})"));
    CHECK(stage.contains("Properties"));

    auto bm = to_json(SparkListenerBlockManagerAdded{5, "exec-1", "h", 7, 1024});
    CHECK(bm.at("Block Manager ID") == boost::json::parse(R"({"Executor ID":"exec-1","Host":"h","Port":7})"));
    CHECK(bm.at("Maximum Memory").to_number<std::int64_t>() == 1024);
    CHECK(bm.at("Timestamp").to_number<std::int64_t>() == 5);

    auto env = to_json(sample_events()[1]);
    CHECK(env.at("JVM Information").at("Runtime Version").as_string() == "ember 0.1.0");
    CHECK(env.at("Spark Properties").at("ember.master").as_string() == "local-cluster[2,1,1024]");
    CHECK(env.at("Hadoop Properties").as_object().empty());
    CHECK(env.at("Classpath Entries").is_object());

    auto mu = to_json(SparkListenerExecutorMetricsUpdate{1, "driver", ExecutorMetrics{1, 2, 3, 4, 5}});
    const auto& upd = mu.at("Executor Metrics Updated").as_array().at(0).as_object();
    CHECK(upd.at("Stage ID").to_number<int>() == -1);
    CHECK(upd.at("Executor Metrics") == boost::json::parse(R"({"ProcessTreeJVMRSSMemory":1,"ProcessTreeJVMVMemory":2,)"
                                                           R"("OnHeapStorageMemory":3,"OnHeapExecutionMemory":4,"ProcessCpuTime":5})"));

    auto job_end = to_json(SparkListenerJobEnd{3, 9, false, "boom"});
    CHECK(job_end.at("Job Result") ==
          boost::json::parse(R"({"Result":"JobFailed","Exception":{"Message":"boom","Stack Trace":[]}})"));
    auto job_start = to_json(SparkListenerJobStart{3, 9, {sample_stage(1, false)}, "g"});
    CHECK(job_start.at("Stage IDs") == boost::json::parse("[1]"));
    CHECK(job_start.at("Properties") == boost::json::parse(R"({"spark.jobGroup.id":"g"})"));

    CHECK(boost::json::serialize(log_start_json(kVersion)) ==
          R"({"Event":"SparkListenerLogStart","Spark Version":"3.3.1-ember"})");
}

TEST_CASE("An unknown Event is skipped; a malformed known one names the event and the field",
          "[status][event_log]") {
    CHECK(!event_from_json(boost::json::parse(R"({"Event":"org.apache.spark.sql.SparkListenerSQLExecutionStart","x":1})")
                               .as_object()));
    CHECK(!event_from_json(log_start_json("1")));
    CHECK_THROWS_WITH(event_from_json(boost::json::parse(R"({"No Event":1})").as_object()),
                      Catch::Contains("\"Event\" is missing"));

    boost::json::object j = first_json<SparkListenerTaskEnd>();
    REQUIRE(j.at("Event").as_string() == "SparkListenerTaskEnd");
    j.at("Task Info").as_object().erase("Task ID");
    CHECK_THROWS_WITH(event_from_json(j),
                      Catch::Contains("SparkListenerTaskEnd") && Catch::Contains("\"Task Info.Task ID\" is missing"));
    j = first_json<SparkListenerTaskEnd>();
    j.at("Task Metrics").as_object().at("Shuffle Read Metrics").as_object()["Remote Bytes Read"] = "many";
    CHECK_THROWS_WITH(event_from_json(j), Catch::Contains("SparkListenerTaskEnd") &&
                                              Catch::Contains("\"Task Metrics.Shuffle Read Metrics.Remote Bytes Read\" "
                                                              "is not a number"));
    j = first_json<SparkListenerJobStart>();
    j.at("Stage Infos").as_array().at(1).as_object().at("RDD Info").as_array().at(0).as_object()["RDD ID"] = -1.5;
    CHECK_THROWS_WITH(event_from_json(j), Catch::Contains("SparkListenerJobStart") &&
                                              Catch::Contains("\"Stage Infos[1].RDD Info[0].RDD ID\""));
    j = first_json<SparkListenerTaskEnd>();
    j.erase("Task End Reason");
    CHECK_THROWS_WITH(event_from_json(j), Catch::Contains("\"Task End Reason\" is missing"));
    j = first_json<SparkListenerTaskEnd>();
    j.at("Task End Reason").as_object().erase("Reason");
    CHECK_THROWS_WITH(event_from_json(j), Catch::Contains("SparkListenerTaskEnd") &&
                                              Catch::Contains("\"Task End Reason.Reason\" is missing"));
}

TEST_CASE("Lines as Spark writes them replay, with Spark's units", "[status][event_log]") {
    std::string dir = test::fresh_temp_dir("evlog-spark");
    // Spark 3.3's own lines (trimmed of fields ember does not read): no ember additions.
    std::string log = join_lines({
        R"j({"Event":"SparkListenerLogStart","Spark Version":"3.3.1"})j",
        R"j({"Event":"SparkListenerApplicationStart","App Name":"Spark Pi","App ID":"local-1714567890123","Timestamp":1714567889000,"User":"bob"})j",
        R"j({"Event":"org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart","executionId":0})j",
        R"j({"Event":"SparkListenerTaskEnd","Stage ID":0,"Stage Attempt ID":0,"Task Type":"ResultTask","Task End Reason":{"Reason":"ExceptionFailure","Class Name":"java.lang.ArithmeticException","Description":"/ by zero","Stack Trace":[{"Declaring Class":"Pi$","Method Name":"f","File Name":"Pi.scala","Line Number":12}],"Accumulator Updates":[]},"Task Info":{"Task ID":7,"Index":3,"Attempt":0,"Partition ID":3,"Launch Time":1714567890000,"Executor ID":"driver","Host":"localhost","Locality":"PROCESS_LOCAL","Speculative":false,"Getting Result Time":0,"Finish Time":1714567890100,"Failed":true,"Killed":false,"Accumulables":[]},"Task Executor Metrics":{"JVMHeapMemory":0},"Task Metrics":{"Executor Deserialize Time":12,"Executor Deserialize CPU Time":100,"Executor Run Time":34,"Executor CPU Time":200,"Peak Execution Memory":0,"Result Size":1000,"JVM GC Time":0,"Result Serialization Time":0,"Memory Bytes Spilled":0,"Disk Bytes Spilled":0,"Shuffle Read Metrics":{"Remote Blocks Fetched":0,"Local Blocks Fetched":0,"Fetch Wait Time":5,"Remote Bytes Read":0,"Remote Bytes Read To Disk":0,"Local Bytes Read":0,"Total Records Read":0},"Shuffle Write Metrics":{"Shuffle Bytes Written":0,"Shuffle Write Time":777,"Shuffle Records Written":0},"Input Metrics":{"Bytes Read":0,"Records Read":0},"Output Metrics":{"Bytes Written":0,"Records Written":0},"Updated Blocks":[]}})j",
        R"j({"Event":"SparkListenerStageSubmitted","Stage Info":{"Stage ID":0,"Stage Attempt ID":0,"Stage Name":"reduce at SparkPi.scala:38","Number of Tasks":2,"RDD Info":[{"RDD ID":1,"Name":"MapPartitionsRDD","Scope":"{\"id\":\"1\",\"name\":\"map\"}","Callsite":"map at SparkPi.scala:34","Parent IDs":[0],"Storage Level":{"Use Disk":false,"Use Memory":false,"Deserialized":false,"Replication":1},"Barrier":false,"DeterministicLevel":"DETERMINATE","Number of Partitions":2,"Number of Cached Partitions":0,"Memory Size":0,"Disk Size":0}],"Parent IDs":[],"Details":"org.apache.spark.rdd.RDD.reduce(RDD.scala:1097)","Submission Time":1714567889500,"Accumulables":[],"Resource Profile Id":0},"Properties":{"spark.rdd.scope":"x"}})j",
        R"j({"Event":"org.apache.spark.scheduler.SparkListenerSpeculativeTaskSubmitted","stageId":0,"stageAttemptId":0,"taskIndex":1,"partitionId":1})j",
    });
    std::string path = dir + "/local-1714567890123";
    write_all(path, log);
    ReplayResult r;
    auto events = replay_all(path, false, &r);
    CHECK(r.spark_version == "3.3.1");
    CHECK(r.events == 4);
    CHECK(r.skipped == 1);
    CHECK(!r.truncated);
    REQUIRE(events.size() == 4);
    const auto& te = std::get<SparkListenerTaskEnd>(events[1]);
    CHECK(te.reason == "java.lang.ArithmeticException: / by zero\n\tat Pi$.f(Pi.scala:12)");
    CHECK(te.task_metrics.executor_run_time_ns == 34'000'000);
    CHECK(te.task_metrics.executor_deserialize_time_ns == 12'000'000);
    CHECK(te.task_metrics.shuffle_read.fetch_wait_time_ns == 5'000'000);
    CHECK(te.task_metrics.shuffle_write.write_time_ns == 777);
    CHECK(te.task_info.failed);
    const auto& ss = std::get<SparkListenerStageSubmitted>(events[2]);
    CHECK(ss.stage_info.rdd_ids == std::vector<int>{1});
    CHECK(ss.stage_info.rdd_infos.at(0).storage_level == "NONE");
    CHECK(!ss.stage_info.completion_time);
    CHECK(std::get<SparkListenerSpeculativeTaskSubmitted>(events[3]).task_index == 1);
    fs::remove_all(dir);
}

TEST_CASE("A log written by EventLoggingListener replays to the same events (plain, zstd, lz4)",
          "[status][event_log]") {
    std::string dir = test::fresh_temp_dir("evlog-roundtrip");
    auto events = sample_events();
    for (std::string codec : {"", "zstd", "lz4"}) {
        INFO("codec " << codec);
        std::string app = "app-roundtrip-" + (codec.empty() ? std::string("plain") : codec);
        std::string path = write_log(dir, codec, app, events);
        CHECK(path == dir + "/" + app + (codec.empty() ? "" : "." + codec));
        CHECK(fs::exists(path));
        CHECK(!fs::exists(path + ".inprogress"));
        ReplayResult r;
        auto back = replay_all(path, false, &r);
        CHECK(r.events == events.size());
        CHECK(r.skipped == 0);
        CHECK(!r.truncated);
        CHECK(r.spark_version == kVersion);
        REQUIRE(back.size() == events.size());
        for (std::size_t i = 0; i < events.size(); ++i) CHECK(text_of(back[i]) == text_of(events[i]));

        // The SparkListener overload dispatches the same events.
        struct Count : SparkListener {
            int task_ends = 0, app_ends = 0;
            void on_task_end(const SparkListenerTaskEnd&) override { ++task_ends; }
            void on_application_end(const SparkListenerApplicationEnd&) override { ++app_ends; }
        } count;
        CHECK(replay_event_log(path, count, false).events == events.size());
        CHECK(count.task_ends == static_cast<int>(sample_reasons().size()));
        CHECK(count.app_ends == 1);
    }
    // The plain file: LogStart first, then one compact object per line.
    auto lines = lines_of(read_all(dir + "/app-roundtrip-plain"));
    REQUIRE(lines.size() == events.size() + 1);
    CHECK(lines[0] == R"({"Event":"SparkListenerLogStart","Spark Version":"3.3.1-ember"})");
    for (std::size_t i = 0; i < events.size(); ++i) CHECK(lines[i + 1] == text_of(events[i]));
    fs::remove_all(dir);
}

TEST_CASE("Block updates and executor metrics are logged only when asked", "[status][event_log]") {
    std::string dir = test::fresh_temp_dir("evlog-optional");
    EventLogOptions o;
    o.dir = dir;
    {
        EventLoggingListener l(o, "app-1", kVersion);
        l.on_block_updated(SparkListenerBlockUpdated{"e", "h", 1, "rdd_1_1"});
        l.on_executor_metrics_update(SparkListenerExecutorMetricsUpdate{1, "driver", {}});
        l.on_unpersist_rdd(SparkListenerUnpersistRDD{1});
        CHECK(l.events_logged() == 1);
    }
    ReplayResult r;
    auto events = replay_all(dir + "/app-1", false, &r);
    REQUIRE(events.size() == 1);
    CHECK(std::holds_alternative<SparkListenerUnpersistRDD>(events[0]));
    fs::remove_all(dir);
}

TEST_CASE("The log is .inprogress while running, readable up to its last flush, and renamed at stop",
          "[status][event_log]") {
    std::string dir = test::fresh_temp_dir("evlog-inprogress");
    for (std::string codec : {"", "zstd", "lz4"}) {
        INFO("codec " << codec);
        std::string app = "app-live-" + (codec.empty() ? std::string("plain") : codec);
        std::string final_path = dir + "/" + app + (codec.empty() ? "" : "." + codec);
        {
            EventLoggingListener l(options_for(dir, codec), app, kVersion);
            CHECK(l.path() == final_path + ".inprogress");
            CHECK(fs::exists(final_path + ".inprogress"));
            CHECK(!fs::exists(final_path));

            // Only the LogStart line so far (flushed at once).
            ReplayResult r;
            CHECK(replay_all(l.path(), true, &r).empty());
            CHECK(r.spark_version == kVersion);

            l.on_application_start(SparkListenerApplicationStart{"live", app, 1, "u"});
            l.on_stage_submitted(SparkListenerStageSubmitted{sample_stage(1, false)});
            for (int i = 0; i < 5; ++i) {
                l.on_task_end(SparkListenerTaskEnd{1, 2, "ResultTask", "Success", sample_task(i), sample_metrics(1)});
            }
            l.on_stage_completed(SparkListenerStageCompleted{sample_stage(1, true)});  // flushes
            CHECK(replay_all(l.path(), true, &r).size() == 8);
            CHECK(r.truncated == !codec.empty());  // a compressed stream not yet ended
            if (!codec.empty()) {
                CHECK_THROWS_WITH(replay_all(l.path(), false), Catch::Contains("truncated"));
            }

            // Task events alone do not flush.
            for (int i = 0; i < 3; ++i) {
                l.on_task_start(SparkListenerTaskStart{1, 2, sample_task(i)});
            }
            CHECK(replay_all(l.path(), true).size() == 8);

            l.on_application_end(SparkListenerApplicationEnd{99});  // stops
            CHECK(l.path() == final_path);
            CHECK(!fs::exists(final_path + ".inprogress"));
            CHECK(fs::exists(final_path));
            l.stop();  // idempotent
            l.on_task_start(SparkListenerTaskStart{1, 2, sample_task(9)});  // ignored after stop
            CHECK(l.events_logged() == 12);
        }
        ReplayResult r;
        CHECK(replay_all(final_path, false, &r).size() == 12);
        CHECK(!r.truncated);
    }
    fs::remove_all(dir);
}

TEST_CASE("A truncated last line is tolerated for in-progress logs and reported", "[status][event_log]") {
    std::string dir = test::fresh_temp_dir("evlog-truncated");
    auto events = sample_events();
    std::string path = write_log(dir, "", "app-t", events);
    std::string text = read_all(path);
    // Cut the last line in half (no newline at the end, as a writer killed mid-line leaves it).
    std::size_t last_start = text.rfind('\n', text.size() - 2) + 1;
    std::string cut = text.substr(0, last_start + (text.size() - last_start) / 2);
    std::string inprogress = dir + "/app-cut.inprogress";
    write_all(inprogress, cut);

    ReplayResult r;
    auto back = replay_all(inprogress, true, &r);
    CHECK(r.truncated);
    CHECK(r.events == events.size() - 1);
    CHECK(back.size() == events.size() - 1);
    std::size_t last_line = events.size() + 1;
    CHECK_THROWS_WITH(replay_all(inprogress, false),
                      Catch::Contains(inprogress) && Catch::Contains("line " + std::to_string(last_line)));

    // A complete log read as possibly truncated is not reported truncated.
    replay_all(path, true, &r);
    CHECK(!r.truncated);
    fs::remove_all(dir);
}

TEST_CASE("A garbled line in the middle fails naming the file and the line", "[status][event_log]") {
    std::string dir = test::fresh_temp_dir("evlog-garbled");
    auto events = sample_events();
    std::string path = write_log(dir, "", "app-g", events);
    auto lines = lines_of(read_all(path));

    auto garbled = lines;
    garbled[3] = garbled[3].substr(0, garbled[3].size() / 2);  // line 4
    std::string bad = dir + "/app-bad";
    write_all(bad, join_lines(garbled));
    for (bool maybe_truncated : {false, true}) {
        std::vector<SparkListenerEvent> seen;
        CHECK_THROWS_WITH(replay_event_log(
                              bad, [&seen](const SparkListenerEvent& e) { seen.push_back(e); }, maybe_truncated),
                          Catch::Contains(bad) && Catch::Contains("line 4:"));
        CHECK(seen.size() == 2);  // lines 2 and 3 were delivered before the error
    }

    // A known event that lacks a field: the error names the line, the event and the field.
    auto missing = lines;
    auto j = boost::json::parse(missing[4]).as_object();  // line 5: sample_events()[3]
    REQUIRE(j.at("Event").as_string() == "SparkListenerExecutorAdded");
    j.erase("Timestamp");
    missing[4] = boost::json::serialize(j);
    write_all(bad, join_lines(missing));
    CHECK_THROWS_WITH(replay_all(bad, true), Catch::Contains(bad) && Catch::Contains("line 5:") &&
                                                 Catch::Contains("SparkListenerExecutorAdded") &&
                                                 Catch::Contains("\"Timestamp\" is missing"));

    // An unknown event in the middle is skipped and counted.
    auto unknown = lines;
    unknown.insert(unknown.begin() + 2, R"({"Event":"com.example.MyListenerEvent","x":[1,2]})");
    write_all(bad, join_lines(unknown));
    ReplayResult r;
    CHECK(replay_all(bad, false, &r).size() == events.size());
    CHECK(r.skipped == 1);
    fs::remove_all(dir);
}

TEST_CASE("A truncated compressed log replays whatever decodes", "[status][event_log]") {
    std::string dir = test::fresh_temp_dir("evlog-truncz");
    // Enough task events that the compressed stream spans several blocks.
    std::vector<SparkListenerEvent> events;
    events.push_back(SparkListenerApplicationStart{"big", "app-big", 1, "u"});
    for (int i = 0; i < 3000; ++i) {
        events.push_back(SparkListenerTaskEnd{1, 0, "ResultTask", "Success", sample_task(i), sample_metrics(i)});
        if (i % 500 == 250) events.push_back(SparkListenerStageCompleted{sample_stage(i, true)});
    }
    for (std::string codec : {"zstd", "lz4"}) {
        INFO("codec " << codec);
        std::string path = write_log(dir, codec, "app-big-" + codec, events);
        std::string data = read_all(path);
        for (double fraction : {0.1, 0.5, 0.9, 0.999}) {
            INFO("fraction " << fraction);
            std::string cut = dir + "/cut." + codec + ".inprogress";
            write_all(cut, data.substr(0, static_cast<std::size_t>(static_cast<double>(data.size()) * fraction)));
            ReplayResult r;
            auto back = replay_all(cut, true, &r);
            CHECK(r.truncated);
            CHECK(back.size() < events.size());
            CHECK(back.size() > 0);
            for (std::size_t i = 0; i < back.size(); ++i) {
                if (text_of(back[i]) != text_of(events[i])) {
                    FAIL("event " << i << " differs");
                }
            }
            CHECK_THROWS_WITH(replay_all(cut, false), Catch::Contains(cut) && Catch::Contains("truncated"));
        }
        // Corrupt data in the middle is an error, not a truncation.
        std::string corrupt = data;
        for (std::size_t i = corrupt.size() / 2; i < corrupt.size() / 2 + 64; ++i) corrupt[i] = static_cast<char>(~corrupt[i]);
        std::string bad = dir + "/bad." + codec + ".inprogress";
        write_all(bad, corrupt);
        CHECK_THROWS_WITH(replay_all(bad, true), Catch::Contains(bad));
    }
    fs::remove_all(dir);
}

TEST_CASE("A zstd log that decodes to over 1000 times its size is refused (a decompression bomb)",
          "[status][event_log]") {
    std::string dir = test::fresh_temp_dir("evlog-bomb");
    // 16 MiB of one byte, no newline: zstd makes it a few hundred bytes, which replay would hold
    // as one line (and 10 KB of such blocks decode to 300 MB).
    std::string text(16 << 20, 'a');
    std::string packed(ZSTD_compressBound(text.size()), '\0');
    std::size_t n = ZSTD_compress(packed.data(), packed.size(), text.data(), text.size(), 1);
    REQUIRE_FALSE(ZSTD_isError(n));
    packed.resize(n);
    REQUIRE(packed.size() * 1000 < text.size());
    for (std::string name : {"app-bomb.zstd", "app-bomb.zstd.inprogress"}) {
        write_all(dir + "/" + name, packed);
        CHECK_THROWS_WITH(replay_all(dir + "/" + name, true),
                          Catch::Contains(name) && Catch::Contains("more than 1000:1"));
    }
    fs::remove_all(dir);
}

TEST_CASE("Every line is compact JSON an independent parser accepts (python3, zstd and lz4 CLIs)",
          "[status][event_log]") {
    std::string dir = test::fresh_temp_dir("evlog-python");
    auto events = sample_events();
    const std::string python = "/usr/bin/python3";
    REQUIRE(have(python.c_str()));
    const std::string check = python +
                              " -c 'import json,sys; ls=[json.loads(l) for l in sys.stdin]; "
                              "assert all(isinstance(x, dict) and \"Event\" in x for x in ls); print(len(ls))'";
    std::string expected = std::to_string(events.size() + 1) + "\n";

    std::string plain = write_log(dir, "", "app-py", events);
    auto r = test::run_process({"/bin/sh", "-c", check + " < '" + plain + "'"}, "--none", 60);
    CHECK(r.exit_code == 0);
    CHECK(r.out == expected);
    INFO(r.err);

    std::string zst = write_log(dir, "zstd", "app-py", events);
    REQUIRE(have("/usr/bin/zstd"));
    r = test::run_process({"/bin/sh", "-c", "/usr/bin/zstd -dc '" + zst + "' | " + check}, "--none", 60);
    CHECK(r.exit_code == 0);
    CHECK(r.out == expected);

    std::string lz = write_log(dir, "lz4", "app-py", events);
    if (have("/usr/bin/lz4")) {
        r = test::run_process({"/bin/sh", "-c", "/usr/bin/lz4 -dc '" + lz + "' | " + check}, "--none", 60);
        CHECK(r.exit_code == 0);
        CHECK(r.out == expected);
    } else {
        WARN("lz4 CLI not installed: the LZ4 file is checked by replay only");
    }
    fs::remove_all(dir);
}

TEST_CASE("An existing log is refused without overwrite, replaced with it; bad directories are named",
          "[status][event_log]") {
    std::string dir = test::fresh_temp_dir("evlog-exists");
    EventLogOptions o;
    o.dir = dir + "/nested/logs";  // created with its parents
    { EventLoggingListener l(o, "app-x", kVersion); }
    CHECK(fs::exists(o.dir + "/app-x"));
    CHECK_THROWS_WITH(EventLoggingListener(o, "app-x", kVersion),
                      Catch::Contains(o.dir + "/app-x") && Catch::Contains("already exists"));
    write_all(o.dir + "/app-y.inprogress", "left over\n");
    CHECK_THROWS_WITH(EventLoggingListener(o, "app-y", kVersion), Catch::Contains(o.dir + "/app-y.inprogress"));
    o.overwrite = true;
    {
        EventLoggingListener l(o, "app-x", kVersion);
        l.on_unpersist_rdd(SparkListenerUnpersistRDD{3});
    }
    CHECK(replay_all(o.dir + "/app-x", false).size() == 1);
    { EventLoggingListener l(o, "app-y", kVersion); }
    CHECK(!fs::exists(o.dir + "/app-y.inprogress"));
    CHECK(replay_all(o.dir + "/app-y", false).empty());

    write_all(dir + "/a-file", "x");
    o.dir = dir + "/a-file/sub";
    CHECK_THROWS_WITH(EventLoggingListener(o, "app-z", kVersion), Catch::Contains(o.dir));
    o.dir = dir;
    o.compress = true;
    o.codec = "snappy";
    CHECK_THROWS_AS(EventLoggingListener(o, "app-z", kVersion), std::invalid_argument);
    fs::remove_all(dir);
}

TEST_CASE("from_conf reads ember.eventLog.*; app ids are sanitized as Spark does", "[status][event_log]") {
    EventLogOptions d = EventLogOptions::from_conf(Conf{});
    CHECK(d.dir == "/tmp/ember-events");
    CHECK(!d.compress);
    CHECK(d.codec == "zstd");
    CHECK(!d.overwrite);
    CHECK(!d.log_block_updates);
    CHECK(d.buffer_bytes == 100 * 1024);
    EventLogOptions o = EventLogOptions::from_conf(Conf{{"ember.eventLog.dir", "file:/data/events"},
                                                        {"ember.eventLog.compress", "true"},
                                                        {"ember.eventLog.compression.codec", "lz4"},
                                                        {"ember.eventLog.overwrite", "true"},
                                                        {"ember.eventLog.logBlockUpdates.enabled", "true"},
                                                        {"ember.eventLog.logStageExecutorMetrics", "true"},
                                                        {"ember.eventLog.buffer.kb", "1m"}});
    CHECK(o.dir == "/data/events");
    CHECK(o.compress);
    CHECK(o.codec == "lz4");
    CHECK(o.overwrite);
    CHECK(o.log_block_updates);
    CHECK(o.log_executor_metrics);
    CHECK(o.buffer_bytes == 1 << 20);
    CHECK_THROWS_WITH(EventLogOptions::from_conf(Conf{{"ember.eventLog.compression.codec", "snappy"}}),
                      Catch::Contains("ember.eventLog.compression.codec"));
    CHECK(EventLoggingListener::sanitize("App 1:x/y.z$'Q\"{}") == "app-1-x-y_z__q___");
}

TEST_CASE("A failed write is logged once and stops logging; no callback throws", "[status][event_log]") {
    std::string dir = test::fresh_temp_dir("evlog-full");
    // A file size limit makes write() fail with EFBIG, as a full disk fails with ENOSPC.
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit old{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    EventLogOptions o;
    o.dir = dir;
    std::string path;
    bool failed = false;
    {
        EventLoggingListener l(o, "app-full", kVersion);
        rlimit small = old;
        small.rlim_cur = 64 * 1024;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
        CHECK_NOTHROW([&] {
            for (int i = 0; i < 5000; ++i) {
                l.on_task_end(SparkListenerTaskEnd{1, 0, "ResultTask", "Success", sample_task(i), sample_metrics(i)});
                if (i % 100 == 0) l.on_stage_submitted(SparkListenerStageSubmitted{sample_stage(1, false)});
            }
            l.stop();
        }());
        ::setrlimit(RLIMIT_FSIZE, &old);
        failed = l.failed();
        path = l.path();
    }
    std::signal(SIGXFSZ, old_handler);
    CHECK(failed);
    CHECK(path == dir + "/app-full.inprogress");  // left in progress: the log is incomplete
    CHECK(fs::file_size(path) <= 64 * 1024);
    ReplayResult r;
    CHECK_NOTHROW(replay_all(path, true, &r));
    CHECK(r.events > 0);
    fs::remove_all(dir);
}

TEST_CASE("list_event_logs lists event log files with their app id, codec and state", "[status][event_log]") {
    std::string dir = test::fresh_temp_dir("evlog-list");
    write_all(dir + "/app-1", "x");
    write_all(dir + "/app-2.zstd.inprogress", "xy");
    write_all(dir + "/local-3.lz4", "xyz");
    write_all(dir + "/.app-4.crc", "");
    write_all(dir + "/app-5.snappy", "");
    fs::create_directories(dir + "/eventlog_v2_app-6");
    auto logs = list_event_logs(dir);
    REQUIRE(logs.size() == 3);
    CHECK(logs[0].path == dir + "/app-1");
    CHECK(logs[0].app_id == "app-1");
    CHECK(!logs[0].in_progress);
    CHECK(logs[0].codec.empty());
    CHECK(logs[0].size == 1);
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                   .count();
    CHECK(logs[0].mtime_ms <= now);
    CHECK(logs[0].mtime_ms > now - 60'000);
    CHECK(logs[1].app_id == "app-2");
    CHECK(logs[1].in_progress);
    CHECK(logs[1].codec == "zstd");
    CHECK(logs[1].size == 2);
    CHECK(logs[2].app_id == "local-3");
    CHECK(logs[2].codec == "lz4");
    CHECK(!logs[2].in_progress);
    CHECK_THROWS_WITH(list_event_logs(dir + "/missing"), Catch::Contains(dir + "/missing"));
    CHECK_THROWS_WITH(replay_all(dir + "/app-5.snappy", false), Catch::Contains("snappy"));
    fs::remove_all(dir);
}

TEST_CASE("Logging a TaskEnd costs microseconds (measured)", "[status][event_log]") {
    std::string dir = test::fresh_temp_dir("evlog-perf");
    SparkListenerTaskEnd e{3, 0, "ShuffleMapTask", "Success", sample_task(12345), sample_metrics(99)};
    constexpr int kEvents = 100'000;
    std::vector<std::string> executors;
    for (int i = 0; i < 8; ++i) executors.push_back("exec-" + std::to_string(i));

    // For comparison: to_json and serialize into a fresh std::string each time.
    double cpu0 = thread_cpu_ns();
    std::size_t bytes = 0;
    for (int i = 0; i < kEvents / 10; ++i) bytes += boost::json::serialize(to_json(e)).size();
    double naive_cpu_ns = (thread_cpu_ns() - cpu0) / (kEvents / 10);
    CHECK(bytes > 0);

    for (std::string codec : {"", "zstd", "lz4"}) {
        EventLoggingListener l(options_for(dir, codec), "app-perf-" + (codec.empty() ? std::string("plain") : codec),
                               kVersion);
        auto start = std::chrono::steady_clock::now();
        double cpu_start = thread_cpu_ns();
        for (int i = 0; i < kEvents; ++i) {
            // Varying values, so that compression sees a realistic stream.
            e.task_info.task_id = i;
            e.task_info.index = i % 1000;
            e.task_info.partition_id = i % 1000;
            e.task_info.executor_id = executors[static_cast<std::size_t>(i % 8)];
            e.task_info.launch_time = 1'714'567'890'000 + i * 3;
            e.task_info.finish_time = e.task_info.launch_time + (i * 7919) % 5000;
            e.task_metrics.executor_run_time_ns = static_cast<std::uint64_t>(i) * 104'729 % 5'000'000'000;
            e.task_metrics.shuffle_write.bytes_written = static_cast<std::uint64_t>(i) * 7'727 % 100'000'000;
            e.task_metrics.shuffle_read.fetch_wait_time_ns = static_cast<std::uint64_t>(i) * 15'485'863 % 900'000'000;
            l.on_task_end(e);
        }
        l.stop();
        double cpu_ns = (thread_cpu_ns() - cpu_start) / kEvents;
        double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / kEvents;
        auto size = fs::file_size(l.path());
        WARN("TaskEnd to the event log (" << (codec.empty() ? "plain" : codec) << "): " << static_cast<int>(cpu_ns)
                                          << " ns CPU/event (" << static_cast<int>(ns) << " ns wall), "
                                          << size / kEvents << " bytes/event on disk; to_json + serialize to a "
                                          << "fresh string: " << static_cast<int>(naive_cpu_ns) << " ns CPU");
        CHECK(l.events_logged() == static_cast<std::uint64_t>(kEvents));
        CHECK(cpu_ns < 50'000);  // generous: sanitizer builds
    }
    fs::remove_all(dir);
}
