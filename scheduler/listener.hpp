// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// SparkListener and its events, StageInfo and TaskInfo (Spark's SparkListener, StageInfo,
/// TaskInfo), and the ListenerBus that delivers them.

#include "scheduler/task_metrics.hpp"
#include "scheduler/util/accumulable_info.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace ember::scheduler {

/// An RDD as a stage's listeners see it (Spark's RDDInfo). Cached sizes are filled in by the
/// status store from block updates, not by the scheduler.
struct RddInfo {
    int id = 0;
    std::string name;       ///< the RDD's class, e.g. "MapPartitionsRDD"
    std::string call_site;  ///< "<operation> at <file>:<line>"
    std::vector<int> parent_ids;
    int num_partitions = 0;
    std::string storage_level = "NONE";  ///< StorageLevel::description(), "NONE" if not cached
};

/// A stage attempt as listeners see it. Times are milliseconds since the Unix epoch.
/// `metrics` sums the metrics of the attempt's successful tasks.
struct StageInfo {
    int stage_id = 0;
    int attempt_id = 0;
    std::string name;  ///< "<operation> at <file>:<line>"
    int num_tasks = 0;
    std::vector<int> parent_ids;
    std::vector<int> rdd_ids;
    std::vector<RddInfo> rdd_infos;  ///< the RDDs this stage computes, ids as in rdd_ids
    bool is_shuffle_map = false;
    std::optional<std::int64_t> submission_time;
    std::optional<std::int64_t> completion_time;
    std::optional<std::string> failure_reason;
    int num_completed_tasks = 0;
    int num_failed_tasks = 0;
    TaskMetrics metrics;
    /// The named accumulators the attempt's tasks updated, by id, each with its merged value
    /// (Spark's StageInfo.accumulables).
    std::vector<AccumulableInfo> accumulables;

    /// "running", "failed" or "succeeded" (Spark's StageInfo.getStatusString).
    std::string status() const {
        if (!completion_time) return "running";
        return failure_reason ? "failed" : "succeeded";
    }
};

/// How close a task ran to its data, most local first (Spark's TaskLocality). A task with no
/// preference that runs anywhere is reported PROCESS_LOCAL, as Spark does.
enum class TaskLocality { process_local = 0, node_local = 1, no_pref = 2, rack_local = 3, any = 4 };

/// "PROCESS_LOCAL", "NODE_LOCAL", "NO_PREF", "RACK_LOCAL" or "ANY".
const char* to_string(TaskLocality l) noexcept;

/// One task attempt.
struct TaskInfo {
    std::int64_t task_id = 0;
    int index = 0;
    int attempt = 0;
    int partition_id = 0;
    std::int64_t launch_time = 0;
    std::string executor_id;
    std::string host;
    std::int64_t finish_time = 0;
    /// When the driver started fetching an indirect result (0: never; Spark's gettingResultTime).
    std::int64_t getting_result_time = 0;
    bool failed = false;
    bool killed = false;
    TaskLocality locality = TaskLocality::process_local;
    bool speculative = false;  ///< a speculative copy (ember.speculation)
    /// The named accumulators this task updated, set when it ends (Spark's TaskInfo.accumulables).
    std::vector<AccumulableInfo> accumulables;
};

struct SparkListenerJobStart {
    int job_id;
    std::int64_t time;
    std::vector<StageInfo> stage_infos;  ///< every stage of the job, skipped ones included
    std::string job_group;               ///< Spark's spark.jobGroup.id property ("" if none)
};
struct SparkListenerJobEnd {
    int job_id;
    std::int64_t time;
    bool succeeded;
    std::string failure;  ///< the job's error message when it failed
};
struct SparkListenerStageSubmitted {
    StageInfo stage_info;
};
struct SparkListenerStageCompleted {
    StageInfo stage_info;
};
struct SparkListenerTaskStart {
    int stage_id;
    int stage_attempt_id;
    TaskInfo task_info;
};
/// The driver started fetching a task's result from the executor's BlockManager (an indirect
/// result, larger than ember.task.maxDirectResultSize); the TaskEnd follows once it arrived.
struct SparkListenerTaskGettingResult {
    TaskInfo task_info;
};
struct SparkListenerTaskEnd {
    int stage_id;
    int stage_attempt_id;
    std::string task_type;  ///< "ShuffleMapTask" or "ResultTask"
    std::string reason;     ///< "Success" or the failure's error string
    TaskInfo task_info;
    TaskMetrics task_metrics;
};
struct SparkListenerExecutorAdded {
    std::int64_t time;
    std::string executor_id;
    std::string host;
    int total_cores;
};
struct SparkListenerExecutorRemoved {
    std::int64_t time;
    std::string executor_id;
    std::string reason;
};

