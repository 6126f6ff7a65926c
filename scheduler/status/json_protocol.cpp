// SPDX-License-Identifier: Apache-2.0
#include "scheduler/status/json_protocol.hpp"

#include "scheduler/task_end_reason.hpp"
#include "storage/storage_level.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

#include <charconv>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>

namespace ember::scheduler {

namespace json = boost::json;

namespace {

constexpr std::string_view kSpeculativeClass = "org.apache.spark.scheduler.SparkListenerSpeculativeTaskSubmitted";
/// Spark writes the excludeOnFailure events generically (Jackson): full class name, camelCase fields.
constexpr std::string_view kSchedulerPackage = "org.apache.spark.scheduler.";
constexpr std::uint64_t kNsPerMs = 1'000'000;
constexpr std::string_view kJobGroupProperty = "spark.jobGroup.id";

json::string_view sv(const std::string& s) { return {s.data(), s.size()}; }
json::string_view sv(std::string_view s) { return {s.data(), s.size()}; }

// -- writing -----------------------------------------------------------------------------------

json::object& add_object(json::object& o, json::string_view key) { return o[key].emplace_object(); }
json::array& add_array(json::object& o, json::string_view key) { return o[key].emplace_array(); }
json::object& push_object(json::array& a) { return a.emplace_back(nullptr).emplace_object(); }

void put(json::object& o, json::string_view key, const std::string& s) { o.emplace(key, sv(s)); }

template <class Int>
void put_ints(json::object& o, json::string_view key, const std::vector<Int>& v) {
    auto& a = add_array(o, key);
    a.reserve(v.size());
    for (Int x : v) a.emplace_back(x);
}

void put_strings(json::object& o, json::string_view key, const std::vector<std::pair<std::string, std::string>>& kv) {
    auto& m = add_object(o, key);
    m.reserve(kv.size());
    for (const auto& [k, v] : kv) m.emplace(sv(k), sv(v));
}

void put_block_manager_id(json::object& o, json::string_view key, const std::string& executor_id,
                          const std::string& host, int port) {
    auto& b = add_object(o, key);
    put(b, "Executor ID", executor_id);
    put(b, "Host", host);
    b.emplace("Port", port);
}

void put_storage_level(json::object& o, const storage::StorageLevel& l) {
    auto& s = add_object(o, "Storage Level");
    s.emplace("Use Disk", l.use_disk);
    s.emplace("Use Memory", l.use_memory);
    s.emplace("Use Off Heap", l.use_off_heap);
    s.emplace("Deserialized", l.deserialized);
    s.emplace("Replication", l.replication);
}

/// StorageLevel::description() (or "NONE") back into the flags.
storage::StorageLevel parse_storage_description(std::string_view d) {
    storage::StorageLevel l;
    if (d == "NONE") return l;
    std::size_t pos = 0;
    while (pos < d.size()) {
        std::size_t end = d.find(' ', pos);
        if (end == std::string_view::npos) end = d.size();
        std::string_view w = d.substr(pos, end - pos);
        if (w == "Disk") {
            l.use_disk = true;
        } else if (w == "Memory") {
            l.use_memory = true;
        } else if (w == "(off") {
            l.use_off_heap = true;
        } else if (w == "Deserialized") {
            l.deserialized = true;
        } else if (w.size() > 1 && w.back() == 'x') {
            int r = 1;
            if (std::from_chars(w.data(), w.data() + w.size() - 1, r).ec == std::errc{}) l.replication = r;
        }
        pos = end + 1;
    }
    return l;
}

std::string storage_description(const storage::StorageLevel& l) {
    if (!l.use_disk && !l.use_memory && !l.use_off_heap) return "NONE";
    return l.description();
}

/// Spark's "Accumulables" array: {ID, Name, Update, Value, Internal, Count Failed Values}, absent
/// options left out (values are strings, as Spark writes those of user accumulators).
void put_accumulables(json::object& o, const std::vector<AccumulableInfo>& accs) {
    auto& a = add_array(o, "Accumulables");
    a.reserve(accs.size());
    for (const AccumulableInfo& i : accs) {
        auto& ai = push_object(a);
        ai.emplace("ID", i.id);
        if (i.name) put(ai, "Name", *i.name);
        if (i.update) put(ai, "Update", *i.update);
        if (i.value) put(ai, "Value", *i.value);
        ai.emplace("Internal", i.internal);
        ai.emplace("Count Failed Values", i.count_failed_values);
    }
}

void put_task_info(json::object& o, const TaskInfo& t) {
    auto& ti = add_object(o, "Task Info");
    ti.reserve(14);
    ti.emplace("Task ID", t.task_id);
    ti.emplace("Index", t.index);
    ti.emplace("Attempt", t.attempt);
    ti.emplace("Partition ID", t.partition_id);
    ti.emplace("Launch Time", t.launch_time);
    put(ti, "Executor ID", t.executor_id);
    put(ti, "Host", t.host);
    ti.emplace("Locality", to_string(t.locality));
    ti.emplace("Speculative", t.speculative);
    ti.emplace("Getting Result Time", t.getting_result_time);
    ti.emplace("Finish Time", t.finish_time);
    ti.emplace("Failed", t.failed);
    ti.emplace("Killed", t.killed);
    put_accumulables(ti, t.accumulables);
}

void put_task_metrics(json::object& o, const TaskMetrics& m) {
    auto& tm = add_object(o, "Task Metrics");
    tm.reserve(18);
    tm.emplace("Executor Deserialize Time", m.executor_deserialize_time_ns / kNsPerMs);
    tm.emplace("Executor Deserialize CPU Time", m.executor_deserialize_cpu_time_ns);
    tm.emplace("Executor Run Time", m.executor_run_time_ns / kNsPerMs);
    tm.emplace("Executor CPU Time", m.executor_cpu_time_ns);
    tm.emplace("Peak Execution Memory", m.peak_execution_memory);
    tm.emplace("Result Size", m.result_size);
    tm.emplace("JVM GC Time", 0);
    tm.emplace("Result Serialization Time", m.result_serialization_time_ns / kNsPerMs);
    tm.emplace("Memory Bytes Spilled", m.memory_bytes_spilled);
    tm.emplace("Disk Bytes Spilled", m.disk_bytes_spilled);
    auto& sr = add_object(tm, "Shuffle Read Metrics");
    sr.reserve(13);
    sr.emplace("Remote Blocks Fetched", m.shuffle_read.remote_blocks_fetched);
    sr.emplace("Local Blocks Fetched", m.shuffle_read.local_blocks_fetched);
    sr.emplace("Fetch Wait Time", m.shuffle_read.fetch_wait_time_ns / kNsPerMs);
    sr.emplace("Remote Bytes Read", m.shuffle_read.remote_bytes_read);
    sr.emplace("Remote Bytes Read To Disk", m.shuffle_read.remote_bytes_read_to_disk);
    sr.emplace("Local Bytes Read", m.shuffle_read.local_bytes_read);
    sr.emplace("Total Records Read", m.shuffle_read.records_read);
    sr.emplace("Fetch Wait Time (ns)", m.shuffle_read.fetch_wait_time_ns);
    sr.emplace("Remote Requests Duration", m.shuffle_read.remote_reqs_duration_ns / kNsPerMs);
    sr.emplace("Remote Requests Duration (ns)", m.shuffle_read.remote_reqs_duration_ns);  // ember: exact replay
    sr.emplace("Peak Bytes In Flight", m.shuffle_read.peak_bytes_in_flight);        // ember
    sr.emplace("Peak Requests In Flight", m.shuffle_read.peak_reqs_in_flight);      // ember
    sr.emplace("Peak Blocks In Flight", m.shuffle_read.peak_blocks_in_flight);      // ember
    auto& sw = add_object(tm, "Shuffle Write Metrics");
    sw.emplace("Shuffle Bytes Written", m.shuffle_write.bytes_written);
    sw.emplace("Shuffle Write Time", m.shuffle_write.write_time_ns);
    sw.emplace("Shuffle Records Written", m.shuffle_write.records_written);
    auto& in = add_object(tm, "Input Metrics");
    in.emplace("Bytes Read", m.input_bytes_read);
    in.emplace("Records Read", m.input_records_read);
    auto& out = add_object(tm, "Output Metrics");
    out.emplace("Bytes Written", m.output_bytes_written);
    out.emplace("Records Written", m.output_records_written);
    add_array(tm, "Updated Blocks");
    tm.emplace("Executor Deserialize Time (ns)", m.executor_deserialize_time_ns);
    tm.emplace("Executor Run Time (ns)", m.executor_run_time_ns);
    tm.emplace("Result Serialization Time (ns)", m.result_serialization_time_ns);
}

/// The fields of a "Stage Info" object into `si`.
void put_stage_info(json::object& si, const StageInfo& s) {
    si.reserve(19);
    si.emplace("Stage ID", s.stage_id);
    si.emplace("Stage Attempt ID", s.attempt_id);
    put(si, "Stage Name", s.name);
    si.emplace("Number of Tasks", s.num_tasks);
    auto& rdds = add_array(si, "RDD Info");
    rdds.reserve(s.rdd_infos.size());
    for (const RddInfo& r : s.rdd_infos) {
        auto& ri = push_object(rdds);
        ri.reserve(12);
        ri.emplace("RDD ID", r.id);
        put(ri, "Name", r.name);
        put(ri, "Callsite", r.call_site);
        put_ints(ri, "Parent IDs", r.parent_ids);
        put_storage_level(ri, parse_storage_description(r.storage_level));
        ri.emplace("Barrier", false);
        ri.emplace("DeterministicLevel", "DETERMINATE");
        ri.emplace("Number of Partitions", r.num_partitions);
        ri.emplace("Number of Cached Partitions", 0);
        ri.emplace("Memory Size", 0);
        ri.emplace("Disk Size", 0);
    }
    put_ints(si, "Parent IDs", s.parent_ids);
    si.emplace("Details", "");
    if (s.submission_time) si.emplace("Submission Time", *s.submission_time);
    if (s.completion_time) si.emplace("Completion Time", *s.completion_time);
    if (s.failure_reason) put(si, "Failure Reason", *s.failure_reason);
    put_accumulables(si, s.accumulables);
    si.emplace("Resource Profile Id", 0);
    // ember's additions (see the header).
    put_ints(si, "RDD IDs", s.rdd_ids);
    si.emplace("Shuffle Map Stage", s.is_shuffle_map);
    si.emplace("Number of Completed Tasks", s.num_completed_tasks);
    si.emplace("Number of Failed Tasks", s.num_failed_tasks);
    put_task_metrics(si, s.metrics);
}

// -- task end reasons ------------------------------------------------------------------------

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
    return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

/// Reads `prefix` then an integer at the front of `cur`.
template <class Int>
bool take_int(std::string_view& cur, std::string_view prefix, Int& out) {
    if (!starts_with(cur, prefix)) return false;
    cur.remove_prefix(prefix.size());
    auto [p, ec] = std::from_chars(cur.data(), cur.data() + cur.size(), out);
    if (ec != std::errc{}) return false;
    cur.remove_prefix(static_cast<std::size_t>(p - cur.data()));
    return true;
}

std::optional<FetchFailed> parse_fetch_failed(std::string_view s) {
    constexpr std::string_view kPrefix = "FetchFailed(";
    if (!starts_with(s, kPrefix) || !ends_with(s, "\n)")) return std::nullopt;
    std::string_view cur = s.substr(kPrefix.size());
    std::size_t comma = cur.find(", shuffleId=");
    if (comma == std::string_view::npos) return std::nullopt;
    std::string_view addr = cur.substr(0, comma);
    cur.remove_prefix(comma);
    FetchFailed f;
    if (addr != "null") {
        constexpr std::string_view kBm = "BlockManagerId(";
        if (!starts_with(addr, kBm) || !ends_with(addr, ")")) return std::nullopt;
        std::string_view inner = addr.substr(kBm.size(), addr.size() - kBm.size() - 1);
        std::size_t c1 = inner.find(", ");
        std::size_t c2 = inner.rfind(", ");
        if (c1 == std::string_view::npos || c2 == c1) return std::nullopt;
        f.address.executor_id = std::string(inner.substr(0, c1));
        f.address.host = std::string(inner.substr(c1 + 2, c2 - c1 - 2));
        std::string_view port = inner.substr(c2 + 2);
        if (std::from_chars(port.data(), port.data() + port.size(), f.address.port).ec != std::errc{}) {
            return std::nullopt;
        }
    }
    if (!take_int(cur, ", shuffleId=", f.shuffle_id) || !take_int(cur, ", mapIndex=", f.map_index) ||
        !take_int(cur, ", mapId=", f.map_id) || !take_int(cur, ", reduceId=", f.reduce_id)) {
        return std::nullopt;
    }
    constexpr std::string_view kMessage = ", message=\n";
    if (!starts_with(cur, kMessage) || cur.size() < kMessage.size() + 2) return std::nullopt;
    f.message = std::string(cur.substr(kMessage.size(), cur.size() - kMessage.size() - 2));
    return f;
}

std::optional<ExecutorLostFailure> parse_executor_lost(std::string_view s) {
    constexpr std::string_view kPrefix = "ExecutorLostFailure (executor ";
    constexpr std::string_view kByApp = " exited caused by one of the running tasks) Reason: ";
    constexpr std::string_view kUnrelated = " exited unrelated to the running tasks) Reason: ";
    if (!starts_with(s, kPrefix)) return std::nullopt;
    std::string_view rest = s.substr(kPrefix.size());
    std::size_t a = rest.find(kByApp);
    std::size_t u = rest.find(kUnrelated);
    if (a == std::string_view::npos && u == std::string_view::npos) return std::nullopt;
    bool by_app = a != std::string_view::npos && (u == std::string_view::npos || a < u);
    std::size_t at = by_app ? a : u;
    std::string_view marker = by_app ? kByApp : kUnrelated;
    return ExecutorLostFailure{std::string(rest.substr(0, at)), by_app, std::string(rest.substr(at + marker.size()))};
}

/// The TaskEndReason whose to_error_string is exactly `s`, if `s` has the shape of one.
std::optional<TaskEndReason> parse_reason(const std::string& s) {
    std::optional<TaskEndReason> r;
    if (s == "Resubmitted (resubmitted due to lost executor)") {
        r = Resubmitted{};
    } else if (s == "TaskResultLost (result lost from block manager)") {
        r = TaskResultLost{};
    } else if (starts_with(s, "TaskKilled (") && ends_with(s, ")")) {
        r = TaskKilled{s.substr(12, s.size() - 13)};
    } else if (auto e = parse_executor_lost(s)) {
        r = std::move(*e);
    } else if (auto f = parse_fetch_failed(s)) {
        r = std::move(*f);
    }
    // Accept a parse only if it renders back to the same text: the round trip is then exact.
    if (r && to_error_string(*r) != s) r.reset();
    return r;
}

// -- reading -----------------------------------------------------------------------------------

/// One JSON object of an event being read: typed getters that name the event and the field.
class In {
public:
    In(const json::object& o, std::string_view event, std::string path = {})
        : o_(o), event_(event), path_(std::move(path)) {}

