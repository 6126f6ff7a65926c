// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Timer: runs callbacks after a delay on a thread of its own (Spark's "dag-scheduler-message"
/// and revive threads); callbacks post their real work to the scheduler loop.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace ember::scheduler {

/// Threading: thread-safe. Callbacks run on the timer thread, one at a time, and must be quick.
class Timer {
public:
    explicit Timer(std::string thread_name);
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    void schedule(std::chrono::milliseconds delay, std::function<void()> fn);
    /// Drops pending callbacks and joins the thread. Idempotent.
    void stop();

private:
    void run();

    std::string name_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> queue_;  // guarded by mu_
    bool stopped_ = false;                                                             // guarded by mu_
    std::thread thread_;
};

}  // namespace ember::scheduler