/// Posted once the driver is up, before any executor event (Spark's SparkListenerApplicationStart).
/// Only listeners given to the SparkContext constructor hear it.
struct SparkListenerApplicationStart {
    std::string app_name;
    std::string app_id;
    std::int64_t time;
    std::string spark_user;
};
/// Posted by SparkContext::stop() before executors are stopped.
struct SparkListenerApplicationEnd {
    std::int64_t time;
};
/// A running task was found slow enough to get a speculative copy (ember.speculation).
struct SparkListenerSpeculativeTaskSubmitted {
    int stage_id;
    int stage_attempt_id;
    int task_index;
    int partition_id;
};

/// Posted once after ApplicationStart: the driver's configuration and runtime (Spark's
/// SparkListenerEnvironmentUpdate; "JVM Information" holds ember's runtime). Secret values are
/// already redacted ("*********(redacted)") when posted.
struct SparkListenerEnvironmentUpdate {
    std::vector<std::pair<std::string, std::string>> runtime_information;
    std::vector<std::pair<std::string, std::string>> spark_properties;
    std::vector<std::pair<std::string, std::string>> system_properties;
    std::vector<std::pair<std::string, std::string>> classpath_entries;
};
/// A BlockManager registered with the driver's master (Spark's SparkListenerBlockManagerAdded).
struct SparkListenerBlockManagerAdded {
    std::int64_t time;
    std::string executor_id;  ///< "driver" for the driver's own
    std::string host;
    int port;
    std::uint64_t max_memory;  ///< storage memory, bytes
};
struct SparkListenerBlockManagerRemoved {
    std::int64_t time;
    std::string executor_id;
    std::string host;
    int port;
};
/// An RDD's cached blocks are being removed everywhere (Spark's SparkListenerUnpersistRDD).
struct SparkListenerUnpersistRDD {
    int rdd_id;
};
/// A block's status changed on a BlockManager (Spark's SparkListenerBlockUpdated). Sizes in
/// bytes; a removed block has storage level "NONE" and sizes 0.
struct SparkListenerBlockUpdated {
    std::string executor_id;
    std::string host;
    int port;
    std::string block_id;       ///< e.g. "rdd_3_1"
    bool use_disk = false;
    bool use_memory = false;
    bool deserialized = false;
    int replication = 1;
    std::uint64_t memory_size = 0;
    std::uint64_t disk_size = 0;
};
/// Executor-level metrics an executor samples for its heartbeats (Spark's ExecutorMetrics,
/// named as Spark's ExecutorMetricType where the meaning carries over). Bytes and nanoseconds.
struct ExecutorMetrics {
    std::int64_t process_rss_bytes = 0;       ///< "ProcessTreeJVMRSSMemory": resident set size
    std::int64_t process_vmem_bytes = 0;      ///< "ProcessTreeJVMVMemory": virtual memory size
    std::int64_t storage_memory_bytes = 0;    ///< "OnHeapStorageMemory": BlockManager memory in use
    std::int64_t execution_memory_bytes = 0;  ///< "OnHeapExecutionMemory": shuffle/aggregation memory
    std::int64_t cpu_time_ns = 0;             ///< "ProcessCpuTime" (ember): user + system CPU time

    /// Field-wise maximum, for peaks (Spark's ExecutorMetrics.compareAndUpdatePeakValues).
    void update_peaks(const ExecutorMetrics& o) noexcept;
};
/// An executor's heartbeat carried its metrics (Spark's SparkListenerExecutorMetricsUpdate,
/// executor-level updates only). Posted for the driver too, sampled at each of its checks.
struct SparkListenerExecutorMetricsUpdate {
    std::int64_t time;
    std::string executor_id;
    ExecutorMetrics metrics;
};

