// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// TaskMetrics: what one task measured (Spark's TaskMetrics, internal.metrics.*).

#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/util/accumulable_info.hpp"
#include "shuffle/shuffle_metrics.hpp"

#include <cstdint>
#include <vector>

namespace ember::scheduler {

/// Times in nanoseconds, sizes in bytes. Summed per stage for StageInfo (every field, the peaks
/// included, as Spark's stage totals do).
///
/// The executor measures the times on the task's thread: deserialize is rebuilding the stage
/// from its binary (only the first task of a stage on an executor pays it), run is the rest of
/// the task up to its result bytes, less result serialization; the CPU times are the thread's
/// CPU clock over the same spans, so executor_cpu_time_ns <= executor_run_time_ns.
/// Threading: single-threaded (owned by the running task, then copied).
struct TaskMetrics {
    std::uint64_t executor_deserialize_time_ns = 0;
    std::uint64_t executor_deserialize_cpu_time_ns = 0;
    std::uint64_t executor_run_time_ns = 0;
    std::uint64_t executor_cpu_time_ns = 0;
    /// Encoding the task's result: a ShuffleMapTask's MapStatus (a ResultTask's function encodes
    /// its own output, which counts in the run time).
    std::uint64_t result_serialization_time_ns = 0;
    std::uint64_t result_size = 0;
    /// Spills of shuffle writers, aggregations and sorts (Spark's memoryBytesSpilled: the size
    /// the spilled data had in memory; diskBytesSpilled: its size in the spill files).
    std::uint64_t memory_bytes_spilled = 0;
    std::uint64_t disk_bytes_spilled = 0;
    /// Largest memory the task's spillable buffers (shuffle write buffers, aggregation maps,
    /// sorters, fetched shuffle blocks) held at once, as estimated where they check their budget.
    std::uint64_t peak_execution_memory = 0;
    std::uint64_t input_bytes_read = 0;
    std::uint64_t input_records_read = 0;
    std::uint64_t output_bytes_written = 0;
    std::uint64_t output_records_written = 0;
    shuffle::ShuffleWriteMetrics shuffle_write;
    shuffle::ShuffleReadMetrics shuffle_read;
    /// The task's accumulator updates on their way to the DAGScheduler (in Spark, task metrics
    /// are accumulators and travel with them). Not merged into totals; the DAGScheduler takes
    /// them out before listeners see the metrics (they see TaskInfo::accumulables).
    std::vector<AccumulatorUpdate> accumulator_updates;

    /// Raises peak_execution_memory to `bytes` if higher.
    void observe_execution_memory(std::uint64_t bytes) noexcept {
        if (bytes > peak_execution_memory) peak_execution_memory = bytes;
    }
    /// Adds `o` into this (stage totals).
    void merge(const TaskMetrics& o);
    void to_wire(wire::TaskMetrics::Builder b) const;
    static TaskMetrics from_wire(wire::TaskMetrics::Reader r);
};

}  // namespace ember::scheduler
