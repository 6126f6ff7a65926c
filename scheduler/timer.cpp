// SPDX-License-Identifier: Apache-2.0
#include "scheduler/timer.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_endpoint.hpp"
#include "scheduler/util/sim_clock.hpp"

#include <algorithm>

namespace ember::scheduler {

namespace {

/// The clock as a SimClock, or nullptr.
util::SimClock* sim_clock(const std::shared_ptr<util::Clock>& clock) {
    return dynamic_cast<util::SimClock*>(clock.get());
}

}  // namespace

Timer::Timer(std::string thread_name, std::shared_ptr<util::Clock> clock)
    : name_(std::move(thread_name)), clock_(clock ? std::move(clock) : util::system_clock()) {
    if (sim_clock(clock_)) {
        // In a simulation: no thread; the simulation calls this at each due time, as one of
        // its events (virtual now is then exactly the due millisecond).
        subscription_ = clock_->subscribe([this] {
            // On the simulation's thread: callbacks due by now, in due order; one scheduled by a
            // callback for now runs in this call too.
            auto now = clock_->monotonic_millis();
            for (;;) {
                std::function<void()> fn;
                {
                    std::lock_guard lk(mu_);
                    if (stopped_ || queue_.empty() || queue_.begin()->first > now) return;
                    fn = std::move(queue_.begin()->second);
                    firing_ = queue_.begin()->first;
                    queue_.erase(queue_.begin());
                }
                try {
                    fn();
                } catch (...) {
                    log::get("scheduler")->error("{}: timer callback threw: {}", name_, rpc::describe(std::current_exception()));
                }
            }
        });
        return;
    }
    if (clock_->manual()) {
        subscription_ = clock_->subscribe([this] {
            std::lock_guard lk(mu_);  // no lost wake-up between the thread's check and its wait
            cv_.notify_all();
        });
    }
    thread_ = std::thread([this] { run(); });
}

Timer::~Timer() { stop(); }

void Timer::schedule(std::chrono::milliseconds delay, std::function<void()> fn) {
    {
        std::lock_guard lk(mu_);
        if (stopped_) return;
        bool from_callback = std::this_thread::get_id() == thread_.get_id();
        auto base = from_callback && clock_->manual() ? firing_ : clock_->monotonic_millis();
        auto due = base + std::max<std::int64_t>(delay.count(), 0);
        queue_.emplace(due, std::move(fn));
        if (auto* sim = sim_clock(clock_)) {
            sim->wake_at(subscription_, due);
            return;
        }
    }
    cv_.notify_one();
}


std::int64_t Timer::current_time() const {
    if (std::this_thread::get_id() == thread_.get_id()) {
        std::lock_guard lk(mu_);
        return firing_;
    }
    return clock_->monotonic_millis();
}

void Timer::stop() {
    {
        std::lock_guard lk(mu_);
        if (stopped_ && !thread_.joinable()) return;
        stopped_ = true;
        queue_.clear();
    }
    cv_.notify_one();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
    if (subscription_ != 0) {
        clock_->unsubscribe(subscription_);
        subscription_ = 0;
    }
}

void Timer::run() {
    log::set_thread_name(name_);
    std::unique_lock lk(mu_);
    while (!stopped_) {
        if (queue_.empty()) {
            cv_.wait(lk);
            continue;
        }
        auto when = queue_.begin()->first;
        auto now = clock_->monotonic_millis();
        if (now < when) {
            if (clock_->manual()) {
                cv_.wait(lk);  // until the clock moves, or a schedule() or stop()
            } else {
                cv_.wait_for(lk, std::chrono::milliseconds(when - now));
            }
            continue;
        }
        auto fn = std::move(queue_.begin()->second);
        firing_ = when;
        queue_.erase(queue_.begin());
        lk.unlock();
        try {
            fn();
        } catch (...) {
            log::get("scheduler")->error("{}: timer callback threw: {}", name_, rpc::describe(std::current_exception()));
        }
        lk.lock();
    }
}

}  // namespace ember::scheduler
