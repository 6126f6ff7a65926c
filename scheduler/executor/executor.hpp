// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Executor: runs tasks on a pool of task threads (Spark's Executor and TaskRunner).

#include "rpc/wait_word.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/task_context.hpp"
#include "scheduler/task_end_reason.hpp"
#include "scheduler/task_result.hpp"
#include "scheduler/task_set.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ember::sim {
class Simulation;
}

namespace ember::rpc {
class RpcEnv;
}

namespace ember::shuffle {
class MapOutputTrackerWorker;
}

namespace ember::scheduler {

/// Where an Executor reports task state changes (the executor backend).
/// Threading: called from task threads, concurrently.
class ExecutorBackend {
public:
    virtual ~ExecutorBackend() = default;
    /// `result` holds a direct result; `indirect` (with `result` empty) says where a large one is
    /// (its `location` is left empty: the driver knows the executor's BlockManager).
    virtual void status_update(std::int64_t task_id, TaskState state, std::string result,
                               std::optional<TaskEndReason> reason, const TaskMetrics& metrics,
                               std::optional<IndirectTaskResult> indirect) = 0;
};

/// Runs each launched task on one of `cores` task threads ("task-N"): rebuilds the stage from
/// its binary (once per stage attempt), runs the ShuffleMapTask or ResultTask, and reports
/// FINISHED with the result, or FAILED with FetchFailed / ExceptionFailure, or KILLED.
///
/// A result of S bytes (Spark's rules): over ember.driver.maxResultSize (> 0) it is dropped and
/// only S is reported; over max_direct_result_size() it is stored in the BlockManager as
/// `taskresult_<tid>` (memory, else disk) and reported as an IndirectTaskResult; else it travels
/// in the StatusUpdate.
///
/// Task reaper (Spark's TaskReaper), with ember.task.reaper.enabled (false): a killed task only
/// stops at its next check (a record or block boundary), so each kill_task starts a reaper
/// thread that watches the task every ember.task.reaper.pollingInterval (10s), logging that it
/// still runs (with ember.task.reaper.threadDump, true: the task thread's kernel state, CPU
/// time and wait channel). Once it has run ember.task.reaper.killTimeout (-1: never) after the
/// kill, `on_reaper_timeout` is called: an executor process exits with code 50 (Spark's
/// System.exit on the reaper's exception), so the driver sees the executor lost and the job or
/// cancel completes; with no callback (local[N], where Spark only logs) the reaper logs an
/// error. The reaper checks at least as often as the timeout needs (Spark waits whole polling
/// intervals).
///
/// In an ember::sim::Simulation (an executor made on the simulation's thread, master
/// sim[...]) there are no task threads: each launched task runs as an event of the simulation,
/// at the virtual time it was launched, and its blocking calls run the simulation meanwhile.
///
/// Threading: thread-safe.
class Executor {
public:
    /// `on_reaper_timeout(code, why)`: see the task reaper; called from a reaper thread.
    Executor(std::string executor_id, int cores, ExecutorServices& services, ExecutorBackend& backend,
             shuffle::MapOutputTrackerWorker* tracker_worker,
             std::function<void(int, const std::string&)> on_reaper_timeout = {});
    ~Executor();
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;