    const json::value* find(std::string_view key) const {
        auto it = o_.find(sv(key));
        if (it == o_.end() || it->value().is_null()) return nullptr;
        return &it->value();
    }
    const json::value& at(std::string_view key) const {
        if (const json::value* v = find(key)) return *v;
        fail(key, "is missing");
    }
    [[noreturn]] void fail(std::string_view key, std::string_view what) const {
        throw std::runtime_error(fmt::format("{}: field \"{}{}\" {}", event_, path_, key, what));
    }

    template <class T>
    T num_of(const json::value& v, std::string_view key) const {
        boost::system::error_code ec;
        T n = v.to_number<T>(ec);
        if (ec) fail(key, v.is_number() ? "is not an integer in range" : "is not a number");
        return n;
    }
    template <class T>
    T num(std::string_view key) const {
        return num_of<T>(at(key), key);
    }
    template <class T>
    T num_or(std::string_view key, T fallback) const {
        const json::value* v = find(key);
        return v ? num_of<T>(*v, key) : fallback;
    }
    template <class T>
    std::optional<T> num_opt(std::string_view key) const {
        const json::value* v = find(key);
        if (!v) return std::nullopt;
        return num_of<T>(*v, key);
    }
    bool flag(std::string_view key) const {
        const json::value& v = at(key);
        if (!v.is_bool()) fail(key, "is not a boolean");
        return v.get_bool();
    }
    bool flag_or(std::string_view key, bool fallback) const { return find(key) ? flag(key) : fallback; }
    std::string str(std::string_view key) const {
        const json::value& v = at(key);
        if (!v.is_string()) fail(key, "is not a string");
        return std::string(v.get_string());
    }
    std::string str_or(std::string_view key, std::string fallback) const {
        return find(key) ? str(key) : std::move(fallback);
    }
    In obj(std::string_view key) const {
        const json::value& v = at(key);
        if (!v.is_object()) fail(key, "is not an object");
        return In(v.get_object(), event_, path_ + std::string(key) + ".");
    }
    std::optional<In> obj_opt(std::string_view key) const {
        if (!find(key)) return std::nullopt;
        return obj(key);
    }
    const json::array& arr(std::string_view key) const {
        const json::value& v = at(key);
        if (!v.is_array()) fail(key, "is not an array");
        return v.get_array();
    }
    In element(std::string_view key, const json::value& v, std::size_t i) const {
        std::string name = fmt::format("{}[{}]", key, i);
        if (!v.is_object()) fail(name, "is not an object");
        return In(v.get_object(), event_, path_ + name + ".");
    }
    template <class Int>
    std::vector<Int> ints(std::string_view key) const {
        std::vector<Int> out;
        const json::array& a = arr(key);
        out.reserve(a.size());
        for (std::size_t i = 0; i < a.size(); ++i) out.push_back(num_of<Int>(a[i], fmt::format("{}[{}]", key, i)));
        return out;
    }
    std::vector<std::pair<std::string, std::string>> strings(std::string_view key) const {
        std::vector<std::pair<std::string, std::string>> out;
        In m = obj(key);
        out.reserve(m.o_.size());
        for (const auto& kv : m.o_) {
            if (!kv.value().is_string()) m.fail(std::string_view(kv.key().data(), kv.key().size()), "is not a string");
            out.emplace_back(std::string(kv.key()), std::string(kv.value().get_string()));
        }
        return out;
    }
    std::vector<std::pair<std::string, std::string>> strings_or_empty(std::string_view key) const {
        return find(key) ? strings(key) : std::vector<std::pair<std::string, std::string>>{};
    }

