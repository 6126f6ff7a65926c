// SPDX-License-Identifier: Apache-2.0
#include "scheduler/task_scheduler_impl.hpp"

#include "rpc/log.hpp"
#include "rpc/sim/simulation.hpp"
#include "scheduler/dag_scheduler.hpp"
#include "scheduler/scheduler_backend.hpp"
#include "scheduler/task_result_getter.hpp"

#include <algorithm>
#include <stdexcept>
#include <random>

namespace ember::scheduler {

namespace {

TaskSetSettings read_settings(const Conf& conf, int max_task_failures) {
    TaskSetSettings s;
    s.max_task_failures = max_task_failures;
    auto wait = [&](const char* key) {
        std::string fallback = conf.get("ember.locality.wait", "3s");
        return conf.get_time_ms(key, fallback).count();
    };
    s.wait_process_ms = wait("ember.locality.wait.process");
    s.wait_node_ms = wait("ember.locality.wait.node");
    s.wait_rack_ms = wait("ember.locality.wait.rack");
    s.legacy_locality_reset = conf.get_bool("ember.locality.wait.legacyResetOnTaskLaunch", false);
    s.speculation_quantile = conf.get_double("ember.speculation.quantile", 0.75);
    s.speculation_multiplier = conf.get_double("ember.speculation.multiplier", 1.5);
    s.speculation_min_runtime_ms = conf.get_time_ms("ember.speculation.minTaskRuntime", "100ms").count();
    if (conf.contains("ember.speculation.task.duration.threshold")) {
        s.speculation_threshold_ms = conf.get_time_ms("ember.speculation.task.duration.threshold", "0").count();
    }
    s.slots_per_executor = static_cast<int>(std::max<std::int64_t>(
        1, conf.get_int("ember.executor.cores", 1) / std::max<std::int64_t>(1, conf.get_int("ember.task.cpus", 1))));
    if (s.speculation_quantile <= 0 || s.speculation_quantile > 1) {
        throw std::invalid_argument("ember.speculation.quantile must be in (0, 1]");
    }
    return s;
}

Pools make_pools(const Conf& conf) {
    auto mode = parse_scheduling_mode(conf.get("ember.scheduler.mode", "FIFO"), "ember.scheduler.mode");
    std::vector<PoolConfig> configs;
    if (mode == SchedulingMode::fair) {
        if (auto file = conf.get("ember.scheduler.allocation.file"); file && !file->empty()) {
            configs = parse_allocation_file(*file);
        }
    }
    return Pools(mode, std::move(configs));
}

}  // namespace

TaskSchedulerImpl::TaskSchedulerImpl(const Conf& conf, int max_task_failures, ListenerBus& bus)
    : bus_(bus),
      max_result_size_(scheduler::max_result_size(conf)),
      settings_(read_settings(conf, max_task_failures)),
      pools_(make_pools(conf)),
      cpus_per_task_(static_cast<int>(std::max<std::int64_t>(1, conf.get_int("ember.task.cpus", 1)))),
      short_task_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(
                         conf.get_time_us("ember.scheduler.shortTaskDuration", "1ms"))
                         .count()),
      speculation_(conf.get_bool("ember.speculation", false)),
      speculation_interval_(conf.get_time_ms("ember.speculation.interval", "100ms")),
      exclude_settings_(ExcludeOnFailureSettings::from_conf(conf)),
      clock_(util::system_clock()),
      exclude_clock_([] { return now_ms(); }) {
    if (exclude_settings_.enabled) make_health_tracker();
}

void TaskSchedulerImpl::make_health_tracker() {
    health_tracker_ = std::make_unique<HealthTracker>(exclude_settings_, &bus_, exclude_clock_);
    health_tracker_->set_kill_executor([this](const std::string& executor_id, const std::string& reason) {
        log::get("scheduler")->info("{}", reason);
        if (!backend_ || !backend_->kill_executor(executor_id, reason)) {
            log::get("scheduler")->info("Not attempting to kill excluded executor id {}: the backend cannot",
                                        executor_id);
        }
    });
    health_tracker_->set_kill_executors_on_host([this](const std::string& host, const std::string& reason) {
        log::get("scheduler")->info("{}", reason);
        auto it = hosts_.find(host);
        if (it == hosts_.end() || !backend_) return;
        for (const auto& e : std::set<std::string>(it->second)) backend_->kill_executor(e, reason);
    });
}

void TaskSchedulerImpl::set_exclude_clock(ExcludeClock clock) {
    exclude_clock_ = std::move(clock);
    if (health_tracker_) make_health_tracker();
}

void TaskSchedulerImpl::set_clock(std::shared_ptr<util::Clock> clock) {
    if (!clock) throw std::invalid_argument("TaskSchedulerImpl::set_clock: null clock");
    clock_ = std::move(clock);
    set_exclude_clock([c = clock_] { return c->get_time_millis(); });
}

