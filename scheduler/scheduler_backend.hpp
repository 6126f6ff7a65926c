// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// SchedulerBackend: how the TaskScheduler reaches executors (Spark's SchedulerBackend).

#include <cstdint>
#include <string>

namespace ember::scheduler {

/// Threading: methods are called on the scheduler loop.
class SchedulerBackend {
public:
    virtual ~SchedulerBackend() = default;
    /// Offers free executor cores to the TaskScheduler and launches what it returns.
    virtual void revive_offers() = 0;
    virtual void kill_task(std::int64_t task_id, const std::string& executor_id, bool interrupt,
                           const std::string& reason) = 0;
    /// The TaskSetManager of stage `stage_id`, attempt `stage_attempt`, was removed (a zombie
    /// with no running task): none of its tasks will be launched again, so executors may drop
    /// its binary, as Spark's ContextCleaner removes a finished stage's task binary broadcast.
    virtual void stage_attempt_finished(int stage_id, int stage_attempt) {
        (void)stage_id;
        (void)stage_attempt;
    }
    /// Default number of partitions: the total cores (Spark's defaultParallelism).
    virtual int default_parallelism() const = 0;
    /// Stops executor `executor_id` for good (Spark's ExecutorAllocationClient.killExecutors with
    /// force, used by excludeOnFailure): its cores are no longer offered, it is told to exit, and
    /// its removal reads "Executor killed by driver." False if this backend cannot kill
    /// executors (local mode) or does not know the executor.
    virtual bool kill_executor(const std::string& executor_id, const std::string& reason) {
        (void)executor_id;
        (void)reason;
        return false;
    }
};

}  // namespace ember::scheduler
