// SPDX-License-Identifier: Apache-2.0
#include "scheduler/executor/executor.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_env.hpp"
#include "rpc/sim/simulation.hpp"
#include "rpc/write_through.hpp"
#include "scheduler/broadcast/broadcast_manager.hpp"
#include "scheduler/executor/process_metrics.hpp"
#include "scheduler/registry.hpp"
#include "scheduler/util/huge_pages.hpp"
#include "shuffle/map_output_tracker.hpp"

#include <fmt/format.h>
#include <kj/exception.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <typeinfo>

#include <unistd.h>

namespace ember::scheduler {

namespace {

/// The Executor whose idle task thread, this one, runs the env's loop (worker).
thread_local const Executor* t_driving = nullptr;
/// The Executor whose task this thread runs now (worker, around run_task).
thread_local const Executor* t_in_task = nullptr;
// Executor::outlive_owner's: the stopped Executor whose task this thread runs, released after it.
// Set, it means the task's owner let go of the Executor from a wait inside that task: the
// backend may be destroyed before the task returns, so the task reports no status.
thread_local std::shared_ptr<Executor> t_outlive;

/// The time task spans are measured in: in a simulation its virtual time, so the durations the
/// scheduler decides on (short tasks are pipelined) are the same in every run of a seed.
std::chrono::steady_clock::time_point task_clock_now(sim::Simulation* sim) {
    return sim ? std::chrono::steady_clock::time_point(sim->now()) : std::chrono::steady_clock::now();
}

std::uint64_t elapsed_ns(std::chrono::steady_clock::time_point since, sim::Simulation* sim = nullptr) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(task_clock_now(sim) - since).count());
}

/// ember.task.reaper.killTimeout: a time, or a negative number for never (Spark's -1).
std::chrono::milliseconds reaper_kill_timeout(const Conf& conf) {
    auto value = conf.get("ember.task.reaper.killTimeout", "-1");
    if (value.starts_with('-')) return std::chrono::milliseconds(-1);
    return Conf::parse_time_ms(value, "ms");
}

}  // namespace

