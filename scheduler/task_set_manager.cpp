// SPDX-License-Identifier: Apache-2.0
#include "scheduler/task_set_manager.hpp"

#include "rpc/log.hpp"
#include "scheduler/dag_scheduler.hpp"
#include "scheduler/health_tracker.hpp"
#include "scheduler/task_scheduler_impl.hpp"
#include "shuffle/map_status.hpp"

#include <fmt/compile.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string_view>

namespace ember::scheduler {
namespace {

constexpr std::string_view kExecutorLocationTag = "executor_";
constexpr std::string_view kHdfsCacheLocationTag = "hdfs_cache_";

}  // namespace

TaskSetManager::TaskSetManager(TaskSchedulerImpl& sched, TaskSet ts, const TaskSetSettings& settings)
    : sched_(sched),
      ts_(std::move(ts)),
      settings_(settings),
      // "TaskSet_" + TaskSet::name(), in one compiled format.
      name_(fmt::format(FMT_COMPILE("TaskSet_{}.{}"), ts_.stage_id, ts_.stage_attempt)),
      locations_(ts_.tasks.size()),
      successful_(ts_.tasks.size(), false),
      num_failures_(ts_.tasks.size(), 0),
      attempts_(ts_.tasks.size(), 0),
      succeeded_tid_(ts_.tasks.size(), -1),
      copies_running_(ts_.tasks.size(), 0),
      task_attempts_(ts_.tasks.size()) {
    infos_.reserve(ts_.tasks.size());
    if (sched_.health_tracker()) {
        excludelist_.emplace(sched_.exclude_settings(), &sched_.bus(), ts_.stage_id, ts_.stage_attempt,
                             sched_.exclude_clock());
    }
    for (std::size_t i = 0; i < ts_.tasks.size(); ++i) {
        for (const auto& loc : ts_.tasks[i].preferred_locations) {
            std::string_view s = loc;
            if (s.starts_with(kExecutorLocationTag)) {
                // executor_<host>_<executorId>
                s.remove_prefix(kExecutorLocationTag.size());
                auto sep = s.find('_');
                if (sep == std::string_view::npos) continue;
                locations_[i].push_back({std::string(s.substr(0, sep)), std::string(s.substr(sep + 1))});
            } else if (s.starts_with(kHdfsCacheLocationTag)) {
                locations_[i].push_back({std::string(s.substr(kHdfsCacheLocationTag.size())), {}});
            } else if (!s.empty()) {
                locations_[i].push_back({std::string(s), {}});
            }
        }
    }
    // Pushed in reverse so that low indexes launch first (Spark).
    for (int i = static_cast<int>(ts_.tasks.size()) - 1; i >= 0; --i) add_pending_task(i, false);
    recompute_locality();
    current_level_ = 0;
    last_reset_ms_ = sched_.clock().get_time_millis();
}

void TaskSetManager::add_pending_task(int index, bool speculative) {
    PendingTasks& p = speculative ? speculative_ : pending_;
    const auto& locs = locations_[static_cast<std::size_t>(index)];
    for (const auto& loc : locs) {
        if (!loc.executor_id.empty()) p.for_executor[loc.executor_id].push_back(index);
        p.for_host[loc.host].push_back(index);
    }
    if (locs.empty()) p.no_prefs.push_back(index);
    p.all.push_back(index);
}

void TaskSetManager::forget_unlaunched(std::int64_t tid) {
    if (running_.erase(tid)) --copies_running_[static_cast<std::size_t>(infos_[tid].index)];
}

// -- locality -----------------------------------------------------------------------------------

void TaskSetManager::recompute_locality() {
    std::vector<TaskLocality> previous = levels_;
    std::size_t previous_index = current_level_;
    TaskLocality previous_level = previous.empty() ? TaskLocality::any : previous[current_level_];

    levels_.clear();
    auto any_alive = [&](const std::unordered_map<std::string, std::vector<int>>& lists, bool executors) {
        for (const auto& [key, _] : lists) {
            if (executors ? sched_.has_executor(key) : sched_.has_executors_on_host(key)) return true;
        }
        return false;
    };
    if (any_alive(pending_.for_executor, true)) levels_.push_back(TaskLocality::process_local);
    if (any_alive(pending_.for_host, false)) levels_.push_back(TaskLocality::node_local);
    if (!pending_.no_prefs.empty()) levels_.push_back(TaskLocality::no_pref);
    levels_.push_back(TaskLocality::any);

    current_level_ = locality_index(previous_level);
    if (!previous.empty() && current_level_ > previous_index) {
        // SPARK-31837: a more local level appeared; move to it rather than stay less local.
        for (std::size_t i = 0; i < levels_.size(); ++i) {
            if (std::find(previous.begin(), previous.end(), levels_[i]) == previous.end()) {
                current_level_ = i;
                break;
            }
        }
    }
}

std::size_t TaskSetManager::locality_index(TaskLocality l) const {
    std::size_t i = 0;
    while (i + 1 < levels_.size() && l > levels_[i]) ++i;
    return i;
}

std::int64_t TaskSetManager::locality_wait(TaskLocality l) const {
    switch (l) {
        case TaskLocality::process_local: return settings_.wait_process_ms;
        case TaskLocality::node_local: return settings_.wait_node_ms;
        case TaskLocality::rack_local: return settings_.wait_rack_ms;
        default: return 0;
    }
}

bool TaskSetManager::needs_scheduling(int index, bool speculative) const {
    auto i = static_cast<std::size_t>(index);
    if (successful_[i]) return false;
    return speculative ? copies_running_[i] == 1 : copies_running_[i] == 0;
}

bool TaskSetManager::more_tasks_in(std::vector<int>& list) {
    while (!list.empty()) {
        if (needs_scheduling(list.back(), false)) return true;
        list.pop_back();
    }
    return false;
}

bool TaskSetManager::more_tasks_in(std::unordered_map<std::string, std::vector<int>>& lists) {
    bool more = false;
    for (auto it = lists.begin(); it != lists.end();) {
        if (more_tasks_in(it->second)) {
            more = true;
            ++it;
        } else {
            it = lists.erase(it);
        }
    }
    return more;
}

TaskLocality TaskSetManager::allowed_locality(std::int64_t now) {
    while (current_level_ + 1 < levels_.size()) {
        bool more = true;
        switch (levels_[current_level_]) {
            case TaskLocality::process_local: more = more_tasks_in(pending_.for_executor); break;
            case TaskLocality::node_local: more = more_tasks_in(pending_.for_host); break;
            case TaskLocality::no_pref: more = more_tasks_in(pending_.no_prefs); break;
            default: more = more_tasks_in(pending_.all); break;
        }
        std::int64_t wait = locality_wait(levels_[current_level_]);
        if (!more) {
            // Nothing left at this level: move on without waiting (SPARK-4939).
            last_reset_ms_ = now;
            ++current_level_;
        } else if (now - last_reset_ms_ >= wait) {
            last_reset_ms_ += wait;
            ++current_level_;
        } else {
            break;
        }
    }
    return levels_[current_level_];
}

void TaskSetManager::reset_delay_timer(std::optional<TaskLocality> min_locality) {
    last_reset_ms_ = sched_.clock().get_time_millis();
    if (min_locality) current_level_ = locality_index(*min_locality);
}

bool TaskSetManager::excluded_on(int index, const std::string& executor_id, const std::string& host) const {
    return excludelist_ && (excludelist_->is_node_excluded_for_task(host, index) ||
                            excludelist_->is_executor_excluded_for_task(executor_id, index));
}

bool TaskSetManager::has_attempt_on(int index, const std::string& executor_id, const std::string& host) const {
    // Spark keeps copies off the hosts a task ran on. With every executor on one host (as on
    // local-cluster) that would forbid speculation altogether, so ember then compares executors.
    bool by_host = !sched_.single_host();
    for (auto tid : task_attempts_[static_cast<std::size_t>(index)]) {
        const TaskInfo& info = infos_.at(tid);
        if (by_host ? info.host == host : info.executor_id == executor_id) return true;
    }
    return false;
}

std::optional<int> TaskSetManager::dequeue_from(std::vector<int>& list, const std::string& executor_id,
                                                const std::string& host, bool speculative) {
    for (std::size_t i = list.size(); i-- > 0;) {
        int index = list[i];
        if (excluded_on(index, executor_id, host)) continue;                    // kept for others
        if (speculative && has_attempt_on(index, executor_id, host)) continue;  // kept for others
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));             // almost always the tail
        if (needs_scheduling(index, speculative)) return index;
    }
    return std::nullopt;
}