TaskSchedulerImpl::~TaskSchedulerImpl() { stop(); }

void TaskSchedulerImpl::start_speculation(std::function<bool(std::function<void()>)> post) {
    if (!speculation_ || speculation_timer_) return;
    speculation_timer_ = std::make_unique<Timer>("task-scheduler-speculation", clock_);
    struct Arm {
        static void run(TaskSchedulerImpl* self, std::function<bool(std::function<void()>)> post) {
            self->speculation_timer_->schedule(self->speculation_interval_, [self, post] {
                if (post([self] { self->check_speculatable_tasks(); })) run(self, post);
            });
        }
    };
    Arm::run(this, std::move(post));
}

void TaskSchedulerImpl::stop() {
    if (speculation_timer_) speculation_timer_->stop();
}

void TaskSchedulerImpl::check_speculatable_tasks() {
    bool found = false;
    auto now = clock_->get_time_millis();
    for (auto& [_, attempts] : by_stage_) {
        for (auto& [__, tsm] : attempts) found |= tsm->check_speculatable_tasks(now);
    }
    if (found && backend_) backend_->revive_offers();
}

void TaskSchedulerImpl::submit_tasks(TaskSet ts) {
    int stage = ts.stage_id;
    int attempt = ts.stage_attempt;
    auto& attempts = by_stage_[stage];
    for (auto& [_, tsm] : attempts) tsm->make_zombie();
    attempts[attempt] = std::make_unique<TaskSetManager>(*this, std::move(ts), settings_);
    if (backend_) backend_->revive_offers();
}

std::vector<TaskLaunch> TaskSchedulerImpl::resource_offers(std::vector<WorkerOffer> offers, bool all_free) {
    bool new_executor = false;
    for (auto& o : offers) {
        if (!executor_host_.count(o.executor_id)) {
            add_executor_host(o.executor_id, o.host);
            new_executor = true;
        }
    }
    if (new_executor) recompute_locality();
    if (health_tracker_) {
        health_tracker_->apply_exclude_on_failure_timeout();
        std::erase_if(offers, [&](const WorkerOffer& o) {
            return health_tracker_->is_node_excluded(o.host) || health_tracker_->is_executor_excluded(o.executor_id);
        });
    }
    if (auto* sim = sim::Simulation::current()) {
        // In a simulation the order comes from its seed, so a run replays exactly.
        std::mt19937 seeded(static_cast<std::mt19937::result_type>(sim->random().next()));
        std::shuffle(offers.begin(), offers.end(), seeded);
    } else {
        thread_local std::mt19937 rng(std::random_device{}());
        std::shuffle(offers.begin(), offers.end(), rng);
    }
    // The executor that last finished a task goes first: its threads are still awake.
    if (!last_finished_executor_.empty()) {
        auto warm = std::find_if(offers.begin(), offers.end(),
                                 [&](const WorkerOffer& o) { return o.executor_id == last_finished_executor_; });
        if (warm != offers.end()) std::rotate(offers.begin(), warm, warm + 1);
    }

    std::vector<TaskSetManager*> all;
    for (auto& [_, attempts] : by_stage_) {
        for (auto& [__, tsm] : attempts) all.push_back(tsm.get());
    }
    std::vector<TaskLaunch> launches;
    for (TaskSetManager* tsm : pools_.sort(all)) {
        bool launched_any = false;
        bool no_delay_rejects = true;
        std::optional<TaskLocality> min_locality;
        // Level by level from the most local: a round gives each executor at most one task; rounds
        // repeat while they launch something (Spark's resourceOfferSingleTaskSet loop).
        for (TaskLocality level : tsm->locality_levels()) {
            bool launched = true;
            while (launched) {
                launched = false;
                for (auto& o : offers) {
                    bool on_core = o.cores >= cpus_per_task_;
                    if (!on_core && (o.queue_slots <= 0 || !tsm->short_tasks())) continue;
                    auto offer = tsm->resource_offer(o.executor_id, o.host, level, next_task_id_);
                    no_delay_rejects &= !offer.delay_rejected;
                    if (!offer.launch) continue;
                    auto& task = *offer.launch;
                    ++next_task_id_;
                    if (on_core) {
                        o.cores -= cpus_per_task_;
                    } else {
                        --o.queue_slots;
                    }
                    tid_to_tsm_[task.desc.task_id] = tsm;
                    tid_to_executor_[task.desc.task_id] = o.executor_id;
                    launches.push_back(std::move(task));
                    launched = true;
                    if (!min_locality || offer.locality < *min_locality) min_locality = offer.locality;
                }
                launched_any |= launched;
            }
        }
        if (health_tracker_) {
            if (!launched_any) {
                check_unschedulable(tsm);
            } else if (!unschedulable_.empty()) {
                // Some task set can make progress: no unschedulable one is aborted yet (Spark).
                log::get("scheduler")->info("Clearing the expiry times for all unschedulable taskSets as a task was "
                                            "recently scheduled.");
                unschedulable_.clear();
            }
        }
        // Spark 3.1+ (legacyResetOnTaskLaunch=false): restart the locality wait only after a launch
        // with no delay-scheduling reject since the last round over all free resources.
        if (!settings_.legacy_locality_reset) {
            if (no_delay_rejects) {
                if (launched_any && (all_free || tsm->no_rejects_since_reset)) {
                    tsm->reset_delay_timer(min_locality);
                    tsm->no_rejects_since_reset = true;
                }
            } else {
                tsm->no_rejects_since_reset = false;
            }
        }
    }
    // Task sets aborted above (nothing left to run anywhere) leave once nothing of theirs runs.
    if (health_tracker_) remove_finished_task_sets();
    return launches;
}

