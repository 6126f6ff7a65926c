// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: TimerService, the one queue of due times behind every timer of an env: endpoint
/// timers (RpcEndpoint::schedule_once / schedule_every; Akka's Scheduler, where Spark's endpoints
/// use a ScheduledExecutorService each) and ask deadlines (Spark's netty-rpc-env-timeout).

#include "rpc/network.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace ember::rpc::detail {

class Inbox;

/// The env's endpoint timers. A timer that comes due is queued to its endpoint's Inbox as a
/// message, so its callback runs on the endpoint's loop, serialised with the endpoint's messages;
/// timers come due in the order of their due times, and those due at the same time in the order
/// they were scheduled. A periodic timer is rescheduled when its callback starts, at a fixed rate
/// (the next multiple of its period after the last due time that is still ahead: a late timer skips
/// the periods it missed instead of bursting), so at most one run of it is queued at a time.
///
/// Time comes from the env's Network (on_network): its clock, and one Network::Timer set to the
/// earliest due time, so the same path runs on real time (AsioNetwork: steady_clock and an Asio
/// timer on the env's I/O loop) and in a simulation (ember::sim: virtual time, the timer an event
/// of the simulation, in seed-determined order). Or driven by hand (manual): a clock of the
/// owner's, and fire_due(now) when next_due() has come.
///
/// Threading: thread-safe. Callbacks run on their endpoints' loops.
class TimerService : public std::enable_shared_from_this<TimerService> {
public:
    using Clock = std::chrono::steady_clock;

    /// On `network`'s clock, woken by a timer of `network` (which must outlive the service's use).
    static std::shared_ptr<TimerService> on_network(Network& network);
    /// Driven by hand with the clock `now`.
    static std::shared_ptr<TimerService> manual(std::function<Clock::time_point()> now);
    ~TimerService();
    TimerService(const TimerService&) = delete;
    TimerService& operator=(const TimerService&) = delete;

    Clock::time_point now() const { return now_(); }
    /// Schedules `fn` on `inbox`'s loop at `due`, then (`period` > 0) every `period`. Returns the
    /// timer's id (never 0), or 0 after shutdown().
    std::uint64_t schedule(std::weak_ptr<Inbox> inbox, Clock::time_point due, Clock::duration period,
                           std::function<void()> fn);
    /// Schedules `fn` once at `due`, run where timers fire (the network timer's callback, or the
    /// caller of fire_due) rather than on an endpoint: for the env's own deadlines (ask timeouts), which are
    /// quick and never block. Returns its id, or 0 after shutdown().
    std::uint64_t schedule_direct(Clock::time_point due, std::function<void()> fn);
    /// Cancels timer `id`: its callback does not start again (a run under way finishes). Idempotent.
    void cancel(std::uint64_t id);
    /// True while timer `id` is scheduled or queued to run.
    bool active(std::uint64_t id) const;
    /// Cancels every timer of the endpoint whose Inbox is `inbox` (it is stopping).
    void cancel_all(const Inbox* inbox);
    /// Queues every timer due at `now` to its endpoint, or runs it (schedule_direct), in due order;
    /// returns how many.
    std::size_t fire_due(Clock::time_point now);
    /// The earliest due time of a scheduled timer, if any.
    std::optional<Clock::time_point> next_due() const;
    /// Timers scheduled or queued to run.
    std::size_t size() const;
    /// Cancels every timer and refuses new ones.
    void shutdown();

private:
    struct Entry {
        std::weak_ptr<Inbox> inbox;
        const Inbox* owner = nullptr;
        Clock::time_point due;
        Clock::duration period{0};
        std::shared_ptr<std::function<void()>> fn;  // endpoint timers: shared with a run under way
        std::function<void()> direct_fn;            // set for schedule_direct timers, run by fire_due itself
        std::multimap<Clock::time_point, std::uint64_t>::iterator deadline;
        bool scheduled = false;  // in deadlines_ (else queued to its endpoint, or running)
    };

    TimerService(std::function<Clock::time_point()> now, std::unique_ptr<Network::Timer> waker);
    /// Runs timer `id` on its endpoint's loop (the message fire_due queued).
    void run(std::uint64_t id);
    /// Enters `e` (id `id`) in deadlines_ at e.due; returns true if the waker must be set earlier.
    bool enqueue(std::uint64_t id, Entry& e);  // mu_ held
    void wake();

    std::function<Clock::time_point()> now_;
    std::unique_ptr<Network::Timer> waker_;  // null when driven by hand
    mutable std::mutex mu_;
    std::unordered_map<std::uint64_t, Entry> timers_;                  // guarded by mu_
    std::multimap<Clock::time_point, std::uint64_t> deadlines_;        // guarded by mu_
    std::uint64_t next_id_ = 1;                                        // guarded by mu_
    bool shut_down_ = false;                                           // guarded by mu_
    // When the waker's timer goes off (max: not set). Only an earlier due time re-sets it, so
    // a stream of asks, each cancelling its deadline, costs no post to the waker per ask.
    Clock::time_point armed_at_ = Clock::time_point::max();            // guarded by mu_
};

}  // namespace ember::rpc::detail
