// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// TaskResultGetter: turns finished tasks' results into successes on the driver, fetching
/// indirect ones from executors without blocking the scheduler loop (Spark's TaskResultGetter).

#include "scheduler/task_metrics.hpp"
#include "scheduler/task_result.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace ember::storage {
class BlockManager;
}

namespace ember::scheduler {

class TaskSchedulerImpl;

/// For each FINISHED status update (Spark's enqueueSuccessfulTask):
/// 1. the result's size goes through the task set's running total (can_fetch_more_results):
///    over ember.driver.maxResultSize the task set is aborted, an indirect result's block is
///    removed, and the task ends KILLED;
/// 2. a direct result is a success at once;
/// 3. an indirect result posts SparkListenerTaskGettingResult, then its block is fetched with
///    FetchBlocks from the executor's BlockManager (asynchronously: the completion arrives on an
///    I/O thread and is posted back to the scheduler loop), then removed from the executor. A
///    block that cannot be fetched fails the task with TaskResultLost, which is retried.
///
/// Threading: enqueue_successful_task() runs on the scheduler loop; fetch completions are
/// posted back to it with `post`.
class TaskResultGetter {
public:
    /// Runs a closure on the scheduler loop; false once the loop is gone.
    using Post = std::function<bool(std::function<void()>)>;

    TaskResultGetter(TaskSchedulerImpl& scheduler, storage::BlockManager& block_manager, Post post)
        : scheduler_(scheduler), block_manager_(block_manager), post_(std::move(post)) {}

    void enqueue_successful_task(std::int64_t tid, std::string result, std::optional<IndirectTaskResult> indirect,
                                 const TaskMetrics& metrics);

private:
    void fetched(std::int64_t tid, const IndirectTaskResult& indirect, std::optional<std::string> bytes,
                 TaskMetrics metrics, const std::string& error);

    TaskSchedulerImpl& scheduler_;
    storage::BlockManager& block_manager_;
    Post post_;
};

}  // namespace ember::scheduler
