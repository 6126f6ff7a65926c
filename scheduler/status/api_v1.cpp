// SPDX-License-Identifier: Apache-2.0
#include "scheduler/status/api_v1.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>

namespace ember::status {

namespace json = boost::json;
using namespace ember::scheduler;

namespace {

/// A 4xx answer thrown from deep inside a handler.
struct ApiError {
    unsigned status;
    std::string message;
};

[[noreturn]] void not_found(std::string msg) { throw ApiError{404, std::move(msg)}; }
[[noreturn]] void bad_request(std::string msg) { throw ApiError{400, std::move(msg)}; }

// -- output: Jackson's DefaultPrettyPrinter layout ------------------------------------------------

void pretty(const json::value& v, std::string& out, int depth) {
    auto indent = [&](int d) { out.append(static_cast<std::size_t>(d) * 2, ' '); };
    switch (v.kind()) {
        case json::kind::object: {
            const auto& o = v.get_object();
            if (o.empty()) {
                out += "{ }";
                return;
            }
            out += "{\n";
            bool first = true;
            for (const auto& kv : o) {
                if (!first) out += ",\n";
                first = false;
                indent(depth + 1);
                out += json::serialize(json::string(kv.key()));
                out += " : ";
                pretty(kv.value(), out, depth + 1);
            }
            out += "\n";
            indent(depth);
            out += "}";
            return;
        }
        case json::kind::array: {
            const auto& a = v.get_array();
            if (a.empty()) {
                out += "[ ]";
                return;
            }
            out += "[ ";
            bool first = true;
            for (const auto& e : a) {
                if (!first) out += ", ";
                first = false;
                pretty(e, out, depth);
            }
            out += " ]";
            return;
        }
        case json::kind::double_: {
            // Jackson writes 0.05 and 123.0, not Boost's 5E-2 and 1.23E2.
            double d = v.get_double();
            if (!std::isfinite(d)) {
                out += "null";
                return;
            }
            auto t = fmt::format("{}", d);
            if (t.find_first_of(".e") == std::string::npos) t += ".0";
            out += t;
            return;
        }
        default: out += json::serialize(v); return;
    }
}

ApiResponse json_response(const json::value& v) {
    ApiResponse r;
    pretty(v, r.body, 0);
    return r;
}

// -- query parameters -----------------------------------------------------------------------------

std::optional<std::string> param(const QueryParams& q, std::string_view name) {
    for (auto& [k, v] : q) {
        if (k == name) return v;
    }
    return std::nullopt;
}

/// Every value of `name`, comma lists split (status=a&status=b or status=a,b).
std::vector<std::string> params(const QueryParams& q, std::string_view name) {
    std::vector<std::string> out;
    for (auto& [k, v] : q) {
        if (k != name) continue;
        std::size_t start = 0;
        while (start <= v.size()) {
            auto end = v.find(',', start);
            if (end == std::string::npos) end = v.size();
            if (end > start) out.push_back(v.substr(start, end - start));
            start = end + 1;
        }
    }
    return out;
}

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

bool bool_param(const QueryParams& q, std::string_view name, bool fallback) {
    auto v = param(q, name);
    if (!v) return fallback;
    auto u = upper(*v);
    if (u == "TRUE") return true;
    if (u == "FALSE") return false;
    bad_request(fmt::format("{}: expected true or false, got \"{}\"", name, *v));
}

std::int64_t int_param(const QueryParams& q, std::string_view name, std::int64_t fallback) {
    auto v = param(q, name);
    if (!v) return fallback;
    std::int64_t out = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
    if (ec != std::errc{} || p != v->data() + v->size()) {
        bad_request(fmt::format("{}: not an integer: \"{}\"", name, *v));
    }
    return out;
}

std::vector<double> quantiles_param(const QueryParams& q, std::string_view fallback) {
    auto raw = param(q, "quantiles").value_or(std::string(fallback));
    std::vector<double> out;
    std::size_t start = 0;
    while (start <= raw.size()) {
        auto end = raw.find(',', start);
        if (end == std::string::npos) end = raw.size();
        std::string tok = raw.substr(start, end - start);
        char* stop = nullptr;
        double d = std::strtod(tok.c_str(), &stop);
        if (tok.empty() || stop != tok.c_str() + tok.size() || !(d >= 0.0 && d <= 1.0)) {
            bad_request(fmt::format("Bad value for parameter \"quantiles\".  Expected a double, got \"{}\"", tok));
        }
        out.push_back(d);
        start = end + 1;
    }
    std::sort(out.begin(), out.end());  // Spark sorts the requested quantiles
    return out;
}

/// A date query parameter: "yyyy-MM-dd'T'HH:mm:ss.SSS'GMT'", "yyyy-MM-dd" or epoch ms.
std::optional<std::int64_t> date_param(const QueryParams& q, std::string_view name) {
    auto v = param(q, name);
    if (!v) return std::nullopt;
    const std::string& s = *v;
    std::int64_t ms = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), ms);
    if (ec == std::errc{} && p == s.data() + s.size() && s.size() > 10) return ms;
    std::tm tm{};
    int millis = 0;
    const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest) {
        if (*rest == '.') {
            millis = std::atoi(rest + 1);
        }
    } else {
        tm = {};
        rest = strptime(s.c_str(), "%Y-%m-%d", &tm);
        if (!rest || *rest) bad_request(fmt::format("Couldn't parse date: {}", s));
    }
    return static_cast<std::int64_t>(timegm(&tm)) * 1000 + millis;
}

// -- shapes ---------------------------------------------------------------------------------------

std::int64_t ns_to_ms(std::uint64_t ns) { return static_cast<std::int64_t>(ns / 1'000'000); }

void put_date(json::object& o, std::string_view key, std::optional<std::int64_t> ms) {
    if (ms) o[key] = format_api_date(*ms);
}