    const json::object& object() const { return o_; }
    std::string_view event() const { return event_; }

private:
    const json::object& o_;
    std::string_view event_;
    std::string path_;
};

TaskLocality locality_from(const In& in, std::string_view key) {
    std::string s = in.str(key);
    if (s == "PROCESS_LOCAL") return TaskLocality::process_local;
    if (s == "NODE_LOCAL") return TaskLocality::node_local;
    if (s == "NO_PREF") return TaskLocality::no_pref;
    if (s == "RACK_LOCAL") return TaskLocality::rack_local;
    if (s == "ANY") return TaskLocality::any;
    in.fail(key, fmt::format("is not a task locality: \"{}\"", s));
}

/// An accumulator value of Spark's log: a string for user accumulators, a number (or, for
/// updatedBlockStatuses, a list) for internal ones, kept as its JSON text.
std::optional<std::string> accumulable_value_from(const In& in, std::string_view key) {
    const json::value* v = in.find(key);
    if (!v) return std::nullopt;
    if (v->is_string()) return std::string(v->get_string());
    return json::serialize(*v);
}

/// An "Accumulables" array (absent: none).
std::vector<AccumulableInfo> accumulables_from(const In& in) {
    std::vector<AccumulableInfo> out;
    if (!in.find("Accumulables")) return out;
    const json::array& a = in.arr("Accumulables");
    out.reserve(a.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
        In e = in.element("Accumulables", a[k], k);
        AccumulableInfo i;
        i.id = e.num<std::int64_t>("ID");
        if (e.find("Name")) i.name = e.str("Name");
        i.update = accumulable_value_from(e, "Update");
        i.value = accumulable_value_from(e, "Value");
        // Spark: a name under "internal.metrics." marks an internal accumulator in old logs.
        i.internal = e.flag_or("Internal", i.name && starts_with(*i.name, "internal.metrics."));
        i.count_failed_values = e.flag_or("Count Failed Values", false);
        out.push_back(std::move(i));
    }
    return out;
}

TaskInfo task_info_from(const In& in) {
    In t = in.obj("Task Info");
    TaskInfo i;
    i.task_id = t.num<std::int64_t>("Task ID");
    i.index = t.num<int>("Index");
    i.attempt = t.num_or<int>("Attempt", 0);
    i.partition_id = t.num_or<int>("Partition ID", i.index);
    i.launch_time = t.num<std::int64_t>("Launch Time");
    i.executor_id = t.str("Executor ID");
    i.host = t.str("Host");
    i.locality = locality_from(t, "Locality");
    i.speculative = t.flag_or("Speculative", false);
    i.getting_result_time = t.num<std::int64_t>("Getting Result Time");
    i.finish_time = t.num<std::int64_t>("Finish Time");
    i.failed = t.flag("Failed");
    i.killed = t.flag_or("Killed", false);
    i.accumulables = accumulables_from(t);
    return i;
}

/// A time in ns from ember's "<key> (ns)" if present, else Spark's "<key>" in milliseconds.
std::uint64_t nanos_from(const In& in, std::string_view key, std::string_view ns_key, bool required) {
    if (auto ns = in.num_opt<std::uint64_t>(ns_key)) return *ns;
    std::uint64_t ms = required ? in.num<std::uint64_t>(key) : in.num_or<std::uint64_t>(key, 0);
    return ms * kNsPerMs;
}

TaskMetrics task_metrics_from(const In& tm) {
    TaskMetrics m;
    m.executor_deserialize_time_ns =
        nanos_from(tm, "Executor Deserialize Time", "Executor Deserialize Time (ns)", true);
    m.executor_run_time_ns = nanos_from(tm, "Executor Run Time", "Executor Run Time (ns)", true);
    m.result_size = tm.num<std::uint64_t>("Result Size");
    // CPU times are nanoseconds in Spark's log too.
    m.executor_deserialize_cpu_time_ns = tm.num_or<std::uint64_t>("Executor Deserialize CPU Time", 0);
    m.executor_cpu_time_ns = tm.num_or<std::uint64_t>("Executor CPU Time", 0);
    m.peak_execution_memory = tm.num_or<std::uint64_t>("Peak Execution Memory", 0);
    m.result_serialization_time_ns =
        nanos_from(tm, "Result Serialization Time", "Result Serialization Time (ns)", false);
    m.memory_bytes_spilled = tm.num<std::uint64_t>("Memory Bytes Spilled");
    m.disk_bytes_spilled = tm.num<std::uint64_t>("Disk Bytes Spilled");
    if (auto sr = tm.obj_opt("Shuffle Read Metrics")) {
        m.shuffle_read.remote_blocks_fetched = sr->num<std::uint64_t>("Remote Blocks Fetched");
        m.shuffle_read.local_blocks_fetched = sr->num<std::uint64_t>("Local Blocks Fetched");
        m.shuffle_read.fetch_wait_time_ns = nanos_from(*sr, "Fetch Wait Time", "Fetch Wait Time (ns)", true);
        m.shuffle_read.remote_bytes_read = sr->num<std::uint64_t>("Remote Bytes Read");
        m.shuffle_read.remote_bytes_read_to_disk = sr->num_or<std::uint64_t>("Remote Bytes Read To Disk", 0);
        m.shuffle_read.local_bytes_read = sr->num_or<std::uint64_t>("Local Bytes Read", 0);
        m.shuffle_read.records_read = sr->num_or<std::uint64_t>("Total Records Read", 0);
        m.shuffle_read.remote_reqs_duration_ns =
            nanos_from(*sr, "Remote Requests Duration", "Remote Requests Duration (ns)", false);
        m.shuffle_read.peak_bytes_in_flight = sr->num_or<std::uint64_t>("Peak Bytes In Flight", 0);
        m.shuffle_read.peak_reqs_in_flight = sr->num_or<std::uint64_t>("Peak Requests In Flight", 0);
        m.shuffle_read.peak_blocks_in_flight = sr->num_or<std::uint64_t>("Peak Blocks In Flight", 0);
    }
    if (auto sw = tm.obj_opt("Shuffle Write Metrics")) {
        m.shuffle_write.bytes_written = sw->num<std::uint64_t>("Shuffle Bytes Written");
        m.shuffle_write.write_time_ns = sw->num<std::uint64_t>("Shuffle Write Time");
        m.shuffle_write.records_written = sw->num_or<std::uint64_t>("Shuffle Records Written", 0);
    }
    if (auto in = tm.obj_opt("Input Metrics")) {
        m.input_bytes_read = in->num<std::uint64_t>("Bytes Read");
        m.input_records_read = in->num_or<std::uint64_t>("Records Read", 0);
    }
    if (auto out = tm.obj_opt("Output Metrics")) {
        m.output_bytes_written = out->num<std::uint64_t>("Bytes Written");
        m.output_records_written = out->num_or<std::uint64_t>("Records Written", 0);
    }
    return m;
}

storage::StorageLevel storage_level_from(const In& in) {
    In s = in.obj("Storage Level");
    storage::StorageLevel l;
    l.use_disk = s.flag("Use Disk");
    l.use_memory = s.flag("Use Memory");
    l.use_off_heap = s.flag_or("Use Off Heap", false);
    l.deserialized = s.flag("Deserialized");
    l.replication = s.num<int>("Replication");
    return l;
}

/// A "Stage Info" object.
StageInfo stage_info_from(const In& s) {
    StageInfo i;
    i.stage_id = s.num<int>("Stage ID");
    i.attempt_id = s.num_or<int>("Stage Attempt ID", 0);
    i.name = s.str("Stage Name");
    i.num_tasks = s.num<int>("Number of Tasks");
    const json::array& rdds = s.arr("RDD Info");
    i.rdd_infos.reserve(rdds.size());
    for (std::size_t k = 0; k < rdds.size(); ++k) {
        In r = s.element("RDD Info", rdds[k], k);
        RddInfo ri;
        ri.id = r.num<int>("RDD ID");
        ri.name = r.str("Name");
        ri.call_site = r.str_or("Callsite", "");
        if (r.find("Parent IDs")) ri.parent_ids = r.ints<int>("Parent IDs");
        ri.num_partitions = r.num<int>("Number of Partitions");
        ri.storage_level = storage_description(storage_level_from(r));
        i.rdd_infos.push_back(std::move(ri));
    }
    if (s.find("Parent IDs")) i.parent_ids = s.ints<int>("Parent IDs");
    i.submission_time = s.num_opt<std::int64_t>("Submission Time");
    i.completion_time = s.num_opt<std::int64_t>("Completion Time");
    if (s.find("Failure Reason")) i.failure_reason = s.str("Failure Reason");
    if (s.find("RDD IDs")) {
        i.rdd_ids = s.ints<int>("RDD IDs");
    } else {
        for (const RddInfo& r : i.rdd_infos) i.rdd_ids.push_back(r.id);
    }
    i.is_shuffle_map = s.flag_or("Shuffle Map Stage", false);
    i.num_completed_tasks = s.num_or<int>("Number of Completed Tasks", 0);
    i.num_failed_tasks = s.num_or<int>("Number of Failed Tasks", 0);
    if (auto tm = s.obj_opt("Task Metrics")) i.metrics = task_metrics_from(*tm);
    i.accumulables = accumulables_from(s);
    return i;
}

struct BlockManagerRef {
    std::string executor_id;
    std::string host;
    int port;
};

BlockManagerRef block_manager_from(const In& in, std::string_view key) {
    In b = in.obj(key);
    return {b.str("Executor ID"), b.str("Host"), b.num<int>("Port")};
}

// -- per event ---------------------------------------------------------------------------------

struct Writer {
    json::object& o;