std::optional<TaskSetManager::Dequeued> TaskSetManager::dequeue_task(const std::string& executor_id,
                                                                     const std::string& host,
                                                                     TaskLocality max_locality) {
    // Regular tasks first, then speculative copies (Spark's dequeueTask).
    for (bool speculative : {false, true}) {
        if (speculative && speculatable_.empty()) break;
        PendingTasks& p = speculative ? speculative_ : pending_;
        if (auto it = p.for_executor.find(executor_id); it != p.for_executor.end()) {
            if (auto i = dequeue_from(it->second, executor_id, host, speculative)) {
                return Dequeued{*i, TaskLocality::process_local, speculative};
            }
        }
        if (max_locality >= TaskLocality::node_local) {
            if (auto it = p.for_host.find(host); it != p.for_host.end()) {
                if (auto i = dequeue_from(it->second, executor_id, host, speculative)) {
                    return Dequeued{*i, TaskLocality::node_local, speculative};
                }
            }
        }
        if (max_locality >= TaskLocality::no_pref) {
            // Tasks without preference count as PROCESS_LOCAL wherever they run (Spark).
            if (auto i = dequeue_from(p.no_prefs, executor_id, host, speculative)) {
                return Dequeued{*i, TaskLocality::process_local, speculative};
            }
        }
        if (max_locality >= TaskLocality::any) {
            if (auto i = dequeue_from(p.all, executor_id, host, speculative)) {
                return Dequeued{*i, TaskLocality::any, speculative};
            }
        }
    }
    return std::nullopt;
}