json::object task_metrics_json(const TaskMetrics& m) {
    json::object o;
    o["executorDeserializeTime"] = ns_to_ms(m.executor_deserialize_time_ns);
    o["executorDeserializeCpuTime"] = m.executor_deserialize_cpu_time_ns;
    o["executorRunTime"] = ns_to_ms(m.executor_run_time_ns);
    o["executorCpuTime"] = m.executor_cpu_time_ns;
    o["resultSize"] = m.result_size;
    o["jvmGcTime"] = 0;
    o["resultSerializationTime"] = ns_to_ms(m.result_serialization_time_ns);
    o["memoryBytesSpilled"] = m.memory_bytes_spilled;
    o["diskBytesSpilled"] = m.disk_bytes_spilled;
    o["peakExecutionMemory"] = m.peak_execution_memory;
    o["inputMetrics"] = {{"bytesRead", m.input_bytes_read}, {"recordsRead", m.input_records_read}};
    o["outputMetrics"] = {{"bytesWritten", m.output_bytes_written}, {"recordsWritten", m.output_records_written}};
    const auto& r = m.shuffle_read;
    o["shuffleReadMetrics"] = {{"remoteBlocksFetched", r.remote_blocks_fetched},
                               {"localBlocksFetched", r.local_blocks_fetched},
                               {"fetchWaitTime", ns_to_ms(r.fetch_wait_time_ns)},
                               {"remoteBytesRead", r.remote_bytes_read},
                               {"remoteBytesReadToDisk", r.remote_bytes_read_to_disk},
                               {"localBytesRead", r.local_bytes_read},
                               {"recordsRead", r.records_read},
                               {"remoteReqsDuration", ns_to_ms(r.remote_reqs_duration_ns)}};
    const auto& w = m.shuffle_write;
    o["shuffleWriteMetrics"] = {
        {"bytesWritten", w.bytes_written}, {"writeTime", w.write_time_ns}, {"recordsWritten", w.records_written}};
    return o;
}

std::int64_t getting_result_ms(const TaskRecord& t) {
    if (t.info.getting_result_time <= 0) return 0;
    std::int64_t end = t.finished ? t.info.finish_time : t.info.getting_result_time;
    return std::max<std::int64_t>(0, saturating_sub(end, t.info.getting_result_time));
}

/// Spark's AppStatusUtils.schedulerDelay: the part of a finished task's duration not spent
/// deserialising, running, serialising the result or fetching it.
std::int64_t scheduler_delay_ms(const TaskRecord& t) {
    if (!t.finished || !t.metrics) return 0;
    std::int64_t d = *t.duration();
    for (std::int64_t part : {ns_to_ms(t.metrics->executor_run_time_ns), ns_to_ms(t.metrics->executor_deserialize_time_ns),
                              ns_to_ms(t.metrics->result_serialization_time_ns), getting_result_ms(t)}) {
        d = saturating_sub(d, part);
    }
    return std::max<std::int64_t>(0, d);
}

/// Spark's v1 AccumulableInfo list: {id, name, update (tasks only), value}, internal ones left
/// out (Spark's AppStatusListener drops them; their values are the task metrics).
json::array accumulables_json(const std::vector<scheduler::AccumulableInfo>& accs) {
    json::array a;
    for (const auto& i : accs) {
        if (i.internal) continue;
        json::object o;
        o["id"] = i.id;
        o["name"] = i.name ? json::value(*i.name) : json::value(nullptr);
        if (i.update) o["update"] = *i.update;
        o["value"] = i.value ? json::value(*i.value) : json::value(nullptr);
        a.push_back(std::move(o));
    }
    return a;
}

json::object task_json(const TaskRecord& t, std::int64_t now) {
    json::object o;
    o["taskId"] = t.info.task_id;
    o["index"] = t.info.index;
    o["attempt"] = t.info.attempt;
    o["partitionId"] = t.info.partition_id;
    o["launchTime"] = format_api_date(t.info.launch_time);
    if (t.info.getting_result_time > 0) o["resultFetchStart"] = format_api_date(t.info.getting_result_time);
    // Spark leaves out a duration of 0.
    if (auto d = t.finished ? *t.duration() : std::max<std::int64_t>(0, saturating_sub(now, t.info.launch_time)); d > 0) {
        o["duration"] = d;
    }
    o["executorId"] = t.info.executor_id;
    o["host"] = t.info.host;
    o["status"] = t.status;
    o["taskLocality"] = to_string(t.info.locality);
    o["speculative"] = t.info.speculative;
    o["accumulatorUpdates"] = accumulables_json(t.info.accumulables);
    if (t.error) o["errorMessage"] = *t.error;
    if (t.metrics) o["taskMetrics"] = task_metrics_json(*t.metrics);
    o["executorLogs"] = json::object();
    o["schedulerDelay"] = scheduler_delay_ms(t);
    o["gettingResultTime"] = getting_result_ms(t);
    return o;
}

/// Spark's 21 ExecutorMetricType names (the JVM-only ones are 0 in a C++ process), and ember's
/// ProcessCpuTime (ns).
json::object executor_metrics_json(const ExecutorMetrics& m) {
    return {{"JVMHeapMemory", 0},
            {"JVMOffHeapMemory", 0},
            {"OnHeapExecutionMemory", m.execution_memory_bytes},
            {"OffHeapExecutionMemory", 0},
            {"OnHeapStorageMemory", m.storage_memory_bytes},
            {"OffHeapStorageMemory", 0},
            {"OnHeapUnifiedMemory", saturating_add(m.execution_memory_bytes, m.storage_memory_bytes)},
            {"OffHeapUnifiedMemory", 0},
            {"DirectPoolMemory", 0},
            {"MappedPoolMemory", 0},
            {"ProcessTreeJVMVMemory", m.process_vmem_bytes},
            {"ProcessTreeJVMRSSMemory", m.process_rss_bytes},
            {"ProcessTreePythonVMemory", 0},
            {"ProcessTreePythonRSSMemory", 0},
            {"ProcessTreeOtherVMemory", 0},
            {"ProcessTreeOtherRSSMemory", 0},
            {"MinorGCCount", 0},
            {"MinorGCTime", 0},
            {"MajorGCCount", 0},
            {"MajorGCTime", 0},
            {"TotalGCTime", 0},
            {"ProcessCpuTime", m.cpu_time_ns}};
}

