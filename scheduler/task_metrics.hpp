// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// TaskMetrics: what one task measured (Spark's TaskMetrics, internal.metrics.*).

#include "scheduler/cluster/cluster_messages.capnp.h"
#include "shuffle/shuffle_metrics.hpp"

#include <cstdint>

namespace ember::scheduler {

/// Times in nanoseconds, sizes in bytes. Summed per stage for StageInfo.
/// Threading: single-threaded (owned by the running task, then copied).
struct TaskMetrics {
    std::uint64_t executor_deserialize_time_ns = 0;
    std::uint64_t executor_run_time_ns = 0;
    std::uint64_t result_size = 0;
    std::uint64_t input_bytes_read = 0;
    std::uint64_t input_records_read = 0;
    std::uint64_t output_bytes_written = 0;
    std::uint64_t output_records_written = 0;
    shuffle::ShuffleWriteMetrics shuffle_write;
    shuffle::ShuffleReadMetrics shuffle_read;

    /// Adds `o` into this (stage totals).
    void merge(const TaskMetrics& o);
    void to_wire(wire::TaskMetrics::Builder b) const;
    static TaskMetrics from_wire(wire::TaskMetrics::Reader r);
};

}  // namespace ember::scheduler