TaskSetManager::Offer TaskSetManager::resource_offer(const std::string& executor_id, const std::string& host,
                                                     TaskLocality max_locality, std::int64_t task_id) {
    Offer out;
    if (zombie_) return out;
    if (excludelist_ &&
        (excludelist_->is_node_excluded_for_task_set(host) || excludelist_->is_executor_excluded_for_task_set(executor_id))) {
        return out;
    }
    std::int64_t now = 0;
    TaskLocality allowed = max_locality;
    if (max_locality != TaskLocality::no_pref) {
        now = sched_.clock().get_time_millis();
        allowed = std::min(allowed_locality(now), max_locality);
    }
    auto d = dequeue_task(executor_id, host, allowed);
    if (!d) {
        out.delay_rejected =
            max_locality == TaskLocality::any && (!pending_.all.empty() || !speculative_.all.empty());
        return out;
    }
    if (settings_.legacy_locality_reset && max_locality != TaskLocality::no_pref) {
        current_level_ = locality_index(d->locality);
        last_reset_ms_ = now;
    }

    int index = d->index;
    auto i = static_cast<std::size_t>(index);
    auto& spec = ts_.tasks[i];
    if (spec.encode_partition_data) {
        // The task's records are encoded at its first launch (Spark's resourceOffer serializes
        // the task there); later attempts reuse them.
        try {
            spec.partition_data = spec.encode_partition_data();
            spec.encode_partition_data = nullptr;
        } catch (const std::exception& e) {
            std::string msg = fmt::format("Failed to serialize task {}, not attempting to retry it.", task_id);
            log::get("scheduler")->error("{} {}", msg, e.what());
            abort(fmt::format("{} Exception during serialization: {}", msg, e.what()));
            return out;
        }
    }
    int attempt = attempts_[i]++;
    TaskInfo info;
    info.task_id = task_id;
    info.index = index;
    info.attempt = attempt;
    info.partition_id = spec.partition;
    info.launch_time = now != 0 ? now : sched_.clock().get_time_millis();
    info.executor_id = executor_id;
    info.host = host;
    info.locality = d->locality;
    info.speculative = d->speculative;
    infos_[task_id] = info;
    running_.insert(task_id);
    task_attempts_[i].push_back(task_id);
    ++copies_running_[i];
    if (d->speculative) {
        speculatable_.erase(index);
        log::get("scheduler")->info("Starting speculative task {}.{} in stage {} (TID {}) ({}, executor {}, {})",
                                    index, attempt, ts_.name(), task_id, host, executor_id, to_string(d->locality));
    }

    TaskLaunch launch;
    auto& desc = launch.desc;
    desc.task_id = task_id;
    desc.attempt_number = attempt;
    desc.executor_id = executor_id;
    desc.name = fmt::format(FMT_COMPILE("task {}.{} in stage {}.{} (TID {})"), index, attempt, ts_.stage_id,
                            ts_.stage_attempt, task_id);
    desc.index = index;
    desc.partition_id = spec.partition;
    desc.stage_id = ts_.stage_id;
    desc.stage_attempt = ts_.stage_attempt;
    desc.job_id = ts_.job_id;
    desc.epoch = ts_.epoch;
    desc.cpus = sched_.cpus_per_task();
    desc.shuffle_map = ts_.shuffle_map;
    desc.partition_data = spec.partition_data;
    launch.binary = ts_.binary;
    sched_.dag().task_started(ts_, info);
    out.launch = std::move(launch);
    out.locality = d->locality;
    return out;
}