bool TaskSchedulerImpl::executor_busy(const std::string& executor_id) const {
    for (const auto& [_, e] : tid_to_executor_) {
        if (e == executor_id) return true;
    }
    return false;
}

void TaskSchedulerImpl::check_unschedulable(TaskSetManager* tsm) {
    if (tsm->is_zombie()) return;
    auto index = tsm->completely_excluded_task(hosts_);
    if (!index) return;
    std::int64_t now = exclude_clock_();
    if (auto it = unschedulable_.find(tsm); it != unschedulable_.end()) {
        if (it->second.first <= now) {
            int i = it->second.second;
            unschedulable_.erase(it);
            tsm->abort_since_completely_excluded(i);
        }
        return;
    }
    const std::string* idle = nullptr;
    for (const auto& [e, _] : executor_host_) {
        if (!executor_busy(e)) {
            idle = &e;
            break;
        }
    }
    if (!idle) {
        tsm->abort_since_completely_excluded(*index);
        return;
    }
    // Spark kills an idle executor (every live one is excluded for this task) so that the
    // cluster manager starts a fresh one; local-cluster does.
    health_tracker_->kill_excluded_idle_executor(*idle);
    log::get("scheduler")->info(
        "Waiting for {} ms for a new executor that may run task {} of stage {} (ember.scheduler.excludeOnFailure."
        "unschedulableTaskSetTimeout) before aborting the task set",
        exclude_settings_.unschedulable_task_set_timeout_ms, *index, tsm->task_set().name());
    unschedulable_[tsm] = {now + exclude_settings_.unschedulable_task_set_timeout_ms, *index};
}

void TaskSchedulerImpl::status_update(std::int64_t tid, TaskState state, std::string result,
                                      std::optional<TaskEndReason> reason, const TaskMetrics& metrics,
                                      std::optional<IndirectTaskResult> indirect) {
    auto it = tid_to_tsm_.find(tid);
    if (it == tid_to_tsm_.end()) {
        if (is_finished(state)) {
            log::get("scheduler")->debug("Ignoring update with state {} for TID {}: the task is not running",
                                         static_cast<int>(state), tid);
        }
        return;
    }
    if (!is_finished(state)) return;
    if (state == TaskState::finished) {
        if (auto e = tid_to_executor_.find(tid); e != tid_to_executor_.end()) last_finished_executor_ = e->second;
        // The task stays known (and its TaskSetManager alive) until its result is in.
        if (result_getter_) {
            result_getter_->enqueue_successful_task(tid, std::move(result), std::move(indirect), metrics);
        } else {
            handle_successful_task(tid, std::move(result), metrics);
        }
        return;
    }
    handle_failed_task(tid, state, reason ? std::move(*reason) : TaskEndReason{ExceptionFailure{"ember.UnknownReason", "the task failed without a reason", {}}}, metrics);
}

bool TaskSchedulerImpl::task_runs_on(std::int64_t tid, const std::string& executor_id) const {
    auto it = tid_to_executor_.find(tid);
    return it != tid_to_executor_.end() && it->second == executor_id;
}

void TaskSchedulerImpl::handle_successful_task(std::int64_t tid, std::string result, const TaskMetrics& metrics) {
    auto it = tid_to_tsm_.find(tid);
    if (it == tid_to_tsm_.end()) return;
    TaskSetManager* tsm = it->second;
    forget_task(tid);
    tsm->handle_successful_task(tid, std::move(result), metrics);
    remove_finished_task_sets();
}

