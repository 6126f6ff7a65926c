// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// TaskContext: what a running task can see (Spark's TaskContext), and ExecutorServices, the
/// per-process storage and shuffle services it uses.

#include "rpc/conf.hpp"
#include "scheduler/task_metrics.hpp"
#include "scheduler/task_set.hpp"
#include "scheduler/util/accumulator_context.hpp"
#include "shuffle/index_shuffle_block_resolver.hpp"
#include "shuffle/map_output_tracker.hpp"
#include "storage/block_manager.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ember::scheduler {

/// The services of an executor (or of the driver in local mode), owned by the process.
/// Threading: each member is thread-safe.
struct ExecutorServices {
    std::string executor_id;
    const Conf& conf;
    storage::BlockManager& block_manager;
    shuffle::IndexShuffleBlockResolver& shuffle_resolver;
    shuffle::MapOutputTracker& map_output_tracker;
    /// Execution memory of one task in bytes (see task_memory_bytes()). Shuffle writers and
    /// readers spill beyond it.
    std::uint64_t task_memory_bytes = 256u << 20;
};

/// Execution memory of one of `cores` concurrent tasks in a process of `process_memory` bytes:
/// Spark's unified memory (storage::unified_memory_bytes: (memory - 300 MiB) x
/// ember.memory.fraction) divided among the cores, the share Spark's ExecutionMemoryPool
/// guarantees each of N running tasks. E.g. 434 MiB for a task of a 1 GiB, 1-core executor.
inline std::uint64_t task_memory_bytes(const Conf& conf, std::uint64_t process_memory, int cores) {
    return storage::unified_memory_bytes(conf, process_memory) / static_cast<std::uint64_t>(std::max(cores, 1));
}

/// The freed huge-page mappings a process that runs tasks keeps for its next tasks' tables and
/// arenas (set_huge_page_cache_limit), in bytes: half its unified memory, e.g. 217 MiB for a
/// 1 GiB executor.
inline std::uint64_t huge_page_cache_limit_for_tasks(const Conf& conf, std::uint64_t process_memory) {
    return storage::unified_memory_bytes(conf, process_memory) / 2;
}

/// Thrown inside a task that was killed (a cancelled job, a losing speculative attempt, a
/// finished stage) when it next checks; the executor reports the task KILLED with the reason
/// (Spark's TaskKilledException).
class TaskKilledException : public std::runtime_error {
public:
    TaskKilledException() : std::runtime_error("task killed") {}
};

/// Per-task state: identity, metrics, accumulators and services.
/// Threading: confined to the task's thread, except killed(), which any thread may set.
class TaskContext {
public:
    /// The context of the task running on this thread, or nullptr outside tasks (Spark's
    /// TaskContext.get()). Job code may read attempt_number(), partition_id() and so on.
    static TaskContext* get() noexcept { return current_; }
    /// Makes `tc` the current context of this thread for its lifetime (the executor's task runner).
    class Scope {
    public:
        explicit Scope(TaskContext* tc) noexcept : previous_(current_) { current_ = tc; }
        ~Scope() { current_ = previous_; }
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;

    private:
        TaskContext* previous_;
    };

    TaskContext(ExecutorServices& services, int stage_id, int stage_attempt, int partition_id,
                std::int64_t task_attempt_id, int attempt_number)
        : services_(services),
          stage_id_(stage_id),
          stage_attempt_(stage_attempt),
          partition_id_(partition_id),
          task_attempt_id_(task_attempt_id),
          attempt_number_(attempt_number) {}

    int stage_id() const noexcept { return stage_id_; }
    int stage_attempt_number() const noexcept { return stage_attempt_; }
    int partition_id() const noexcept { return partition_id_; }
    /// Unique id of this attempt (Spark's TID); names its shuffle files.
    std::int64_t task_attempt_id() const noexcept { return task_attempt_id_; }
    int attempt_number() const noexcept { return attempt_number_; }

    TaskMetrics& metrics() noexcept { return metrics_; }
    /// The task's copies of the accumulators it added to (see accumulator_v2.hpp).
    TaskAccumulators& accumulators() noexcept { return accumulators_; }
    ExecutorServices& services() noexcept { return services_; }
    const Conf& conf() const noexcept { return services_.conf; }

    /// Set when the task is killed; long loops should check it.
    bool killed() const noexcept { return killed_.load(std::memory_order_relaxed); }
    void kill() noexcept { killed_.store(true, std::memory_order_relaxed); }
    /// Throws TaskKilledException if the task was killed (Spark's killTaskIfInterrupted). RDDs
    /// that read input call it per record, as Spark's InterruptibleIterator does.
    void kill_if_interrupted() const {
        if (killed()) throw TaskKilledException();
    }

    /// Bytes of fetched shuffle blocks the task holds in memory, kept up to date by the
    /// ShuffleBlockFetcherIterator it reads with; the task's spilling structures count them
    /// against task_memory_bytes (SpillPolicy).
    std::uint64_t& fetch_memory_bytes() noexcept { return fetch_memory_bytes_; }

    /// The records that travel with this task rather than in its stage binary
    /// (TaskDescription::partition_data; parallelize's slices, as Spark's tasks carry their
    /// ParallelCollectionPartition): the bytes of partition `p` of RDD `rdd_id`, a view into
    /// data the context holds, or nullopt if the task carries none for it. Throws DecodeError
    /// if the task's partition data are malformed.
    std::optional<std::string_view> partition_data(int rdd_id, int p) const {
        if (!partition_data_) return std::nullopt;
        return find_partition_data(*partition_data_, rdd_id, p);
    }
    void set_partition_data(std::shared_ptr<const std::string> data) noexcept { partition_data_ = std::move(data); }

private:
    ExecutorServices& services_;
    int stage_id_;
    int stage_attempt_;
    int partition_id_;
    std::int64_t task_attempt_id_;
    int attempt_number_;
    TaskMetrics metrics_;
    TaskAccumulators accumulators_;
    std::uint64_t fetch_memory_bytes_ = 0;
    std::shared_ptr<const std::string> partition_data_;
    std::atomic<bool> killed_{false};
    static inline thread_local TaskContext* current_ = nullptr;
};

}  // namespace ember::scheduler