bool TaskSetManager::short_tasks() const noexcept {
    std::int64_t limit = sched_.short_task_ns();
    return limit > 0 && timed_tasks_ >= 2 && timed_ns_ < limit * timed_tasks_;
}

// -- task ends ----------------------------------------------------------------------------------

void TaskSetManager::kill_other_attempts(int index, std::int64_t winner) {
    for (auto tid : task_attempts_[static_cast<std::size_t>(index)]) {
        if (tid == winner || !running_.count(tid)) continue;
        const TaskInfo& other = infos_.at(tid);
        log::get("scheduler")->info(
            "Killing attempt {} for task {}.{} in stage {} (TID {}) on {} as the attempt {} succeeded on {}",
            other.attempt, index, other.attempt, ts_.name(), tid, other.host, infos_.at(winner).attempt,
            infos_.at(winner).host);
        sched_.kill_task(tid, "another attempt succeeded");
    }
}

std::optional<std::string> TaskSetManager::invalid_map_status(const TaskInfo& info, std::string_view result) const {
    shuffle::MapStatus status;
    try {
        status = decode<shuffle::MapStatus>(result);
    } catch (const std::exception& e) {
        return fmt::format("its MapStatus does not decode: {}", e.what());
    }
    const auto& spec = ts_.tasks[static_cast<std::size_t>(info.index)];
    if (status.sizes.size() != static_cast<std::size_t>(ts_.num_reduce_partitions)) {
        return fmt::format("its MapStatus has {} block sizes for {} reduce partitions", status.sizes.size(),
                           ts_.num_reduce_partitions);
    }
    if (status.location.executor_id != info.executor_id) {
        return fmt::format("its MapStatus places the output on executor {}, but the task ran on executor {}",
                           status.location.executor_id, info.executor_id);
    }
    if (status.map_index != spec.partition || status.map_id != info.task_id) {
        return fmt::format("its MapStatus names map {} (attempt {}), not map {} (attempt {})", status.map_index,
                           status.map_id, spec.partition, info.task_id);
    }
    for (auto size : status.sizes) {
        if (size > (std::uint64_t{1} << 50)) return fmt::format("its MapStatus has an impossible block size {}", size);
    }
    return std::nullopt;
}

