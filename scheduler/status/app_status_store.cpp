// SPDX-License-Identifier: Apache-2.0
#include "scheduler/status/app_status_store.hpp"

#include "storage/storage_level.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <mutex>
#include <stdexcept>

namespace ember::status {

using namespace ember::scheduler;

const char* to_string(JobStatus s) noexcept {
    switch (s) {
        case JobStatus::running: return "RUNNING";
        case JobStatus::succeeded: return "SUCCEEDED";
        case JobStatus::failed: return "FAILED";
        case JobStatus::unknown: return "UNKNOWN";
    }
    return "UNKNOWN";
}

const char* to_string(StageStatus s) noexcept {
    switch (s) {
        case StageStatus::active: return "ACTIVE";
        case StageStatus::complete: return "COMPLETE";
        case StageStatus::failed: return "FAILED";
        case StageStatus::pending: return "PENDING";
        case StageStatus::skipped: return "SKIPPED";
    }
    return "PENDING";
}

StoreLimits StoreLimits::from_conf(const Conf& conf) {
    StoreLimits l;
    auto read = [&](std::string_view key, std::size_t& out) {
        auto v = conf.get_int(key, static_cast<std::int64_t>(out));
        if (v <= 0) throw std::invalid_argument(std::string(key) + " must be a positive integer, got " + std::to_string(v));
        out = static_cast<std::size_t>(v);
    };
    read("ember.ui.retainedJobs", l.retained_jobs);
    read("ember.ui.retainedStages", l.retained_stages);
    read("ember.ui.retainedTasks", l.retained_tasks);
    read("ember.ui.retainedDeadExecutors", l.retained_dead_executors);
    return l;
}

namespace {

/// How many to drop once `size` exceeds `limit` (Spark's ElementTrackingStore: at least a tenth
/// of the limit, so eviction is amortised).
std::size_t count_to_delete(std::size_t size, std::size_t limit) {
    if (size <= limit) return 0;
    return std::max(limit / 10, size - limit);
}

/// The kill reason inside "TaskKilled (<reason>)", else the whole string.
std::string kill_reason(const std::string& reason) {
    constexpr std::string_view prefix = "TaskKilled (";
    if (reason.size() > prefix.size() && reason.compare(0, prefix.size(), prefix) == 0 && reason.back() == ')') {
        return reason.substr(prefix.size(), reason.size() - prefix.size() - 1);
    }
    return reason;
}

/// rdd id of "rdd_<id>_<partition>", or nullopt.
std::optional<int> rdd_of_block(const std::string& block) {
    if (block.rfind("rdd_", 0) != 0) return std::nullopt;
    int id = 0;
    auto* b = block.data() + 4;
    auto* e = block.data() + block.size();
    auto [p, ec] = std::from_chars(b, e, id);
    if (ec != std::errc{} || p == e || *p != '_') return std::nullopt;
    return id;
}

/// Drops Spark's internal accumulables (task metrics, from Spark's event logs): the store keeps
/// their values as metrics already (Spark's AppStatusListener drops them too).
void drop_internal(std::vector<AccumulableInfo>& accs) {
    std::erase_if(accs, [](const AccumulableInfo& a) { return a.internal; });
}

std::uint64_t shuffle_read_bytes(const TaskMetrics& m) {
    return m.shuffle_read.remote_bytes_read + m.shuffle_read.local_bytes_read;
}

}  // namespace

class AppStatusStore::Listener final : public SparkListener {
public:
    explicit Listener(AppStatusStore& store) : store_(store) {}

    void on_application_start(const SparkListenerApplicationStart& e) override {
        std::unique_lock lk(store_.mu_);
        auto& a = state().app;
        a.id = e.app_id;
        a.name = e.app_name;
        a.user = e.spark_user;
        a.start_time = e.time;
        a.last_updated = e.time;
        // The driver is an executor in Spark's lists from the start.
        auto& d = executor("driver", e.time);
        (void)d;
    }

    void on_application_end(const SparkListenerApplicationEnd& e) override {
        std::unique_lock lk(store_.mu_);
        state().app.end_time = e.time;
        state().app.last_updated = e.time;
    }

    void on_environment_update(const SparkListenerEnvironmentUpdate& e) override {
        std::unique_lock lk(store_.mu_);
        state().environment = e;
    }