/// An executor was excluded for the whole application after task failures in successful task
/// sets, or after a fetch failure (Spark's SparkListenerExecutorExcluded; excludeOnFailure).
/// `task_failures` is 1 for a fetch-failure exclusion (as Spark).
struct SparkListenerExecutorExcluded {
    std::int64_t time;
    std::string executor_id;
    int task_failures;
};
/// An application-level exclusion of an executor timed out (ember.excludeOnFailure.timeout).
struct SparkListenerExecutorUnexcluded {
    std::int64_t time;
    std::string executor_id;
};
/// A node was excluded for the application: enough of its executors were (Spark's
/// SparkListenerNodeExcluded).
struct SparkListenerNodeExcluded {
    std::int64_t time;
    std::string host_id;
    int executor_failures;  ///< excluded executors on the node
};
struct SparkListenerNodeUnexcluded {
    std::int64_t time;
    std::string host_id;
};
/// An executor was excluded for one stage attempt after enough of its tasks failed there.
struct SparkListenerExecutorExcludedForStage {
    std::int64_t time;
    std::string executor_id;
    int task_failures;
    int stage_id;
    int stage_attempt_id;
};
/// A node was excluded for one stage attempt after enough of its executors were.
struct SparkListenerNodeExcludedForStage {
    std::int64_t time;
    std::string host_id;
    int executor_failures;
    int stage_id;
    int stage_attempt_id;
};

/// Receives scheduler events. Callbacks run on the scheduler's loop, one at a time, in event
/// order; they must return quickly (copy what you need). An exception is logged and ignored.
/// Threading: called from one thread at a time.
class SparkListener {
public:
    virtual ~SparkListener() = default;
    virtual void on_job_start(const SparkListenerJobStart&) {}
    virtual void on_job_end(const SparkListenerJobEnd&) {}
    virtual void on_stage_submitted(const SparkListenerStageSubmitted&) {}
    virtual void on_stage_completed(const SparkListenerStageCompleted&) {}
    virtual void on_task_start(const SparkListenerTaskStart&) {}
    virtual void on_task_getting_result(const SparkListenerTaskGettingResult&) {}
    virtual void on_task_end(const SparkListenerTaskEnd&) {}
    virtual void on_executor_added(const SparkListenerExecutorAdded&) {}
    virtual void on_executor_removed(const SparkListenerExecutorRemoved&) {}
    virtual void on_application_start(const SparkListenerApplicationStart&) {}
    virtual void on_application_end(const SparkListenerApplicationEnd&) {}
    virtual void on_speculative_task_submitted(const SparkListenerSpeculativeTaskSubmitted&) {}
    virtual void on_environment_update(const SparkListenerEnvironmentUpdate&) {}
    virtual void on_block_manager_added(const SparkListenerBlockManagerAdded&) {}
    virtual void on_block_manager_removed(const SparkListenerBlockManagerRemoved&) {}
    virtual void on_unpersist_rdd(const SparkListenerUnpersistRDD&) {}
    virtual void on_block_updated(const SparkListenerBlockUpdated&) {}
    virtual void on_executor_metrics_update(const SparkListenerExecutorMetricsUpdate&) {}
    virtual void on_executor_excluded(const SparkListenerExecutorExcluded&) {}
    virtual void on_executor_unexcluded(const SparkListenerExecutorUnexcluded&) {}
    virtual void on_node_excluded(const SparkListenerNodeExcluded&) {}
    virtual void on_node_unexcluded(const SparkListenerNodeUnexcluded&) {}
    virtual void on_executor_excluded_for_stage(const SparkListenerExecutorExcludedForStage&) {}
    virtual void on_node_excluded_for_stage(const SparkListenerNodeExcludedForStage&) {}
};

/// Any listener event, for queues and replay (Spark's SparkListenerEvent).
using SparkListenerEvent =
    std::variant<SparkListenerJobStart, SparkListenerJobEnd, SparkListenerStageSubmitted, SparkListenerStageCompleted,
                 SparkListenerTaskStart, SparkListenerTaskGettingResult, SparkListenerTaskEnd,
                 SparkListenerExecutorAdded, SparkListenerExecutorRemoved, SparkListenerApplicationStart,
                 SparkListenerApplicationEnd, SparkListenerSpeculativeTaskSubmitted, SparkListenerEnvironmentUpdate,
                 SparkListenerBlockManagerAdded, SparkListenerBlockManagerRemoved, SparkListenerUnpersistRDD,
                 SparkListenerBlockUpdated, SparkListenerExecutorMetricsUpdate, SparkListenerExecutorExcluded,
                 SparkListenerExecutorUnexcluded, SparkListenerNodeExcluded, SparkListenerNodeUnexcluded,
                 SparkListenerExecutorExcludedForStage, SparkListenerNodeExcludedForStage>;

