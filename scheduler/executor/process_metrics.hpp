// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Samples of this process's memory and CPU time, for executor heartbeats and the driver (Spark's
/// ProcfsMetricsGetter and the JVM's process CPU time), and a task thread's CPU clock (Spark's
/// ThreadMXBean.getCurrentThreadCpuTime).

#include "scheduler/listener.hpp"

#include <cstdint>

namespace ember::scheduler {

/// This process's resident and virtual memory (one read of /proc/self/statm, parsed in place)
/// and its user + system CPU time (CLOCK_PROCESS_CPUTIME_ID). storage_memory_bytes and
/// execution_memory_bytes are left 0: the caller knows its BlockManager. A field that cannot be
/// read (no /proc) is 0. A few microseconds (open, read and close of one /proc file) and no
/// allocation: it runs at every heartbeat.
/// Threading: thread-safe.
ExecutorMetrics sample_process_metrics() noexcept;

/// CPU time of the calling thread in nanoseconds (CLOCK_THREAD_CPUTIME_ID), 0 if unavailable.
/// Differences of two readings on one thread measure the CPU a task used between them.
/// Threading: thread-safe (reads the caller's own clock).
std::int64_t thread_cpu_time_ns() noexcept;

}  // namespace ember::scheduler
