// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// DAGScheduler: cuts jobs into stages at shuffle boundaries, submits missing parents first,
/// tracks finished partitions and map outputs, and recovers lost ones (Spark's DAGScheduler).

#include "rpc/conf.hpp"
#include "scheduler/job_waiter.hpp"
#include "scheduler/listener.hpp"
#include "scheduler/stage.hpp"
#include "scheduler/task_end_reason.hpp"
#include "scheduler/task_set.hpp"
#include "scheduler/timer.hpp"
#include "scheduler/util/accumulator_context.hpp"
#include "shuffle/map_output_tracker.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace ember::storage {
class BlockManagerMasterEndpoint;
}

namespace ember::scheduler {

class TaskSchedulerImpl;

/// Runs every state change as an event on the scheduler loop, like Spark's
/// DAGSchedulerEventProcessLoop; here the loop is the driver endpoint's, shared with the
/// TaskScheduler and the backend, so none of them needs a lock and no event hops threads.
///
/// Stage retry follows Spark: a FetchFailed unregisters the lost map output (and the
/// executor's others), marks the reduce stage failed, and resubmits the map stage (missing
/// partitions only) and then the reduce stage 200 ms later; after
/// ember.stage.maxConsecutiveAttempts (4) consecutive failed attempts the stage is aborted.
///
/// Threading: submit_job() and stop() are thread-safe; everything else runs on the loop.
class DAGScheduler {
public:
    /// Runs a closure later on the scheduler loop; false if the loop is gone.
    using Post = std::function<bool(std::function<void()>)>;

    DAGScheduler(const Conf& conf, TaskSchedulerImpl& task_scheduler, shuffle::MapOutputTrackerMaster& tracker,
                 ListenerBus& bus, Post post);
    ~DAGScheduler();

    /// Submits a job; the returned waiter completes when it ends. `handler` runs on the loop
    /// for each partition's result. `properties`: the submitting thread's local properties;
    /// ember.jobGroup.id tags the job for cancel_job_group, ember.scheduler.pool picks its FAIR
    /// pool.
    std::shared_ptr<JobWaiter> submit_job(std::shared_ptr<RddBase> rdd, std::shared_ptr<ResultFunctionBase> func,
                                          std::vector<int> partitions, ResultHandler handler, std::string call_site,
                                          JobProperties properties = {});
    /// Fails every active job ("Job N cancelled because SparkContext was shut down").
    void stop();
    /// Where cached RDD blocks are (the driver's BlockManagerMaster); without it nothing counts
    /// as cached. Call before the first job.
    void set_block_manager_master(storage::BlockManagerMasterEndpoint* master) noexcept { master_ = master; }

    // -- cancellation (Spark's cancelJob / cancelJobGroup / cancelAllJobs); thread-safe ---------
    /// Fails job `job_id` with "Job <id> cancelled[ because <reason>]": the running tasks of the
    /// stages no other job needs are killed (KillTask) and their cores freed. Unknown or
    /// finished jobs are ignored.
    void cancel_job(int job_id, std::optional<std::string> reason = std::nullopt);
    /// Cancels every active job of `group` ("Job <id> cancelled part of cancelled job group <g>").
    void cancel_job_group(std::string group);
    /// Cancels every active job ("Job <id> cancelled as part of cancellation of all jobs").
    void cancel_all_jobs();
    /// Fails every active job with `message` (e.g. no executor is left to run them).
    void fail_all_jobs_with(std::string message);
    /// Ids of the active jobs, of `group` only when it is given.
    std::vector<int> active_job_ids(std::optional<std::string> group = std::nullopt);

    // -- events from the TaskScheduler (called on the loop; handled as later events) -----------
    void task_started(const TaskSet& ts, const TaskInfo& info);
    void task_ended(const TaskSet& ts, int index, TaskEndReason reason, std::string result, TaskMetrics metrics,
                    TaskInfo info);
    void task_set_failed(const TaskSet& ts, std::string reason);
    void executor_added(const std::string& executor_id, const std::string& host);
    void executor_lost(const std::string& executor_id, const std::string& reason);

private:
    void handle_job_submitted(int job_id, std::shared_ptr<RddBase> rdd, std::shared_ptr<ResultFunctionBase> func,
                              std::vector<int> partitions, ResultHandler handler, std::string call_site,
                              JobProperties properties, std::shared_ptr<JobWaiter> waiter);
    /// `index`: the task's position in `ts.tasks` (task_ended passes a task set holding that task only).
    void handle_task_completion(const TaskSet& ts, int index, TaskEndReason reason, std::string result,
                                TaskMetrics metrics, TaskInfo info);
    /// Merges a finished task's accumulator updates as Spark does (see the .cpp) and records the
    /// named ones in `info` and the stage's StageInfo.
    void update_accumulators(Stage& stage, const TaskSpec& spec, const TaskEndReason& reason,
                             const std::vector<AccumulatorUpdate>& updates, TaskInfo& info);
    void handle_task_set_failed(int stage_id, std::string reason);
    void fail_job_and_independent_stages(ActiveJob* job, const std::string& message,
                                         const std::string& stage_reason,
                                         const std::optional<TaskFailureCause>& cause = std::nullopt);
    /// Fails every active job (of `group` only, if given); `messages(job id)` gives the job's
    /// error and the reason its stages are marked failed with.
    void fail_jobs(const std::optional<std::string>& group,
                   const std::function<std::pair<std::string, std::string>(int)>& messages);
    void handle_executor_lost(const std::string& executor_id);
    void resubmit_failed_stages();
    void fail_all_jobs();