    void on_job_start(const SparkListenerJobStart& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.time);
        auto& j = state().jobs[e.job_id];
        j.job_id = e.job_id;
        j.submission_time = e.time;
        j.status = JobStatus::running;
        if (!e.job_group.empty()) j.job_group = e.job_group;
        int last_stage = -1;
        for (auto& si : e.stage_infos) {
            j.stage_ids.push_back(si.stage_id);
            if (!si.completion_time) j.num_tasks = saturating_add(j.num_tasks, si.num_tasks);
            if (si.stage_id > last_stage) {
                last_stage = si.stage_id;
                j.name = si.name;
            }
            auto& s = stage(si);
            if (s.status != StageStatus::active && s.status != StageStatus::pending) {
                // A stage that already ran is listed again: Spark makes a new (pending) live
                // stage for it, which this job's end marks skipped.
                s = StageRecord{};
                s.info = si;
                drop_internal(s.info.accumulables);
            }
            if (std::find(s.job_ids.begin(), s.job_ids.end(), e.job_id) == s.job_ids.end()) s.job_ids.push_back(e.job_id);
        }
        std::sort(j.stage_ids.begin(), j.stage_ids.end());
        ++state().counters.jobs_submitted;
        evict_jobs();
    }

    void on_job_end(const SparkListenerJobEnd& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.time);
        auto it = state().jobs.find(e.job_id);
        if (it == state().jobs.end()) return;
        auto& j = it->second;
        j.status = e.succeeded ? JobStatus::succeeded : JobStatus::failed;
        j.completion_time = e.time;
        if (!e.succeeded && !e.failure.empty()) j.failure = e.failure;
        ++(e.succeeded ? state().counters.jobs_succeeded : state().counters.jobs_failed);
        // Stages of the job that never ran are skipped (Spark's onJobEnd). Only the job's own
        // stages are looked at, every attempt of each: a scan of all retained stages (up to
        // ember.ui.retainedStages) cost ~13 k instructions per job on the listener thread.
        auto& stages = state().stages;
        for (int sid : j.stage_ids) {
            auto first = stages.lower_bound({sid, std::numeric_limits<int>::min()});
            for (auto st = first; st != stages.end() && st->first.first == sid; ++st) {
                auto& s = st->second;
                if (s.status != StageStatus::pending) continue;
                if (std::find(s.job_ids.begin(), s.job_ids.end(), e.job_id) == s.job_ids.end()) continue;
                s.status = StageStatus::skipped;
                ++state().counters.stages_skipped;
                for (int jid : s.job_ids) {
                    auto jt = state().jobs.find(jid);
                    if (jt == state().jobs.end()) continue;
                    if (jt->second.skipped_stages.insert(s.info.stage_id).second) {
                        jt->second.skipped_tasks = saturating_add(jt->second.skipped_tasks, s.info.num_tasks);
                    }
                }
            }
        }
        j.active_stages.clear();
    }

    void on_stage_submitted(const SparkListenerStageSubmitted& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.stage_info.submission_time.value_or(now_ms()));
        auto& s = stage(e.stage_info);
        s.info = e.stage_info;
        drop_internal(s.info.accumulables);
        s.status = StageStatus::active;
        ++state().counters.stages_submitted;
        for (int jid : s.job_ids) {
            auto jt = state().jobs.find(jid);
            if (jt == state().jobs.end()) continue;
            jt->second.active_stages.insert(s.info.stage_id);
            jt->second.completed_stages.erase(s.info.stage_id);
        }
        for (auto& r : e.stage_info.rdd_infos) {
            if (r.storage_level == "NONE") continue;
            auto& rec = state().rdds[r.id];  // Spark's LiveRDD: from its first stage until unpersist
            rec.id = r.id;
            rec.name = r.name;
            rec.num_partitions = r.num_partitions;
            rec.storage_level = r.storage_level;
        }
        evict_stages();
    }

    void on_stage_completed(const SparkListenerStageCompleted& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.stage_info.completion_time.value_or(now_ms()));
        for (auto& [_, ex] : state().executors) ex.excluded_in_stages.erase(e.stage_info.stage_id);
        auto& s = stage(e.stage_info);
        auto metrics = s.metrics;  // ours count every task; the scheduler's only successes
        s.info = e.stage_info;
        s.metrics = metrics;
        drop_internal(s.info.accumulables);
        bool failed = e.stage_info.failure_reason.has_value();
        s.status = failed ? StageStatus::failed : StageStatus::complete;
        ++(failed ? state().counters.stages_failed : state().counters.stages_completed);
        for (int jid : s.job_ids) {
            auto jt = state().jobs.find(jid);
            if (jt == state().jobs.end()) continue;
            jt->second.active_stages.erase(s.info.stage_id);
            if (failed) ++jt->second.failed_stages;
            else jt->second.completed_stages.insert(s.info.stage_id);
        }
        evict_stages();
    }

    void on_task_start(const SparkListenerTaskStart& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.task_info.launch_time);
        ++state().counters.tasks_started;
        auto sit = state().stages.find({e.stage_id, e.stage_attempt_id});
        if (sit != state().stages.end()) {
            auto& s = sit->second;
            ++s.active_tasks;
            if (!s.first_task_launched_time || e.task_info.launch_time < *s.first_task_launched_time) {
                s.first_task_launched_time = e.task_info.launch_time;
            }
            TaskRecord t;
            t.info = e.task_info;
            s.tasks[e.task_info.task_id] = std::move(t);
            for (int jid : s.job_ids) {
                auto jt = state().jobs.find(jid);
                if (jt != state().jobs.end()) ++jt->second.active_tasks;
            }
            evict_tasks(s);
        }
        auto& ex = executor(e.task_info.executor_id, e.task_info.launch_time);
        if (ex.host.empty()) ex.host = e.task_info.host;
        ++ex.active_tasks;
        ++ex.total_tasks;  // Spark counts a task at its start
    }

    void on_task_getting_result(const SparkListenerTaskGettingResult& e) override {
        std::unique_lock lk(store_.mu_);
        for (auto& [key, s] : state().stages) {
            auto t = s.tasks.find(e.task_info.task_id);
            if (t == s.tasks.end()) continue;
            t->second.info.getting_result_time = e.task_info.getting_result_time;
            if (!t->second.finished) t->second.status = "GET RESULT";
            return;
        }
    }

    void on_task_end(const SparkListenerTaskEnd& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.task_info.finish_time);
        const bool success = e.reason == "Success";
        const bool killed = !success && (e.task_info.killed || e.reason.rfind("TaskKilled", 0) == 0 ||
                                          e.reason.rfind("TaskCommitDenied", 0) == 0);
        const bool resubmitted = e.reason == "Resubmitted";
        const int completed_delta = success ? 1 : 0;
        const int killed_delta = killed ? 1 : 0;
        const int failed_delta = (!success && !killed) ? 1 : 0;
        auto& c = state().counters;
        if (success) ++c.tasks_succeeded;
        else if (killed) ++c.tasks_killed;
        else ++c.tasks_failed;
        c.task_metrics.merge(e.task_metrics);
        const std::int64_t duration =
            std::max<std::int64_t>(0, saturating_sub(e.task_info.finish_time, e.task_info.launch_time));

        auto sit = state().stages.find({e.stage_id, e.stage_attempt_id});
        if (sit != state().stages.end()) {
            auto& s = sit->second;
            // A Resubmitted task had already ended (a lost map output): it is not active again.
            if (!resubmitted) s.active_tasks = std::max(0, s.active_tasks - 1);
            s.complete_tasks += completed_delta;
            s.failed_tasks += failed_delta;
            s.killed_tasks += killed_delta;
            if (killed) ++s.killed_summary[kill_reason(e.reason)];
            s.metrics.merge(e.task_metrics);
            if (success) s.completed_indices.insert(e.task_info.index);
            auto& t = s.tasks[e.task_info.task_id];
            t.info = e.task_info;
            drop_internal(t.info.accumulables);
            // The stage shows each accumulator's latest merged value while it runs (Spark's
            // live StageInfo is the scheduler's own object); StageCompleted then sets them all.
            for (const auto& a : t.info.accumulables) {
                AccumulableInfo v{a.id, a.name, std::nullopt, a.value, a.internal, a.count_failed_values};
                auto& accs = s.info.accumulables;
                auto it = std::find_if(accs.begin(), accs.end(), [&](const AccumulableInfo& x) { return x.id == a.id; });
                if (it == accs.end()) {
                    accs.push_back(std::move(v));
                } else {
                    *it = std::move(v);
                }
            }
            t.finished = true;
            t.metrics = e.task_metrics;
            t.status = success ? "SUCCESS" : killed ? "KILLED" : "FAILED";
            if (!success) t.error = killed ? kill_reason(e.reason) : e.reason;
            auto& es = s.executor_summary[e.task_info.executor_id];
            es.task_time_ms = saturating_add(es.task_time_ms, duration);
            es.succeeded_tasks += completed_delta;
            es.failed_tasks += failed_delta;
            es.killed_tasks += killed_delta;
            es.metrics.merge(e.task_metrics);
            for (int jid : s.job_ids) {
                auto jt = state().jobs.find(jid);
                if (jt == state().jobs.end()) continue;
                auto& j = jt->second;
                if (!resubmitted) j.active_tasks = std::max(0, j.active_tasks - 1);
                j.completed_tasks += completed_delta;
                j.failed_tasks += failed_delta;
                j.killed_tasks += killed_delta;
                if (killed) ++j.killed_summary[kill_reason(e.reason)];
                if (success) j.completed_indices[e.stage_id].insert(e.task_info.index);
            }
            evict_tasks(s);
        }
        auto& ex = executor(e.task_info.executor_id, e.task_info.launch_time);
        if (!resubmitted) ex.active_tasks = std::max(0, ex.active_tasks - 1);
        ex.completed_tasks += completed_delta;
        ex.failed_tasks += failed_delta;
        ex.total_duration_ms = saturating_add(ex.total_duration_ms, duration);
        if (!resubmitted) {
            ex.total_input_bytes += e.task_metrics.input_bytes_read;
            ex.total_shuffle_read += shuffle_read_bytes(e.task_metrics);
            ex.total_shuffle_write += e.task_metrics.shuffle_write.bytes_written;
        }
    }

    void on_executor_added(const SparkListenerExecutorAdded& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.time);
        auto& ex = executor(e.executor_id, e.time);
        ex.host = e.host;
        ex.total_cores = e.total_cores;
        ex.max_tasks = e.total_cores;  // ember.task.cpus is 1
        ex.is_active = true;
        ex.add_time = e.time;
        ex.remove_time.reset();
        ex.remove_reason.reset();
        ++state().counters.executors_added;
    }

    void on_executor_removed(const SparkListenerExecutorRemoved& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.time);
        auto it = state().executors.find(e.executor_id);
        if (it == state().executors.end()) return;
        auto& ex = it->second;
        ex.is_active = false;
        ex.remove_time = e.time;
        ex.remove_reason = e.reason;
        ex.active_tasks = 0;
        ++state().counters.executors_removed;
        drop_blocks_of(e.executor_id);
        evict_dead_executors();
    }

    void on_block_manager_added(const SparkListenerBlockManagerAdded& e) override {
        std::unique_lock lk(store_.mu_);
        auto& ex = executor(e.executor_id, e.time);
        if (ex.host.empty()) ex.host = e.host;
        ex.host_port = e.host + ":" + std::to_string(e.port);
        ex.max_memory = e.max_memory;
        ex.has_block_manager = true;
    }

    void on_block_manager_removed(const SparkListenerBlockManagerRemoved& e) override {
        std::unique_lock lk(store_.mu_);
        drop_blocks_of(e.executor_id);
    }

    void on_unpersist_rdd(const SparkListenerUnpersistRDD& e) override {
        std::unique_lock lk(store_.mu_);
        auto it = state().rdds.find(e.rdd_id);
        if (it != state().rdds.end()) {
            for (auto& [block, p] : it->second.partitions) {
                for (auto& [exec, sizes] : p.executors) release(exec, sizes.first, sizes.second, true);
            }
            state().rdds.erase(it);
        }
    }

    void on_block_updated(const SparkListenerBlockUpdated& e) override {
        std::unique_lock lk(store_.mu_);
        auto rdd_id = rdd_of_block(e.block_id);
        const bool present = (e.use_memory || e.use_disk) && e.replication > 0;
        if (!rdd_id) {
            return;  // broadcast and task-result blocks are not shown per executor
        }
        auto& st = state();
        auto rit = st.rdds.find(*rdd_id);
        if (rit == st.rdds.end()) {
            if (!present) return;
            RddRecord r;
            r.id = *rdd_id;
            // Cached RDDs get their record when a stage announces them; this one no stage did.
            r.name = "rdd_" + std::to_string(*rdd_id);
            rit = st.rdds.emplace(*rdd_id, std::move(r)).first;
        }
        auto& rdd = rit->second;
        auto& part = rdd.partitions[e.block_id];
        // Replace this executor's copy.
        if (auto old = part.executors.find(e.executor_id); old != part.executors.end()) {
            release(e.executor_id, old->second.first, old->second.second, true);
            part.memory_used -= std::min(part.memory_used, old->second.first);
            part.disk_used -= std::min(part.disk_used, old->second.second);
            part.executors.erase(old);
        }
        if (present) {
            StorageLevel level;
            level.use_disk = e.use_disk;
            level.use_memory = e.use_memory;
            level.deserialized = e.deserialized;
            level.replication = e.replication;
            part.storage_level = level.description();
            if (rdd.storage_level == "NONE") rdd.storage_level = part.storage_level;
            part.executors[e.executor_id] = {e.memory_size, e.disk_size};
            part.memory_used += e.memory_size;
            part.disk_used += e.disk_size;
            auto& ex = executor(e.executor_id, now_ms());
            ex.memory_used += e.memory_size;
            ex.disk_used += e.disk_size;
            ++ex.rdd_blocks;
        }
        if (part.executors.empty()) rdd.partitions.erase(e.block_id);
    }

    // excludeOnFailure (Spark's AppStatusListener.updateExclusionStatus and friends).
    void set_excluded(const std::string& executor_id, bool excluded) {
        auto it = state().executors.find(executor_id);
        if (it != state().executors.end()) it->second.is_excluded = excluded;
    }
    void set_node_excluded(const std::string& host, bool excluded) {
        for (auto& [_, ex] : state().executors) {
            if (ex.host == host) ex.is_excluded = excluded;
        }
    }
    void on_executor_excluded(const SparkListenerExecutorExcluded& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.time);
        set_excluded(e.executor_id, true);
    }
    void on_executor_unexcluded(const SparkListenerExecutorUnexcluded& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.time);
        set_excluded(e.executor_id, false);
    }
    void on_node_excluded(const SparkListenerNodeExcluded& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.time);
        set_node_excluded(e.host_id, true);
    }
    void on_node_unexcluded(const SparkListenerNodeUnexcluded& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.time);
        set_node_excluded(e.host_id, false);
    }
    void on_executor_excluded_for_stage(const SparkListenerExecutorExcludedForStage& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.time);
        auto it = state().executors.find(e.executor_id);
        if (it != state().executors.end()) it->second.excluded_in_stages.insert(e.stage_id);
    }
    void on_node_excluded_for_stage(const SparkListenerNodeExcludedForStage& e) override {
        std::unique_lock lk(store_.mu_);
        touch(e.time);
        for (auto& [_, ex] : state().executors) {
            if (ex.host == e.host_id) ex.excluded_in_stages.insert(e.stage_id);
        }
    }

    void on_executor_metrics_update(const SparkListenerExecutorMetricsUpdate& e) override {
        std::unique_lock lk(store_.mu_);
        auto it = state().executors.find(e.executor_id);
        if (it == state().executors.end()) return;
        update_metrics(it->second, e.metrics);
    }

    static void update_metrics(ExecutorRecord& ex, const ExecutorMetrics& m) {
        ex.latest_metrics = m;
        if (!ex.peak_metrics) ex.peak_metrics = m;
        else ex.peak_metrics->update_peaks(m);
    }

