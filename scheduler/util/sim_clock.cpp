// SPDX-License-Identifier: Apache-2.0
#include "scheduler/util/sim_clock.hpp"

#include "rpc/sim/simulation.hpp"

#include <chrono>
#include <map>

namespace ember::scheduler::util {

struct SimClock::Subscribers {
    std::uint64_t next = 1;
    std::map<std::uint64_t, std::shared_ptr<std::function<void()>>> fns;
};

SimClock::SimClock(sim::Simulation& sim, std::int64_t epoch_ms, const rpc::RpcEnv* process)
    : sim_(sim), epoch_ms_(epoch_ms), process_(process), subscribers_(std::make_shared<Subscribers>()) {}

SimClock::~SimClock() { subscribers_->fns.clear(); }

std::int64_t SimClock::get_time_millis() const { return epoch_ms_ + monotonic_millis(); }

std::int64_t SimClock::monotonic_millis() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(sim_.now()).count();
}

std::int64_t SimClock::wait_till(std::int64_t target_ms) {
    if (monotonic_millis() < target_ms) {
        // An event at the target, so the wait ends there even if nothing else is going on.
        sim_.schedule(std::chrono::milliseconds(target_ms) - sim_.now(), [] {});
        sim_.wait_until([&] { return monotonic_millis() >= target_ms; }, std::chrono::microseconds::max() / 2);
    }
    return monotonic_millis();
}

std::uint64_t SimClock::subscribe(std::function<void()> fn) {
    auto token = subscribers_->next++;
    subscribers_->fns.emplace(token, std::make_shared<std::function<void()>>(std::move(fn)));
    return token;
}

void SimClock::unsubscribe(std::uint64_t token) { subscribers_->fns.erase(token); }

void SimClock::wake_at(std::uint64_t token, std::int64_t due_ms) {
    auto delay = std::max(std::chrono::microseconds(0), std::chrono::microseconds(std::chrono::milliseconds(due_ms)) - sim_.now());
    auto fire = [subs = std::weak_ptr<Subscribers>(subscribers_), token] {
        auto s = subs.lock();
        if (!s) return;
        auto it = s->fns.find(token);
        if (it == s->fns.end()) return;
        auto fn = it->second;  // it may unsubscribe while it runs
        (*fn)();
    };
    if (process_) {
        sim_.schedule_in(*process_, delay, std::move(fire));
    } else {
        sim_.schedule(delay, std::move(fire));
    }
}

}  // namespace ember::scheduler::util
