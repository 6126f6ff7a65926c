// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Stage, ShuffleMapStage, ResultStage and ActiveJob (Spark's Stage.scala, ShuffleMapStage,
/// ResultStage, ActiveJob).

#include "scheduler/job_waiter.hpp"
#include "scheduler/listener.hpp"
#include "scheduler/rdd/rdd_base.hpp"

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace ember::scheduler {

class ResultStage;

/// Called on the scheduler loop with (index of the partition within the job, result bytes).
using ResultHandler = std::function<void(int, std::string_view)>;

/// A job submitted by an action.
/// A job's local properties (Spark's Properties passed with a job): ember.jobGroup.id,
/// ember.scheduler.pool, and any the app sets with SparkContext::set_local_property.
using JobProperties = std::map<std::string, std::string>;

/// Spark's keys of job properties.
inline constexpr const char* kJobGroupIdProperty = "ember.jobGroup.id";
inline constexpr const char* kSchedulerPoolProperty = "ember.scheduler.pool";

struct ActiveJob {
    int job_id = 0;
    ResultStage* final_stage = nullptr;
    std::vector<int> partitions;   ///< RDD partitions the action asked for
    std::vector<bool> finished;    ///< per output index
    int num_finished = 0;
    std::shared_ptr<JobWaiter> waiter;
    ResultHandler handler;
    std::string call_site;
    std::string job_group;  ///< SparkContext::set_job_group of the submitting thread ("" if none)
    JobProperties properties;  ///< the submitting thread's local properties
};

/// A set of tasks computing the same function over partitions of one RDD, up to a shuffle.
/// Threading: confined to the scheduler loop.
class Stage {
public:
    Stage(int id, std::shared_ptr<RddBase> rdd, int num_tasks, std::vector<Stage*> parents, int first_job_id,
          std::string name)
        : id(id), rdd(std::move(rdd)), num_tasks(num_tasks), parents(std::move(parents)),
          first_job_id(first_job_id), name(std::move(name)) {}
    virtual ~Stage() = default;
    virtual bool is_shuffle_map() const = 0;

    /// Starts a new attempt with a fresh StageInfo.
    void make_new_stage_attempt(int tasks_in_attempt) {
        latest_info = StageInfo{};
        latest_info.stage_id = id;
        latest_info.attempt_id = next_attempt_id++;
        latest_info.name = name;
        latest_info.num_tasks = tasks_in_attempt;
        for (auto* p : parents) latest_info.parent_ids.push_back(p->id);
        latest_info.rdd_ids = rdd_ids;
        latest_info.rdd_infos = rdd_infos;
        latest_info.is_shuffle_map = is_shuffle_map();
    }
    /// StageInfo for a stage not yet attempted (JobStart lists every stage).
    StageInfo initial_info() const {
        StageInfo i;
        i.stage_id = id;
        i.attempt_id = next_attempt_id;
        i.name = name;
        i.num_tasks = num_tasks;
        for (auto* p : parents) i.parent_ids.push_back(p->id);
        i.rdd_ids = rdd_ids;
        i.rdd_infos = rdd_infos;
        i.is_shuffle_map = is_shuffle_map();
        return i;
    }

    const int id;
    const std::shared_ptr<RddBase> rdd;
    const int num_tasks;
    const std::vector<Stage*> parents;
    const int first_job_id;
    const std::string name;
    std::vector<int> rdd_ids;  ///< the stage's RDD and its narrow ancestors
    std::vector<RddInfo> rdd_infos;  ///< the same RDDs, described for listeners
    std::set<int> job_ids;
    int next_attempt_id = 0;
    StageInfo latest_info;
    std::set<int> failed_attempt_ids;  ///< attempts that hit FetchFailed, since the last success
};

/// Produces the map output of one shuffle. Reused by every job that needs that shuffle.
class ShuffleMapStage final : public Stage {
public:
    ShuffleMapStage(int id, std::shared_ptr<ShuffleDependencyBase> dep, std::vector<Stage*> parents, int first_job_id,
                    std::string name)
        : Stage(id, dep->rdd(), dep->rdd()->num_partitions(), std::move(parents), first_job_id, std::move(name)),
          dep(std::move(dep)) {}
    bool is_shuffle_map() const override { return true; }

    const std::shared_ptr<ShuffleDependencyBase> dep;
    std::set<int> pending_partitions;  ///< partitions still awaited in any attempt
};

/// Runs the action's function on the final RDD.
class ResultStage final : public Stage {
public:
    ResultStage(int id, std::shared_ptr<RddBase> rdd, std::shared_ptr<ResultFunctionBase> func, std::vector<int> partitions,
                std::vector<Stage*> parents, int first_job_id, std::string name)
        : Stage(id, rdd, static_cast<int>(partitions.size()), std::move(parents), first_job_id, std::move(name)),
          func(std::move(func)),
          partitions(std::move(partitions)) {}
    bool is_shuffle_map() const override { return false; }

    const std::shared_ptr<ResultFunctionBase> func;
    const std::vector<int> partitions;
    ActiveJob* active_job = nullptr;
};

}  // namespace ember::scheduler