json::object executor_json(const ExecutorRecord& e) {
    json::object o;
    o["id"] = e.id;
    o["hostPort"] = e.host_port.empty() ? e.host : e.host_port;
    o["isActive"] = e.is_active;
    o["rddBlocks"] = e.rdd_blocks;
    o["memoryUsed"] = e.memory_used;
    o["diskUsed"] = e.disk_used;
    o["totalCores"] = e.total_cores;
    o["maxTasks"] = e.max_tasks;
    o["activeTasks"] = e.active_tasks;
    o["failedTasks"] = e.failed_tasks;
    o["completedTasks"] = e.completed_tasks;
    o["totalTasks"] = e.total_tasks;
    o["totalDuration"] = e.total_duration_ms;
    o["totalGCTime"] = 0;
    o["totalInputBytes"] = e.total_input_bytes;
    o["totalShuffleRead"] = e.total_shuffle_read;
    o["totalShuffleWrite"] = e.total_shuffle_write;
    o["isBlacklisted"] = e.is_excluded;
    o["maxMemory"] = e.max_memory;
    o["addTime"] = format_api_date(e.add_time);
    put_date(o, "removeTime", e.remove_time);
    if (e.remove_reason) o["removeReason"] = *e.remove_reason;
    o["executorLogs"] = json::object();
    if (e.has_block_manager) {
        o["memoryMetrics"] = {{"usedOnHeapStorageMemory", e.memory_used},
                              {"usedOffHeapStorageMemory", 0},
                              {"totalOnHeapStorageMemory", e.max_memory},
                              {"totalOffHeapStorageMemory", 0}};
    }
    json::array excluded_in_stages;
    for (int stage : e.excluded_in_stages) excluded_in_stages.push_back(stage);
    o["blacklistedInStages"] = excluded_in_stages;
    if (e.peak_metrics) o["peakMemoryMetrics"] = executor_metrics_json(*e.peak_metrics);
    o["attributes"] = json::object();
    o["resources"] = json::object();
    o["resourceProfileId"] = 0;
    o["isExcluded"] = e.is_excluded;
    o["excludedInStages"] = std::move(excluded_in_stages);
    return o;
}

json::object job_json(const JobRecord& j) {
    json::object o;
    o["jobId"] = j.job_id;
    o["name"] = j.name;
    if (j.description) o["description"] = *j.description;
    put_date(o, "submissionTime", j.submission_time);
    put_date(o, "completionTime", j.completion_time);
    json::array ids;
    for (int s : j.stage_ids) ids.push_back(s);
    o["stageIds"] = std::move(ids);
    if (j.job_group) o["jobGroup"] = *j.job_group;
    o["status"] = to_string(j.status);
    o["numTasks"] = j.num_tasks;
    o["numActiveTasks"] = j.active_tasks;
    o["numCompletedTasks"] = j.completed_tasks;
    o["numSkippedTasks"] = j.skipped_tasks;
    o["numFailedTasks"] = j.failed_tasks;
    o["numKilledTasks"] = j.killed_tasks;
    o["numCompletedIndices"] = j.num_completed_indices();
    o["numActiveStages"] = static_cast<int>(j.active_stages.size());
    o["numCompletedStages"] = static_cast<int>(j.completed_stages.size());
    o["numSkippedStages"] = static_cast<int>(j.skipped_stages.size());
    o["numFailedStages"] = j.failed_stages;
    json::object killed;
    for (auto& [reason, n] : j.killed_summary) killed[reason] = n;
    o["killedTasksSummary"] = std::move(killed);
    return o;
}

/// Values at Spark's quantile indices: min(q * n, n - 1) of the sorted values.
json::array quantile_values(std::vector<double> values, const std::vector<double>& qs) {
    std::sort(values.begin(), values.end());
    json::array out;
    const auto n = values.size();
    for (double q : qs) {
        auto i = std::min(static_cast<std::size_t>(q * static_cast<double>(n)), n - 1);
        out.push_back(values[i]);
    }
    return out;
}