    ShuffleMapStage* get_or_create_shuffle_map_stage(const std::shared_ptr<ShuffleDependencyBase>& dep, int job_id);
    std::vector<Stage*> get_or_create_parent_stages(const std::shared_ptr<RddBase>& rdd, int job_id);
    std::vector<std::shared_ptr<ShuffleDependencyBase>> shuffle_dependencies(const std::shared_ptr<RddBase>& rdd) const;
    /// Spark's getMissingParentStages: walks the stage's RDDs through narrow dependencies from
    /// its last RDD; an RDD whose partitions are all cached (cache_locations) is not looked
    /// through, so shuffle map stages only it depends on are not missing (a later job over a
    /// cached RDD skips them). The others are missing when their outputs are not all available.
    std::vector<Stage*> missing_parent_stages(Stage& stage);

public:
    /// Spark's getCacheLocs: for each partition of `rdd`, the TaskLocation strings
    /// ("executor_<host>_<executorId>") of the BlockManagers holding its block `rdd_<id>_<p>`;
    /// all empty for an RDD that is not persisted. Asked of the BlockManagerMaster once per RDD
    /// and kept until clear_cache_locs(), which runs when a job is submitted, an executor is
    /// lost, failed stages are resubmitted and a map stage finishes (as in Spark). For
    /// preferred locations too (getPreferredLocs checks it first).
    /// Threading: scheduler loop only.
    const std::vector<std::vector<std::string>>& cache_locations(const RddBase& rdd);
    /// Forgets the cached locations. Threading: scheduler loop only.
    void clear_cache_locs() { cache_locs_.clear(); }

private:
    bool is_available(const ShuffleMapStage& s) const;
    std::vector<int> find_missing_partitions(Stage& s) const;
    void submit_stage(Stage* stage);
    void submit_missing_tasks(Stage* stage, int job_id);
    void submit_waiting_child_stages(Stage* parent);
    void mark_stage_as_finished(Stage* stage, std::optional<std::string> error = std::nullopt);
    /// Fails the stage and the jobs depending on it; `cause`: the task failure behind it, which
    /// the jobs' SparkException carries.
    void abort_stage(Stage* stage, const std::string& reason, const std::optional<TaskFailureCause>& cause = std::nullopt);
    void fail_job(ActiveJob* job, const std::string& error, const std::optional<TaskFailureCause>& cause = std::nullopt);
    void cleanup_job(ActiveJob* job);
    std::optional<int> active_job_for_stage(const Stage& stage) const;
    std::string stage_label(const Stage& s) const;
    /// Where partition `p` of `rdd` should run (Spark's getPreferredLocs): the executors caching
    /// it (cache_locations), else the RDD's own preferences (input splits), else for a shuffled RDD the hosts holding at least 20% of the
    /// partition's map output bytes (ember.shuffle.reduceLocality.enabled), else those of the first
    /// narrow ancestor partition that has any. TaskLocation strings (see TaskSpec).
    std::vector<std::string> preferred_locations(RddBase& rdd, int p);
    std::vector<std::string> preferred_locations(RddBase& rdd, int p, std::set<std::pair<int, int>>& visited);
    void update_job_ids_for_stage(Stage* stage, int job_id);

    const Conf& conf_;
    TaskSchedulerImpl& task_scheduler_;
    shuffle::MapOutputTrackerMaster& tracker_;
    ListenerBus& bus_;
    Post post_;
    int max_consecutive_attempts_;
    bool reduce_locality_;  ///< ember.shuffle.reduceLocality.enabled
    /// ember.testing.dagScheduler.ignoreFetchFailures (0): a planted bug for simulation tests;
    /// the first N FetchFailed task ends are dropped instead of resubmitting the map stage.
    int testing_ignore_fetch_failures_ = 0;
    Timer timer_;           ///< on the task scheduler's clock

    std::atomic<int> next_job_id_{0};
    int next_stage_id_ = 0;
    std::map<int, std::unique_ptr<Stage>> stages_;        // stage id -> stage
    std::map<int, ShuffleMapStage*> shuffle_id_to_stage_;
    std::map<int, std::unique_ptr<ActiveJob>> jobs_;      // active jobs by id
    std::set<Stage*> waiting_, running_, failed_;
    bool resubmit_scheduled_ = false;
    // Spark's executorFailureEpoch: the MapOutputTracker epoch at which each executor's outputs
    // were dropped (it was lost, or a fetch from it failed). A map task completion from that
    // executor counts only if the task was launched later (its task set's epoch is higher).
    std::map<std::string, std::int64_t> executor_failure_epoch_;
    /// Records an executor failure at `epoch` and drops its map outputs, once per epoch.
    void remove_executor_outputs(const std::string& executor_id, std::int64_t epoch);
    bool stopped_ = false;
    // The most recent failed task attempt of each stage: the cause of an abort that follows
    // (the TaskSetManager reports the abort as text right after that task's end).
    std::map<int, TaskFailureCause> last_task_failure_;
    storage::BlockManagerMasterEndpoint* master_ = nullptr;
    std::map<int, std::vector<std::vector<std::string>>> cache_locs_;  // rdd id -> per partition
};

}  // namespace ember::scheduler
