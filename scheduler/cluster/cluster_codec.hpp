// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: conversions between scheduler structs and cluster_messages.capnp.

#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/task_end_reason.hpp"
#include "scheduler/task_metrics.hpp"
#include "scheduler/task_set.hpp"
#include "storage/block_id.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace ember::scheduler {

void to_wire(wire::TaskDescription::Builder b, const TaskDescription& d);
TaskDescription from_wire(wire::TaskDescription::Reader r);

/// One TaskStatus of a StatusUpdate, as the driver reads it.
/// Threading: single-threaded.
struct TaskStatusUpdate {
    std::int64_t task_id = 0;
    TaskState state = TaskState::lost;
    std::string result;                  ///< a finished task's direct result
    std::optional<TaskEndReason> reason;  ///< failed, killed or lost
    TaskMetrics metrics;
    bool indirect = false;               ///< finished with an indirect result...
    std::uint64_t result_size = 0;       ///< ...of this many bytes...
    std::optional<storage::TaskResultBlockId> result_block;  ///< ...in this block (unset: unreadable id)
};

/// Reads one TaskStatus; capnp throws kj::Exception for a malformed message.
TaskStatusUpdate from_wire(wire::TaskStatus::Reader r);

}  // namespace ember::scheduler