/// TaskMetricDistributions over a stage attempt's successful tasks, or nullopt if none.
std::optional<json::object> task_summary_json(const StageRecord& s, const std::vector<double>& qs) {
    std::vector<const TaskRecord*> tasks;
    for (auto& [id, t] : s.tasks) {
        if (t.status == "SUCCESS" && t.metrics) tasks.push_back(&t);
    }
    if (tasks.empty()) return std::nullopt;
    auto dist = [&](auto fn) {
        std::vector<double> v;
        v.reserve(tasks.size());
        for (auto* t : tasks) v.push_back(static_cast<double>(fn(*t)));
        return quantile_values(std::move(v), qs);
    };
    json::object o;
    json::array qa;
    for (double q : qs) qa.push_back(q);
    o["quantiles"] = std::move(qa);
    o["duration"] = dist([](const TaskRecord& t) { return *t.duration(); });
    o["executorDeserializeTime"] = dist([](const TaskRecord& t) { return ns_to_ms(t.metrics->executor_deserialize_time_ns); });
    o["executorDeserializeCpuTime"] = dist([](const TaskRecord& t) { return t.metrics->executor_deserialize_cpu_time_ns; });
    o["executorRunTime"] = dist([](const TaskRecord& t) { return ns_to_ms(t.metrics->executor_run_time_ns); });
    o["executorCpuTime"] = dist([](const TaskRecord& t) { return t.metrics->executor_cpu_time_ns; });
    o["resultSize"] = dist([](const TaskRecord& t) { return t.metrics->result_size; });
    o["jvmGcTime"] = dist([](const TaskRecord&) { return 0; });
    o["resultSerializationTime"] = dist([](const TaskRecord& t) { return ns_to_ms(t.metrics->result_serialization_time_ns); });
    o["gettingResultTime"] = dist([](const TaskRecord& t) { return getting_result_ms(t); });
    o["schedulerDelay"] = dist([](const TaskRecord& t) { return scheduler_delay_ms(t); });
    o["peakExecutionMemory"] = dist([](const TaskRecord& t) { return t.metrics->peak_execution_memory; });
    o["memoryBytesSpilled"] = dist([](const TaskRecord& t) { return t.metrics->memory_bytes_spilled; });
    o["diskBytesSpilled"] = dist([](const TaskRecord& t) { return t.metrics->disk_bytes_spilled; });
    o["inputMetrics"] = {{"bytesRead", dist([](const TaskRecord& t) { return t.metrics->input_bytes_read; })},
                         {"recordsRead", dist([](const TaskRecord& t) { return t.metrics->input_records_read; })}};
    o["outputMetrics"] = {
        {"bytesWritten", dist([](const TaskRecord& t) { return t.metrics->output_bytes_written; })},
        {"recordsWritten", dist([](const TaskRecord& t) { return t.metrics->output_records_written; })}};
    auto rd = [](const TaskRecord& t) -> const shuffle::ShuffleReadMetrics& { return t.metrics->shuffle_read; };
    o["shuffleReadMetrics"] = {
        {"readBytes", dist([&](const TaskRecord& t) { return rd(t).remote_bytes_read + rd(t).local_bytes_read; })},
        {"readRecords", dist([&](const TaskRecord& t) { return rd(t).records_read; })},
        {"remoteBlocksFetched", dist([&](const TaskRecord& t) { return rd(t).remote_blocks_fetched; })},
        {"localBlocksFetched", dist([&](const TaskRecord& t) { return rd(t).local_blocks_fetched; })},
        {"fetchWaitTime", dist([&](const TaskRecord& t) { return ns_to_ms(rd(t).fetch_wait_time_ns); })},
        {"remoteBytesRead", dist([&](const TaskRecord& t) { return rd(t).remote_bytes_read; })},
        {"remoteBytesReadToDisk", dist([&](const TaskRecord& t) { return rd(t).remote_bytes_read_to_disk; })},
        {"totalBlocksFetched",
         dist([&](const TaskRecord& t) { return rd(t).remote_blocks_fetched + rd(t).local_blocks_fetched; })}};
    auto wr = [](const TaskRecord& t) -> const shuffle::ShuffleWriteMetrics& { return t.metrics->shuffle_write; };
    o["shuffleWriteMetrics"] = {{"writeBytes", dist([&](const TaskRecord& t) { return wr(t).bytes_written; })},
                                {"writeRecords", dist([&](const TaskRecord& t) { return wr(t).records_written; })},
                                {"writeTime", dist([&](const TaskRecord& t) { return wr(t).write_time_ns; })}};
    return o;
}

json::object executor_stage_summary_json(const ExecutorStageSummaryRecord& e) {
    const auto& m = e.metrics;
    return {{"taskTime", e.task_time_ms},
            {"failedTasks", e.failed_tasks},
            {"succeededTasks", e.succeeded_tasks},
            {"killedTasks", e.killed_tasks},
            {"inputBytes", m.input_bytes_read},
            {"inputRecords", m.input_records_read},
            {"outputBytes", m.output_bytes_written},
            {"outputRecords", m.output_records_written},
            {"shuffleRead", m.shuffle_read.remote_bytes_read + m.shuffle_read.local_bytes_read},
            {"shuffleReadRecords", m.shuffle_read.records_read},
            {"shuffleWrite", m.shuffle_write.bytes_written},
            {"shuffleWriteRecords", m.shuffle_write.records_written},
            {"memoryBytesSpilled", m.memory_bytes_spilled},
            {"diskBytesSpilled", m.disk_bytes_spilled},
            {"isBlacklistedForStage", false},
            {"isExcludedForStage", false}};
}

json::object executor_distributions_json(const StageRecord& s, const std::vector<double>& qs) {
    json::object o;
    json::array qa;
    for (double q : qs) qa.push_back(q);
    o["quantiles"] = std::move(qa);
    auto dist = [&](auto fn) {
        std::vector<double> v;
        for (auto& [id, e] : s.executor_summary) v.push_back(static_cast<double>(fn(e)));
        if (v.empty()) return json::array();
        return quantile_values(std::move(v), qs);
    };
    using E = ExecutorStageSummaryRecord;
    o["taskTime"] = dist([](const E& e) { return e.task_time_ms; });
    o["failedTasks"] = dist([](const E& e) { return e.failed_tasks; });
    o["succeededTasks"] = dist([](const E& e) { return e.succeeded_tasks; });
    o["killedTasks"] = dist([](const E& e) { return e.killed_tasks; });
    o["inputBytes"] = dist([](const E& e) { return e.metrics.input_bytes_read; });
    o["inputRecords"] = dist([](const E& e) { return e.metrics.input_records_read; });
    o["outputBytes"] = dist([](const E& e) { return e.metrics.output_bytes_written; });
    o["outputRecords"] = dist([](const E& e) { return e.metrics.output_records_written; });
    o["shuffleRead"] = dist([](const E& e) {
        return e.metrics.shuffle_read.remote_bytes_read + e.metrics.shuffle_read.local_bytes_read;
    });
    o["shuffleReadRecords"] = dist([](const E& e) { return e.metrics.shuffle_read.records_read; });
    o["shuffleWrite"] = dist([](const E& e) { return e.metrics.shuffle_write.bytes_written; });
    o["shuffleWriteRecords"] = dist([](const E& e) { return e.metrics.shuffle_write.records_written; });
    o["memoryBytesSpilled"] = dist([](const E& e) { return e.metrics.memory_bytes_spilled; });
    o["diskBytesSpilled"] = dist([](const E& e) { return e.metrics.disk_bytes_spilled; });
    return o;
}

