// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Timer: runs callbacks after a delay on a thread of its own (Spark's "dag-scheduler-message"
/// and revive threads); callbacks post their real work to the scheduler loop. Delays are
/// measured on a util::Clock: real time by default, or a ManualClock in tests, where callbacks
/// run only once the clock is moved past their time.

#include "scheduler/util/clock.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace ember::scheduler {

/// On a util::SimClock (in an ember::sim::Simulation) there is no thread: each callback runs
/// as an event of the simulation at its due virtual millisecond, on the simulation's thread.
///
/// Threading: thread-safe. Callbacks run on the timer thread (or the simulation's), one at a
/// time, in the order of their due times (equal times: the order scheduled), and must be quick.
class Timer {
public:
    /// `clock`: null means util::system_clock().
    explicit Timer(std::string thread_name, std::shared_ptr<util::Clock> clock = nullptr);
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    /// Runs `fn` once `delay` has passed on the clock (a negative delay counts as 0): from
    /// now, or, called from a callback while the clock is manual, from that callback's due time
    /// (so a periodic timer on a ManualClock fires at exact multiples of its period however
    /// late its thread ran).
    void schedule(std::chrono::milliseconds delay, std::function<void()> fn);
    /// Inside a callback: its due time; elsewhere: the clock's now (monotonic ms). What a
    /// periodic check should take as "now" to be exact on a ManualClock.
    std::int64_t current_time() const;
    const std::shared_ptr<util::Clock>& clock() const noexcept { return clock_; }
    /// Drops pending callbacks and joins the thread. Idempotent.
    void stop();

private:
    void run();

    std::string name_;
    std::shared_ptr<util::Clock> clock_;
    std::uint64_t subscription_ = 0;  ///< to a manual clock's changes
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::multimap<std::int64_t, std::function<void()>> queue_;  // guarded by mu_; keyed by monotonic ms
    std::int64_t firing_ = 0;                                    // guarded by mu_: due time of the running callback
    bool stopped_ = false;                                                             // guarded by mu_
    std::thread thread_;
};

}  // namespace ember::scheduler