/// Calls the callback of `l` that `e` is for (Spark's SparkListenerBus.doPostEvent).
void dispatch(SparkListener& l, const SparkListenerEvent& e);

/// Delivers events to the registered listeners (Spark's LiveListenerBus).
///
/// Listeners added with add() are called synchronously on the poster's thread (the scheduler
/// loop), as before. Listeners added with add_async() (the status store, the event log, the
/// progress bar: Spark's AsyncEventQueues) are called on the bus's own queue thread, in event
/// order, so their work never slows the scheduler: post() only moves the event into a queue.
/// The queue thread drains every 10 ms, or at once when 512 events wait or the application
/// ends: waking it for each job's start and each job's or stage's end (a syscall for the poster,
/// and the woken thread competing for one of two vCPUs with the job's next steps) cost a
/// one-task job about 14 us of its p50 (ember-bench task-latency, 10 alternating pairs: 81 us
/// median with the wake-ups, 67 us without). So the status store, UI, REST API and event log
/// see an event up to 10 ms after it happened (Spark's queues are asynchronous too);
/// wait_until_empty() waits for them. A full queue (`queue_capacity`, 10000 events, Spark's
/// default capacity) makes post() wait for room (Spark drops events instead, which corrupts
/// what the UI shows).
/// Threading: add(), add_async(), wait_until_empty() and stop() are thread-safe; post() is
/// called on the scheduler loop.
class ListenerBus {
public:
    explicit ListenerBus(std::size_t queue_capacity = 10000);
    ~ListenerBus();
    ListenerBus(const ListenerBus&) = delete;
    ListenerBus& operator=(const ListenerBus&) = delete;

    void add(std::shared_ptr<SparkListener> l);
    /// Calls `l` on the bus's queue thread (started with the first such listener).
    void add_async(std::shared_ptr<SparkListener> l);
    /// Blocks until every event posted so far has reached the asynchronous listeners (Spark's
    /// waitUntilEmpty). Never call it from an asynchronous listener.
    void wait_until_empty();
    /// Delivers what is queued, then stops the queue thread; later events reach only the
    /// synchronous listeners. Idempotent; the destructor calls it.
    void stop();

    /// Each post() calls the synchronous listeners with `e`, then moves `e` into the queue (a
    /// temporary argument is never copied: a job's events carry its StageInfos).
    void post(SparkListenerJobStart e);
    void post(SparkListenerJobEnd e);
    void post(SparkListenerStageSubmitted e);
    void post(SparkListenerStageCompleted e);
    void post(SparkListenerTaskStart e);
    void post(SparkListenerTaskGettingResult e);
    void post(SparkListenerTaskEnd e);
    void post(SparkListenerExecutorAdded e);
    void post(SparkListenerExecutorRemoved e);
    void post(SparkListenerApplicationStart e);
    void post(SparkListenerApplicationEnd e);
    void post(SparkListenerSpeculativeTaskSubmitted e);
    void post(SparkListenerEnvironmentUpdate e);
    void post(SparkListenerBlockManagerAdded e);
    void post(SparkListenerBlockManagerRemoved e);
    void post(SparkListenerUnpersistRDD e);
    void post(SparkListenerBlockUpdated e);
    void post(SparkListenerExecutorMetricsUpdate e);
    void post(SparkListenerExecutorExcluded e);
    void post(SparkListenerExecutorUnexcluded e);
    void post(SparkListenerNodeExcluded e);
    void post(SparkListenerNodeUnexcluded e);
    void post(SparkListenerExecutorExcludedForStage e);
    void post(SparkListenerNodeExcludedForStage e);
    /// Any event (replay, queued events).
    void post(const SparkListenerEvent& e);

private:
    using Listeners = std::vector<std::shared_ptr<SparkListener>>;
    class Queue;
    template <class Event>
    void deliver(Event&& e);
    std::shared_ptr<const Listeners> snapshot();

    std::size_t queue_capacity_;
    std::mutex mu_;
    std::shared_ptr<const Listeners> listeners_;  // guarded by mu_; copied on add
    std::unique_ptr<Queue> queue_;                // guarded by mu_ (created once)
    std::atomic<Queue*> queue_ptr_{nullptr};      // the same, for post() without the lock
};

/// Milliseconds since the Unix epoch.
std::int64_t now_ms();

}  // namespace ember::scheduler