struct StageOptions {
    bool details = false;
    bool with_summaries = false;
    std::vector<double> quantiles;
    std::vector<std::string> task_status;  ///< upper case; empty = all
};

json::object stage_json(const StageRecord& s, const StageOptions& opt, std::int64_t now) {
    const auto& i = s.info;
    const auto& m = s.metrics;
    json::object o;
    o["status"] = to_string(s.status);
    o["stageId"] = i.stage_id;
    o["attemptId"] = i.attempt_id;
    o["numTasks"] = i.num_tasks;
    o["numActiveTasks"] = s.active_tasks;
    o["numCompleteTasks"] = s.complete_tasks;
    o["numFailedTasks"] = s.failed_tasks;
    o["numKilledTasks"] = s.killed_tasks;
    o["numCompletedIndices"] = s.completed_indices.size();
    put_date(o, "submissionTime", i.submission_time);
    put_date(o, "firstTaskLaunchedTime", s.first_task_launched_time);
    put_date(o, "completionTime", i.completion_time);
    if (i.failure_reason) o["failureReason"] = *i.failure_reason;
    o["executorDeserializeTime"] = ns_to_ms(m.executor_deserialize_time_ns);
    o["executorDeserializeCpuTime"] = m.executor_deserialize_cpu_time_ns;
    o["executorRunTime"] = ns_to_ms(m.executor_run_time_ns);
    o["executorCpuTime"] = m.executor_cpu_time_ns;
    o["resultSize"] = m.result_size;
    o["jvmGcTime"] = 0;
    o["resultSerializationTime"] = ns_to_ms(m.result_serialization_time_ns);
    o["memoryBytesSpilled"] = m.memory_bytes_spilled;
    o["diskBytesSpilled"] = m.disk_bytes_spilled;
    o["peakExecutionMemory"] = m.peak_execution_memory;
    o["inputBytes"] = m.input_bytes_read;
    o["inputRecords"] = m.input_records_read;
    o["outputBytes"] = m.output_bytes_written;
    o["outputRecords"] = m.output_records_written;
    o["shuffleRemoteBlocksFetched"] = m.shuffle_read.remote_blocks_fetched;
    o["shuffleLocalBlocksFetched"] = m.shuffle_read.local_blocks_fetched;
    o["shuffleFetchWaitTime"] = ns_to_ms(m.shuffle_read.fetch_wait_time_ns);
    o["shuffleRemoteBytesRead"] = m.shuffle_read.remote_bytes_read;
    o["shuffleRemoteBytesReadToDisk"] = m.shuffle_read.remote_bytes_read_to_disk;
    o["shuffleLocalBytesRead"] = m.shuffle_read.local_bytes_read;
    o["shuffleRemoteReqsDuration"] = ns_to_ms(m.shuffle_read.remote_reqs_duration_ns);
    o["shuffleReadBytes"] = m.shuffle_read.remote_bytes_read + m.shuffle_read.local_bytes_read;
    o["shuffleReadRecords"] = m.shuffle_read.records_read;
    o["shuffleWriteBytes"] = m.shuffle_write.bytes_written;
    o["shuffleWriteTime"] = m.shuffle_write.write_time_ns;
    o["shuffleWriteRecords"] = m.shuffle_write.records_written;
    o["name"] = i.name;
    if (s.description) o["description"] = *s.description;
    o["details"] = "";
    o["schedulingPool"] = s.scheduling_pool;
    json::array rdds;
    for (int r : i.rdd_ids) rdds.push_back(r);
    o["rddIds"] = std::move(rdds);
    o["accumulatorUpdates"] = accumulables_json(i.accumulables);
    if (opt.details) {
        json::object tasks;
        for (auto& [id, t] : s.tasks) {
            if (!opt.task_status.empty() &&
                std::find(opt.task_status.begin(), opt.task_status.end(), t.status) == opt.task_status.end()) {
                continue;
            }
            tasks[std::to_string(id)] = task_json(t, now);
        }
        o["tasks"] = std::move(tasks);
        json::object execs;
        for (auto& [id, e] : s.executor_summary) execs[id] = executor_stage_summary_json(e);
        o["executorSummary"] = std::move(execs);
    }
    json::object killed;
    for (auto& [reason, n] : s.killed_summary) killed[reason] = n;
    o["killedTasksSummary"] = std::move(killed);
    o["resourceProfileId"] = 0;
    if (opt.with_summaries) {
        if (auto ts = task_summary_json(s, opt.quantiles)) o["taskMetricsDistributions"] = std::move(*ts);
        if (!s.executor_summary.empty()) {
            o["executorMetricsDistributions"] = executor_distributions_json(s, opt.quantiles);
        }
    }
    return o;
}