    void operator()(const SparkListenerJobStart& e) const {
        o.emplace("Event", "SparkListenerJobStart");
        o.emplace("Job ID", e.job_id);
        o.emplace("Submission Time", e.time);
        auto& infos = add_array(o, "Stage Infos");
        infos.reserve(e.stage_infos.size());
        for (const StageInfo& s : e.stage_infos) put_stage_info(push_object(infos), s);
        auto& ids = add_array(o, "Stage IDs");
        for (const StageInfo& s : e.stage_infos) ids.emplace_back(s.stage_id);
        auto& props = add_object(o, "Properties");
        if (!e.job_group.empty()) props.emplace(sv(kJobGroupProperty), sv(e.job_group));
    }
    void operator()(const SparkListenerJobEnd& e) const {
        o.emplace("Event", "SparkListenerJobEnd");
        o.emplace("Job ID", e.job_id);
        o.emplace("Completion Time", e.time);
        auto& r = add_object(o, "Job Result");
        if (e.succeeded) {
            r.emplace("Result", "JobSucceeded");
        } else {
            r.emplace("Result", "JobFailed");
            auto& ex = add_object(r, "Exception");
            put(ex, "Message", e.failure);
            add_array(ex, "Stack Trace");
        }
    }
    void operator()(const SparkListenerStageSubmitted& e) const {
        o.emplace("Event", "SparkListenerStageSubmitted");
        put_stage_info(add_object(o, "Stage Info"), e.stage_info);
        add_object(o, "Properties");
    }
    void operator()(const SparkListenerStageCompleted& e) const {
        o.emplace("Event", "SparkListenerStageCompleted");
        put_stage_info(add_object(o, "Stage Info"), e.stage_info);
    }
    void operator()(const SparkListenerTaskStart& e) const {
        o.emplace("Event", "SparkListenerTaskStart");
        o.emplace("Stage ID", e.stage_id);
        o.emplace("Stage Attempt ID", e.stage_attempt_id);
        put_task_info(o, e.task_info);
    }
    void operator()(const SparkListenerTaskGettingResult& e) const {
        o.emplace("Event", "SparkListenerTaskGettingResult");
        put_task_info(o, e.task_info);
    }
    void operator()(const SparkListenerTaskEnd& e) const {
        o.emplace("Event", "SparkListenerTaskEnd");
        o.emplace("Stage ID", e.stage_id);
        o.emplace("Stage Attempt ID", e.stage_attempt_id);
        put(o, "Task Type", e.task_type);
        o.emplace("Task End Reason", task_end_reason_to_json(e.reason, o.storage()));
        put_task_info(o, e.task_info);
        add_object(o, "Task Executor Metrics");
        put_task_metrics(o, e.task_metrics);
    }
    void operator()(const SparkListenerExecutorAdded& e) const {
        o.emplace("Event", "SparkListenerExecutorAdded");
        o.emplace("Timestamp", e.time);
        put(o, "Executor ID", e.executor_id);
        auto& info = add_object(o, "Executor Info");
        put(info, "Host", e.host);
        info.emplace("Total Cores", e.total_cores);
        add_object(info, "Log Urls");
        add_object(info, "Attributes");
        add_object(info, "Resources");
        info.emplace("Resource Profile Id", 0);
    }
    void operator()(const SparkListenerExecutorRemoved& e) const {
        o.emplace("Event", "SparkListenerExecutorRemoved");
        o.emplace("Timestamp", e.time);
        put(o, "Executor ID", e.executor_id);
        put(o, "Removed Reason", e.reason);
    }
    void operator()(const SparkListenerApplicationStart& e) const {
        o.emplace("Event", "SparkListenerApplicationStart");
        put(o, "App Name", e.app_name);
        put(o, "App ID", e.app_id);
        o.emplace("Timestamp", e.time);
        put(o, "User", e.spark_user);
    }
    void operator()(const SparkListenerApplicationEnd& e) const {
        o.emplace("Event", "SparkListenerApplicationEnd");
        o.emplace("Timestamp", e.time);
    }
    void operator()(const SparkListenerSpeculativeTaskSubmitted& e) const {
        o.emplace("Event", sv(kSpeculativeClass));
        o.emplace("stageId", e.stage_id);
        o.emplace("stageAttemptId", e.stage_attempt_id);
        o.emplace("taskIndex", e.task_index);
        o.emplace("partitionId", e.partition_id);
    }
    void operator()(const SparkListenerEnvironmentUpdate& e) const {
        o.emplace("Event", "SparkListenerEnvironmentUpdate");
        put_strings(o, "JVM Information", e.runtime_information);
        put_strings(o, "Spark Properties", e.spark_properties);
        add_object(o, "Hadoop Properties");
        put_strings(o, "System Properties", e.system_properties);
        put_strings(o, "Classpath Entries", e.classpath_entries);
    }
    void operator()(const SparkListenerBlockManagerAdded& e) const {
        o.emplace("Event", "SparkListenerBlockManagerAdded");
        put_block_manager_id(o, "Block Manager ID", e.executor_id, e.host, e.port);
        o.emplace("Maximum Memory", e.max_memory);
        o.emplace("Timestamp", e.time);
        o.emplace("Maximum Onheap Memory", e.max_memory);
        o.emplace("Maximum Offheap Memory", 0);
    }
    void operator()(const SparkListenerBlockManagerRemoved& e) const {
        o.emplace("Event", "SparkListenerBlockManagerRemoved");
        put_block_manager_id(o, "Block Manager ID", e.executor_id, e.host, e.port);
        o.emplace("Timestamp", e.time);
    }
    void operator()(const SparkListenerUnpersistRDD& e) const {
        o.emplace("Event", "SparkListenerUnpersistRDD");
        o.emplace("RDD ID", e.rdd_id);
    }
    void operator()(const SparkListenerBlockUpdated& e) const {
        o.emplace("Event", "SparkListenerBlockUpdated");
        auto& info = add_object(o, "Block Updated Info");
        put_block_manager_id(info, "Block Manager ID", e.executor_id, e.host, e.port);
        put(info, "Block ID", e.block_id);
        put_storage_level(info, storage::StorageLevel{e.use_disk, e.use_memory, false, e.deserialized, e.replication});
        info.emplace("Memory Size", e.memory_size);
        info.emplace("Disk Size", e.disk_size);
    }
    void operator()(const SparkListenerExecutorMetricsUpdate& e) const {
        o.emplace("Event", "SparkListenerExecutorMetricsUpdate");
        put(o, "Executor ID", e.executor_id);
        add_array(o, "Metrics Updated");
        auto& updates = add_array(o, "Executor Metrics Updated");
        auto& u = push_object(updates);
        // Executor-level peaks: Spark keys them (stage -1, attempt -1).
        u.emplace("Stage ID", -1);
        u.emplace("Stage Attempt ID", -1);
        auto& m = add_object(u, "Executor Metrics");
        m.emplace("ProcessTreeJVMRSSMemory", e.metrics.process_rss_bytes);
        m.emplace("ProcessTreeJVMVMemory", e.metrics.process_vmem_bytes);
        m.emplace("OnHeapStorageMemory", e.metrics.storage_memory_bytes);
        m.emplace("OnHeapExecutionMemory", e.metrics.execution_memory_bytes);
        m.emplace("ProcessCpuTime", e.metrics.cpu_time_ns);
        o.emplace("Timestamp", e.time);
    }
    void event_class(std::string_view simple) const {
        std::string name(kSchedulerPackage);
        name += simple;
        o.emplace("Event", sv(name));
    }
    void operator()(const SparkListenerExecutorExcluded& e) const {
        event_class("SparkListenerExecutorExcluded");
        o.emplace("time", e.time);
        put(o, "executorId", e.executor_id);
        o.emplace("taskFailures", e.task_failures);
    }
    void operator()(const SparkListenerExecutorUnexcluded& e) const {
        event_class("SparkListenerExecutorUnexcluded");
        o.emplace("time", e.time);
        put(o, "executorId", e.executor_id);
    }
    void operator()(const SparkListenerNodeExcluded& e) const {
        event_class("SparkListenerNodeExcluded");
        o.emplace("time", e.time);
        put(o, "hostId", e.host_id);
        o.emplace("executorFailures", e.executor_failures);
    }
    void operator()(const SparkListenerNodeUnexcluded& e) const {
        event_class("SparkListenerNodeUnexcluded");
        o.emplace("time", e.time);
        put(o, "hostId", e.host_id);
    }
    void operator()(const SparkListenerExecutorExcludedForStage& e) const {
        event_class("SparkListenerExecutorExcludedForStage");
        o.emplace("time", e.time);
        put(o, "executorId", e.executor_id);
        o.emplace("taskFailures", e.task_failures);
        o.emplace("stageId", e.stage_id);
        o.emplace("stageAttemptId", e.stage_attempt_id);
    }
    void operator()(const SparkListenerNodeExcludedForStage& e) const {
        event_class("SparkListenerNodeExcludedForStage");
        o.emplace("time", e.time);
        put(o, "hostId", e.host_id);
        o.emplace("executorFailures", e.executor_failures);
        o.emplace("stageId", e.stage_id);
        o.emplace("stageAttemptId", e.stage_attempt_id);
    }
};

/// The reason string of a "Task End Reason" object.
std::string reason_from(const In& in) {
    std::string kind = in.str("Reason");
    if (kind == "Success") return kind;
    if (kind == "Resubmitted") return to_error_string(Resubmitted{});
    if (kind == "TaskResultLost") return to_error_string(TaskResultLost{});
    if (kind == "TaskKilled") return to_error_string(TaskKilled{in.str_or("Kill Reason", "unknown reason")});
    if (kind == "ExecutorLostFailure") {
        return to_error_string(ExecutorLostFailure{in.str_or("Executor ID", "Unknown"),
                                                   in.flag_or("Exit Caused By App", true),
                                                   in.str_or("Loss Reason", "")});
    }
    if (kind == "FetchFailed") {
        FetchFailed f;
        if (in.find("Block Manager Address")) {
            In b = in.obj("Block Manager Address");
            f.address.executor_id = b.str("Executor ID");
            f.address.host = b.str("Host");
            f.address.port = b.num<std::uint16_t>("Port");
        }
        f.shuffle_id = in.num<int>("Shuffle ID");
        f.map_id = in.num_or<std::int64_t>("Map ID", -1);
        f.map_index = in.num_or<int>("Map Index", -1);
        f.reduce_id = in.num<int>("Reduce ID");
        f.message = in.str_or("Message", "");
        return to_error_string(f);
    }
    if (kind == "ExceptionFailure") {
        if (const json::value* full = in.find("Full Stack Trace"); full && full->is_string()) {
            return std::string(full->get_string());
        }
        // Spark's exceptionString: the class, the description, then "at ..." per frame.
        std::string s = in.str_or("Class Name", "") + ": " + in.str_or("Description", "");
        if (in.find("Stack Trace")) {
            const json::array& frames = in.arr("Stack Trace");
            for (std::size_t k = 0; k < frames.size(); ++k) {
                In f = in.element("Stack Trace", frames[k], k);
                s += fmt::format("\n\tat {}.{}({}:{})", f.str_or("Declaring Class", ""), f.str_or("Method Name", ""),
                                 f.str_or("File Name", ""), f.num_or<int>("Line Number", -1));
            }
        }
        return s;
    }
    if (kind == "TaskCommitDenied") {
        return fmt::format("TaskCommitDenied (Driver denied task commit) for job: {}, partition: {}, attemptNumber: {}",
                           in.num_or<int>("Job ID", -1), in.num_or<int>("Partition ID", -1),
                           in.num_or<int>("Attempt Number", -1));
    }
    return "UnknownReason";
}

using Reader = SparkListenerEvent (*)(const In&);

const std::unordered_map<std::string_view, Reader>& readers() {
    static const std::unordered_map<std::string_view, Reader> table = {
        {"SparkListenerJobStart",
         [](const In& in) -> SparkListenerEvent {
             SparkListenerJobStart e;
             e.job_id = in.num<int>("Job ID");
             e.time = in.num<std::int64_t>("Submission Time");
             if (in.find("Stage Infos")) {
                 const json::array& infos = in.arr("Stage Infos");
                 for (std::size_t k = 0; k < infos.size(); ++k) {
                     e.stage_infos.push_back(stage_info_from(in.element("Stage Infos", infos[k], k)));
                 }
             } else {
                 for (int id : in.ints<int>("Stage IDs")) {
                     StageInfo s;
                     s.stage_id = id;
                     s.name = "unknown";
                     e.stage_infos.push_back(std::move(s));
                 }
             }
             if (auto props = in.obj_opt("Properties")) {
                 e.job_group = props->str_or(kJobGroupProperty, "");
             }
             return e;
         }},
        {"SparkListenerJobEnd",
         [](const In& in) -> SparkListenerEvent {
             SparkListenerJobEnd e;
             e.job_id = in.num<int>("Job ID");
             e.time = in.num_or<std::int64_t>("Completion Time", -1);
             In r = in.obj("Job Result");
             std::string result = r.str("Result");
             e.succeeded = result == "JobSucceeded";
             if (!e.succeeded) {
                 if (result != "JobFailed") r.fail("Result", fmt::format("is not a job result: \"{}\"", result));
                 if (auto ex = r.obj_opt("Exception")) e.failure = ex->str_or("Message", "");
             }
             return e;
         }},
        {"SparkListenerStageSubmitted",
         [](const In& in) -> SparkListenerEvent { return SparkListenerStageSubmitted{stage_info_from(in.obj("Stage Info"))}; }},
        {"SparkListenerStageCompleted",
         [](const In& in) -> SparkListenerEvent { return SparkListenerStageCompleted{stage_info_from(in.obj("Stage Info"))}; }},
        {"SparkListenerTaskStart",
         [](const In& in) -> SparkListenerEvent {
             return SparkListenerTaskStart{in.num<int>("Stage ID"), in.num_or<int>("Stage Attempt ID", 0),
                                           task_info_from(in)};
         }},
        {"SparkListenerTaskGettingResult",
         [](const In& in) -> SparkListenerEvent { return SparkListenerTaskGettingResult{task_info_from(in)}; }},
        {"SparkListenerTaskEnd",
         [](const In& in) -> SparkListenerEvent {
             SparkListenerTaskEnd e;
             e.stage_id = in.num<int>("Stage ID");
             e.stage_attempt_id = in.num_or<int>("Stage Attempt ID", 0);
             e.task_type = in.str("Task Type");
             e.reason = reason_from(in.obj("Task End Reason"));
             e.task_info = task_info_from(in);
             if (auto tm = in.obj_opt("Task Metrics")) e.task_metrics = task_metrics_from(*tm);
             return e;
         }},
        {"SparkListenerExecutorAdded",
         [](const In& in) -> SparkListenerEvent {
             In info = in.obj("Executor Info");
             return SparkListenerExecutorAdded{in.num<std::int64_t>("Timestamp"), in.str("Executor ID"),
                                               info.str("Host"), info.num<int>("Total Cores")};
         }},
        {"SparkListenerExecutorRemoved",
         [](const In& in) -> SparkListenerEvent {
             return SparkListenerExecutorRemoved{in.num<std::int64_t>("Timestamp"), in.str("Executor ID"),
                                                 in.str("Removed Reason")};
         }},
        {"SparkListenerApplicationStart",
         [](const In& in) -> SparkListenerEvent {
             return SparkListenerApplicationStart{in.str("App Name"), in.str_or("App ID", ""),
                                                  in.num<std::int64_t>("Timestamp"), in.str("User")};
         }},
        {"SparkListenerApplicationEnd",
         [](const In& in) -> SparkListenerEvent {
             return SparkListenerApplicationEnd{in.num<std::int64_t>("Timestamp")};
         }},
        {"SparkListenerSpeculativeTaskSubmitted",
         [](const In& in) -> SparkListenerEvent {
             return SparkListenerSpeculativeTaskSubmitted{in.num<int>("stageId"), in.num_or<int>("stageAttemptId", 0),
                                                          in.num_or<int>("taskIndex", -1),
                                                          in.num_or<int>("partitionId", -1)};
         }},
        {"SparkListenerEnvironmentUpdate",
         [](const In& in) -> SparkListenerEvent {
             return SparkListenerEnvironmentUpdate{in.strings("JVM Information"), in.strings("Spark Properties"),
                                                   in.strings("System Properties"),
                                                   in.strings("Classpath Entries")};
         }},
        {"SparkListenerBlockManagerAdded",
         [](const In& in) -> SparkListenerEvent {
             BlockManagerRef b = block_manager_from(in, "Block Manager ID");
             return SparkListenerBlockManagerAdded{in.num_or<std::int64_t>("Timestamp", -1), b.executor_id, b.host,
                                                   b.port, in.num<std::uint64_t>("Maximum Memory")};
         }},
        {"SparkListenerBlockManagerRemoved",
         [](const In& in) -> SparkListenerEvent {
             BlockManagerRef b = block_manager_from(in, "Block Manager ID");
             return SparkListenerBlockManagerRemoved{in.num_or<std::int64_t>("Timestamp", -1), b.executor_id, b.host,
                                                     b.port};
         }},
        {"SparkListenerExecutorExcluded",
         [](const In& in) -> SparkListenerEvent {
             return SparkListenerExecutorExcluded{in.num<std::int64_t>("time"), in.str("executorId"),
                                                  in.num_or<int>("taskFailures", 0)};
         }},
        {"SparkListenerExecutorUnexcluded",
         [](const In& in) -> SparkListenerEvent {
             return SparkListenerExecutorUnexcluded{in.num<std::int64_t>("time"), in.str("executorId")};
         }},
        {"SparkListenerNodeExcluded",
         [](const In& in) -> SparkListenerEvent {
             return SparkListenerNodeExcluded{in.num<std::int64_t>("time"), in.str("hostId"),
                                              in.num_or<int>("executorFailures", 0)};
         }},
        {"SparkListenerNodeUnexcluded",
         [](const In& in) -> SparkListenerEvent {
             return SparkListenerNodeUnexcluded{in.num<std::int64_t>("time"), in.str("hostId")};
         }},
        {"SparkListenerExecutorExcludedForStage",
         [](const In& in) -> SparkListenerEvent {
             return SparkListenerExecutorExcludedForStage{in.num<std::int64_t>("time"), in.str("executorId"),
                                                          in.num_or<int>("taskFailures", 0), in.num<int>("stageId"),
                                                          in.num_or<int>("stageAttemptId", 0)};
         }},
        {"SparkListenerNodeExcludedForStage",
         [](const In& in) -> SparkListenerEvent {
             return SparkListenerNodeExcludedForStage{in.num<std::int64_t>("time"), in.str("hostId"),
                                                      in.num_or<int>("executorFailures", 0), in.num<int>("stageId"),
                                                      in.num_or<int>("stageAttemptId", 0)};
         }},
        {"SparkListenerUnpersistRDD",
         [](const In& in) -> SparkListenerEvent { return SparkListenerUnpersistRDD{in.num<int>("RDD ID")}; }},
        {"SparkListenerBlockUpdated",
         [](const In& in) -> SparkListenerEvent {
             In info = in.obj("Block Updated Info");
             BlockManagerRef b = block_manager_from(info, "Block Manager ID");
             storage::StorageLevel l = storage_level_from(info);
             SparkListenerBlockUpdated e;
             e.executor_id = b.executor_id;
             e.host = b.host;
             e.port = b.port;
             e.block_id = info.str("Block ID");
             e.use_disk = l.use_disk;
             e.use_memory = l.use_memory || l.use_off_heap;
             e.deserialized = l.deserialized;
             e.replication = l.replication;
             e.memory_size = info.num<std::uint64_t>("Memory Size");
             e.disk_size = info.num<std::uint64_t>("Disk Size");
             return e;
         }},
        {"SparkListenerExecutorMetricsUpdate",
         [](const In& in) -> SparkListenerEvent {
             SparkListenerExecutorMetricsUpdate e;
             e.executor_id = in.str("Executor ID");
             e.time = in.num_or<std::int64_t>("Timestamp", 0);
             e.metrics = {};
             if (in.find("Executor Metrics Updated")) {
                 const json::array& updates = in.arr("Executor Metrics Updated");
                 // The executor-level entry (stage -1) if there is one, else the first.
                 std::size_t chosen = 0;
                 for (std::size_t k = 0; k < updates.size(); ++k) {
                     if (in.element("Executor Metrics Updated", updates[k], k).num_or<int>("Stage ID", 0) == -1) {
                         chosen = k;
                         break;
                     }
                 }
                 if (chosen < updates.size()) {
                     In m = in.element("Executor Metrics Updated", updates[chosen], chosen).obj("Executor Metrics");
                     e.metrics.process_rss_bytes = m.num_or<std::int64_t>("ProcessTreeJVMRSSMemory", 0);
                     e.metrics.process_vmem_bytes = m.num_or<std::int64_t>("ProcessTreeJVMVMemory", 0);
                     e.metrics.storage_memory_bytes = m.num_or<std::int64_t>("OnHeapStorageMemory", 0);
                     e.metrics.execution_memory_bytes = m.num_or<std::int64_t>("OnHeapExecutionMemory", 0);
                     e.metrics.cpu_time_ns = m.num_or<std::int64_t>("ProcessCpuTime", 0);
                 }
             }
             return e;
         }},
    };
    return table;
}

}  // namespace

boost::json::object to_json(const SparkListenerEvent& event, boost::json::storage_ptr sp) {
    json::object o(std::move(sp));
    o.reserve(8);
    std::visit(Writer{o}, event);
    return o;
}

template <class Event>
    requires is_listener_event<Event>
boost::json::object to_json(const Event& event, boost::json::storage_ptr sp) {
    json::object o(std::move(sp));
    o.reserve(8);
    Writer{o}(event);
    return o;
}

#define EMBER_TO_JSON(Event) template boost::json::object to_json<Event>(const Event&, boost::json::storage_ptr);
EMBER_TO_JSON(SparkListenerJobStart)
EMBER_TO_JSON(SparkListenerJobEnd)
EMBER_TO_JSON(SparkListenerStageSubmitted)
EMBER_TO_JSON(SparkListenerStageCompleted)
EMBER_TO_JSON(SparkListenerTaskStart)
EMBER_TO_JSON(SparkListenerTaskGettingResult)
EMBER_TO_JSON(SparkListenerTaskEnd)
EMBER_TO_JSON(SparkListenerExecutorAdded)
EMBER_TO_JSON(SparkListenerExecutorRemoved)
EMBER_TO_JSON(SparkListenerApplicationStart)
EMBER_TO_JSON(SparkListenerApplicationEnd)
EMBER_TO_JSON(SparkListenerSpeculativeTaskSubmitted)
EMBER_TO_JSON(SparkListenerEnvironmentUpdate)
EMBER_TO_JSON(SparkListenerBlockManagerAdded)
EMBER_TO_JSON(SparkListenerBlockManagerRemoved)
EMBER_TO_JSON(SparkListenerUnpersistRDD)
EMBER_TO_JSON(SparkListenerBlockUpdated)
EMBER_TO_JSON(SparkListenerExecutorMetricsUpdate)
EMBER_TO_JSON(SparkListenerExecutorExcluded)
EMBER_TO_JSON(SparkListenerExecutorUnexcluded)
EMBER_TO_JSON(SparkListenerNodeExcluded)
EMBER_TO_JSON(SparkListenerNodeUnexcluded)
EMBER_TO_JSON(SparkListenerExecutorExcludedForStage)
EMBER_TO_JSON(SparkListenerNodeExcludedForStage)
#undef EMBER_TO_JSON
static_assert(std::variant_size_v<SparkListenerEvent> == 24, "a new listener event needs its EMBER_TO_JSON line");

// -- TaskEventJson -------------------------------------------------------------------------------

namespace {

/// Where the values of a "Task Info" object sit in a tree built by put_task_info.
struct TaskInfoSlots {
    json::value *task_id, *index, *attempt, *partition_id, *launch_time, *executor_id, *host, *locality,
        *speculative, *getting_result_time, *finish_time, *failed, *killed;

