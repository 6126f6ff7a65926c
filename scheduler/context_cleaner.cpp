// SPDX-License-Identifier: Apache-2.0
#include "scheduler/context_cleaner.hpp"

#include "rpc/log.hpp"

#include <exception>
#include <utility>

namespace ember::scheduler {

ContextCleaner::ContextCleaner(std::function<void(int)> clean_shuffle)
    : state_(std::make_shared<State>()), clean_shuffle_(std::move(clean_shuffle)) {
    thread_ = std::thread([this] { run(); });
}

ContextCleaner::~ContextCleaner() { stop(); }

std::shared_ptr<void> ContextCleaner::track_shuffle(int shuffle_id) {
    // A shared_ptr owning nothing: only its deleter matters, run when the last copy goes.
    std::weak_ptr<State> weak = state_;
    return std::shared_ptr<void>(nullptr, [weak, shuffle_id](void*) {
        auto state = weak.lock();
        if (!state) return;
        {
            std::lock_guard lk(state->mu);
            if (state->stopped) return;
            state->queue.push_back(shuffle_id);
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
        int shuffle_id;
        {
            std::unique_lock lk(state_->mu);
            state_->cv.wait(lk, [this] { return state_->stopped || !state_->queue.empty(); });
            if (state_->stopped) return;
            shuffle_id = state_->queue.front();
            state_->queue.pop_front();
        }
        try {
            log::get("scheduler")->debug("Cleaning shuffle {}", shuffle_id);
            clean_shuffle_(shuffle_id);
            log::get("scheduler")->debug("Cleaned shuffle {}", shuffle_id);
        } catch (const std::exception& e) {
            log::get("scheduler")->error("Error cleaning shuffle {}: {}", shuffle_id, e.what());
        }
    }
}

}  // namespace ember::scheduler