void TaskSetManager::handle_successful_task(std::int64_t tid, std::string result, const TaskMetrics& metrics) {
    auto it = infos_.find(tid);
    if (it == infos_.end() || !running_.count(tid)) return;
    TaskInfo& info = it->second;
    if (ts_.shuffle_map) {
        // Checked before the task counts as done: a malformed output fails the task (it is
        // retried, and the job fails after ember.task.maxFailures) instead of hanging the stage.
        if (auto why = invalid_map_status(info, result)) {
            log::get("scheduler")->warn("TID {} in stage {} on executor {} finished, but {}", tid, ts_.name(),
                                        info.executor_id, *why);
            handle_failed_task(tid, TaskState::failed,
                               ExceptionFailure{"ember.InvalidMapStatus",
                                                fmt::format("TID {} finished, but {}", tid, *why), {}},
                               metrics);
            return;
        }
    }
    info.finish_time = sched_.clock().get_time_millis();
    running_.erase(tid);
    auto index = static_cast<std::size_t>(info.index);
    --copies_running_[index];
    if (successful_[index]) {
        // Another attempt already succeeded: this result is not used (Spark counts it killed).
        log::get("scheduler")->info("Ignoring result of TID {}: task {} in stage {} already succeeded", tid,
                                    info.index, ts_.name());
        info.killed = true;
        // Nor do its accumulator updates count: the partition's first success already did.
        TaskMetrics m = metrics;
        m.accumulator_updates.clear();
        sched_.dag().task_ended(ts_, info.index, TaskKilled{"another attempt succeeded"}, {}, std::move(m), info);
        return;
    }
    successful_[index] = true;
    succeeded_tid_[index] = tid;
    successful_durations_ms_.push_back(info.finish_time - info.launch_time);
    ++timed_tasks_;
    timed_ns_ += static_cast<std::int64_t>(metrics.executor_run_time_ns + metrics.executor_deserialize_time_ns);
    num_failures_[index] = 0;
    ++tasks_successful_;
    if (tasks_successful_ == static_cast<int>(ts_.tasks.size())) zombie_ = true;
    kill_other_attempts(info.index, tid);
    sched_.dag().task_ended(ts_, info.index, Success{}, std::move(result), metrics, info);
    maybe_finish_task_set();
}

void TaskSetManager::maybe_finish_task_set() {
    if (!excludelist_ || reported_to_health_tracker_ || !zombie_ || !running_.empty()) return;
    if (tasks_successful_ != static_cast<int>(ts_.tasks.size())) return;
    reported_to_health_tracker_ = true;
    if (auto* ht = sched_.health_tracker()) {
        ht->update_excluded_for_successful_task_set(ts_.stage_id, ts_.stage_attempt, excludelist_->exec_to_failures());
    }
}

void TaskSetManager::handle_task_getting_result(std::int64_t tid) {
    auto it = infos_.find(tid);
    if (it == infos_.end()) return;
    it->second.getting_result_time = sched_.clock().get_time_millis();
    sched_.bus().post(SparkListenerTaskGettingResult{it->second});
}

bool TaskSetManager::can_fetch_more_results(std::uint64_t size) {
    total_result_size_ += size;
    ++calculated_tasks_;
    std::uint64_t max = sched_.max_result_size();
    if (ts_.shuffle_map || max == 0 || total_result_size_ <= max) return true;
    auto message = fmt::format("Total size of serialized results of {} tasks ({}) is bigger than "
                               "ember.driver.maxResultSize ({})",
                               calculated_tasks_, bytes_to_string(total_result_size_), bytes_to_string(max));
    log::get("scheduler")->error("{}", message);
    abort(message);
    return false;
}

