// SPDX-License-Identifier: Apache-2.0
#include "scheduler/context_cleaner.hpp"

#include "rpc/log.hpp"

#include <exception>
#include <utility>

namespace ember::scheduler {

ContextCleaner::ContextCleaner(Actions actions) : state_(std::make_shared<State>()), actions_(std::move(actions)) {
    thread_ = std::thread([this] { run(); });
}

ContextCleaner::~ContextCleaner() { stop(); }

std::shared_ptr<void> ContextCleaner::track_rdd(int rdd_id) { return track(Kind::rdd, rdd_id); }

std::shared_ptr<void> ContextCleaner::track_shuffle(int shuffle_id) { return track(Kind::shuffle, shuffle_id); }

std::shared_ptr<void> ContextCleaner::track(Kind kind, int id) {
    // A shared_ptr owning nothing: only its deleter matters, run when the last copy goes.
    std::weak_ptr<State> weak = state_;
    return std::shared_ptr<void>(nullptr, [weak, kind, id](void*) {
        auto state = weak.lock();
        if (!state) return;
        {
            std::lock_guard lk(state->mu);
            if (state->stopped) return;
            state->queue.push_back(Task{kind, id});
        }
        state->cv.notify_one();
    });
}

void ContextCleaner::stop() {
    {
        std::lock_guard lk(state_->mu);
        state_->stopped = true;
        state_->queue.clear();
    }
    state_->cv.notify_all();
    if (thread_.joinable()) thread_.join();
}

void ContextCleaner::run() {
    log::set_thread_name("context-cleaner");
    for (;;) {
        Task task;
        {
            std::unique_lock lk(state_->mu);
            state_->cv.wait(lk, [this] { return state_->stopped || !state_->queue.empty(); });
            if (state_->stopped) return;
            task = state_->queue.front();
            state_->queue.pop_front();
        }
        auto& action = task.kind == Kind::rdd ? actions_.clean_rdd : actions_.clean_shuffle;
        try {
            log::get("scheduler")->debug("Cleaning {} {}", name(task.kind), task.id);
            if (action) action(task.id);
            log::get("scheduler")->debug("Cleaned {} {}", name(task.kind), task.id);
        } catch (const std::exception& e) {
            log::get("scheduler")->error("Error cleaning {} {}: {}", name(task.kind), task.id, e.what());
        }
    }
}

}  // namespace ember::scheduler
