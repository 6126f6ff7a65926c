// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Listener events as Spark's event-log JSON and back (Spark's JsonProtocol).
///
/// Field names, nesting and units are Spark's (reference/spark-core.md 6.2): "Event" holds the
/// event class's simple name, times are epoch milliseconds, "Executor Run Time" and
/// "Executor Deserialize Time" are milliseconds, "Shuffle Write Time" nanoseconds, "Fetch Wait
/// Time" milliseconds. A Spark reader ignores keys it does not know, so ember adds a few that
/// make the round trip exact; each is marked *ember* below and is optional when reading (logs
/// written by Spark replay with defaults):
///   - Task Metrics: "Executor Deserialize Time (ns)", "Executor Run Time (ns)" and, in Shuffle
///     Read Metrics, "Fetch Wait Time (ns)": ember measures nanoseconds, Spark's fields hold
///     whole milliseconds (truncated).
///   - Stage Info: "RDD IDs", "Shuffle Map Stage", "Number of Completed Tasks", "Number of Failed
///     Tasks" and "Task Metrics" (the attempt's summed metrics, same shape as a task's).
///   - SparkListenerExecutorMetricsUpdate: "Timestamp".
/// SparkListenerSpeculativeTaskSubmitted has no custom mapping in Spark, which writes it
/// generically (Jackson): "Event" is the full class name
/// "org.apache.spark.scheduler.SparkListenerSpeculativeTaskSubmitted" and the fields are
/// camelCase (stageId, stageAttemptId, taskIndex, partitionId). Reading accepts the simple name
/// too.
///
/// Task end reasons: ember carries a task's reason as its error string (to_error_string in
/// task_end_reason.hpp). to_json recognises the string of each reason and writes Spark's
/// "Task End Reason" object ({"Reason": "Success"}, "FetchFailed", "ExecutorLostFailure",
/// "TaskKilled", "TaskResultLost", "Resubmitted", "UnknownReason", "ExceptionFailure"); a string
/// it cannot take apart exactly becomes an "ExceptionFailure" whose "Full Stack Trace" is the
/// whole string (Spark shows the full stack trace as the error). Reading renders the reason
/// back with to_error_string, so a replayed TaskEnd carries the same reason string.
///
/// Threading: the free functions are stateless and thread-safe; TaskEventJson is
/// single-threaded.

#include "scheduler/listener.hpp"

#include <boost/json/object.hpp>
#include <boost/json/storage_ptr.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace ember::scheduler {

/// The event as Spark's event-log JSON object, allocated from `sp` (pass a monotonic resource
/// to serialize many events without heap traffic).
boost::json::object to_json(const SparkListenerEvent& event, boost::json::storage_ptr sp = {});

/// Whether `Event` is one of SparkListenerEvent's alternatives.
template <class Event, class Variant = SparkListenerEvent>
inline constexpr bool is_listener_event = false;
template <class Event, class... Alternatives>
inline constexpr bool is_listener_event<Event, std::variant<Alternatives...>> =
    (std::is_same_v<Event, Alternatives> || ...);

/// The same for one event, without copying it into a SparkListenerEvent first (the event log
/// calls this for every task event).
template <class Event>
    requires is_listener_event<Event>
boost::json::object to_json(const Event& event, boost::json::storage_ptr sp = {});

/// Builds the JSON of task events (the bulk of a log) by reusing one tree per event type: the
/// first event of a type builds it with to_json(); later ones only assign their values into it
/// (no key allocation, no lookups). The tree a call returns equals to_json(event) and stays
/// valid until the next call.
/// Threading: single-threaded.
class TaskEventJson {
public:
    TaskEventJson();
    ~TaskEventJson();
    TaskEventJson(const TaskEventJson&) = delete;
    TaskEventJson& operator=(const TaskEventJson&) = delete;

    const boost::json::object& operator()(const SparkListenerTaskStart& event);
    const boost::json::object& operator()(const SparkListenerTaskEnd& event);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The event an event-log JSON object describes. Returns nullopt for an "Event" ember does not
/// know (Spark's ReplayListenerBus drops those too), including "SparkListenerLogStart".
/// Throws std::runtime_error naming the event and the field (e.g. `SparkListenerTaskEnd: field
/// "Task Info.Task ID" is missing`) when a known event lacks a field or has one of the wrong type,
/// or when "Event" itself is missing or not a string.
std::optional<SparkListenerEvent> event_from_json(const boost::json::object& json);

/// `{"Event":"SparkListenerLogStart","Spark Version":"<version>"}`: the first line of every log.
boost::json::object log_start_json(std::string_view version, boost::json::storage_ptr sp = {});

/// Spark's "Task End Reason" object for ember's reason string (see the file comment).
boost::json::object task_end_reason_to_json(const std::string& reason, boost::json::storage_ptr sp = {});

/// The reason string a "Task End Reason" object stands for: "Success", or the failure's
/// to_error_string. Throws std::runtime_error naming the field when "Reason" is missing.
std::string task_end_reason_from_json(const boost::json::object& json);

}  // namespace ember::scheduler
