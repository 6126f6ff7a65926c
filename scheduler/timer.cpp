// SPDX-License-Identifier: Apache-2.0
#include "scheduler/timer.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_endpoint.hpp"

namespace ember::scheduler {

Timer::Timer(std::string thread_name) : name_(std::move(thread_name)), thread_([this] { run(); }) {}

Timer::~Timer() { stop(); }

void Timer::schedule(std::chrono::milliseconds delay, std::function<void()> fn) {
    {
        std::lock_guard lk(mu_);
        if (stopped_) return;
        queue_.emplace(std::chrono::steady_clock::now() + delay, std::move(fn));
    }
    cv_.notify_one();
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
        if (std::chrono::steady_clock::now() < when) {
            cv_.wait_until(lk, when);
            continue;
        }
        auto fn = std::move(queue_.begin()->second);
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