    explicit TaskInfoSlots(json::object& ti)
        : task_id(&ti.at("Task ID")), index(&ti.at("Index")), attempt(&ti.at("Attempt")),
          partition_id(&ti.at("Partition ID")), launch_time(&ti.at("Launch Time")),
          executor_id(&ti.at("Executor ID")), host(&ti.at("Host")), locality(&ti.at("Locality")),
          speculative(&ti.at("Speculative")), getting_result_time(&ti.at("Getting Result Time")),
          finish_time(&ti.at("Finish Time")), failed(&ti.at("Failed")), killed(&ti.at("Killed")) {}

    void fill(const TaskInfo& t) const {
        *task_id = t.task_id;
        *index = t.index;
        *attempt = t.attempt;
        *partition_id = t.partition_id;
        *launch_time = t.launch_time;
        executor_id->as_string().assign(sv(t.executor_id));
        host->as_string().assign(sv(t.host));
        locality->as_string().assign(to_string(t.locality));
        *speculative = t.speculative;
        *getting_result_time = t.getting_result_time;
        *finish_time = t.finish_time;
        *failed = t.failed;
        *killed = t.killed;
    }
};

/// Where the values of a "Task Metrics" object sit in a tree built by put_task_metrics.
struct TaskMetricsSlots {
    json::value *deserialize_ms, *run_ms, *result_size, *memory_spilled, *disk_spilled;
    json::value *remote_blocks, *local_blocks, *fetch_wait_ms, *remote_bytes, *remote_to_disk, *local_bytes,
        *records_read, *fetch_wait_ns, *remote_reqs_ms, *remote_reqs_ns, *peak_bytes_in_flight, *peak_reqs_in_flight,
        *peak_blocks_in_flight;
    json::value *bytes_written, *write_time, *records_written;
    json::value *input_bytes, *input_records, *output_bytes, *output_records;
    json::value *deserialize_ns, *run_ns;
    json::value *deserialize_cpu, *cpu, *peak_memory, *serialization_ms, *serialization_ns;

