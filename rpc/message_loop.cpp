// SPDX-License-Identifier: Apache-2.0
#include "rpc/message_loop.hpp"

#include "rpc/log.hpp"
#include "rpc/transport/no_sigpipe.hpp"

#include <fmt/format.h>

#include <sched.h>

namespace ember::rpc::detail {

namespace {
thread_local bool t_loop_thread = false;
}  // namespace

bool MessageLoop::on_any_loop_thread() noexcept { return t_loop_thread; }

MessageLoop::MessageLoop(std::string name, int threads, std::chrono::microseconds spin)
    : ioc_(threads), work_(ioc_.get_executor()), name_(std::move(name)), spin_(spin) {
    for (int i = 0; i < threads; ++i) {
        threads_.emplace_back([this, i] { run(static_cast<std::size_t>(i)); });
    }
}

MessageLoop::~MessageLoop() {
    stop();
    join();
}

void MessageLoop::run(std::size_t index) {
    log::set_thread_name(fmt::format("{}-{}", name_, index));
    t_loop_thread = true;
    transport::block_sigpipe_on_this_thread();
    using clock = std::chrono::steady_clock;
    while (!stopping_.load(std::memory_order_relaxed)) {
        try {
            if (spin_.count() > 0) {
                if (ioc_.poll() > 0) continue;
                // Poll a little before sleeping in epoll: the next event is often microseconds
                // away, and a sleeping thread costs 50-100 us to wake on this class of VM.
                // sched_yield lets a peer process that shares our CPU run meanwhile.
                auto until = clock::now() + spin_;
                bool ran = false;
                while (!ran && clock::now() < until && !stopping_.load(std::memory_order_relaxed)) {
                    ran = ioc_.poll_one() > 0;
                    if (!ran) ::sched_yield();
                }
                if (ran) continue;
            }
            ioc_.run_one();
        } catch (const std::exception& e) {
            // Handlers catch their own exceptions; anything here is a bug in ember.
            log::get("rpc")->error("{}: handler escaped with exception: {}", name_, e.what());
        }
        if (ioc_.stopped() && !stopping_.load()) ioc_.restart();
    }
}

void MessageLoop::stop() {
    if (stopping_.exchange(true)) return;
    work_.reset();
    ioc_.stop();
}

void MessageLoop::join() {
    for (auto& t : threads_) {
        if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }
    for (auto& t : threads_) {
        if (t.joinable()) t.detach();  // only our own thread is left: it exits right after
    }
}

}  // namespace ember::rpc::detail