Executor::Executor(std::string executor_id, int cores, ExecutorServices& services, ExecutorBackend& backend,
                   shuffle::MapOutputTrackerWorker* tracker_worker,
                   std::function<void(int, const std::string&)> on_reaper_timeout)
    : executor_id_(std::move(executor_id)),
      services_(services),
      backend_(backend),
      tracker_worker_(tracker_worker),
      max_result_size_(max_result_size(services.conf)),
      max_direct_result_size_(max_direct_result_size(services.conf)),
      task_threads_(std::max(cores, 1)),
      reaper_enabled_(services.conf.get_bool("ember.task.reaper.enabled", false)),
      reaper_polling_(std::max(services.conf.get_time_ms("ember.task.reaper.pollingInterval", "10s"),
                               std::chrono::milliseconds(1))),
      reaper_kill_timeout_(reaper_kill_timeout(services.conf)),
      reaper_thread_dump_(services.conf.get_bool("ember.task.reaper.threadDump", true)),
      on_reaper_timeout_(std::move(on_reaper_timeout)),
      sim_(sim::Simulation::current()) {
    if (sim_) return;  // tasks run as events of the simulation (launch_task)
    for (int i = 0; i < task_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

Executor::~Executor() { stop(); }

void Executor::add_stage_binary(int stage_id, int stage_attempt, std::shared_ptr<const std::string> binary) {
    auto e = std::make_shared<StageEntry>();
    e->binary = std::move(binary);
    std::lock_guard lk(mu_);
    stages_.try_emplace({stage_id, stage_attempt}, std::move(e));
}

void Executor::remove_stage_binary(int stage_id, int stage_attempt) {
    std::shared_ptr<StageEntry> last;  // freed outside the lock if no task holds it
    std::lock_guard lk(mu_);
    auto it = stages_.find({stage_id, stage_attempt});
    if (it == stages_.end()) return;
    last = std::move(it->second);
    stages_.erase(it);
}

std::shared_ptr<Executor::StageEntry> Executor::stage_of(const TaskDescription& task) const {
    auto it = stages_.find({task.stage_id, task.stage_attempt});
    return it == stages_.end() ? nullptr : it->second;
}

void Executor::launch_task(TaskDescription task) {
    if (sim_) {
        // In a simulation: the task runs as an event, now in virtual time, on the simulation's
        // thread, outside every handler, so its blocking calls (map statuses, fetches) run the
        // simulation until they are answered. Tasks of one executor start in launch order.
        std::shared_ptr<StageEntry> stage;
        {
            std::lock_guard lk(mu_);
            stage = stage_of(task);
        }
        auto run = [this, alive = std::weak_ptr<bool>(alive_), task = std::move(task), stage = std::move(stage)] {
            auto a = alive.lock();
            if (!a || !*a) return;
            {
                std::lock_guard lk(mu_);
                if (stopping_) return;
            }
            run_task(task, stage.get());
        };
        // As work of the executor's process: a kill ends it (its waits return, the task fails).
        if (sim_env_) {
            sim_->schedule_in(*sim_env_, std::chrono::microseconds(0), std::move(run));
        } else {
            sim_->schedule(std::chrono::microseconds(0), std::move(run));
        }
        return;
    }
    bool only = false;
    {
        std::lock_guard lk(mu_);
        if (stopping_) return;
        auto stage = stage_of(task);
        queue_.push_back(QueuedTask{std::move(task), std::move(stage)});
        only = queue_.size() == 1;
    }
    if (only && t_driving == this) {
        wake_->seq.bump();  // the idle task thread reading it takes it; nobody else to wake
    } else {
        wake_->seq.bump_and_wake_one();  // a system call only if a thread sleeps on it
    }
}

void Executor::set_simulated_env(const rpc::RpcEnv& env) { sim_env_ = &env; }

void Executor::kill_task(std::int64_t task_id, const std::string& reason) {
    std::lock_guard lk(mu_);
    kill_reasons_.try_emplace(task_id, reason);  // the first reason is the cause
    auto it = running_.find(task_id);
    if (it == running_.end()) return;
    it->second->kill();
    // Spark: one reaper per killed task, if enabled.
    if (reaper_enabled_ && !reapers_stop_ && reaping_.emplace(task_id, true).second) {
        reapers_.emplace_back([this, task_id] { reap(task_id); });
    }
}

void Executor::reap(std::int64_t task_id) {
    log::set_thread_name(fmt::format("task-reaper-{}", task_id));
    auto log = log::get("scheduler");
    const auto start = std::chrono::steady_clock::now();
    std::unique_lock lk(mu_);
    for (;;) {
        if (!running_.count(task_id)) break;  // the task stopped
        auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
        if (reaper_kill_timeout_.count() >= 0 && elapsed >= reaper_kill_timeout_) {
            int tid = task_tids_.count(task_id) ? task_tids_[task_id] : 0;
            lk.unlock();
            auto why = fmt::format("Killing executor process because killed task {} could not be stopped within {} ms",
                                   task_id, reaper_kill_timeout_.count());
            if (reaper_thread_dump_ && tid) why += fmt::format(" (task thread: {})", thread_state(tid));
            if (on_reaper_timeout_) {
                log->error("{}", why);
                on_reaper_timeout_(50, why);  // Spark's SparkExitCode.UNCAUGHT_EXCEPTION
            } else {
                log->error("{} (running in the driver: not killing it)", why);
            }
            return;
        }
        if (elapsed.count() > 0) {
            int tid = task_tids_.count(task_id) ? task_tids_[task_id] : 0;
            log->warn("Killed task {} is still running after {} ms{}", task_id, elapsed.count(),
                      reaper_thread_dump_ && tid ? fmt::format("; task thread: {}", thread_state(tid)) : std::string());
        }
        auto wait = reaper_polling_;
        if (reaper_kill_timeout_.count() >= 0) wait = std::min(wait, reaper_kill_timeout_ - elapsed);
        task_done_.wait_for(lk, wait, [&] { return !running_.count(task_id); });
    }
    reaping_.erase(task_id);
    log->info("Killed task {} stopped after {} ms", task_id,
              std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
}

std::string Executor::thread_state(int tid) {
    // /proc/self/task/<tid>/stat: "tid (comm) state ... utime stime" (fields 14 and 15, ticks).
    std::ifstream stat(fmt::format("/proc/self/task/{}/stat", tid));
    std::string line;
    if (!std::getline(stat, line)) return fmt::format("tid {} (gone)", tid);
    auto open = line.find('(');
    auto close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) return fmt::format("tid {}", tid);
    std::string name = line.substr(open + 1, close - open - 1);
    std::istringstream rest(line.substr(close + 2));
    std::vector<std::string> f{std::istream_iterator<std::string>(rest), std::istream_iterator<std::string>()};
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    double cpu = f.size() > 12 ? (std::stod(f[11]) + std::stod(f[12])) / tick : 0;
    std::string wchan;
    std::ifstream(fmt::format("/proc/self/task/{}/wchan", tid)) >> wchan;
    return fmt::format("{} (tid {}) state {}, cpu {:.2f} s{}", name, tid, f.empty() ? "?" : f[0], cpu,
                       wchan.empty() || wchan == "0" ? std::string() : ", waiting in " + wchan);
}

void Executor::stop() {
    *alive_ = false;
    {
        std::lock_guard lk(mu_);
        if (stopping_ && threads_.empty()) return;
        stopping_ = true;
        queue_.clear();
        for (auto& [_, tc] : running_) tc->kill();
    }
    wake_->stopped.store(true);
    wake_->seq.bump_and_wake_all();
    for (auto& t : threads_) {
        if (!t.joinable()) continue;
        if (t.get_id() == std::this_thread::get_id()) {
            // An idle task thread running the env's loop runs this handler (set_io_env): it
            // exits once its drive returns, without touching this Executor.
            t.detach();
        } else {
            t.join();
        }
    }
    threads_.clear();
    // Reapers last: while a killed task runs, its reaper may still have to end the process.
    std::vector<std::thread> reapers;
    {
        std::lock_guard lk(mu_);
        reapers_stop_ = true;
        reapers.swap(reapers_);
    }
    task_done_.notify_all();
    for (auto& t : reapers) t.join();
}

int Executor::active_tasks() {
    std::lock_guard lk(mu_);
    return static_cast<int>(queue_.size() + running_.size());
}

void Executor::worker(int index) {
    log::set_thread_name(fmt::format("task-{}", index));
    const auto wake = wake_;  // outlives this Executor if a handler this thread runs destroys it
    // Once set_io_env: the loop this thread drives between tasks may be left free while a task
    // runs, so the task's blocking waits for the env (ask_sync, shuffle fetches, broadcast reads)
    // drive it too.
    std::optional<rpc::RpcEnv::IoWaitScope> waits;
    for (;;) {
        // Read before looking at the queue: a task queued after the look bumps it, so the wait
        // below returns at once instead of missing the task.
        const auto seen = wake->seq.load();
        std::optional<QueuedTask> next;
        {
            std::lock_guard lk(mu_);
            if (stopping_) return;
            if (!queue_.empty()) {
                next.emplace(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        if (!next) {
            if (auto* env = io_env_.load(std::memory_order_acquire)) {
                // Run the env's loop until a task comes (or for spin_time of quiet): its
                // LaunchTask is read here. A handler run meanwhile may stop, even destroy, this
                // Executor, so afterwards only `wake` is looked at until the next turn.
                if (!waits) waits.emplace(*env);
                t_driving = this;
                const bool woken = env->drive_io_until([&wake, seen] { return wake->seq.load() != seen; });
                t_driving = nullptr;
                if (wake->stopped.load()) return;
                if (woken) continue;
            }
            wake->seq.wait(seen);
            continue;
        }
        // A loop this thread drove stays free while the task runs, however many cores: the I/O
        // thread takes it back after its nap (MessageLoop::kReclaimAfter). Waking an idle task
        // thread to take it over instead made a one-task job on a two-core executor slower
        // (a futex wake-up, and a third polling thread on two vCPUs) and pipelined tasks no faster.
        t_in_task = this;
        run_task(next->task, next->stage.get());
        t_in_task = nullptr;
        if (wake->stopped.load()) {
            // Stopped meanwhile. If from a wait inside that task, this Executor may have no
            // owner but t_outlive any more, and this thread was detached: release it (perhaps
            // destroying it) and leave without touching it.
            next.reset();
            auto self = std::move(t_outlive);
            return;
        }
    }
}

void Executor::outlive_owner(std::shared_ptr<Executor> self) {
    if (self && t_in_task == self.get()) t_outlive = std::move(self);
}

void Executor::run_task(const TaskDescription& task, StageEntry* entry) {
    // Wall-clock spans enclose their CPU spans: a CPU time never exceeds its wall time.
    auto start = task_clock_now(sim_);
    const std::int64_t start_cpu = thread_cpu_time_ns();
    // The broadcast values the task used are released when it ends, whatever way it ends.
    struct ReleaseBroadcastPins {
        ~ReleaseBroadcastPins() { broadcast::release_task_pins(); }
    } release_pins;
    TaskContext tc(services_, task.stage_id, task.stage_attempt, task.partition_id, task.task_id,
                   task.attempt_number);
    tc.set_partition_data(task.partition_data);
    TaskContext::Scope scope(&tc);
    {
        std::lock_guard lk(mu_);
        if (kill_reasons_.count(task.task_id)) tc.kill();
        running_[task.task_id] = &tc;
        thread_local const int tid = static_cast<int>(::gettid());  // a system call each time otherwise
        task_tids_[task.task_id] = tid;
    }
    auto finish = [&](TaskState state, std::string result, std::optional<TaskEndReason> reason,
                      std::optional<IndirectTaskResult> indirect = std::nullopt) {
        bool lone;  // no other task queued here: nothing to batch its StatusUpdate with
        {
            std::lock_guard lk(mu_);
            running_.erase(task.task_id);
            task_tids_.erase(task.task_id);
            kill_reasons_.erase(task.task_id);
            lone = queue_.empty();
        }
        task_done_.notify_all();
        auto& m = tc.metrics();
        const std::uint64_t cpu = static_cast<std::uint64_t>(std::max<std::int64_t>(thread_cpu_time_ns() - start_cpu, 0));
        const std::uint64_t wall = elapsed_ns(start, sim_);
        m.executor_run_time_ns = wall - std::min(wall, m.executor_deserialize_time_ns + m.result_serialization_time_ns);
        // Subtracting the deserialize span's CPU can leave a few ns more than the run's wall.
        m.executor_cpu_time_ns = std::min(cpu - std::min(cpu, m.executor_deserialize_cpu_time_ns), m.executor_run_time_ns);
        tc.metrics().result_size = indirect ? indirect->size : result.size();
        // Spark's collectAccumulatorUpdates(taskFailed): a failed or killed task reports only the
        // accumulators that count failed values.
        if (!tc.accumulators().empty()) {
            m.accumulator_updates = tc.accumulators().collect_updates(state != TaskState::finished);
        }
        if (t_outlive) return;  // released from inside this task: its backend may be gone
        // A lone task's StatusUpdate is written by this thread instead of the I/O thread's next
        // poll; while tasks queue up, their updates still go out batched by the I/O thread.
        std::optional<rpc::WriteThroughScope> write_through;
        if (lone) write_through.emplace();
        backend_.status_update(task.task_id, state, std::move(result), std::move(reason), tc.metrics(),
                               std::move(indirect));
    };
    auto killed_reason = [&] {
        std::lock_guard lk(mu_);
        auto it = kill_reasons_.find(task.task_id);
        return it == kill_reasons_.end() ? std::string("killed") : it->second;
    };
    try {
        if (tracker_worker_) tracker_worker_->update_epoch(task.epoch);
        if (last_stage_.exchange(task.stage_id, std::memory_order_relaxed) != task.stage_id) release_huge_page_cache();
        if (!entry) {
            throw std::runtime_error(fmt::format("no binary for stage {}.{} on executor {}", task.stage_id,
                                                 task.stage_attempt, executor_id_));
        }
        {
            // Not std::call_once: glibc's pthread_once makes a futex call each time it runs the
            // function, and in a job of one task per stage that is every task.
            std::lock_guard decoding(entry->decode_mu);
            if (!entry->decode_tried) {
                entry->decode_tried = true;
                try {
                    entry->decoded = std::make_shared<DecodedStage>(StageCodec::decode(*entry->binary));
                } catch (const std::exception& e) {
                    entry->error = e.what();
                }
                // From the task's start, as Spark's TaskRunner counts deserialization.
                tc.metrics().executor_deserialize_cpu_time_ns =
                    static_cast<std::uint64_t>(std::max<std::int64_t>(thread_cpu_time_ns() - start_cpu, 0));
                tc.metrics().executor_deserialize_time_ns = elapsed_ns(start, sim_);
            }
        }
        if (!entry->decoded) {
            throw std::runtime_error(fmt::format("cannot rebuild stage {}.{}: {}", task.stage_id, task.stage_attempt,
                                                 entry->error));
        }
        if (tc.killed()) {
            finish(TaskState::killed, {}, TaskKilled{killed_reason()});
            return;
        }
        std::string result;
        if (entry->decoded->shuffle) {
            auto status = entry->decoded->shuffle->run_map_task(task.partition_id, tc);
            auto t0 = task_clock_now(sim_);
            result = encode(status);
            tc.metrics().result_serialization_time_ns = elapsed_ns(t0, sim_);
        } else {
            result = entry->decoded->func->run(*entry->decoded->rdd, task.partition_id, tc);
        }
        // Spark's rules for DirectTaskResult / IndirectTaskResult.
        const std::uint64_t size = result.size();
        const std::uint64_t max_result = max_result_size_;
        if (max_result > 0 && size > max_result) {
            log::get("scheduler")->warn("Finished {}. Result is larger than ember.driver.maxResultSize ({} > {}), "
                                        "dropping it.",
                                        task.name, bytes_to_string(size), bytes_to_string(max_result));
            finish(TaskState::finished, {}, std::nullopt,
                   IndirectTaskResult{storage::TaskResultBlockId{task.task_id}, size, {}});
            return;
        }
        if (size > max_direct_result_size_) {
            storage::TaskResultBlockId block{task.task_id};
            auto buf = storage::ManagedBuffer::of(std::move(result));
            // Not reported to the master: the driver fetches it from this executor and removes it.
            if (!services_.block_manager.put_bytes(block, std::move(buf), storage::StorageLevel::memory_and_disk_ser(),
                                                   false)) {
                throw std::runtime_error(fmt::format("cannot store the {}-byte result of {}", size, task.name));
            }
            log::get("scheduler")->debug("Finished {}. {} bytes result sent via BlockManager", task.name, size);
            finish(TaskState::finished, {}, std::nullopt, IndirectTaskResult{block, size, {}});
            return;
        }
        finish(TaskState::finished, std::move(result), std::nullopt);
    } catch (const shuffle::FetchFailedException& e) {
        finish(TaskState::failed, {},
               FetchFailed{e.address(), e.shuffle_id(), e.map_id(), e.map_index(), e.reduce_id(), e.message()});
    } catch (const std::exception& e) {
        if (tc.killed()) {
            finish(TaskState::killed, {}, TaskKilled{killed_reason()});
        } else {
            finish(TaskState::failed, {}, ExceptionFailure{demangle(typeid(e).name()), e.what(), {}});
        }
    } catch (const kj::Exception& e) {
        finish(TaskState::failed, {}, ExceptionFailure{"kj::Exception", e.getDescription().cStr(), {}});
    } catch (...) {
        finish(TaskState::failed, {}, ExceptionFailure{"unknown", "a task threw a non-standard exception", {}});
    }
}

}  // namespace ember::scheduler