json::object rdd_json(const AppState& st, const RddRecord& r, bool details) {
    json::object o;
    std::uint64_t mem = 0, disk = 0;
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> by_exec;
    for (auto& [block, p] : r.partitions) {
        mem += p.memory_used;
        disk += p.disk_used;
        for (auto& [e, sz] : p.executors) {
            by_exec[e].first += sz.first;
            by_exec[e].second += sz.second;
        }
    }
    o["id"] = r.id;
    o["name"] = r.name;
    o["numPartitions"] = r.num_partitions;
    o["numCachedPartitions"] = static_cast<int>(r.partitions.size());
    o["storageLevel"] = r.storage_level;
    o["memoryUsed"] = mem;
    o["diskUsed"] = disk;
    if (details) {
        json::array dist;
        for (auto& [e, sz] : by_exec) {
            auto ex = st.executors.find(e);
            std::string address = e;
            std::uint64_t remaining = 0;
            if (ex != st.executors.end()) {
                if (!ex->second.host_port.empty()) address = ex->second.host_port;
                remaining = ex->second.max_memory - std::min(ex->second.max_memory, ex->second.memory_used);
            }
            dist.push_back(json::object{{"address", address},
                                        {"memoryUsed", sz.first},
                                        {"memoryRemaining", remaining},
                                        {"diskUsed", sz.second},
                                        {"onHeapMemoryUsed", sz.first},
                                        {"offHeapMemoryUsed", 0},
                                        {"onHeapMemoryRemaining", remaining},
                                        {"offHeapMemoryRemaining", 0}});
        }
        o["dataDistribution"] = std::move(dist);
        json::array parts;
        for (auto& [block, p] : r.partitions) {
            json::array execs;
            for (auto& [e, sz] : p.executors) execs.push_back(json::string(e));
            parts.push_back(json::object{{"blockName", block},
                                         {"storageLevel", p.storage_level},
                                         {"memoryUsed", p.memory_used},
                                         {"diskUsed", p.disk_used},
                                         {"executors", std::move(execs)}});
        }
        o["partitions"] = std::move(parts);
    }
    return o;
}

json::object application_json(const AppState& st, std::string_view version) {
    const auto& a = st.app;
    bool completed = a.end_time.has_value();
    std::int64_t end = a.end_time.value_or(-1);
    json::object attempt;
    attempt["startTime"] = format_api_date(a.start_time);
    attempt["endTime"] = completed ? format_api_date(end) : std::string("1969-12-31T23:59:59.999GMT");
    attempt["lastUpdated"] = format_api_date(a.last_updated);
    attempt["duration"] = completed ? saturating_sub(end, a.start_time) : 0;
    attempt["sparkUser"] = a.user;
    attempt["completed"] = completed;
    attempt["appSparkVersion"] = a.spark_version.empty() ? std::string(version) : a.spark_version;
    attempt["startTimeEpoch"] = a.start_time;
    attempt["endTimeEpoch"] = end;
    attempt["lastUpdatedEpoch"] = a.last_updated;
    json::object o;
    o["id"] = a.id;
    o["name"] = a.name;
    o["attempts"] = json::array{std::move(attempt)};
    return o;
}

json::object environment_json(const AppState& st) {
    auto pairs = [](const std::vector<std::pair<std::string, std::string>>& v) {
        json::array a;
        for (auto& [k, val] : v) a.push_back(json::array{json::string(k), json::string(val)});
        return a;
    };
    json::object o;
    std::vector<std::pair<std::string, std::string>> empty;
    const auto& env = st.environment;
    // Spark's runtime object has exactly these three keys; ember fills them from its runtime.
    auto runtime_value = [&](std::initializer_list<std::string_view> keys) {
        for (auto k : keys) {
            for (auto& [rk, rv] : env ? env->runtime_information : empty) {
                if (rk == k) return rv;
            }
        }
        return std::string();
    };
    o["runtime"] = {{"javaVersion", runtime_value({"Java Version", "ember Version"})},
                    {"javaHome", runtime_value({"Java Home", "Program"})},
                    {"scalaVersion", runtime_value({"Scala Version", "C++ Compiler"})}};
    auto sorted = [&](std::vector<std::pair<std::string, std::string>> v) {
        std::sort(v.begin(), v.end());
        return pairs(v);
    };
    o["sparkProperties"] = sorted(env ? env->spark_properties : empty);
    o["hadoopProperties"] = json::array();
    o["systemProperties"] = sorted(env ? env->system_properties : empty);
    o["classpathEntries"] = sorted(env ? env->classpath_entries : empty);
    o["resourceProfiles"] = json::array();
    return o;
}

int parse_id(std::string_view s, std::string_view what) {
    int v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) not_found(fmt::format("unknown {}: {}", what, s));
    return v;
}

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < path.size()) {
        while (i < path.size() && path[i] == '/') ++i;
        auto j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        if (j > i) out.push_back(path.substr(i, j - i));
        i = j;
    }
    return out;
}

StageStatus parse_stage_status(const std::string& s) {
    auto u = upper(s);
    if (u == "ACTIVE") return StageStatus::active;
    if (u == "COMPLETE") return StageStatus::complete;
    if (u == "FAILED") return StageStatus::failed;
    if (u == "PENDING") return StageStatus::pending;
    if (u == "SKIPPED") return StageStatus::skipped;
    bad_request(fmt::format("status: \"{}\" is not one of active, complete, pending, failed, skipped", s));
}

JobStatus parse_job_status(const std::string& s) {
    auto u = upper(s);
    if (u == "RUNNING") return JobStatus::running;
    if (u == "SUCCEEDED") return JobStatus::succeeded;
    if (u == "FAILED") return JobStatus::failed;
    if (u == "UNKNOWN") return JobStatus::unknown;
    bad_request(fmt::format("status: \"{}\" is not one of running, succeeded, failed, unknown", s));
}

std::vector<std::string> task_status_params(const QueryParams& q) {
    std::vector<std::string> out;
    for (auto& s : params(q, "taskStatus")) {
        auto u = upper(s);
        if (u == "GET_RESULT") u = "GET RESULT";
        static const std::set<std::string> known{"RUNNING", "GET RESULT", "SUCCESS", "FAILED", "KILLED", "UNKNOWN"};
        if (!known.count(u)) bad_request(fmt::format("taskStatus: \"{}\" is not a task status", s));
        out.push_back(u);
    }
    return out;
}

