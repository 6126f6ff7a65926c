// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// JobWaiter: lets the thread that called an action wait for its job (Spark's JobWaiter), and
/// SparkException, the error a failed job raises.

#include "rpc/wait_word.hpp"
#include "scheduler/task_end_reason.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

namespace ember {

namespace scheduler {

/// Why a job failed when a task's failure aborted it (Spark's SparkException cause, with the
/// TaskEndReason the DAGScheduler saw): the failing attempt's typed reason (ExceptionFailure
/// with the user's exception class and message, FetchFailed, ExecutorLostFailure, TaskKilled,
/// ...) and which task it was.
struct TaskFailureCause {
    TaskEndReason reason;
    int stage_id = 0;
    int stage_attempt_id = 0;
    int partition = 0;            ///< the RDD partition the task computed
    std::int64_t task_id = 0;     ///< TID, unique in the application
    int attempt_number = 0;       ///< 0 for a task's first attempt
    std::string executor_id;
};

}  // namespace scheduler

/// A job failed, was cancelled, or the SparkContext stopped under it. what() is Spark's message,
/// e.g. "Job aborted due to stage failure: Task 0 in stage 1.0 failed 4 times, most recent
/// failure: ...".
///
/// When the job was aborted because a task failed (too many attempts, or a stage that failed
/// too many times), cause() holds the last failed attempt's typed TaskEndReason and ids, so a
/// caller can inspect it instead of matching on text:
///
///     try { rdd.map(f).collect(); } catch (const ember::SparkException& e) {
///         if (auto* c = e.cause()) {
///             if (auto* ex = std::get_if<ember::scheduler::ExceptionFailure>(&c->reason)) {
///                 std::cerr << ex->class_name << ": " << ex->description << "\n";
///             }
///         }
///     }
///
/// cause() is null for cancellations, a stopped context, and failures that no task caused.
/// Threading: immutable; copies share the cause.
class SparkException : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
    SparkException(const std::string& message, std::optional<scheduler::TaskFailureCause> cause)
        : std::runtime_error(message),
          cause_(cause ? std::make_shared<const scheduler::TaskFailureCause>(std::move(*cause)) : nullptr) {}

    /// The task failure that aborted the job, or null.
    const scheduler::TaskFailureCause* cause() const noexcept { return cause_.get(); }

private:
    std::shared_ptr<const scheduler::TaskFailureCause> cause_;
};

namespace scheduler {

/// Threading: thread-safe; finished by the scheduler loop, awaited by the caller.
class JobWaiter {
public:
    explicit JobWaiter(int job_id) : job_id_(job_id) {}
    int job_id() const noexcept { return job_id_; }
    void succeed() { finish(std::nullopt); }
    /// Fails the job; `cause`: the task failure that aborted it, if one did.
    void fail(std::string error, std::optional<TaskFailureCause> cause = std::nullopt) {
        {
            std::lock_guard lk(mu_);
            if (!done_) cause_ = std::move(cause);
        }
        finish(std::move(error));
    }
    /// Blocks until the job ends; throws SparkException with its error (and cause) if it failed.
    /// `spin`: how long to poll for the end before sleeping (rpc::WaitWord::poll_for). A tiny
    /// job ends within tens of microseconds, and waking a sleeping caller can cost as much (the
    /// kernel may place it on an idle vCPU, whose wake-up is slow on a VM); SparkContext passes
    /// the driver env's ember.rpc.io.spinTime (0 when the driver may run on one CPU only).
    void await(std::chrono::nanoseconds spin = {}) {
        if (!ended_.poll_for(0, spin)) {
            while (ended_.load() == 0) ended_.wait(0);
        }
        std::lock_guard lk(mu_);
        if (error_) throw SparkException(*error_, cause_);
    }
    bool done() {
        std::lock_guard lk(mu_);
        return done_;
    }
    /// done() without the lock, for a caller polling between handlers (RpcEnv::drive_io_until).
    bool ended() const noexcept { return ended_.load() != 0; }

private:
    void finish(std::optional<std::string> error) {
        {
            std::lock_guard lk(mu_);
            if (done_) return;
            done_ = true;
            error_ = std::move(error);
        }
        ended_.store_and_wake_all(1);  // a system call only if a thread sleeps in await()
    }
    int job_id_;
    std::mutex mu_;
    /// 1 once done_ is set; await() sleeps on it (a WaitWord, not a condition variable: see
    /// rpc/wait_word.hpp). The scheduler finishes the waiter through a shared_ptr it holds.
    rpc::WaitWord ended_;
    bool done_ = false;                // guarded by mu_
    std::optional<std::string> error_;  // guarded by mu_
    std::optional<TaskFailureCause> cause_;  // guarded by mu_
};

}  // namespace scheduler
}  // namespace ember
