// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// SparkContext: the entry point of a driver program (Spark's SparkContext).

#include "rpc/conf.hpp"
#include "scheduler/stage.hpp"
#include "rpc/source_location.hpp"
#include "scheduler/util/accumulator_v2.hpp"
#include "scheduler/util/clock.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <vector>

namespace ember {

template <class T>
class Rdd;
template <class T>
class Broadcast;

namespace scheduler {
class SparkListener;
class RddBase;
}

/// A persisted RDD's cached partitions as the driver's BlockManagerMaster knows them (Spark's
/// RDDInfo as getRDDStorageInfo returns it). Sizes are in bytes, summed over every copy.
struct RddStorageInfo {
    int id = 0;
    std::string name;           ///< the RDD's name (set_name, else its call site)
    std::string storage_level;  ///< StorageLevel::description(), e.g. "Memory Deserialized 1x Replicated"
    int num_cached_partitions = 0;
    int num_partitions = 0;
    std::uint64_t mem_size = 0;
    std::uint64_t disk_size = 0;
};


/// Connects a driver program to its executors and runs its jobs.
///
/// The master (ember.master) decides where tasks run: `local[N]` (threads of this process),
/// `local-cluster[E,C,M]` (E executor processes of this same executable, started and stopped
/// with the context; the default is local-cluster[2,1,1024]), or `cluster[E]` (executors
/// started elsewhere connect to ember.driver.host:ember.driver.port). The constructor returns
/// once every executor has registered; it throws SparkException naming the problem when the
/// master string is malformed or an executor cannot start or dies during start-up.
///
/// Executor loss: an executor whose connection drops, or (heartbeats, see HeartbeatReceiver)
/// that sends no heartbeat for ember.network.timeout (120s), is removed: its running tasks run
/// again elsewhere and its map outputs are recomputed. On local-cluster the driver then starts a
/// replacement executor with a new id, as Spark's standalone Master does; after
/// ember.deploy.maxExecutorRetries (10) executor failures with no registration in between it
/// stops replacing them, and once none is left the active jobs fail.
///
/// Config: ember.master, ember.app.name, ember.driver.host / ember.driver.bindAddress /
/// ember.driver.port, ember.local.dir, ember.default.parallelism, ember.task.maxFailures (4),
/// ember.executor.command (how to start executors; default this executable),
/// ember.scheduler.maxRegisteredResourcesWaitingTime (30s), ember.executor.heartbeatInterval
/// (10s; must be less than ember.network.timeout, else the constructor throws),
/// ember.network.timeout (120s), ember.network.timeoutInterval (60s),
/// ember.deploy.maxExecutorRetries (10), and the keys of each layer.
///
/// Threading: thread-safe; actions may run from several threads (jobs run FIFO).
class SparkContext {
public:
    /// `listeners` are registered before anything starts, so they also hear
    /// SparkListenerApplicationStart and the first executors' SparkListenerExecutorAdded (Spark's
    /// spark.extraListeners).
    explicit SparkContext(Conf conf, std::vector<std::shared_ptr<scheduler::SparkListener>> listeners = {});
    SparkContext(const std::string& master, const std::string& app_name, Conf conf = {},
                 std::vector<std::shared_ptr<scheduler::SparkListener>> listeners = {});
    /// As above, with the driver's scheduling timers and timeouts on `clock` (Spark's
    /// ManualClock in its scheduler tests): locality waits, speculation, heartbeat expiry,
    /// revive offers, stage resubmission, exclusion timeouts and the task times the scheduler
    /// records. With a scheduler::util::ManualClock they move only when the caller moves the
    /// clock; executors' own heartbeats stay on real time. Throws std::invalid_argument for a
    /// null clock.
    SparkContext(Conf conf, std::shared_ptr<scheduler::util::Clock> clock,
                 std::vector<std::shared_ptr<scheduler::SparkListener>> listeners = {});
    ~SparkContext();
    SparkContext(const SparkContext&) = delete;
    SparkContext& operator=(const SparkContext&) = delete;

    /// Stops executors and frees everything. Idempotent; called by the destructor, and (Spark's
    /// shutdown hook) by SIGTERM, SIGINT or SIGHUP, after which the process exits with 128 + the
    /// signal (scheduler/util/shutdown_hook_manager.hpp).
    void stop();

    const Conf& conf() const;
    const std::string& app_id() const;
    const std::string& master() const;
    /// Default number of partitions: ember.default.parallelism, else total executor cores.
    int default_parallelism() const;

