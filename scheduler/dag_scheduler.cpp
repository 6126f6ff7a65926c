// SPDX-License-Identifier: Apache-2.0
#include "scheduler/dag_scheduler.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_endpoint.hpp"
#include "scheduler/task_scheduler_impl.hpp"
#include "scheduler/util/sim_wait.hpp"
#include "storage/block_manager_master_endpoint.hpp"
#include "storage/serializer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <future>
#include <set>

namespace ember::scheduler {
namespace {

// Spark's RESUBMIT_TIMEOUT: coalesces a burst of fetch failures into one resubmission.
constexpr std::chrono::milliseconds kResubmitTimeout{200};

std::shared_ptr<spdlog::logger> logger() { return log::get("scheduler"); }

/// Calls fn on `rdd` and every ancestor reachable through narrow dependencies, once each (an
/// explicit stack, as Spark does, so long lineages do not overflow).
template <class Fn>
void for_each_in_stage(RddBase* rdd, Fn&& fn) {
    std::set<int> visited;
    std::vector<RddBase*> stack{rdd};
    while (!stack.empty()) {
        RddBase* r = stack.back();
        stack.pop_back();
        if (!visited.insert(r->id()).second) continue;
        fn(*r);
        for (auto& n : r->narrow_dependencies()) stack.push_back(n.rdd.get());
    }
}

/// Records `r` as one of `stage`'s RDDs (its id, and its RDDInfo for listeners).
void add_stage_rdd(Stage& stage, RddBase& r) {
    stage.rdd_ids.push_back(r.id());
    RddInfo info;
    info.id = r.id();
    info.name = std::string(r.kind());
    info.call_site = r.name();
    for (auto& n : r.narrow_dependencies()) info.parent_ids.push_back(n.rdd->id());
    for (auto& d : r.shuffle_dependencies()) info.parent_ids.push_back(d->rdd()->id());
    info.num_partitions = r.num_partitions();
    auto level = r.storage_level();
    info.storage_level = level.is_none() ? "NONE" : level.description();
    stage.rdd_infos.push_back(std::move(info));
}

/// The records task partition `p` of `rdd` carries for the stage's RDDs that keep partitions
/// out of the stage binary (RddBase::write_partition_data; parallelize's slices): every node
/// the stage binary holds (the narrow lineage, as StageCodec walks it) at every partition the
/// task reads of it. Null if there are none.
std::shared_ptr<const std::string> task_partition_data(const RddBase& rdd, int p) {
    std::vector<PartitionDatum> data;
    std::set<std::pair<int, int>> visited;
    std::vector<std::pair<const RddBase*, int>> todo{{&rdd, p}};
    while (!todo.empty()) {
        auto [node, part] = todo.back();
        todo.pop_back();
        if (!visited.insert({node->id(), part}).second) continue;
        Encoder e;
        if (node->write_partition_data(part, e)) data.push_back({node->id(), part, e.take()});
        for (const auto& dep : node->narrow_dependencies()) {
            for (int q : dep.parents(part)) todo.emplace_back(dep.rdd.get(), q);
        }
    }
    if (data.empty()) return nullptr;
    return std::make_shared<const std::string>(encode_partition_data(data));
}
}  // namespace

DAGScheduler::DAGScheduler(const Conf& conf, TaskSchedulerImpl& task_scheduler,
                           shuffle::MapOutputTrackerMaster& tracker, ListenerBus& bus, Post post)
    : conf_(conf),
      task_scheduler_(task_scheduler),
      tracker_(tracker),
      bus_(bus),
      post_(std::move(post)),
      max_consecutive_attempts_(static_cast<int>(conf.get_int("ember.stage.maxConsecutiveAttempts", 4))),
      reduce_locality_(conf.get_bool("ember.shuffle.reduceLocality.enabled", true)),
      testing_ignore_fetch_failures_(static_cast<int>(conf.get_int("ember.testing.dagScheduler.ignoreFetchFailures", 0))),
      timer_("dag-scheduler-message", task_scheduler.clock_ptr()) {}

DAGScheduler::~DAGScheduler() { timer_.stop(); }

// -- submission ------------------------------------------------------------------------------------

std::shared_ptr<JobWaiter> DAGScheduler::submit_job(std::shared_ptr<RddBase> rdd,
                                                    std::shared_ptr<ResultFunctionBase> func,
                                                    std::vector<int> partitions, ResultHandler handler,
                                                    std::string call_site, JobProperties properties) {
    for (int p : partitions) {
        if (p < 0 || p >= rdd->num_partitions()) {
            throw std::invalid_argument(fmt::format(
                "Attempting to access a non-existent partition: {}. Total number of partitions: {}", p,
                rdd->num_partitions()));
        }
    }
    int job_id = next_job_id_.fetch_add(1);
    auto waiter = std::make_shared<JobWaiter>(job_id);
    if (partitions.empty()) {
        // Spark: a job with no partitions succeeds at once and creates no stages.
        post_([this, job_id, job_group = properties[kJobGroupIdProperty]] {
            bus_.post(SparkListenerJobStart{job_id, task_scheduler_.clock().get_time_millis(), {}, job_group});
            bus_.post(SparkListenerJobEnd{job_id, task_scheduler_.clock().get_time_millis(), true, {}});
        });
        waiter->succeed();
        return waiter;
    }
    bool posted = post_([this, job_id, rdd = std::move(rdd), func = std::move(func), partitions = std::move(partitions),
                         handler = std::move(handler), call_site = std::move(call_site),
                         properties = std::move(properties), waiter]() mutable {
        handle_job_submitted(job_id, std::move(rdd), std::move(func), std::move(partitions), std::move(handler),
                             std::move(call_site), std::move(properties), std::move(waiter));
    });
    if (!posted) waiter->fail(fmt::format("Job {} cancelled because SparkContext was shut down", job_id));
    return waiter;
}

void DAGScheduler::stop() {
    timer_.stop();
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    if (post_([this, done] {
            fail_all_jobs();
            done->set_value();
        })) {
        util::wait_future_for(fut, std::chrono::seconds(10));
    } else {
        fail_all_jobs();  // the loop is gone: nothing else touches our state
    }
}

void DAGScheduler::fail_all_jobs() {
    stopped_ = true;
    fail_jobs(std::nullopt, [](int id) {
        return std::pair(fmt::format("Job {} cancelled because SparkContext was shut down", id),
                         std::string("Stage cancelled because SparkContext was shut down"));
    });
}

std::vector<std::shared_ptr<ShuffleDependencyBase>> DAGScheduler::shuffle_dependencies(
    const std::shared_ptr<RddBase>& rdd) const {
    // The shuffle dependencies a stage of `rdd` reads: the parents of that stage.
    std::vector<std::shared_ptr<ShuffleDependencyBase>> out;
    for_each_in_stage(rdd.get(), [&](RddBase& r) {
        for (auto& s : r.shuffle_dependencies()) out.push_back(s);
    });
    return out;
}

ShuffleMapStage* DAGScheduler::get_or_create_shuffle_map_stage(const std::shared_ptr<ShuffleDependencyBase>& dep,
                                                               int job_id) {
    if (auto it = shuffle_id_to_stage_.find(dep->shuffle_id()); it != shuffle_id_to_stage_.end()) return it->second;
    // Parents first, so parent stage ids are lower (SPARK-3353).
    auto parents = get_or_create_parent_stages(dep->rdd(), job_id);
    int id = next_stage_id_++;
    std::string name = dep->rdd()->name();
    auto stage = std::make_unique<ShuffleMapStage>(id, dep, std::move(parents), job_id, name);
    for_each_in_stage(dep->rdd().get(), [&](RddBase& r) { add_stage_rdd(*stage, r); });
    if (!tracker_.contains_shuffle(dep->shuffle_id())) {
        tracker_.register_shuffle(dep->shuffle_id(), dep->rdd()->num_partitions());
    }
    ShuffleMapStage* raw = stage.get();
    stages_.emplace(id, std::move(stage));
    shuffle_id_to_stage_[dep->shuffle_id()] = raw;
    return raw;
}

std::vector<Stage*> DAGScheduler::get_or_create_parent_stages(const std::shared_ptr<RddBase>& rdd, int job_id) {
    std::vector<Stage*> out;
    for (auto& dep : shuffle_dependencies(rdd)) out.push_back(get_or_create_shuffle_map_stage(dep, job_id));
    return out;
}

void DAGScheduler::update_job_ids_for_stage(Stage* stage, int job_id) {
    std::vector<Stage*> st{stage};
    while (!st.empty()) {
        Stage* s = st.back();
        st.pop_back();
        if (!s->job_ids.insert(job_id).second) continue;
        for (Stage* p : s->parents) st.push_back(p);
    }
}

void DAGScheduler::handle_job_submitted(int job_id, std::shared_ptr<RddBase> rdd,
                                        std::shared_ptr<ResultFunctionBase> func, std::vector<int> partitions,
                                        ResultHandler handler, std::string call_site, JobProperties properties,
                                        std::shared_ptr<JobWaiter> waiter) {
    if (stopped_) {
        waiter->fail(fmt::format("Job {} cancelled because SparkContext was shut down", job_id));
        return;
    }
    ResultStage* final_stage = nullptr;
    try {
        auto parents = get_or_create_parent_stages(rdd, job_id);
        int id = next_stage_id_++;
        auto stage = std::make_unique<ResultStage>(id, rdd, std::move(func), partitions, std::move(parents), job_id,
                                                   call_site);
        for_each_in_stage(rdd.get(), [&](RddBase& r) { add_stage_rdd(*stage, r); });
        final_stage = stage.get();
        stages_.emplace(id, std::move(stage));
    } catch (const std::exception& e) {
        waiter->fail(fmt::format("Job {} failed while creating its stages: {}", job_id, e.what()));
        return;
    }
    auto job = std::make_unique<ActiveJob>();
    job->job_id = job_id;
    job->final_stage = final_stage;
    job->partitions = partitions;
    job->finished.assign(partitions.size(), false);
    job->waiter = std::move(waiter);
    job->handler = std::move(handler);
    job->call_site = call_site;
    job->job_group = properties[kJobGroupIdProperty];
    job->properties = std::move(properties);
    const std::string job_group = job->job_group;
    final_stage->active_job = job.get();
    update_job_ids_for_stage(final_stage, job_id);
    logger()->info("Got job {} ({}) with {} output partitions", job_id, call_site, partitions.size());

    std::vector<StageInfo> infos;
    for (auto& [sid, s] : stages_) {
        // Spark's stage.latestInfo: a stage that already ran is listed as its last attempt,
        // with its times (so listeners know it is done and will be skipped).
        if (s->job_ids.count(job_id)) infos.push_back(s->next_attempt_id > 0 ? s->latest_info : s->initial_info());
    }
    jobs_.emplace(job_id, std::move(job));
    clear_cache_locs();
    bus_.post(SparkListenerJobStart{job_id, task_scheduler_.clock().get_time_millis(), std::move(infos), job_group});
    submit_stage(final_stage);
}

// -- stages ----------------------------------------------------------------------------------------

bool DAGScheduler::is_available(const ShuffleMapStage& s) const {
    return tracker_.num_available_outputs(s.dep->shuffle_id()) == s.num_tasks;
}

const std::vector<std::vector<std::string>>& DAGScheduler::cache_locations(const RddBase& rdd) {
    if (auto it = cache_locs_.find(rdd.id()); it != cache_locs_.end()) return it->second;
    std::vector<std::vector<std::string>> locs(static_cast<std::size_t>(rdd.num_partitions()));
    if (master_ && !rdd.storage_level().is_none()) {
        std::vector<storage::BlockId> blocks;
        for (int p = 0; p < rdd.num_partitions(); ++p) blocks.push_back(storage::RddBlockId{rdd.id(), p});
        auto where = master_->get_locations(blocks);
        for (std::size_t p = 0; p < where.size(); ++p) {
            for (auto& bm : where[p]) locs[p].push_back("executor_" + bm.host + "_" + bm.executor_id);
        }
    }
    return cache_locs_.emplace(rdd.id(), std::move(locs)).first->second;
}

std::vector<Stage*> DAGScheduler::missing_parent_stages(Stage& stage) {
    std::set<Stage*> missing;
    std::set<int> visited;
    std::vector<RddBase*> stack{stage.rdd.get()};
    while (!stack.empty()) {
        RddBase* r = stack.back();
        stack.pop_back();
        if (!visited.insert(r->id()).second) continue;
        if (!r->storage_level().is_none()) {
            const auto& locs = cache_locations(*r);
            bool has_uncached = std::any_of(locs.begin(), locs.end(), [](const auto& l) { return l.empty(); });
            if (!has_uncached) continue;  // every partition is cached: its parents are not needed
        }
        for (auto& dep : r->shuffle_dependencies()) {
            auto it = shuffle_id_to_stage_.find(dep->shuffle_id());
            ShuffleMapStage* m = it != shuffle_id_to_stage_.end()
                                     ? it->second
                                     : get_or_create_shuffle_map_stage(dep, stage.first_job_id);
            if (!is_available(*m)) missing.insert(m);
        }
        for (auto& n : r->narrow_dependencies()) stack.push_back(n.rdd.get());
    }
    std::vector<Stage*> out(missing.begin(), missing.end());
    std::sort(out.begin(), out.end(), [](Stage* a, Stage* b) { return a->id < b->id; });
    return out;
}

std::vector<int> DAGScheduler::find_missing_partitions(Stage& s) const {
    if (s.is_shuffle_map()) return tracker_.find_missing_partitions(static_cast<ShuffleMapStage&>(s).dep->shuffle_id());
    auto& r = static_cast<ResultStage&>(s);
    std::vector<int> out;
    if (!r.active_job) return out;
    for (std::size_t i = 0; i < r.active_job->finished.size(); ++i) {
        if (!r.active_job->finished[i]) out.push_back(static_cast<int>(i));  // output ids
    }
    return out;
}

std::optional<int> DAGScheduler::active_job_for_stage(const Stage& stage) const {
    for (int id : stage.job_ids) {
        if (jobs_.count(id)) return id;
    }
    return std::nullopt;
}

std::string DAGScheduler::stage_label(const Stage& s) const {
    return fmt::format("{} {} ({})", s.is_shuffle_map() ? "ShuffleMapStage" : "ResultStage", s.id, s.name);
}

std::vector<std::string> DAGScheduler::preferred_locations(RddBase& rdd, int p) {
    std::set<std::pair<int, int>> visited;
    return preferred_locations(rdd, p, visited);
}

std::vector<std::string> DAGScheduler::preferred_locations(RddBase& rdd, int p,
                                                           std::set<std::pair<int, int>>& visited) {
    if (!visited.insert({rdd.id(), p}).second) return {};
    if (rdd.storage_level().is_valid()) {
        const auto& cached = cache_locations(rdd);
        if (static_cast<std::size_t>(p) < cached.size() && !cached[static_cast<std::size_t>(p)].empty()) {
            return cached[static_cast<std::size_t>(p)];
        }
    }
    auto own = rdd.preferred_locations(p);
    if (!own.empty()) return own;
    auto shuffles = rdd.shuffle_dependencies();
    auto narrow = rdd.narrow_dependencies();
    if (reduce_locality_ && shuffles.size() == 1 && narrow.empty() && rdd.num_partitions() < 1000) {
        // A ShuffledRDD: the hosts that hold most of its input (Spark's ShuffledRDD.getPreferredLocations).
        auto hosts = tracker_.hosts_with_largest_outputs(shuffles.front()->shuffle_id(), p, 0.2);
        if (!hosts.empty()) return hosts;
    }
    for (auto& n : narrow) {
        for (int q : n.parents(p)) {
            auto locs = preferred_locations(*n.rdd, q, visited);
            if (!locs.empty()) return locs;
        }
    }
    return {};
}

void DAGScheduler::submit_stage(Stage* stage) {
    auto job_id = active_job_for_stage(*stage);
    if (!job_id) {
        abort_stage(stage, fmt::format("No active job for stage {}", stage->id));
        return;
    }
    if (waiting_.count(stage) || running_.count(stage) || failed_.count(stage)) return;
    auto missing = missing_parent_stages(*stage);
    if (missing.empty()) {
        submit_missing_tasks(stage, *job_id);
        return;
    }
    for (Stage* p : missing) submit_stage(p);
    waiting_.insert(stage);
}

void DAGScheduler::submit_missing_tasks(Stage* stage, int job_id) {
    auto missing = find_missing_partitions(*stage);
    running_.insert(stage);
    stage->make_new_stage_attempt(static_cast<int>(missing.size()));
    if (!missing.empty()) stage->latest_info.submission_time = task_scheduler_.clock().get_time_millis();
    bus_.post(SparkListenerStageSubmitted{stage->latest_info});

    std::shared_ptr<const std::string> binary;
    try {
        if (stage->is_shuffle_map()) {
            binary = std::make_shared<const std::string>(
                StageCodec::encode_shuffle_map_stage(*static_cast<ShuffleMapStage*>(stage)->dep));
        } else {
            auto* r = static_cast<ResultStage*>(stage);
            binary = std::make_shared<const std::string>(StageCodec::encode_result_stage(*r->rdd, *r->func));
        }
    } catch (const std::exception& e) {
        abort_stage(stage, fmt::format("Task serialization failed: {}", e.what()));
        return;
    }
    if (binary->size() > 1000 * 1024) {
        logger()->warn("Broadcasting large task binary with size {} KiB", binary->size() / 1024);
    }

    TaskSet ts;
    ts.stage_id = stage->id;
    ts.stage_attempt = stage->latest_info.attempt_id;
    ts.job_id = job_id;
    ts.shuffle_map = stage->is_shuffle_map();
    if (ts.shuffle_map) ts.num_reduce_partitions = static_cast<ShuffleMapStage*>(stage)->dep->num_reduce_partitions();
    ts.binary = std::move(binary);
    ts.epoch = tracker_.epoch();
    if (auto j = jobs_.find(job_id); j != jobs_.end()) {
        if (auto pool = j->second->properties.find(kSchedulerPoolProperty); pool != j->second->properties.end()) {
            ts.pool = pool->second;
        }
    }
    for (int m : missing) {
        TaskSpec spec;
        if (stage->is_shuffle_map()) {
            spec.partition = m;
            spec.output_id = m;
        } else {
            spec.partition = static_cast<ResultStage*>(stage)->partitions[static_cast<std::size_t>(m)];
            spec.output_id = m;
        }
        spec.preferred_locations = preferred_locations(*stage->rdd, spec.partition);
        // Encoded when the task launches, as Spark serializes each task in resourceOffer.
        spec.encode_partition_data = [rdd = stage->rdd, p = spec.partition] { return task_partition_data(*rdd, p); };
        ts.tasks.push_back(std::move(spec));
    }
    if (stage->is_shuffle_map()) {
        auto* s = static_cast<ShuffleMapStage*>(stage);
        s->pending_partitions.clear();
        s->pending_partitions.insert(missing.begin(), missing.end());
    }
    if (!ts.tasks.empty()) {
        // The label is formatted only when the line is logged (info is off by default).
        if (auto log = logger(); log->should_log(spdlog::level::info)) {
            log->info("Submitting {} missing tasks from {}", ts.tasks.size(), stage_label(*stage));
        }
        task_scheduler_.submit_tasks(std::move(ts));
        return;
    }
    mark_stage_as_finished(stage);
    submit_waiting_child_stages(stage);
}

void DAGScheduler::submit_waiting_child_stages(Stage* parent) {
    std::vector<Stage*> children;
    for (Stage* s : waiting_) {
        if (std::find(s->parents.begin(), s->parents.end(), parent) != s->parents.end()) children.push_back(s);
    }
    std::sort(children.begin(), children.end(), [](Stage* a, Stage* b) { return a->first_job_id < b->first_job_id; });
    for (Stage* c : children) {
        waiting_.erase(c);
        submit_stage(c);
    }
}

void DAGScheduler::mark_stage_as_finished(Stage* stage, std::optional<std::string> error) {
    stage->latest_info.completion_time = task_scheduler_.clock().get_time_millis();
    if (error) {
        stage->latest_info.failure_reason = *error;
        logger()->info("{} failed: {}", stage_label(*stage), *error);
    } else {
        stage->failed_attempt_ids.clear();  // only consecutive failures count
    }
    bus_.post(SparkListenerStageCompleted{stage->latest_info});
    running_.erase(stage);
}

void DAGScheduler::abort_stage(Stage* stage, const std::string& reason, const std::optional<TaskFailureCause>& cause) {
    if (!stages_.count(stage->id)) return;
    std::vector<ActiveJob*> dependent;
    for (auto& [_, j] : jobs_) {
        if (stage->job_ids.count(j->job_id)) dependent.push_back(j.get());
    }
    if (running_.count(stage)) {
        task_scheduler_.cancel_tasks(stage->id, "Stage aborted");
        mark_stage_as_finished(stage, reason);
    }
    for (auto* j : dependent) {
        fail_job_and_independent_stages(j, "Job aborted due to stage failure: " + reason, reason, cause);
    }
}

void DAGScheduler::fail_job_and_independent_stages(ActiveJob* job, const std::string& message,
                                                   const std::string& stage_reason,
                                                   const std::optional<TaskFailureCause>& cause) {
    for (Stage* s : std::vector<Stage*>(running_.begin(), running_.end())) {
        // Stages used only by this job stop with it (Spark's failJobAndIndependentStages): their
        // running tasks are killed, which frees their cores.
        bool shared = false;
        for (int other : s->job_ids) shared |= other != job->job_id && jobs_.count(other);
        if (s->job_ids.count(job->job_id) && !shared) {
            task_scheduler_.cancel_tasks(s->id, stage_reason);
            mark_stage_as_finished(s, stage_reason);
        }
    }
    fail_job(job, message, cause);
}

void DAGScheduler::cancel_job(int job_id, std::optional<std::string> reason) {
    post_([this, job_id, reason = std::move(reason)] {
        auto it = jobs_.find(job_id);
        if (it == jobs_.end()) {
            logger()->debug("Trying to cancel unregistered job {}", job_id);
            return;
        }
        std::string message = fmt::format("Job {} cancelled {}", job_id, reason ? "because " + *reason : "");
        while (!message.empty() && message.back() == ' ') message.pop_back();
        logger()->info("Cancelling job {}", job_id);
        fail_job_and_independent_stages(it->second.get(), message, message);
    });
}

void DAGScheduler::fail_jobs(const std::optional<std::string>& group,
                             const std::function<std::pair<std::string, std::string>(int)>& messages) {
    // Ids first: failing a job erases it from jobs_.
    std::vector<int> ids;
    for (auto& [id, j] : jobs_) {
        if (!group || j->job_group == *group) ids.push_back(id);
    }
    for (int id : ids) {
        auto it = jobs_.find(id);
        if (it == jobs_.end()) continue;
        auto [job_message, stage_reason] = messages(id);
        fail_job_and_independent_stages(it->second.get(), job_message, stage_reason);
    }
}

void DAGScheduler::cancel_job_group(std::string group) {
    post_([this, group = std::move(group)] {
        logger()->info("Cancelling job group {}", group);
        fail_jobs(group, [&](int id) {
            auto m = fmt::format("Job {} cancelled part of cancelled job group {}", id, group);
            return std::pair(m, m);
        });
    });
}

void DAGScheduler::cancel_all_jobs() {
    post_([this] {
        fail_jobs(std::nullopt, [](int id) {
            auto m = fmt::format("Job {} cancelled as part of cancellation of all jobs", id);
            return std::pair(m, m);
        });
    });
}

void DAGScheduler::fail_all_jobs_with(std::string message) {
    post_([this, message = std::move(message)] {
        fail_jobs(std::nullopt, [&](int id) { return std::pair(fmt::format("Job {} aborted: {}", id, message), message); });
    });
}

std::vector<int> DAGScheduler::active_job_ids(std::optional<std::string> group) {
    auto out = std::make_shared<std::promise<std::vector<int>>>();
    auto fut = out->get_future();
    if (!post_([this, out, group = std::move(group)] {
            std::vector<int> ids;
            for (auto& [id, j] : jobs_) {
                if (!group || j->job_group == *group) ids.push_back(id);
            }
            out->set_value(std::move(ids));
        })) {
        return {};
    }
    return fut.get();
}

void DAGScheduler::fail_job(ActiveJob* job, const std::string& error, const std::optional<TaskFailureCause>& cause) {
    auto waiter = job->waiter;
    int id = job->job_id;
    cleanup_job(job);
    bus_.post(SparkListenerJobEnd{id, task_scheduler_.clock().get_time_millis(), false, error});
    waiter->fail(error, cause);
}

void DAGScheduler::cleanup_job(ActiveJob* job) {
    int id = job->job_id;
    // Forget the stages no other active job uses, shuffle map stages too, as Spark's
    // cleanupStateForJobAndIndependentStages does: their outputs stay in the MapOutputTracker,
    // so a later job over the same shuffle makes a new stage that is available and skipped. A
    // kept stage would hold its RDD lineage (parallelize's slices included) for the life of the
    // application, and every job would walk all of them.
    for (auto it = stages_.begin(); it != stages_.end();) {
        Stage* s = it->second.get();
        s->job_ids.erase(id);
        if (s->job_ids.empty()) {
            waiting_.erase(s);
            running_.erase(s);
            failed_.erase(s);
            last_task_failure_.erase(s->id);
            if (s->is_shuffle_map()) {
                auto& map_stage = static_cast<ShuffleMapStage&>(*s);
                if (auto m = shuffle_id_to_stage_.find(map_stage.dep->shuffle_id());
                    m != shuffle_id_to_stage_.end() && m->second == s) {
                    shuffle_id_to_stage_.erase(m);
                }
            }
            it = stages_.erase(it);
        } else {
            ++it;
        }
    }
    jobs_.erase(id);
}

// -- task events -----------------------------------------------------------------------------------

void DAGScheduler::task_started(const TaskSet& ts, const TaskInfo& info) {
    bus_.post(SparkListenerTaskStart{ts.stage_id, ts.stage_attempt, info});
}

void DAGScheduler::task_ended(const TaskSet& ts, int index, TaskEndReason reason, std::string result,
                              TaskMetrics metrics, TaskInfo info) {
    TaskSet slim;
    slim.stage_id = ts.stage_id;
    slim.stage_attempt = ts.stage_attempt;
    slim.job_id = ts.job_id;
    slim.shuffle_map = ts.shuffle_map;
    slim.epoch = ts.epoch;
    slim.tasks.push_back(ts.tasks[static_cast<std::size_t>(index)]);  // only this task's spec travels
    post_([this, slim = std::move(slim), reason = std::move(reason), result = std::move(result),
           metrics = std::move(metrics), info = std::move(info)]() mutable {
        handle_task_completion(slim, 0, std::move(reason), std::move(result), std::move(metrics),
                               std::move(info));
    });
}

void DAGScheduler::task_set_failed(const TaskSet& ts, std::string reason) {
    int stage_id = ts.stage_id;
    post_([this, stage_id, reason = std::move(reason)]() mutable { handle_task_set_failed(stage_id, std::move(reason)); });
}

void DAGScheduler::executor_added(const std::string& executor_id, const std::string&) {
    post_([this, executor_id] { executor_failure_epoch_.erase(executor_id); });
}

void DAGScheduler::executor_lost(const std::string& executor_id, const std::string&) {
    post_([this, executor_id] { handle_executor_lost(executor_id); });
}

void DAGScheduler::handle_task_set_failed(int stage_id, std::string reason) {
    std::optional<TaskFailureCause> cause;
    if (auto c = last_task_failure_.find(stage_id); c != last_task_failure_.end()) {
        cause = std::move(c->second);
        last_task_failure_.erase(c);
    }
    auto it = stages_.find(stage_id);
    if (it != stages_.end()) abort_stage(it->second.get(), reason, cause);
}

void DAGScheduler::remove_executor_outputs(const std::string& executor_id, std::int64_t epoch) {
    auto it = executor_failure_epoch_.find(executor_id);
    if (it != executor_failure_epoch_.end() && it->second >= epoch) return;
    executor_failure_epoch_[executor_id] = epoch;
    int lost = tracker_.remove_outputs_on_executor(executor_id);
    // Tasks launched from here on carry a higher epoch: their outputs on this executor count.
    tracker_.increment_epoch();
    if (lost > 0) logger()->info("Executor {} lost {} map outputs (epoch {})", executor_id, lost, epoch);
}

void DAGScheduler::handle_executor_lost(const std::string& executor_id) {
    // Its cached blocks are gone with it (Spark: blockManagerMaster.removeExecutor).
    if (master_) master_->remove_executor(executor_id);
    clear_cache_locs();
    remove_executor_outputs(executor_id, tracker_.epoch());
    // Stages waiting for a parent that is now incomplete will find it missing on resubmission.
    for (Stage* s : std::vector<Stage*>(waiting_.begin(), waiting_.end())) {
        if (missing_parent_stages(*s).empty()) {
            waiting_.erase(s);
            submit_stage(s);
        }
    }
}

void DAGScheduler::handle_task_completion(const TaskSet& ts, int index, TaskEndReason reason, std::string result,
                                          TaskMetrics metrics, TaskInfo info) {
    auto sit = stages_.find(ts.stage_id);
    std::string task_type = ts.shuffle_map ? "ShuffleMapTask" : "ResultTask";
    // Accumulators are merged first, so that the TaskEnd carries them (Spark).
    std::vector<AccumulatorUpdate> accum_updates = std::move(metrics.accumulator_updates);
    metrics.accumulator_updates.clear();
    if (sit != stages_.end() && !accum_updates.empty()) {
        update_accumulators(*sit->second, ts.tasks[static_cast<std::size_t>(index)], reason, accum_updates, info);
    }
    // The listener hears about the task before any job or stage state changes (Spark).
    bus_.post(SparkListenerTaskEnd{ts.stage_id, ts.stage_attempt, task_type, std::holds_alternative<Success>(reason)
                                                                                   ? std::string("Success")
                                                                                   : to_error_string(reason),
                                   info, metrics});
    const TaskSpec& spec = ts.tasks[static_cast<std::size_t>(index)];
    if (!std::holds_alternative<Success>(reason) && !std::holds_alternative<Resubmitted>(reason)) {
        // Kept for the SparkException of an abort that may follow (handle_task_set_failed).
        last_task_failure_[ts.stage_id] =
            TaskFailureCause{reason, ts.stage_id, ts.stage_attempt, spec.partition, info.task_id, info.attempt,
                             info.executor_id};
    }
    if (sit == stages_.end()) {
        last_task_failure_.erase(ts.stage_id);
        return;  // cancelled, or a late task of a finished job
    }
    Stage* stage = sit->second.get();
    bool current_attempt = ts.stage_attempt == stage->latest_info.attempt_id;

    if (std::holds_alternative<Success>(reason)) {
        if (current_attempt) {
            stage->latest_info.metrics.merge(metrics);
            ++stage->latest_info.num_completed_tasks;
        }
        if (!stage->is_shuffle_map()) {
            auto* rs = static_cast<ResultStage*>(stage);
            ActiveJob* job = rs->active_job;
            if (!job) return;
            auto out = static_cast<std::size_t>(spec.output_id);
            if (job->finished[out]) return;
            job->finished[out] = true;
            ++job->num_finished;
            try {
                job->handler(spec.output_id, result);
            } catch (const std::exception& e) {
                fail_job(job, fmt::format("Job {} failed: the result handler threw: {}", job->job_id, e.what()));
                return;
            }
            if (job->num_finished == static_cast<int>(job->finished.size())) {
                mark_stage_as_finished(stage);
                auto waiter = job->waiter;
                int id = job->job_id;
                task_scheduler_.cancel_tasks(stage->id, "Stage finished");
                cleanup_job(job);
                logger()->info("Job {} finished", id);
                bus_.post(SparkListenerJobEnd{id, task_scheduler_.clock().get_time_millis(), true, {}});
                waiter->succeed();
            }
            return;
        }
        auto* ms = static_cast<ShuffleMapStage*>(stage);
        shuffle::MapStatus status;
        try {
            status = decode<shuffle::MapStatus>(result);
        } catch (const std::exception& e) {
            logger()->error("Malformed MapStatus from TID {}: {}", info.task_id, e.what());
            return;
        }
        ms->pending_partitions.erase(spec.partition);
        auto failed = executor_failure_epoch_.find(status.location.executor_id);
        if (failed != executor_failure_epoch_.end() && ts.epoch <= failed->second) {
            // Its executor was lost after the task finished: the output is gone.
            logger()->info("Ignoring possibly bogus ShuffleMapTask completion from lost executor {}",
                           status.location.executor_id);
        } else {
            tracker_.register_map_output(ms->dep->shuffle_id(), spec.partition, std::move(status));
        }
        if (!current_attempt) task_scheduler_.mark_partition_completed(stage->id, spec.partition);
        if (running_.count(stage) && ms->pending_partitions.empty()) {
            mark_stage_as_finished(stage);
            tracker_.increment_epoch();
            clear_cache_locs();
            if (!is_available(*ms)) {
                // Some outputs were lost while the stage ran: run the missing ones again.
                logger()->info("Resubmitting {} because some of its tasks had failed", stage_label(*stage));
                submit_stage(stage);
            } else {
                submit_waiting_child_stages(stage);
            }
        }
        return;
    }

    if (std::holds_alternative<Resubmitted>(reason)) {
        if (stage->is_shuffle_map()) static_cast<ShuffleMapStage*>(stage)->pending_partitions.insert(spec.partition);
        return;
    }

    if (auto* ff = std::get_if<FetchFailed>(&reason)) {
        if (testing_ignore_fetch_failures_ > 0) {
            // A planted bug (ember.testing.dagScheduler.ignoreFetchFailures), for the simulator's
            // seed sweeps to find: the stage waits forever for a task that will not come back.
            --testing_ignore_fetch_failures_;
            logger()->warn("Ignoring fetch failure from TID {} (ember.testing.dagScheduler.ignoreFetchFailures)",
                           info.task_id);
            return;
        }
        if (current_attempt) ++stage->latest_info.num_failed_tasks;
        if (!current_attempt) {
            logger()->info("Ignoring fetch failure from TID {}: {} has a more recent attempt", info.task_id,
                           stage_label(*stage));
            return;
        }
        ShuffleMapStage* map_stage = nullptr;
        if (auto it = shuffle_id_to_stage_.find(ff->shuffle_id); it != shuffle_id_to_stage_.end()) map_stage = it->second;
        stage->failed_attempt_ids.insert(ts.stage_attempt);
        bool should_abort = static_cast<int>(stage->failed_attempt_ids.size()) >= max_consecutive_attempts_;
        if (running_.count(stage)) {
            task_scheduler_.cancel_tasks(stage->id, "Stage failed: fetch failure");
            mark_stage_as_finished(stage, ff->message);
        }
        if (ff->map_index >= 0) tracker_.unregister_map_output(ff->shuffle_id, ff->map_index, ff->address);
        if (should_abort) {
            auto cause = last_task_failure_[stage->id];
            last_task_failure_.erase(stage->id);
            abort_stage(stage,
                        fmt::format("{} has failed the maximum allowable number of times: {}. Most recent "
                                    "failure reason:\n{}",
                                    stage_label(*stage), max_consecutive_attempts_, to_error_string(reason)),
                        cause);
            return;
        }
        failed_.insert(stage);
        if (map_stage) failed_.insert(map_stage);
        if (!ff->address.executor_id.empty()) {
            // The other outputs on that executor are most likely gone too (Spark: fileLost).
            remove_executor_outputs(ff->address.executor_id, ts.epoch);
        }
        if (!resubmit_scheduled_) {
            resubmit_scheduled_ = true;
            timer_.schedule(kResubmitTimeout, [this] { post_([this] { resubmit_failed_stages(); }); });
        }
        return;
    }
    if (current_attempt) ++stage->latest_info.num_failed_tasks;
    // Other failures: the TaskSetManager retries or aborts; nothing to do here.
}

void DAGScheduler::update_accumulators(Stage& stage, const TaskSpec& spec, const TaskEndReason& reason,
                                       const std::vector<AccumulatorUpdate>& updates, TaskInfo& info) {
    // Spark's rules: a result task's success counts only the first time its partition
    // succeeds in the job; other successes always count; of the failures, only an
    // ExceptionFailure's or TaskKilled's updates (the executor sent only those of accumulators
    // that count failed values); FetchFailed and lost tasks never count.
    const bool success = std::holds_alternative<Success>(reason);
    if (success) {
        if (!stage.is_shuffle_map()) {
            ActiveJob* job = static_cast<ResultStage&>(stage).active_job;
            auto out = static_cast<std::size_t>(spec.output_id);
            if (!job || spec.output_id < 0 || out >= job->finished.size() || job->finished[out]) return;
        }
    } else if (!std::holds_alternative<ExceptionFailure>(reason) && !std::holds_alternative<TaskKilled>(reason)) {
        return;
    }
    auto infos = AccumulatorContext::merge_updates(updates, !success, fmt::format("TID {}", info.task_id));
    for (auto& a : infos) {
        AccumulableInfo stage_value{a.id, a.name, std::nullopt, a.value, a.internal, a.count_failed_values};
        auto& acc = stage.latest_info.accumulables;
        auto it = std::find_if(acc.begin(), acc.end(), [&](const AccumulableInfo& x) { return x.id == a.id; });
        if (it == acc.end()) {
            acc.push_back(std::move(stage_value));
        } else {
            *it = std::move(stage_value);
        }
        info.accumulables.push_back(std::move(a));
    }
}

void DAGScheduler::resubmit_failed_stages() {
    resubmit_scheduled_ = false;
    if (failed_.empty()) return;
    logger()->info("Resubmitting failed stages");
    clear_cache_locs();
    std::vector<Stage*> stages(failed_.begin(), failed_.end());
    failed_.clear();
    std::sort(stages.begin(), stages.end(), [](Stage* a, Stage* b) { return a->first_job_id < b->first_job_id; });
    for (Stage* s : stages) {
        if (stages_.count(s->id)) submit_stage(s);
    }
}

}  // namespace ember::scheduler
