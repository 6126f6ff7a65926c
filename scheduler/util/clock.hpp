// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The scheduler's injectable clock (Spark's org.apache.spark.util.Clock, SystemClock and
/// ManualClock). Every scheduler timeout that decides what runs where (locality wait,
/// speculation, heartbeat expiry, revive, stage resubmission, exclusion timeouts) reads time
/// from a Clock and sleeps through a scheduler::Timer on it, so a test (or a simulation) can
/// replace real time with a ManualClock and move it by hand.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

namespace ember::scheduler::util {

/// A source of time. Both readings are in milliseconds.
/// Threading: implementations are thread-safe.
class Clock {
public:
    virtual ~Clock() = default;
    /// Wall-clock-like time in ms since the epoch (event times, exclusion expiry).
    virtual std::int64_t get_time_millis() const = 0;
    /// Monotonic time in ms from an arbitrary origin (timeouts, waits).
    virtual std::int64_t monotonic_millis() const = 0;
    /// Blocks until monotonic_millis() >= `target_ms` and returns the time then.
    virtual std::int64_t wait_till(std::int64_t target_ms) = 0;
    /// True if time only moves when told (a ManualClock): a Timer then sleeps until the clock
    /// is advanced rather than for a real duration.
    virtual bool manual() const noexcept { return false; }
    /// Registers `fn`, called (on the advancing thread, without the clock's lock) after every
    /// change of a manual clock; returns a token for unsubscribe(). A real clock never calls it.
    virtual std::uint64_t subscribe(std::function<void()> fn) {
        (void)fn;
        return 0;
    }
    virtual void unsubscribe(std::uint64_t token) { (void)token; }
};

/// Real time: system_clock for get_time_millis(), steady_clock for monotonic_millis().
class SystemClock final : public Clock {
public:
    std::int64_t get_time_millis() const override;
    std::int64_t monotonic_millis() const override;
    std::int64_t wait_till(std::int64_t target_ms) override;
};

/// The process-wide SystemClock every scheduler part uses unless given another.
std::shared_ptr<Clock> system_clock();

/// Time that moves only when advance() or set_time() says (Spark's ManualClock). Both readings
/// are the same number; it starts at `start_ms`. Threads in wait_till() and Timers on this clock
/// wake when time reaches their target.
/// Threading: thread-safe; subscribers run on the thread that moves the clock.
class ManualClock final : public Clock {
public:
    explicit ManualClock(std::int64_t start_ms = 0) : time_(start_ms) {}

    std::int64_t get_time_millis() const override;
    std::int64_t monotonic_millis() const override { return get_time_millis(); }
    std::int64_t wait_till(std::int64_t target_ms) override;
    bool manual() const noexcept override { return true; }
    std::uint64_t subscribe(std::function<void()> fn) override;
    /// Once it returns, the subscriber is not running and will not run again. Not from inside a
    /// subscriber.
    void unsubscribe(std::uint64_t token) override;

    /// Moves time forward by `ms` (>= 0; a negative value throws std::invalid_argument).
    void advance(std::int64_t ms);
    /// Sets the time; it may not go back (throws std::invalid_argument).
    void set_time(std::int64_t ms);

private:
    void changed();

    mutable std::mutex mu_;
    std::mutex call_mu_;  ///< held while subscribers run
    std::condition_variable cv_;
    std::int64_t time_;                                          // guarded by mu_
    std::uint64_t next_token_ = 1;                               // guarded by mu_
    std::map<std::uint64_t, std::shared_ptr<std::function<void()>>> subscribers_;  // guarded by mu_
};

}  // namespace ember::scheduler::util