    /// Lines of a file, or of every file under a directory (recursively). Splits files and packs
    /// small ones into about `min_partitions` partitions (default: default_parallelism()).
    /// Throws SparkException naming the path if it is missing, unreadable or empty.
    Rdd<std::string> text_file(const std::string& path, int min_partitions = 0,
                               SourceLocation loc = SourceLocation::current());
    Rdd<std::string> text_file(const std::vector<std::string>& paths, int min_partitions = 0,
                               SourceLocation loc = SourceLocation::current());
    /// A driver-side vector cut into `num_slices` partitions (default: default_parallelism()).
    template <class T>
    Rdd<T> parallelize(std::vector<T> data, int num_slices = 0,
                       SourceLocation loc = SourceLocation::current());
    /// One partition per element, each with its preferred locations: hosts, or
    /// "executor_<host>_<executorId>" for one executor (Spark's makeRDD(Seq[(T, Seq[String])])).
    template <class T>
    Rdd<T> make_rdd(std::vector<std::pair<T, std::vector<std::string>>> data,
                    SourceLocation loc = SourceLocation::current());

    // -- accumulators (Spark's longAccumulator, doubleAccumulator, collectionAccumulator, register)

    /// A new accumulator of 64-bit sums, zero. `name`: shown to listeners, the UI, the REST API
    /// and the event log (unnamed ones are not shown). `count_failed_values`: failed and killed
    /// tasks' updates count too (Spark's internal flag). Capture the handle by value in task
    /// lambdas; see accumulator_v2.hpp for when updates count. Threading: thread-safe.
    LongAccumulator long_accumulator(std::optional<std::string> name = std::nullopt,
                                     bool count_failed_values = false) {
        return LongAccumulator(Accumulator<LongAccumulatorState>::make({}, std::move(name), count_failed_values));
    }
    DoubleAccumulator double_accumulator(std::optional<std::string> name = std::nullopt,
                                         bool count_failed_values = false) {
        return DoubleAccumulator(Accumulator<DoubleAccumulatorState>::make({}, std::move(name), count_failed_values));
    }
    /// An accumulator that collects the added values into a std::vector<T> (T needs a Serde).
    template <class T>
    CollectionAccumulator<T> collection_accumulator(std::optional<std::string> name = std::nullopt,
                                                    bool count_failed_values = false) {
        return CollectionAccumulator<T>(
            Accumulator<CollectionAccumulatorState<T>>::make({}, std::move(name), count_failed_values));
    }
    /// Registers a user-defined accumulator whose driver value starts as `acc` (usually
    /// zero; tasks always start from A{}). See AccumulatorState for what A must offer.
    template <AccumulatorState A>
    Accumulator<A> register_accumulator(A acc, std::optional<std::string> name = std::nullopt,
                                        bool count_failed_values = false) {
        return Accumulator<A>::make(std::move(acc), std::move(name), count_failed_values);
    }

    /// Sends `value` to the executors once each, as a broadcast variable (Spark's
    /// SparkContext.broadcast with TorrentBroadcast): capture the handle by value in job
    /// functions and call value() there. T needs a Serde. Defined in
    /// scheduler/broadcast/broadcast.hpp (included by scheduler/ember.hpp). Throws
    /// SparkException if the context is stopped or the value cannot be stored. Config:
    /// ember.broadcast.blockSize (4m), ember.broadcast.compress (true),
    /// ember.broadcast.checksum (true).
    template <class T>
    Broadcast<T> broadcast(T value);

    /// An RDD with no partitions (Spark's emptyRDD): actions on it run no task (collect and
    /// take give nothing, count 0, reduce and first throw "empty collection").
    template <class T>
    Rdd<T> empty_rdd(SourceLocation loc = SourceLocation::current());

    /// Where Rdd::checkpoint() writes (Spark's setCheckpointDir): creates `dir` and a fresh
    /// `dir/<uuid>` under it, which holds this application's `rdd-<id>` directories. The
    /// directory must be visible to every executor (local masters: any local directory).
    /// Throws SparkException if it cannot be created. Threading: thread-safe.
    void set_checkpoint_dir(const std::string& dir);
    /// The `dir/<uuid>` of set_checkpoint_dir, nullopt before (Spark's getCheckpointDir).
    std::optional<std::string> checkpoint_dir() const;

    /// Every persisted RDD with at least one cached partition: id, name, level, cached and total
    /// partitions, memory and disk bytes (Spark's getRDDStorageInfo), by id, from the blocks the
    /// executors reported to the driver's BlockManagerMaster (a block lost with its executor no
    /// longer counts). Threading: thread-safe.
    std::vector<RddStorageInfo> rdd_storage_info() const;
    /// Remembers a persisted RDD for rdd_storage_info (Spark's persistentRdds, weakly held).
    /// Rdd::persist calls this. Threading: thread-safe.
    void register_persistent_rdd(std::shared_ptr<scheduler::RddBase> rdd);