json::value applications_list(const ApplicationSource& src, const QueryParams& q, std::string_view version) {
    std::optional<bool> want_completed;
    for (auto& s : params(q, "status")) {
        auto u = upper(s);
        if (u == "COMPLETED") want_completed = true;
        else if (u == "RUNNING") want_completed = false;
        else bad_request(fmt::format("status: \"{}\" is not one of completed, running", s));
    }
    auto min_date = date_param(q, "minDate");
    auto max_date = date_param(q, "maxDate");
    auto min_end = date_param(q, "minEndDate");
    auto max_end = date_param(q, "maxEndDate");
    auto limit = int_param(q, "limit", -1);
    json::array out;
    for (auto& store : src.applications()) {
        if (limit >= 0 && static_cast<std::int64_t>(out.size()) >= limit) break;
        auto o = store->read([&](const AppState& st) -> std::optional<json::object> {
            bool completed = st.app.end_time.has_value();
            if (want_completed && *want_completed != completed) return std::nullopt;
            if (min_date && st.app.start_time < *min_date) return std::nullopt;
            if (max_date && st.app.start_time > *max_date) return std::nullopt;
            if ((min_end || max_end) && !completed) return std::nullopt;
            if (min_end && *st.app.end_time < *min_end) return std::nullopt;
            if (max_end && *st.app.end_time > *max_end) return std::nullopt;
            return application_json(st, version);
        });
        if (o) out.push_back(std::move(*o));
    }
    return out;
}

const StageRecord& find_attempt(const AppState& st, int sid, std::string_view attempt_seg) {
    int aid = 0;
    auto [p, ec] = std::from_chars(attempt_seg.data(), attempt_seg.data() + attempt_seg.size(), aid);
    bool any = false;
    std::vector<int> found;
    for (auto it = st.stages.lower_bound({sid, 0}); it != st.stages.end() && it->first.first == sid; ++it) {
        any = true;
        found.push_back(it->first.second);
    }
    if (!any) not_found(fmt::format("unknown stage: {}", sid));
    auto it = st.stages.end();
    if (ec == std::errc{} && p == attempt_seg.data() + attempt_seg.size()) it = st.stages.find({sid, aid});
    if (it == st.stages.end()) {
        not_found(fmt::format("unknown attempt for stage {}.  Found attempts: [{}]", sid, fmt::join(found, ",")));
    }
    return it->second;
}