    explicit TaskMetricsSlots(json::object& tm) {
        deserialize_ms = &tm.at("Executor Deserialize Time");
        run_ms = &tm.at("Executor Run Time");
        result_size = &tm.at("Result Size");
        memory_spilled = &tm.at("Memory Bytes Spilled");
        disk_spilled = &tm.at("Disk Bytes Spilled");
        json::object& sr = tm.at("Shuffle Read Metrics").as_object();
        remote_blocks = &sr.at("Remote Blocks Fetched");
        local_blocks = &sr.at("Local Blocks Fetched");
        fetch_wait_ms = &sr.at("Fetch Wait Time");
        remote_bytes = &sr.at("Remote Bytes Read");
        remote_to_disk = &sr.at("Remote Bytes Read To Disk");
        local_bytes = &sr.at("Local Bytes Read");
        records_read = &sr.at("Total Records Read");
        fetch_wait_ns = &sr.at("Fetch Wait Time (ns)");
        remote_reqs_ms = &sr.at("Remote Requests Duration");
        remote_reqs_ns = &sr.at("Remote Requests Duration (ns)");
        peak_bytes_in_flight = &sr.at("Peak Bytes In Flight");
        peak_reqs_in_flight = &sr.at("Peak Requests In Flight");
        peak_blocks_in_flight = &sr.at("Peak Blocks In Flight");
        json::object& sw = tm.at("Shuffle Write Metrics").as_object();
        bytes_written = &sw.at("Shuffle Bytes Written");
        write_time = &sw.at("Shuffle Write Time");
        records_written = &sw.at("Shuffle Records Written");
        json::object& in = tm.at("Input Metrics").as_object();
        input_bytes = &in.at("Bytes Read");
        input_records = &in.at("Records Read");
        json::object& out = tm.at("Output Metrics").as_object();
        output_bytes = &out.at("Bytes Written");
        output_records = &out.at("Records Written");
        deserialize_ns = &tm.at("Executor Deserialize Time (ns)");
        run_ns = &tm.at("Executor Run Time (ns)");
        deserialize_cpu = &tm.at("Executor Deserialize CPU Time");
        cpu = &tm.at("Executor CPU Time");
        peak_memory = &tm.at("Peak Execution Memory");
        serialization_ms = &tm.at("Result Serialization Time");
        serialization_ns = &tm.at("Result Serialization Time (ns)");
    }

