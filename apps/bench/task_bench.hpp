// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ember-bench tasks and task-latency: the scheduler's whole path (DAGScheduler, TaskSetManager,
/// LaunchTask to executor processes, StatusUpdate back) against raw TCP measured in the same run.

#include "rpc/conf.hpp"

#include <string>

namespace bench {

struct TaskBenchOptions {
    std::string master = "local-cluster[2,1,1024]";
    int tasks = 100000;   ///< ember-bench tasks: no-op tasks in one job
    int jobs = 2000;      ///< ember-bench task-latency: one-task jobs timed
    int cpu = -1;         ///< pin the driver, its executors and the raw baseline to this CPU
    ember::Conf conf;     ///< SparkContext configuration (e.g. ember.rpc.io.spinTime)
};

/// Line `tasks`: no-op tasks per second over one job of `tasks` tasks (each a partition of an
/// empty parallelize(), whose count() result travels back in the StatusUpdate), against the raw
/// pipelined TCP message rate (64-byte messages, one send() each).
int bench_tasks(const TaskBenchOptions& o);

/// Line `tasks-monitoring`: no-op tasks per second with the web UI, status store and event log
/// on, against the same job with all three off (ember.ui.enabled, ember.eventLog.enabled),
/// alternating `repeats` times in one run; medians.
int bench_monitoring(const TaskBenchOptions& o, int repeats);

/// Line `task-latency` (and `task-latency-p99`): microseconds from submitting a one-task job to
/// its result on the driver, against a raw TCP ping-pong of 64 bytes.
int bench_task_latency(const TaskBenchOptions& o);

}  // namespace bench
