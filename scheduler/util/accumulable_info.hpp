// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// AccumulableInfo and AccumulatorUpdate: what listeners see of an accumulator, and what a
/// task sends its driver (Spark's AccumulableInfo and the accumUpdates of a task's result).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ember::scheduler {

/// An accumulator as listeners, the event log and the REST API show it (Spark's
/// AccumulableInfo). `update` and `value` are display strings, as Spark writes the values of
/// user accumulators ("42", "1.5", "[a, b]"). In a TaskInfo, `update` is the task's own partial
/// value and `value` the driver's merged value right after merging it; in a StageInfo only
/// `value` is set. Only named accumulators are shown (Spark leaves unnamed ones out of the UI).
/// Threading: immutable.
struct AccumulableInfo {
    std::int64_t id = 0;
    std::optional<std::string> name;
    std::optional<std::string> update;
    std::optional<std::string> value;
    /// Spark's internal accumulators (task metrics, "internal.metrics.*"); ember's are never
    /// internal, but Spark's event logs carry them.
    bool internal = false;
    bool count_failed_values = false;
};

/// One task's partial value of one accumulator, on its way from the executor to the
/// DAGScheduler inside the task's TaskMetrics (Spark's accumUpdates).
/// Threading: immutable.
struct AccumulatorUpdate {
    std::int64_t id = 0;
    std::string type;   ///< type tag of the accumulator's state class; the driver checks it
    std::string value;  ///< the partial state in its Serde encoding
};

}  // namespace ember::scheduler