void TaskSetManager::handle_failed_task(std::int64_t tid, TaskState state, TaskEndReason reason,
                                        const TaskMetrics& metrics) {
    auto it = infos_.find(tid);
    if (it == infos_.end() || !running_.count(tid)) return;
    TaskInfo& info = it->second;
    info.finish_time = sched_.clock().get_time_millis();
    info.failed = state != TaskState::killed;
    info.killed = state == TaskState::killed;
    running_.erase(tid);
    auto index = static_cast<std::size_t>(info.index);
    --copies_running_[index];
    std::string error = to_error_string(reason);
    bool another_won = successful_[index] && std::holds_alternative<TaskKilled>(reason);
    if (another_won) {
        log::get("scheduler")->info("Task {}.{} in stage {} (TID {}) was killed: {}", info.index, info.attempt,
                                    ts_.name(), tid, error);
    } else {
        log::get("scheduler")->warn("Lost task {}.{} in stage {} (TID {}) ({} executor {}): {}", info.index,
                                    info.attempt, ts_.name(), tid, info.host, info.executor_id, error);
    }
    bool fetch_failed = std::holds_alternative<FetchFailed>(reason);
    bool counts = counts_towards_task_failures(reason);
    if (fetch_failed) {
        if (auto* ht = sched_.health_tracker()) {
            const auto& address = std::get<FetchFailed>(reason).address;
            if (!address.executor_id.empty()) ht->update_excluded_for_fetch_failure(address.host, address.executor_id);
        }
        // The DAGScheduler regenerates the map output and resubmits the stage as a new attempt.
        if (!successful_[index]) {
            successful_[index] = true;
            ++tasks_successful_;
        }
        zombie_ = true;
    }
    sched_.dag().task_ended(ts_, info.index, std::move(reason), {}, metrics, info);
    if (fetch_failed) {
        maybe_finish_task_set();
        return;
    }
    if (counts) {
        if (excludelist_ && !zombie_) {
            excludelist_->update_excluded_for_failed_task(info.host, info.executor_id, info.index, error);
        }
        int failures = ++num_failures_[index];
        if (failures >= settings_.max_task_failures) {
            abort(fmt::format("Task {} in stage {} failed {} times, most recent failure: Lost task {}.{} in stage {} "
                              "(TID {}) ({} executor {}): {}",
                              info.index, ts_.name(), failures, info.index, info.attempt, ts_.name(), tid, info.host,
                              info.executor_id, error));
            return;
        }
    }
    if (!successful_[index] && !zombie_) add_pending_task(info.index, false);
    maybe_finish_task_set();
}

void TaskSetManager::executor_lost(const std::string& executor_id, const std::string& reason) {
    for (auto tid : running_task_ids()) {
        if (infos_[tid].executor_id != executor_id) continue;
        handle_failed_task(tid, TaskState::failed, ExecutorLostFailure{executor_id, true, reason}, TaskMetrics{});
    }
    if (!ts_.shuffle_map || zombie_) {
        recompute_locality();
        return;
    }
    // Finished map tasks wrote their output on that executor; it is gone with it.
    for (std::size_t i = 0; i < successful_.size(); ++i) {
        if (!successful_[i] || succeeded_tid_[i] < 0) continue;
        const TaskInfo& info = infos_[succeeded_tid_[i]];
        if (info.executor_id != executor_id) continue;
        successful_[i] = false;
        succeeded_tid_[i] = -1;
        --tasks_successful_;
        add_pending_task(static_cast<int>(i), false);
        sched_.dag().task_ended(ts_, static_cast<int>(i), Resubmitted{}, {}, TaskMetrics{}, info);
    }
    recompute_locality();
}

void TaskSetManager::mark_partition_completed(int partition) {
    for (std::size_t i = 0; i < ts_.tasks.size(); ++i) {
        if (ts_.tasks[i].partition == partition && !successful_[i]) {
            successful_[i] = true;
            ++tasks_successful_;
        }
    }
    if (tasks_successful_ == static_cast<int>(ts_.tasks.size())) zombie_ = true;
}

void TaskSetManager::abort(const std::string& message) {
    if (zombie_ && tasks_successful_ == static_cast<int>(ts_.tasks.size())) return;
    zombie_ = true;
    pending_ = {};
    speculative_ = {};
    speculatable_.clear();
    sched_.dag().task_set_failed(ts_, message);
}

// -- excludeOnFailure ---------------------------------------------------------------------------