    /// Receives scheduler events (jobs, stages, tasks, executors).
    void add_spark_listener(std::shared_ptr<scheduler::SparkListener> listener);

    /// Runs `func` over `partitions` of `rdd` and blocks until the job ends; `handler` gets each
    /// partition's result bytes on the scheduler loop. Throws SparkException if the job fails.
    /// Rdd's actions are built on this. Afterwards, as Spark's doCheckpoint, it writes the RDDs
    /// of the lineage marked by Rdd::checkpoint() with one more job each and truncates their
    /// lineage (an RDD marked is looked at, not its ancestors).
    void run_job(std::shared_ptr<scheduler::RddBase> rdd, std::shared_ptr<scheduler::ResultFunctionBase> func,
                 std::vector<int> partitions, scheduler::ResultHandler handler, std::string call_site);

    // -- jobs: groups and cancellation (Spark's setJobGroup, cancelJob, cancelJobGroup) ----------

    /// Sets (or with nullopt, clears) a property of the jobs this thread submits from now on
    /// (Spark's setLocalProperty). ember reads ember.jobGroup.id (set_job_group) and
    /// ember.scheduler.pool (the FAIR pool, see ember.scheduler.mode). Thread-local.
    void set_local_property(const std::string& key, std::optional<std::string> value);
    std::optional<std::string> get_local_property(const std::string& key) const;
    /// Tags the jobs this thread submits from now on with `group_id` (until clear_job_group).
    void set_job_group(std::string group_id);
    void clear_job_group();
    /// Cancels job `job_id` (ids: SparkListenerJobStart, active_job_ids()). Its action throws
    /// SparkException "Job <id> cancelled[ because <reason>]"; its running tasks are killed at
    /// their next record and their cores freed. Returns at once; unknown ids are ignored.
    void cancel_job(int job_id, std::optional<std::string> reason = std::nullopt);
    /// Cancels every active job of `group_id` ("Job <id> cancelled part of cancelled job group <g>").
    void cancel_job_group(const std::string& group_id);
    /// Cancels every active job ("Job <id> cancelled as part of cancellation of all jobs").
    void cancel_all_jobs();
    /// Ids of the active jobs, of `group_id` only if given (Spark's StatusTracker). Do not call
    /// from a SparkListener: listeners run on the scheduler loop this waits for.
    std::vector<int> active_job_ids(std::optional<std::string> group_id = std::nullopt) const;

    int new_rdd_id();
    int new_shuffle_id();
    /// Gives `dep` the ContextCleaner's token (ember.cleaner.referenceTracking, default true):
    /// once `dep` is freed, the shuffle's map statuses and files are removed. No-op when
    /// reference tracking is off or in a simulation. Thread-safe.
    void track_shuffle(scheduler::ShuffleDependencyBase& dep);
    /// Stores a broadcast of `value` (of type `type`, with Serde bytes `serialized`) and returns
    /// its id; broadcast() is built on this. Throws SparkException if the context is stopped or
    /// the pieces cannot be stored.
    std::int64_t new_broadcast(std::string serialized, std::shared_ptr<const void> value, const std::type_info& type);
    /// Removes RDD `rdd_id`'s cached blocks everywhere (Spark's unpersistRDD); waits for the
    /// BlockManagers to confirm when `blocking` (throws SparkException if they cannot be
    /// reached). Rdd::unpersist() calls this. Threading: thread-safe; not from a listener.
    void unpersist_rdd(int rdd_id, bool blocking);
    /// Pids of the local-cluster executor processes.
    std::vector<int> executor_pids() const;
    /// Every BlockManager ("host:port", the driver's and each executor's, whose RpcEnv listens
    /// there) with its maximum and remaining storage memory in bytes (Spark's
    /// getExecutorMemoryStatus). Threading: thread-safe.
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> executor_memory_status() const;
    /// Pid of local-cluster executor `executor_id`, or -1 if it has no running process.
    int executor_pid(const std::string& executor_id) const;

    /// The web UI's address, "http://<host>:<port>" (Spark's uiWebUrl); nullopt when
    /// ember.ui.enabled is false or the UI could not start. The REST API is under /api/v1.
    std::optional<std::string> ui_web_url() const;
    /// Where the event log is written (ember.eventLog.enabled): its final name, which it takes
    /// when the context stops (until then it carries ".inprogress"); nullopt when disabled.
    std::optional<std::string> event_log_path() const;

    /// "<function> at <file>:<line>", as Spark names stages after their call site.
    static std::string call_site(std::string_view op, const SourceLocation& loc);

private:
    void init(Conf conf, std::vector<std::shared_ptr<scheduler::SparkListener>> listeners);

    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ember
