// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// TaskState and TaskEndReason: how a task attempt ended (Spark's TaskState and TaskEndReason).
/// Failures are data, never exceptions, in the scheduler.

#include "scheduler/cluster/cluster_messages.capnp.h"
#include "storage/block_manager_id.hpp"

#include <cstdint>
#include <string>
#include <variant>

namespace ember::scheduler {

enum class TaskState { launching, running, finished, failed, killed, lost };

inline bool is_finished(TaskState s) {
    return s == TaskState::finished || s == TaskState::failed || s == TaskState::killed || s == TaskState::lost;
}

struct Success {};
/// A finished map task whose output was lost with its executor: it must run again.
struct Resubmitted {};
struct FetchFailed {
    storage::BlockManagerId address;  ///< empty executor_id: the output was already missing
    int shuffle_id = 0;
    std::int64_t map_id = -1;
    int map_index = -1;
    int reduce_id = 0;
    std::string message;
};
struct ExceptionFailure {
    std::string class_name;
    std::string description;
    std::string stack_trace;
};
struct TaskKilled {
    std::string reason;
};
/// The result of a finished task was lost before the driver fetched it from the executor's
/// BlockManager (Spark's TaskResultLost): counts as a failure and the task runs again.
struct TaskResultLost {};
struct ExecutorLostFailure {
    std::string executor_id;
    bool exit_caused_by_app = true;
    std::string reason;
};

using TaskEndReason =
    std::variant<Success, Resubmitted, FetchFailed, ExceptionFailure, TaskKilled, ExecutorLostFailure, TaskResultLost>;

/// Spark's TaskEndReason.toErrorString.
std::string to_error_string(const TaskEndReason& r);
/// Whether the failure counts toward ember.task.maxFailures (Spark's countTowardsTaskFailures).
bool counts_towards_task_failures(const TaskEndReason& r);

void to_wire(wire::TaskFailedReason::Builder b, const TaskEndReason& r);
TaskEndReason from_wire(wire::TaskFailedReason::Reader r);
wire::TaskState to_wire(TaskState s);
TaskState from_wire(wire::TaskState s);

}  // namespace ember::scheduler