std::optional<int> TaskSetManager::completely_excluded_task(
    const std::map<std::string, std::set<std::string>>& hosts) const {
    const auto* ht = sched_.health_tracker();
    if (!excludelist_ || !ht || hosts.empty() || zombie_) return std::nullopt;
    // The pending task most recently put back (failed tasks go on top of "all"); entries of
    // tasks that launched elsewhere are stale and skipped.
    std::optional<int> pending;
    for (auto it = pending_.all.rbegin(); it != pending_.all.rend(); ++it) {
        auto i = static_cast<std::size_t>(*it);
        if (copies_running_[i] == 0 && !successful_[i]) {
            pending = *it;
            break;
        }
    }
    if (!pending) return std::nullopt;
    int index = *pending;
    for (const auto& [host, executors] : hosts) {
        if (ht->is_node_excluded(host) || excludelist_->is_node_excluded_for_task_set(host) ||
            excludelist_->is_node_excluded_for_task(host, index)) {
            continue;
        }
        for (const auto& e : executors) {
            if (!ht->is_executor_excluded(e) && !excludelist_->is_executor_excluded_for_task_set(e) &&
                !excludelist_->is_executor_excluded_for_task(e, index)) {
                return std::nullopt;  // it can run there
            }
        }
    }
    return index;
}

void TaskSetManager::abort_since_completely_excluded(int index) {
    if (!excludelist_) return;
    int partition = ts_.tasks[static_cast<std::size_t>(index)].partition;
    abort(fmt::format("Aborting TaskSet {} because task {} (partition {}) cannot run anywhere due to node and executor "
                      "excludeOnFailure. Most recent failure: {}\n\nExcludeOnFailure behavior can be configured via "
                      "ember.excludeOnFailure.*.",
                      ts_.name(), index, partition, excludelist_->latest_failure_reason()));
}

// -- speculation --------------------------------------------------------------------------------

bool TaskSetManager::check_speculatable_tasks(std::int64_t now) {
    auto num_tasks = ts_.tasks.size();
    const auto& fixed = settings_.speculation_threshold_ms;
    if (zombie_ || (num_tasks == 1 && !fixed)) return false;
    auto min_finished = std::max<std::size_t>(
        static_cast<std::size_t>(std::floor(settings_.speculation_quantile * static_cast<double>(num_tasks))), 1);
    std::int64_t threshold = 0;
    if (static_cast<std::size_t>(tasks_successful_) >= min_finished && !successful_durations_ms_.empty()) {
        std::vector<std::int64_t> durations = successful_durations_ms_;
        auto mid = durations.begin() + static_cast<std::ptrdiff_t>(durations.size() / 2);
        std::nth_element(durations.begin(), mid, durations.end());
        threshold = std::max<std::int64_t>(
            static_cast<std::int64_t>(settings_.speculation_multiplier * static_cast<double>(*mid)),
            settings_.speculation_min_runtime_ms);
    } else if (fixed && num_tasks <= static_cast<std::size_t>(settings_.slots_per_executor)) {
        // A stage no larger than one executor's slots never reaches the quantile if one task
        // hangs: ember.speculation.task.duration.threshold speculates it anyway (Spark 3.2).
        threshold = *fixed;
    } else {
        return false;
    }
    bool found = false;
    for (auto tid : running_) {
        const TaskInfo& info = infos_.at(tid);
        int index = info.index;
        auto i = static_cast<std::size_t>(index);
        if (successful_[i] || copies_running_[i] != 1 || speculatable_.count(index)) continue;
        if (now - info.launch_time <= threshold) continue;
        log::get("scheduler")->info(
            "Marking task {} in stage {} (on {}) as speculatable because it ran more than {} ms", index, ts_.name(),
            info.host, threshold);
        speculatable_.insert(index);
        add_pending_task(index, true);
        sched_.bus().post(
            SparkListenerSpeculativeTaskSubmitted{ts_.stage_id, ts_.stage_attempt, index, ts_.tasks[i].partition});
        found = true;
    }
    return found;
}

}  // namespace ember::scheduler