json::value app_resource(const AppState& st, const std::vector<std::string_view>& seg, const QueryParams& q,
                         std::string_view version) {
    const std::int64_t now = st.app.end_time.value_or(now_ms());
    if (seg.size() == 2) return application_json(st, version);
    auto what = seg[2];
    if (what == "jobs") {
        if (seg.size() == 3) {
            std::vector<JobStatus> want;
            for (auto& s : params(q, "status")) want.push_back(parse_job_status(s));
            json::array out;
            // Newest first, as Spark lists them.
            for (auto it = st.jobs.rbegin(); it != st.jobs.rend(); ++it) {
                if (!want.empty() && std::find(want.begin(), want.end(), it->second.status) == want.end()) continue;
                out.push_back(job_json(it->second));
            }
            return out;
        }
        int jid = parse_id(seg[3], "job");
        auto it = st.jobs.find(jid);
        if (it == st.jobs.end()) not_found(fmt::format("unknown job: {}", jid));
        if (seg.size() == 4) return job_json(it->second);
        if (seg.size() == 5 && seg[4] == "stageGraph") {
            json::array stages;
            for (int sid : it->second.stage_ids) {
                // The attempt this job used: the newest one that lists the job, else the newest.
                const StageRecord* pick = nullptr;
                for (auto s = st.stages.lower_bound({sid, 0}); s != st.stages.end() && s->first.first == sid; ++s) {
                    const auto& jobs = s->second.job_ids;
                    if (!pick || std::find(jobs.begin(), jobs.end(), jid) != jobs.end()) pick = &s->second;
                }
                if (!pick) continue;
                json::array parents;
                for (int p : pick->info.parent_ids) parents.push_back(p);
                stages.push_back(json::object{{"stageId", sid},
                                              {"attemptId", pick->info.attempt_id},
                                              {"name", pick->info.name},
                                              {"numTasks", pick->info.num_tasks},
                                              {"status", to_string(pick->status)},
                                              {"parentIds", std::move(parents)}});
            }
            return json::object{{"jobId", jid}, {"stages", std::move(stages)}};
        }
    } else if (what == "stages") {
        StageOptions opt;
        opt.with_summaries = bool_param(q, "withSummaries", false);
        opt.quantiles = quantiles_param(q, "0.0,0.25,0.5,0.75,1.0");
        opt.task_status = task_status_params(q);
        if (seg.size() == 3) {
            opt.details = bool_param(q, "details", false);
            std::vector<StageStatus> want;
            for (auto& s : params(q, "status")) want.push_back(parse_stage_status(s));
            json::array out;
            // Newest first (Spark sorts by stage id, then attempt, descending).
            for (auto it = st.stages.rbegin(); it != st.stages.rend(); ++it) {
                if (!want.empty() && std::find(want.begin(), want.end(), it->second.status) == want.end()) continue;
                out.push_back(stage_json(it->second, opt, now));
            }
            return out;
        }
        int sid = parse_id(seg[3], "stage");
        opt.details = bool_param(q, "details", true);
        if (seg.size() == 4) {
            json::array out;
            for (auto it = st.stages.lower_bound({sid, 0}); it != st.stages.end() && it->first.first == sid; ++it) {
                out.push_back(stage_json(it->second, opt, now));
            }
            if (out.empty()) not_found(fmt::format("unknown stage: {}", sid));
            return out;
        }
        const StageRecord& s = find_attempt(st, sid, seg[4]);
        if (seg.size() == 5) return stage_json(s, opt, now);
        if (seg.size() == 6 && seg[5] == "taskSummary") {
            auto qs = quantiles_param(q, "0.05,0.25,0.5,0.75,0.95");
            auto summary = task_summary_json(s, qs);
            if (!summary) {
                not_found(fmt::format("No tasks reported metrics for {} / {} yet.", sid, s.info.attempt_id));
            }
            return *summary;
        }
        if (seg.size() == 6 && seg[5] == "taskList") {
            auto offset = int_param(q, "offset", 0);
            auto length = int_param(q, "length", 20);
            if (offset < 0) bad_request("offset: must not be negative");
            if (length < 0) bad_request("length: must not be negative");
            auto sort = upper(param(q, "sortBy").value_or("ID"));
            auto statuses = params(q, "status");
            std::vector<std::string> want;
            for (auto& x : statuses) {
                auto u = upper(x);
                if (u == "GET_RESULT") u = "GET RESULT";
                want.push_back(u);
            }
            std::vector<const TaskRecord*> tasks;
            for (auto& [id, t] : s.tasks) {
                if (!want.empty() && std::find(want.begin(), want.end(), t.status) == want.end()) continue;
                tasks.push_back(&t);
            }
            auto dur = [&](const TaskRecord* t) {
                return t->finished ? *t->duration() : std::max<std::int64_t>(0, saturating_sub(now, t->info.launch_time));
            };
            // Spark's TaskSorting: ID, runtime / INCREASING_RUNTIME, -runtime / DECREASING_RUNTIME
            // (by executor run time); ember also takes -ID and (-)DURATION (wall time).
            auto run_time = [](const TaskRecord* t) -> std::int64_t {
                return t->metrics ? static_cast<std::int64_t>(t->metrics->executor_run_time_ns) : -1;
            };
            if (sort == "ID") {
            } else if (sort == "-ID") {
                std::reverse(tasks.begin(), tasks.end());
            } else if (sort == "RUNTIME" || sort == "INCREASING_RUNTIME") {
                std::stable_sort(tasks.begin(), tasks.end(), [&](auto* a, auto* b) { return run_time(a) < run_time(b); });
            } else if (sort == "-RUNTIME" || sort == "DECREASING_RUNTIME") {
                std::stable_sort(tasks.begin(), tasks.end(), [&](auto* a, auto* b) { return run_time(a) > run_time(b); });
            } else if (sort == "DURATION") {
                std::stable_sort(tasks.begin(), tasks.end(), [&](auto* a, auto* b) { return dur(a) < dur(b); });
            } else if (sort == "-DURATION") {
                std::stable_sort(tasks.begin(), tasks.end(), [&](auto* a, auto* b) { return dur(a) > dur(b); });
            } else {
                bad_request(fmt::format("Bad value for parameter \"sortBy\": {} (one of ID, runtime, -runtime, -ID, "
                                        "DURATION, -DURATION)",
                                        sort));
            }
            json::array out;
            for (auto i = static_cast<std::size_t>(offset); i < tasks.size() && static_cast<std::int64_t>(out.size()) < length; ++i) {
                out.push_back(task_json(*tasks[i], now));
            }
            return out;
        }
    } else if ((what == "executors" || what == "allexecutors") && seg.size() == 3) {
        json::array out;
        bool all = what == "allexecutors";
        // Spark's order: /executors by id descending (so "driver" first), /allexecutors by id.
        std::vector<const ExecutorRecord*> execs;
        for (auto& [id, e] : st.executors) {
            if (all || e.is_active) execs.push_back(&e);
        }
        if (!all) std::reverse(execs.begin(), execs.end());
        for (auto* e : execs) out.push_back(executor_json(*e));
        return out;
    } else if (what == "storage" && seg.size() >= 4 && seg[3] == "rdd") {
        if (seg.size() == 4) {
            json::array out;
            for (auto& [id, r] : st.rdds) {
                if (!r.partitions.empty()) out.push_back(rdd_json(st, r, true));  // 3.3 lists details too
            }
            return out;
        }
        if (seg.size() == 5) {
            int rid = parse_id(seg[4], "RDD");
            auto it = st.rdds.find(rid);
            if (it == st.rdds.end()) not_found(fmt::format("no rdd found w/ id {}", rid));
            return rdd_json(st, it->second, true);
        }
    } else if (what == "environment" && seg.size() == 3) {
        return environment_json(st);
    }
    not_found(fmt::format("unknown resource: {}", fmt::join(seg.begin() + 2, seg.end(), "/")));
}

}  // namespace

std::shared_ptr<const AppStatusStore> SingleApplicationSource::application(const std::string& app_id) const {
    bool match = store_->read([&](const AppState& st) { return st.app.id == app_id; });
    return match ? store_ : nullptr;
}

std::string format_api_date(std::int64_t epoch_ms) {
    // Floor division; negating epoch_ms would overflow for INT64_MIN.
    std::int64_t secs = epoch_ms / 1000;
    int millis = static_cast<int>(epoch_ms % 1000);
    if (millis < 0) {
        millis += 1000;
        --secs;
    }
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}GMT", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

ApiResponse handle_api_v1(const ApplicationSource& source, std::string_view path, const QueryParams& query,
                          std::string_view version) {
    try {
        auto seg = split_path(path);
        if (seg.size() == 1 && seg[0] == "version") return json_response(json::object{{"spark", version}});
        if (!seg.empty() && seg[0] == "applications") {
            if (seg.size() == 1) return json_response(applications_list(source, query, version));
            std::string app_id(seg[1]);
            auto store = source.application(app_id);
            if (!store) not_found((seg.size() == 2 ? "unknown app: " : "no such app: ") + app_id);
            auto v = store->read([&](const AppState& st) { return app_resource(st, seg, query, version); });
            return json_response(v);
        }
        not_found(fmt::format("unknown resource: {}", path));
    } catch (const ApiError& e) {
        return ApiResponse{e.status, "text/plain; charset=utf-8", e.message};
    } catch (const std::exception& e) {
        return ApiResponse{500, "text/plain; charset=utf-8", std::string("internal error: ") + e.what()};
    }
}

}  // namespace ember::status
