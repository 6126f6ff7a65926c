// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// AppStatusStore: the live state of one application (jobs, stage attempts, tasks, executors,
/// cached RDDs, environment) that the web UI, the REST API and the Prometheus endpoint read, fed
/// by its AppStatusListener (Spark's AppStatusStore over an ElementTrackingStore, and
/// AppStatusListener). The History Server builds the same store by replaying an event log.

#include "rpc/conf.hpp"
#include "scheduler/listener.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

namespace ember::status {

/// How much the store keeps (Spark's spark.ui.retained*): beyond these, the oldest finished
/// jobs, stages, tasks of a stage and dead executors are dropped, in batches of a tenth, so a
/// job of a million tasks keeps the driver's memory flat. Running ones are never dropped.
struct StoreLimits {
    std::size_t retained_jobs = 1000;            ///< ember.ui.retainedJobs
    std::size_t retained_stages = 1000;          ///< ember.ui.retainedStages
    std::size_t retained_tasks = 100000;         ///< ember.ui.retainedTasks, per stage attempt
    std::size_t retained_dead_executors = 100;   ///< ember.ui.retainedDeadExecutors
    /// Reads the keys above; throws std::invalid_argument naming a key whose value is not a
    /// positive integer.
    static StoreLimits from_conf(const Conf& conf);
};

/// JobData.status: "RUNNING", "SUCCEEDED", "FAILED", "UNKNOWN".
enum class JobStatus { running, succeeded, failed, unknown };
/// StageData.status: "ACTIVE", "COMPLETE", "FAILED", "PENDING", "SKIPPED".
enum class StageStatus { active, complete, failed, pending, skipped };
const char* to_string(JobStatus s) noexcept;
const char* to_string(StageStatus s) noexcept;

/// `a - b` and `a + b`, saturated to T's range instead of overflowing. Times and counts in the
/// store come from event logs that anyone who can write the log directory controls, so the
/// store and the REST API do their arithmetic on them with these.
template <class T>
T saturating_sub(T a, T b) noexcept {
    T r;
    if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? std::numeric_limits<T>::max() : std::numeric_limits<T>::min();
    return r;
}
template <class T>
T saturating_add(T a, T b) noexcept {
    T r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? std::numeric_limits<T>::max() : std::numeric_limits<T>::min();
    return r;
}

/// One task attempt (Spark's TaskDataWrapper). Times in ms since the epoch.
struct TaskRecord {
    scheduler::TaskInfo info;
    std::string status = "RUNNING";  ///< RUNNING, GET RESULT, SUCCESS, FAILED, KILLED
    std::optional<std::string> error;
    std::optional<scheduler::TaskMetrics> metrics;  ///< once the task ended
    bool finished = false;
    /// finish - launch once finished (ms; saturated, see saturating_sub).
    std::optional<std::int64_t> duration() const {
        if (!finished) return std::nullopt;
        return saturating_sub(info.finish_time, info.launch_time);
    }
};

/// Which indices (partitions) of a stage finished, as a bitmap: a million-task stage costs
/// 125 KB, not a tree node per index. The bitmap only grows while it stays dense (at most 64
/// bits per index held, or 64 Ki bits); an index far beyond the others (an event log's
/// "Index": 2147483647) is kept in a set instead of costing 256 MB.
class IndexSet {
public:
    /// Adds `i`; true if it was new. Negative indices are ignored.
    bool insert(int i) {
        if (i < 0) return false;
        auto u = static_cast<std::size_t>(i);
        if (u >= bits_.size()) {
            const std::size_t limit = std::max<std::size_t>(kDenseBits, 64 * (static_cast<std::size_t>(count_) + 1));
            if (u >= limit) {
                bool added = sparse_.insert(i).second;
                count_ += added ? 1 : 0;
                return added;
            }
            bits_.resize(std::min(std::max(u + 1, bits_.size() * 2), limit), false);
            // Indices the bitmap now covers move into it.
            for (auto it = sparse_.begin(); it != sparse_.end() && static_cast<std::size_t>(*it) < bits_.size();) {
                bits_[static_cast<std::size_t>(*it)] = true;
                it = sparse_.erase(it);
            }
        }
        if (bits_[u]) return false;
        bits_[u] = true;
        ++count_;
        return true;
    }
    int size() const noexcept { return count_; }

private:
    static constexpr std::size_t kDenseBits = 64 * 1024;
    std::vector<bool> bits_;
    std::set<int> sparse_;  ///< indices at or beyond bits_.size()
    int count_ = 0;
};

/// One executor's share of a stage attempt (Spark's ExecutorStageSummary).
struct ExecutorStageSummaryRecord {
    std::int64_t task_time_ms = 0;
    int failed_tasks = 0;
    int succeeded_tasks = 0;
    int killed_tasks = 0;
    scheduler::TaskMetrics metrics;  ///< summed over its finished tasks
};

/// One stage attempt (Spark's LiveStage / StageDataWrapper).
struct StageRecord {
    scheduler::StageInfo info;
    StageStatus status = StageStatus::pending;
    int active_tasks = 0;
    int complete_tasks = 0;
    int failed_tasks = 0;
    int killed_tasks = 0;
    IndexSet completed_indices;
    std::optional<std::int64_t> first_task_launched_time;
    scheduler::TaskMetrics metrics;  ///< summed over every finished task that reported metrics
    std::map<std::string, int> killed_summary;  ///< kill reason -> count
    std::vector<int> job_ids;
    std::string scheduling_pool = "default";
    std::optional<std::string> description;
    std::map<std::int64_t, TaskRecord> tasks;  ///< by task id; at most StoreLimits::retained_tasks
    std::map<std::string, ExecutorStageSummaryRecord> executor_summary;
};

/// One job (Spark's LiveJob / JobDataWrapper).
struct JobRecord {
    int job_id = 0;
    std::string name;  ///< the last stage's name
    std::optional<std::string> description;
    std::optional<std::int64_t> submission_time;
    std::optional<std::int64_t> completion_time;
    std::vector<int> stage_ids;
    std::optional<std::string> job_group;
    JobStatus status = JobStatus::running;
    std::optional<std::string> failure;  ///< ember: the job's error message when it failed
    int num_tasks = 0;
    int active_tasks = 0;
    int completed_tasks = 0;
    int skipped_tasks = 0;
    int failed_tasks = 0;
    int killed_tasks = 0;
    std::map<int, IndexSet> completed_indices;  ///< by stage id, over all its attempts (Spark)
    std::set<int> active_stages;
    std::set<int> completed_stages;
    std::set<int> skipped_stages;
    int failed_stages = 0;  ///< failed stage attempts (Spark counts attempts, never decrements)
    /// numCompletedIndices: distinct (stage, index) pairs done.
    int num_completed_indices() const {
        int n = 0;
        for (auto& [id, s] : completed_indices) n += s.size();
        return n;
    }
    std::map<std::string, int> killed_summary;
};

/// One executor, the driver included (Spark's LiveExecutor / ExecutorSummary).
struct ExecutorRecord {
    std::string id;  ///< "driver" for the driver
    std::string host;
    std::string host_port;
    bool is_active = true;
    bool has_block_manager = false;  ///< a BlockManagerAdded was heard (memoryMetrics shown)
    int total_cores = 0;
    int max_tasks = 0;
    int active_tasks = 0;
    int failed_tasks = 0;
    int completed_tasks = 0;
    int total_tasks = 0;
    std::int64_t total_duration_ms = 0;
    std::uint64_t total_input_bytes = 0;
    std::uint64_t total_shuffle_read = 0;
    std::uint64_t total_shuffle_write = 0;
    std::uint64_t max_memory = 0;
    std::uint64_t memory_used = 0;
    std::uint64_t disk_used = 0;
    int rdd_blocks = 0;
    std::int64_t add_time = 0;
    std::optional<std::int64_t> remove_time;
    std::optional<std::string> remove_reason;
    std::optional<scheduler::ExecutorMetrics> peak_metrics;    ///< field-wise peaks of its updates
    std::optional<scheduler::ExecutorMetrics> latest_metrics;  ///< its last update
    /// Excluded for the application, itself or through its node (excludeOnFailure).
    bool is_excluded = false;
    std::set<int> excluded_in_stages;  ///< running stages that excluded it
};

/// One cached partition of an RDD (Spark's RDDPartitionInfo).
struct RddPartitionRecord {
    std::string storage_level;
    std::uint64_t memory_used = 0;
    std::uint64_t disk_used = 0;
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> executors;  ///< id -> (mem, disk)
};

/// A cached RDD (Spark's LiveRDD / RDDStorageInfo).
struct RddRecord {
    int id = 0;
    std::string name;
    int num_partitions = 0;
    std::string storage_level = "NONE";
    std::map<std::string, RddPartitionRecord> partitions;  ///< by block name, "rdd_<id>_<p>"
};

/// The application (Spark's ApplicationInfo with its one attempt).
struct AppRecord {
    std::string id;
    std::string name;
    std::string user;
    std::int64_t start_time = 0;
    std::optional<std::int64_t> end_time;
    std::int64_t last_updated = 0;
    std::string spark_version;  ///< the version that wrote the log (History Server); "" = ours
};

/// Totals since the application started, never dropped (the Prometheus counters).
struct AppCounters {
    std::uint64_t jobs_submitted = 0, jobs_succeeded = 0, jobs_failed = 0;
    std::uint64_t stages_submitted = 0, stages_completed = 0, stages_failed = 0, stages_skipped = 0;
    std::uint64_t tasks_started = 0, tasks_succeeded = 0, tasks_failed = 0, tasks_killed = 0;
    std::uint64_t executors_added = 0, executors_removed = 0;
    scheduler::TaskMetrics task_metrics;  ///< summed over every finished task
};

/// Everything the store holds. Read through AppStatusStore::read().
struct AppState {
    AppRecord app;
    std::map<int, JobRecord> jobs;
    std::map<std::pair<int, int>, StageRecord> stages;  ///< by (stage id, attempt id)
    std::map<std::string, ExecutorRecord> executors;
    std::map<int, RddRecord> rdds;
    std::optional<scheduler::SparkListenerEnvironmentUpdate> environment;
    AppCounters counters;
};

/// The store. Its listener() updates it from the listener bus (on the scheduler loop: each
/// event is a few map updates under a lock); readers take a shared lock.
/// Threading: thread-safe.
class AppStatusStore {
public:
    explicit AppStatusStore(StoreLimits limits = {});
    ~AppStatusStore();
    AppStatusStore(const AppStatusStore&) = delete;
    AppStatusStore& operator=(const AppStatusStore&) = delete;

    /// The listener that feeds this store; register it on the bus (or replay into it).
    std::shared_ptr<scheduler::SparkListener> listener();

    /// Calls `f(const AppState&)` under the shared lock and returns its result. `f` must not
    /// call back into the store.
    template <class F>
    decltype(auto) read(F&& f) const {
        std::shared_lock lk(mu_);
        return f(static_cast<const AppState&>(state_));
    }

    /// Records the driver's own process metrics (sampled by the UI, not by heartbeats).
    void update_driver_metrics(const scheduler::ExecutorMetrics& m);
    /// Records the version that wrote the replayed event log (ApplicationAttemptInfo.appSparkVersion).
    void set_app_version(std::string version);

    const StoreLimits& limits() const noexcept { return limits_; }

private:
    class Listener;
    friend class Listener;

    mutable std::shared_mutex mu_;
    AppState state_;  // guarded by mu_
    StoreLimits limits_;
    std::shared_ptr<Listener> listener_;
};

}  // namespace ember::status
