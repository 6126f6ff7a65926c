// SPDX-License-Identifier: Apache-2.0
#include "scheduler/util/clock.hpp"

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ember::scheduler::util {

namespace {
template <class C>
std::int64_t millis_of() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(C::now().time_since_epoch()).count();
}
}  // namespace

std::int64_t SystemClock::get_time_millis() const { return millis_of<std::chrono::system_clock>(); }

std::int64_t SystemClock::monotonic_millis() const { return millis_of<std::chrono::steady_clock>(); }

std::int64_t SystemClock::wait_till(std::int64_t target_ms) {
    for (;;) {
        auto now = monotonic_millis();
        if (now >= target_ms) return now;
        std::this_thread::sleep_for(std::chrono::milliseconds(target_ms - now));
    }
}

std::shared_ptr<Clock> system_clock() {
    static const std::shared_ptr<Clock> clock = std::make_shared<SystemClock>();
    return clock;
}

std::int64_t ManualClock::get_time_millis() const {
    std::lock_guard lk(mu_);
    return time_;
}

std::int64_t ManualClock::wait_till(std::int64_t target_ms) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return time_ >= target_ms; });
    return time_;
}

std::uint64_t ManualClock::subscribe(std::function<void()> fn) {
    std::lock_guard lk(mu_);
    auto token = next_token_++;
    subscribers_.emplace(token, std::make_shared<std::function<void()>>(std::move(fn)));
    return token;
}

void ManualClock::unsubscribe(std::uint64_t token) {
    {
        std::lock_guard lk(mu_);
        subscribers_.erase(token);
    }
    std::lock_guard calls(call_mu_);  // a call to it under way has returned
}

void ManualClock::advance(std::int64_t ms) {
    if (ms < 0) throw std::invalid_argument("ManualClock::advance: negative duration " + std::to_string(ms) + " ms");
    {
        std::lock_guard lk(mu_);
        time_ += ms;
    }
    changed();
}

void ManualClock::set_time(std::int64_t ms) {
    {
        std::lock_guard lk(mu_);
        if (ms < time_) {
            throw std::invalid_argument("ManualClock::set_time: " + std::to_string(ms) + " ms is before the clock's " +
                                        std::to_string(time_) + " ms");
        }
        time_ = ms;
    }
    changed();
}

void ManualClock::changed() {
    std::vector<std::shared_ptr<std::function<void()>>> subscribers;
    {
        std::lock_guard lk(mu_);
        for (auto& [_, fn] : subscribers_) subscribers.push_back(fn);
    }
    cv_.notify_all();
    std::lock_guard calls(call_mu_);
    for (auto& fn : subscribers) (*fn)();
}

}  // namespace ember::scheduler::util