    void fill(const TaskMetrics& m) const {
        *deserialize_ms = m.executor_deserialize_time_ns / kNsPerMs;
        *run_ms = m.executor_run_time_ns / kNsPerMs;
        *result_size = m.result_size;
        *memory_spilled = m.memory_bytes_spilled;
        *disk_spilled = m.disk_bytes_spilled;
        *remote_blocks = m.shuffle_read.remote_blocks_fetched;
        *local_blocks = m.shuffle_read.local_blocks_fetched;
        *fetch_wait_ms = m.shuffle_read.fetch_wait_time_ns / kNsPerMs;
        *remote_bytes = m.shuffle_read.remote_bytes_read;
        *remote_to_disk = m.shuffle_read.remote_bytes_read_to_disk;
        *local_bytes = m.shuffle_read.local_bytes_read;
        *records_read = m.shuffle_read.records_read;
        *fetch_wait_ns = m.shuffle_read.fetch_wait_time_ns;
        *remote_reqs_ms = m.shuffle_read.remote_reqs_duration_ns / kNsPerMs;
        *remote_reqs_ns = m.shuffle_read.remote_reqs_duration_ns;
        *peak_bytes_in_flight = m.shuffle_read.peak_bytes_in_flight;
        *peak_reqs_in_flight = m.shuffle_read.peak_reqs_in_flight;
        *peak_blocks_in_flight = m.shuffle_read.peak_blocks_in_flight;
        *bytes_written = m.shuffle_write.bytes_written;
        *write_time = m.shuffle_write.write_time_ns;
        *records_written = m.shuffle_write.records_written;
        *input_bytes = m.input_bytes_read;
        *input_records = m.input_records_read;
        *output_bytes = m.output_bytes_written;
        *output_records = m.output_records_written;
        *deserialize_ns = m.executor_deserialize_time_ns;
        *run_ns = m.executor_run_time_ns;
        *deserialize_cpu = m.executor_deserialize_cpu_time_ns;
        *cpu = m.executor_cpu_time_ns;
        *peak_memory = m.peak_execution_memory;
        *serialization_ms = m.result_serialization_time_ns / kNsPerMs;
        *serialization_ns = m.result_serialization_time_ns;
    }
};

struct TaskStartTree {
    json::object tree;
    json::value *stage_id, *stage_attempt;
    TaskInfoSlots task_info;