    /// Keeps a stage binary for the stage's tasks (a second call for the same attempt is ignored).
    void add_stage_binary(int stage_id, int stage_attempt, std::shared_ptr<const std::string> binary);
    /// Drops a stage attempt's binary and decoded lineage, as Spark's executors drop a task
    /// binary's broadcast on RemoveBroadcast: the driver calls it once no task of the attempt
    /// will be launched again. Tasks already launched keep the stage until they end; a task of
    /// it launched afterwards fails ("no binary for stage"). Unknown attempts are ignored.
    void remove_stage_binary(int stage_id, int stage_attempt);
    /// Queues (or, in a simulation, schedules) `task`; its stage binary is looked up now, so a
    /// later remove_stage_binary does not take it from the task.
    void launch_task(TaskDescription task);
    /// Marks a task killed: it stops at its next check and reports KILLED.
    void kill_task(std::int64_t task_id, const std::string& reason);
    /// Stops accepting tasks, kills running ones and joins the task threads. Idempotent. Called
    /// from a wait inside one of its own tasks (a handler that task thread runs while it drives
    /// the env's loop, set_io_env), it does not join that thread (see outlive_owner for the
    /// owner that then lets go of it there).
    void stop();
    /// For the owner of a stopped Executor, which is about to release it: if the calling thread
    /// is this executor's task thread inside a task (it runs the owner's handler from a wait in
    /// that task), keeps `self` alive until the task returns, on that thread, so the task's way
    /// out never touches a freed Executor, and that task reports no status (its backend may be
    /// gone); otherwise releases it now. Not thread-safe with the owner's other uses of `self`.
    static void outlive_owner(std::shared_ptr<Executor> self);
    /// Tasks running or queued.
    int active_tasks();
    /// In a simulation: the env of this executor's process, whose kill ends its tasks
    /// (Simulation::schedule_in). Call before the first launch_task.
    void set_simulated_env(const rpc::RpcEnv& env);
    /// The env whose I/O loop an idle task thread runs while it waits for a task
    /// (rpc::RpcEnv::drive_io_until): the LaunchTask is then read, and its task queued, on the
    /// thread that runs it, with no wake-up between the I/O thread and the task thread. Only one
    /// idle task thread drives at a time; the others sleep. While the task it took runs, the loop
    /// is free until the I/O thread takes it back (within 1 ms). Handlers of the env run on that
    /// thread meanwhile, including the one that stops and destroys this Executor (the backend's
    /// on_stop): stop() does not join the calling task thread, which then exits on its own.
    /// `env` must outlive the task threads' drives; call before the first launch_task. Not in
    /// a simulation.
    void set_io_env(rpc::RpcEnv& env) { io_env_.store(&env, std::memory_order_release); }

private:
    struct StageEntry {
        std::shared_ptr<const std::string> binary;
        std::mutex decode_mu;                   // the stage's first task decodes it; others wait
        bool decode_tried = false;              // guarded by decode_mu
        std::shared_ptr<DecodedStage> decoded;  // set under decode_mu, read after it
        std::string error;                      // likewise
    };
    void worker(int index);
    /// Watches killed task `task_id` (Spark's TaskReaper.run).
    void reap(std::int64_t task_id);
    /// A line on the task thread `tid`: its kernel state, CPU time and wait channel.
    static std::string thread_state(int tid);
    /// A launched task and its stage (null if the executor had no binary for it).
    struct QueuedTask {
        TaskDescription task;
        std::shared_ptr<StageEntry> stage;
    };
    void run_task(const TaskDescription& task, StageEntry* entry);
    /// The stage of `task`, or null. Caller holds mu_.
    std::shared_ptr<StageEntry> stage_of(const TaskDescription& task) const;

    std::string executor_id_;
    ExecutorServices& services_;
    ExecutorBackend& backend_;
    shuffle::MapOutputTrackerWorker* tracker_worker_;
    const std::uint64_t max_result_size_;         // read once: conf lookups cost per task
    const std::uint64_t max_direct_result_size_;
    const int task_threads_;  // one per core
    /// The stage of the task that started last (-1: none), to release the huge-page cache when
    /// a task of another stage starts (release_huge_page_cache).
    std::atomic<int> last_stage_{-1};

    std::mutex mu_;
    /// What idle task threads wait on. Shared with them: a task thread that runs the env's loop
    /// may run the handler that destroys this Executor, and after its drive it looks only here.
    struct Wake {
        /// Bumped after each change of queue_ or stopping_; idle task threads sleep on it (a
        /// WaitWord, not a condition variable: see rpc/wait_word.hpp) or poll it while they
        /// drive the env's loop.
        rpc::WaitWord seq;
        std::atomic<bool> stopped{false};  // set by stop() before it bumps seq
    };
    const std::shared_ptr<Wake> wake_ = std::make_shared<Wake>();
    std::atomic<rpc::RpcEnv*> io_env_{nullptr};  // set_io_env
    std::deque<QueuedTask> queue_;                                    // guarded by mu_
    /// Stage attempts whose tasks may still be launched (at most a few at a time).
    std::map<std::pair<int, int>, std::shared_ptr<StageEntry>> stages_;  // guarded by mu_
    std::unordered_map<std::int64_t, TaskContext*> running_;          // guarded by mu_
    std::unordered_map<std::int64_t, std::string> kill_reasons_;      // guarded by mu_
    bool stopping_ = false;                                           // guarded by mu_
    std::vector<std::thread> threads_;

    // Task reaper (ember.task.reaper.*), read once.
    const bool reaper_enabled_;
    const std::chrono::milliseconds reaper_polling_;
    const std::chrono::milliseconds reaper_kill_timeout_;  // < 0: never
    const bool reaper_thread_dump_;
    std::function<void(int, const std::string&)> on_reaper_timeout_;
    std::unordered_map<std::int64_t, int> task_tids_;     // guarded by mu_: running task -> thread id
    std::unordered_map<std::int64_t, bool> reaping_;      // guarded by mu_: tasks with a reaper
    std::condition_variable task_done_;                   // a task finished (wakes reapers)
    bool reapers_stop_ = false;                           // guarded by mu_
    std::vector<std::thread> reapers_;                    // guarded by mu_

    /// The simulation current when this executor was made (master sim[...]): no task threads;
    /// each task is an event of the simulation. Null in a real process.
    sim::Simulation* sim_ = nullptr;
    const rpc::RpcEnv* sim_env_ = nullptr;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once stopped: its events do nothing
};

}  // namespace ember::scheduler