private:
    using StorageLevel = storage::StorageLevel;

    AppState& state() { return store_.state_; }
    void touch(std::int64_t t) { state().app.last_updated = std::max(state().app.last_updated, t); }

    StageRecord& stage(const StageInfo& info) {
        auto [it, inserted] = state().stages.try_emplace({info.stage_id, info.attempt_id});
        if (inserted) {
            it->second.info = info;
            drop_internal(it->second.info.accumulables);
        }
        return it->second;
    }

    ExecutorRecord& executor(const std::string& id, std::int64_t time) {
        auto [it, inserted] = state().executors.try_emplace(id);
        if (inserted) {
            it->second.id = id;
            it->second.add_time = time;
        }
        return it->second;
    }

    /// Takes a removed copy's bytes off its executor's totals.
    void release(const std::string& exec, std::uint64_t mem, std::uint64_t disk, bool rdd_block) {
        auto it = state().executors.find(exec);
        if (it == state().executors.end()) return;
        auto& ex = it->second;
        ex.memory_used -= std::min(ex.memory_used, mem);
        ex.disk_used -= std::min(ex.disk_used, disk);
        if (rdd_block && ex.rdd_blocks > 0) --ex.rdd_blocks;
    }

    /// An executor's cached blocks are gone with it.
    void drop_blocks_of(const std::string& exec) {
        auto& st = state();
        for (auto rit = st.rdds.begin(); rit != st.rdds.end();) {
            auto& parts = rit->second.partitions;
            for (auto pit = parts.begin(); pit != parts.end();) {
                auto e = pit->second.executors.find(exec);
                if (e != pit->second.executors.end()) {
                    pit->second.memory_used -= std::min(pit->second.memory_used, e->second.first);
                    pit->second.disk_used -= std::min(pit->second.disk_used, e->second.second);
                    pit->second.executors.erase(e);
                }
                pit = pit->second.executors.empty() ? parts.erase(pit) : std::next(pit);
            }
            ++rit;
        }
        if (auto it = st.executors.find(exec); it != st.executors.end()) {
            it->second.memory_used = 0;
            it->second.disk_used = 0;
            it->second.rdd_blocks = 0;
        }
    }

    void evict_jobs() {
        auto& jobs = state().jobs;
        auto n = count_to_delete(jobs.size(), store_.limits_.retained_jobs);
        for (auto it = jobs.begin(); n > 0 && it != jobs.end();) {
            if (it->second.status != JobStatus::running) {
                it = jobs.erase(it);
                --n;
            } else {
                ++it;
            }
        }
    }

    void evict_stages() {
        auto& stages = state().stages;
        auto n = count_to_delete(stages.size(), store_.limits_.retained_stages);
        for (auto it = stages.begin(); n > 0 && it != stages.end();) {
            auto st = it->second.status;
            if (st != StageStatus::active && st != StageStatus::pending) {
                it = stages.erase(it);
                --n;
            } else {
                ++it;
            }
        }
    }

    void evict_tasks(StageRecord& s) {
        auto n = count_to_delete(s.tasks.size(), store_.limits_.retained_tasks);
        for (auto it = s.tasks.begin(); n > 0 && it != s.tasks.end();) {
            if (it->second.finished) {
                it = s.tasks.erase(it);
                --n;
            } else {
                ++it;
            }
        }
    }

    void evict_dead_executors() {
        auto& execs = state().executors;
        std::size_t dead = 0;
        for (auto& [id, e] : execs) dead += e.is_active ? 0 : 1;
        auto n = count_to_delete(dead, store_.limits_.retained_dead_executors);
        while (n-- > 0) {
            auto oldest = execs.end();
            for (auto it = execs.begin(); it != execs.end(); ++it) {
                if (it->second.is_active) continue;
                if (oldest == execs.end() || it->second.remove_time < oldest->second.remove_time) oldest = it;
            }
            if (oldest == execs.end()) break;
            execs.erase(oldest);
        }
    }

    AppStatusStore& store_;
};

AppStatusStore::AppStatusStore(StoreLimits limits) : limits_(limits), listener_(std::make_shared<Listener>(*this)) {}

AppStatusStore::~AppStatusStore() = default;

std::shared_ptr<SparkListener> AppStatusStore::listener() { return listener_; }

void AppStatusStore::set_app_version(std::string version) {
    std::unique_lock lk(mu_);
    state_.app.spark_version = std::move(version);
}

void AppStatusStore::update_driver_metrics(const ExecutorMetrics& m) {
    std::unique_lock lk(mu_);
    auto it = state_.executors.find("driver");
    if (it == state_.executors.end()) return;
    Listener::update_metrics(it->second, m);
}

}  // namespace ember::status