    explicit TaskStartTree(const SparkListenerTaskStart& e)
        : tree(to_json(e)), stage_id(&tree.at("Stage ID")), stage_attempt(&tree.at("Stage Attempt ID")),
          task_info(tree.at("Task Info").as_object()) {}

    const json::object& fill(const SparkListenerTaskStart& e) {
        *stage_id = e.stage_id;
        *stage_attempt = e.stage_attempt_id;
        task_info.fill(e.task_info);
        return tree;
    }
};

struct TaskEndTree {
    json::object tree;
    json::value *stage_id, *stage_attempt, *task_type, *reason;
    TaskInfoSlots task_info;
    TaskMetricsSlots metrics;
    std::string last_reason;  // the reason string `reason` holds

    explicit TaskEndTree(const SparkListenerTaskEnd& e)
        : tree(to_json(e)), stage_id(&tree.at("Stage ID")), stage_attempt(&tree.at("Stage Attempt ID")),
          task_type(&tree.at("Task Type")), reason(&tree.at("Task End Reason")),
          task_info(tree.at("Task Info").as_object()), metrics(tree.at("Task Metrics").as_object()),
          last_reason(e.reason) {}

    const json::object& fill(const SparkListenerTaskEnd& e) {
        *stage_id = e.stage_id;
        *stage_attempt = e.stage_attempt_id;
        task_type->as_string().assign(sv(e.task_type));
        // Most tasks succeed: the reason object is rebuilt only when the reason changes.
        if (e.reason != last_reason) {
            reason->as_object() = task_end_reason_to_json(e.reason, tree.storage());
            last_reason = e.reason;
        }
        task_info.fill(e.task_info);
        metrics.fill(e.task_metrics);
        return tree;
    }
};

}  // namespace

struct TaskEventJson::Impl {
    std::optional<TaskStartTree> start;
    std::optional<TaskEndTree> end;
};

TaskEventJson::TaskEventJson() : impl_(std::make_unique<Impl>()) {}
TaskEventJson::~TaskEventJson() = default;

const boost::json::object& TaskEventJson::operator()(const SparkListenerTaskStart& e) {
    if (!impl_->start) return impl_->start.emplace(e).tree;
    return impl_->start->fill(e);
}

const boost::json::object& TaskEventJson::operator()(const SparkListenerTaskEnd& e) {
    if (!impl_->end) return impl_->end.emplace(e).tree;
    return impl_->end->fill(e);
}

boost::json::object log_start_json(std::string_view version, boost::json::storage_ptr sp) {
    json::object o(std::move(sp));
    o.emplace("Event", "SparkListenerLogStart");
    o.emplace("Spark Version", sv(version));
    return o;
}

std::optional<SparkListenerEvent> event_from_json(const boost::json::object& j) {
    auto it = j.find("Event");
    if (it == j.end()) throw std::runtime_error("field \"Event\" is missing");
    if (!it->value().is_string()) throw std::runtime_error("field \"Event\" is not a string");
    std::string_view name(it->value().get_string().data(), it->value().get_string().size());
    if (name == kSpeculativeClass) name = "SparkListenerSpeculativeTaskSubmitted";
    if (name.starts_with(kSchedulerPackage)) name.remove_prefix(kSchedulerPackage.size());
    const auto& table = readers();
    auto r = table.find(name);
    if (r == table.end()) return std::nullopt;
    return r->second(In(j, r->first));
}

boost::json::object task_end_reason_to_json(const std::string& reason, boost::json::storage_ptr sp) {
    json::object o(std::move(sp));
    if (reason == "Success" || reason == "UnknownReason") {
        o.emplace("Reason", sv(reason));
        return o;
    }
    std::optional<TaskEndReason> parsed = parse_reason(reason);
    if (!parsed) {
        // Any other text is an exception's: "<class>: <description>[\n<stack trace>]".
        std::string_view s = reason;
        std::string_view first = s.substr(0, s.find('\n'));
        std::size_t colon = first.find(": ");
        std::string_view cls;
        std::string_view desc = first;
        if (colon != std::string_view::npos && first.substr(0, colon).find(' ') == std::string_view::npos) {
            cls = first.substr(0, colon);
            desc = first.substr(colon + 2);
        }
        o.emplace("Reason", "ExceptionFailure");
        o.emplace("Class Name", sv(cls));
        o.emplace("Description", sv(desc));
        add_array(o, "Stack Trace");
        put(o, "Full Stack Trace", reason);
        add_array(o, "Accumulator Updates");
        return o;
    }
    struct V {
        json::object& o;
        void operator()(const Success&) const { o.emplace("Reason", "Success"); }
        void operator()(const Resubmitted&) const { o.emplace("Reason", "Resubmitted"); }
        void operator()(const TaskResultLost&) const { o.emplace("Reason", "TaskResultLost"); }
        void operator()(const TaskKilled& k) const {
            o.emplace("Reason", "TaskKilled");
            put(o, "Kill Reason", k.reason);
            add_array(o, "Accumulator Updates");
        }
        void operator()(const ExecutorLostFailure& e) const {
            o.emplace("Reason", "ExecutorLostFailure");
            put(o, "Executor ID", e.executor_id);
            o.emplace("Exit Caused By App", e.exit_caused_by_app);
            put(o, "Loss Reason", e.reason);
        }
        void operator()(const FetchFailed& f) const {
            o.emplace("Reason", "FetchFailed");
            if (f.address.executor_id.empty()) {
                o.emplace("Block Manager Address", nullptr);
            } else {
                put_block_manager_id(o, "Block Manager Address", f.address.executor_id, f.address.host,
                                     f.address.port);
            }
            o.emplace("Shuffle ID", f.shuffle_id);
            o.emplace("Map ID", f.map_id);
            o.emplace("Map Index", f.map_index);
            o.emplace("Reduce ID", f.reduce_id);
            put(o, "Message", f.message);
        }
        void operator()(const ExceptionFailure&) const {}  // never parsed: handled above
    };
    std::visit(V{o}, *parsed);
    return o;
}

std::string task_end_reason_from_json(const boost::json::object& j) {
    return reason_from(In(j, "Task End Reason"));
}

}  // namespace ember::scheduler
