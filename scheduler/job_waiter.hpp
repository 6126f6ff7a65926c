// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// JobWaiter: lets the thread that called an action wait for its job (Spark's JobWaiter), and
/// SparkException, the error a failed job raises.

#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

namespace ember {

/// A job failed, was cancelled, or the SparkContext stopped under it. what() is Spark's message,
/// e.g. "Job aborted due to stage failure: Task 0 in stage 1.0 failed 4 times, most recent
/// failure: ...".
class SparkException : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace scheduler {

/// Threading: thread-safe; finished by the scheduler loop, awaited by the caller.
class JobWaiter {
public:
    explicit JobWaiter(int job_id) : job_id_(job_id) {}
    int job_id() const noexcept { return job_id_; }
    void succeed() { finish(std::nullopt); }
    void fail(std::string error) { finish(std::move(error)); }
    /// Blocks until the job ends; throws SparkException with its error if it failed.
    void await() {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [this] { return done_; });
        if (error_) throw SparkException(*error_);
    }
    bool done() {
        std::lock_guard lk(mu_);
        return done_;
    }

private:
    void finish(std::optional<std::string> error) {
        {
            std::lock_guard lk(mu_);
            if (done_) return;
            done_ = true;
            error_ = std::move(error);
        }
        cv_.notify_all();
    }
    int job_id_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;                // guarded by mu_
    std::optional<std::string> error_;  // guarded by mu_
};

}  // namespace scheduler
}  // namespace ember
