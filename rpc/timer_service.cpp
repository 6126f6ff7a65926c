// SPDX-License-Identifier: Apache-2.0
#include "rpc/timer_service.hpp"

#include "rpc/inbox.hpp"
#include "rpc/log.hpp"

#include <vector>

namespace ember::rpc::detail {

std::shared_ptr<TimerService> TimerService::on_network(Network& network) {
    return std::shared_ptr<TimerService>(
        new TimerService([&network] { return network.now(); }, network.make_timer()));
}

std::shared_ptr<TimerService> TimerService::manual(std::function<Clock::time_point()> now) {
    return std::shared_ptr<TimerService>(new TimerService(std::move(now), nullptr));
}

TimerService::TimerService(std::function<Clock::time_point()> now, std::unique_ptr<Network::Timer> waker)
    : now_(std::move(now)), waker_(std::move(waker)) {}

TimerService::~TimerService() = default;

bool TimerService::enqueue(std::uint64_t id, Entry& e) {
    e.deadline = deadlines_.emplace(e.due, id);
    e.scheduled = true;
    if (!waker_ || e.due >= armed_at_) return false;
    armed_at_ = e.due;
    return true;
}

std::uint64_t TimerService::schedule(std::weak_ptr<Inbox> inbox, Clock::time_point due, Clock::duration period,
                                     std::function<void()> fn) {
    std::uint64_t id;
    bool earliest;
    {
        std::lock_guard lk(mu_);
        if (shut_down_) return 0;
        id = next_id_++;
        Entry e;
        e.owner = inbox.lock().get();
        e.inbox = std::move(inbox);
        e.due = due;
        e.period = period;
        e.fn = std::make_shared<std::function<void()>>(std::move(fn));
        earliest = enqueue(id, timers_.emplace(id, std::move(e)).first->second);
    }
    if (earliest) wake();
    return id;
}

std::uint64_t TimerService::schedule_direct(Clock::time_point due, std::function<void()> fn) {
    std::uint64_t id;
    bool earliest;
    {
        std::lock_guard lk(mu_);
        if (shut_down_) return 0;
        id = next_id_++;
        Entry e;
        e.due = due;
        e.direct_fn = std::move(fn);
        earliest = enqueue(id, timers_.emplace(id, std::move(e)).first->second);
    }
    if (earliest) wake();
    return id;
}

void TimerService::cancel(std::uint64_t id) {
    std::lock_guard lk(mu_);
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    if (it->second.scheduled) deadlines_.erase(it->second.deadline);
    timers_.erase(it);
}

bool TimerService::active(std::uint64_t id) const {
    std::lock_guard lk(mu_);
    return timers_.count(id) != 0;
}

void TimerService::cancel_all(const Inbox* inbox) {
    std::lock_guard lk(mu_);
    for (auto it = timers_.begin(); it != timers_.end();) {
        if (it->second.owner != inbox) {
            ++it;
            continue;
        }
        if (it->second.scheduled) deadlines_.erase(it->second.deadline);
        it = timers_.erase(it);
    }
}

std::size_t TimerService::fire_due(Clock::time_point now) {
    struct Due {
        std::uint64_t id;
        std::weak_ptr<Inbox> inbox;
        std::function<void()> direct;  // set for schedule_direct timers
    };
    std::vector<Due> due;
    {
        std::lock_guard lk(mu_);
        while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
            auto id = deadlines_.begin()->second;
            deadlines_.erase(deadlines_.begin());
            auto it = timers_.find(id);
            it->second.scheduled = false;
            if (it->second.direct_fn) {
                due.push_back(Due{id, {}, std::move(it->second.direct_fn)});
                timers_.erase(it);
            } else {
                due.push_back(Due{id, it->second.inbox, nullptr});
            }
        }
    }
    // In due order, one post each: an endpoint's inbox keeps them in this order.
    std::weak_ptr<TimerService> weak = weak_from_this();
    for (auto& [id, w, direct] : due) {
        if (direct) {
            try {
                direct();
            } catch (const std::exception& e) {
                log::get("rpc")->error("Timer callback failed: {}", e.what());
            }
            continue;
        }
        auto inbox = w.lock();
        bool queued = inbox && inbox->post(Closure{[weak, id = id] {
                                                       if (auto self = weak.lock()) self->run(id);
                                                   },
                                                   true},
                                           false);
        if (!queued) cancel(id);  // the endpoint has stopped
    }
    return due.size();
}

void TimerService::run(std::uint64_t id) {
    std::shared_ptr<std::function<void()>> fn;
    bool earliest = false;
    {
        std::lock_guard lk(mu_);
        auto it = timers_.find(id);
        if (it == timers_.end()) return;  // cancelled after it was queued
        auto& e = it->second;
        fn = e.fn;
        if (e.period.count() <= 0) {
            timers_.erase(it);
        } else if (!e.scheduled) {
            // Rescheduled before the callback runs, so that it may cancel its own timer and an
            // exception from it does not end the timer. Fixed rate, skipping missed periods.
            auto now = now_();
            auto next = e.due + e.period;
            if (next <= now) next += ((now - next) / e.period + 1) * e.period;
            e.due = next;
            earliest = enqueue(id, e);
        }
    }
    if (earliest) wake();
    (*fn)();
}

std::optional<TimerService::Clock::time_point> TimerService::next_due() const {
    std::lock_guard lk(mu_);
    if (deadlines_.empty()) return std::nullopt;
    return deadlines_.begin()->first;
}

std::size_t TimerService::size() const {
    std::lock_guard lk(mu_);
    return timers_.size();
}

void TimerService::shutdown() {
    {
        std::lock_guard lk(mu_);
        shut_down_ = true;
        timers_.clear();
        deadlines_.clear();
    }
    if (waker_) {
        waker_->post([weak = weak_from_this()] {
            if (auto self = weak.lock()) self->waker_->cancel();
        });
    }
}

void TimerService::wake() {
    if (!waker_) return;
    waker_->post([weak = weak_from_this()] {
        auto self = weak.lock();
        if (!self) return;
        std::optional<Clock::time_point> next;
        {
            std::lock_guard lk(self->mu_);
            if (!self->deadlines_.empty()) next = self->deadlines_.begin()->first;
            self->armed_at_ = next.value_or(Clock::time_point::max());
        }
        if (!next) {
            self->waker_->cancel();
            return;
        }
        // Replaces what was pending (Asio: re-setting the expiry cancels the wait in flight).
        self->waker_->expires_at(*next, [weak] {
            auto s = weak.lock();
            if (!s) return;
            s->fire_due(s->now());
            s->wake();
        });
    });
}

}  // namespace ember::rpc::detail