void TaskSchedulerImpl::handle_failed_task(std::int64_t tid, TaskState state, TaskEndReason reason,
                                           const TaskMetrics& metrics) {
    auto it = tid_to_tsm_.find(tid);
    if (it == tid_to_tsm_.end()) return;
    TaskSetManager* tsm = it->second;
    forget_task(tid);
    tsm->handle_failed_task(tid, state, std::move(reason), metrics);
    remove_finished_task_sets();
}

void TaskSchedulerImpl::handle_task_getting_result(std::int64_t tid) {
    if (auto it = tid_to_tsm_.find(tid); it != tid_to_tsm_.end()) it->second->handle_task_getting_result(tid);
}

bool TaskSchedulerImpl::can_fetch_more_results(std::int64_t tid, std::uint64_t size) {
    auto it = tid_to_tsm_.find(tid);
    return it == tid_to_tsm_.end() || it->second->can_fetch_more_results(size);
}

void TaskSchedulerImpl::forget_task(std::int64_t tid) {
    tid_to_tsm_.erase(tid);
    tid_to_executor_.erase(tid);
}

void TaskSchedulerImpl::add_executor_host(const std::string& executor_id, const std::string& host) {
    executor_host_[executor_id] = host;
    hosts_[host].insert(executor_id);
}

void TaskSchedulerImpl::recompute_locality() {
    for (auto& [_, attempts] : by_stage_) {
        for (auto& [__, tsm] : attempts) tsm->recompute_locality();
    }
}

void TaskSchedulerImpl::executor_added(const std::string& executor_id, const std::string& host) {
    add_executor_host(executor_id, host);
    recompute_locality();
    dag_->executor_added(executor_id, host);
}

void TaskSchedulerImpl::executor_lost(const std::string& executor_id, const std::string& reason) {
    auto host_it = executor_host_.find(executor_id);
    if (host_it == executor_host_.end()) return;
    if (auto h = hosts_.find(host_it->second); h != hosts_.end()) {
        h->second.erase(executor_id);
        if (h->second.empty()) hosts_.erase(h);
    }
    executor_host_.erase(host_it);
    if (health_tracker_) health_tracker_->handle_removed_executor(executor_id);
    for (auto it = tid_to_executor_.begin(); it != tid_to_executor_.end();) {
        if (it->second == executor_id) {
            tid_to_tsm_.erase(it->first);
            it = tid_to_executor_.erase(it);
        } else {
            ++it;
        }
    }
    std::vector<TaskSetManager*> all;
    for (auto& [_, attempts] : by_stage_) {
        for (auto& [__, tsm] : attempts) all.push_back(tsm.get());
    }
    for (auto* tsm : all) tsm->executor_lost(executor_id, reason);
    dag_->executor_lost(executor_id, reason);
    remove_finished_task_sets();
    if (backend_) backend_->revive_offers();
}

void TaskSchedulerImpl::cancel_tasks(int stage_id, const std::string& reason) {
    auto it = by_stage_.find(stage_id);
    if (it == by_stage_.end()) return;
    for (auto& [_, tsm] : it->second) {
        for (auto tid : tsm->running_task_ids()) kill_task(tid, reason);
        tsm->make_zombie();
    }
}

void TaskSchedulerImpl::kill_task(std::int64_t tid, const std::string& reason) {
    auto it = tid_to_executor_.find(tid);
    if (it == tid_to_executor_.end() || !backend_) return;
    backend_->kill_task(tid, it->second, true, reason);
}

void TaskSchedulerImpl::abort_task_set_of(const std::vector<std::int64_t>& unsent, const std::string& message) {
    if (unsent.empty()) return;
    auto it = tid_to_tsm_.find(unsent.front());
    if (it == tid_to_tsm_.end()) return;
    TaskSetManager* tsm = it->second;
    // These tasks never reached an executor and will never report: forget them.
    for (auto tid : unsent) {
        tsm->forget_unlaunched(tid);
        forget_task(tid);
    }
    tsm->abort(message);
    remove_finished_task_sets();
}

void TaskSchedulerImpl::mark_partition_completed(int stage_id, int partition) {
    auto it = by_stage_.find(stage_id);
    if (it == by_stage_.end()) return;
    for (auto& [_, tsm] : it->second) tsm->mark_partition_completed(partition);
}

void TaskSchedulerImpl::remove_finished_task_sets() {
    for (auto sit = by_stage_.begin(); sit != by_stage_.end();) {
        auto& attempts = sit->second;
        for (auto ait = attempts.begin(); ait != attempts.end();) {
            if (ait->second->is_zombie() && ait->second->running_tasks() == 0) {
                unschedulable_.erase(ait->second.get());
                if (backend_) backend_->stage_attempt_finished(sit->first, ait->first);
                ait = attempts.erase(ait);
            } else {
                ++ait;
            }
        }
        sit = attempts.empty() ? by_stage_.erase(sit) : std::next(sit);
    }
}

}  // namespace ember::scheduler
