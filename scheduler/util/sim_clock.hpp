// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// SimClock: the virtual time of an ember::sim::Simulation as the scheduler's Clock, so the
/// scheduler's timers (locality wait, speculation, heartbeat expiry, revive, stage
/// resubmission; every scheduler::Timer on this clock) fire as events of the simulation, in
/// seed-determined order, on its thread, with no timer thread. Spark has no counterpart; its
/// ManualClock (util::ManualClock here) is the nearest: time that moves only when told.

#include "scheduler/util/clock.hpp"

#include <cstdint>
#include <functional>
#include <memory>

namespace ember::sim {
class Simulation;
}

namespace ember::rpc {
class RpcEnv;
}

namespace ember::scheduler::util {

/// Readings: monotonic_millis() is the simulation's virtual time in whole milliseconds (from 0
/// when it began); get_time_millis() adds `epoch_ms`, a fixed wall-clock origin, so event times
/// are the same in every run of a seed.
///
/// A scheduler::Timer on a SimClock runs no thread: it subscribes (subscribe()) and asks to be
/// woken at each due time (wake_at()); the simulation then calls its subscriber as an event at
/// exactly that virtual millisecond, outside every env's handler.
///
/// Threading: not thread-safe; only the simulation's thread uses it. The simulation must
/// outlive every call (events it already holds stay safe after the clock is gone).
class SimClock final : public Clock {
public:
    /// 2026-01-01T00:00:00Z.
    static constexpr std::int64_t kDefaultEpochMs = 1'767'225'600'000;

    /// `process`: the env whose process the timers on this clock belong to (an executor's
    /// heartbeater), or null (the driver's scheduler): once that incarnation is killed or has
    /// exited, its callbacks no longer run (Simulation::schedule_in).
    explicit SimClock(sim::Simulation& sim, std::int64_t epoch_ms = kDefaultEpochMs,
                      const rpc::RpcEnv* process = nullptr);
    ~SimClock() override;

    std::int64_t get_time_millis() const override;
    std::int64_t monotonic_millis() const override;
    /// Runs the simulation (Simulation::wait_until) until virtual time reaches `target_ms`.
    /// Throws std::logic_error inside an env's handler, where it cannot run.
    std::int64_t wait_till(std::int64_t target_ms) override;
    std::uint64_t subscribe(std::function<void()> fn) override;
    void unsubscribe(std::uint64_t token) override;

    /// Calls subscriber `token` at virtual time `due_ms` (now if it has passed), unless it has
    /// unsubscribed by then. Several wake-ups of one subscriber each call it once.
    void wake_at(std::uint64_t token, std::int64_t due_ms);
    sim::Simulation& simulation() const noexcept { return sim_; }

private:
    struct Subscribers;
    sim::Simulation& sim_;
    std::int64_t epoch_ms_;
    const rpc::RpcEnv* process_;
    std::shared_ptr<Subscribers> subscribers_;  // shared with the events wake_at schedules
};

}  // namespace ember::scheduler::util
