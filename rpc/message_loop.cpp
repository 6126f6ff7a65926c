// SPDX-License-Identifier: Apache-2.0
#include "rpc/message_loop.hpp"

#include "rpc/log.hpp"
#include "rpc/transport/no_sigpipe.hpp"
#include "rpc/transport/read_poller.hpp"

#include <fmt/format.h>

#include <sched.h>

namespace ember::rpc::detail {

namespace {
thread_local const MessageLoop* t_loop = nullptr;
thread_local bool t_yield_soon = false;
}  // namespace

bool MessageLoop::on_any_loop_thread() noexcept { return t_loop != nullptr; }

void MessageLoop::yield_soon() noexcept {
    if (t_loop) t_yield_soon = true;
}

bool MessageLoop::in_this_thread() const noexcept {
    // The thread's loop, or a handler this io_context runs (a simulation drives it itself).
    return t_loop == this || ioc_.get_executor().running_in_this_thread();
}

MessageLoop::MessageLoop(std::string name, int threads, std::chrono::microseconds spin)
    : ioc_(threads),
      work_(ioc_.get_executor()),
      name_(std::move(name)),
      spin_(spin),
      poll_reads_(threads == 1 && spin.count() > 0) {
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
    t_loop = this;
    transport::block_sigpipe_on_this_thread();
    // One thread that spins reads the connection of its last frames directly (ReadPoller).
    transport::ReadPoller poller;
    if (poll_reads_) poller.install();
    using clock = std::chrono::steady_clock;
    bool busy = false;  // the last pass ran handlers
    while (!stopping_.load(std::memory_order_relaxed)) {
        try {
            if (spin_.count() > 0) {
                // While handlers keep coming, the polled connection is read once per pass.
                const bool read = busy && poller.poll();
                busy = ioc_.poll() > 0;
                if (t_yield_soon) {
                    t_yield_soon = false;
                    ::sched_yield();
                }
                if (busy || read) continue;
                // Poll a little before sleeping in epoll: the next event is often microseconds
                // away, and a sleeping thread costs 50-100 us to wake on this class of VM.
                // sched_yield lets a peer process that shares our CPU run meanwhile. A polled
                // connection is read on both sides of each epoll poll.
                auto until = clock::now() + spin_;
                bool ran = false;
                while (!ran && clock::now() < until && !stopping_.load(std::memory_order_relaxed)) {
                    ran = poller.poll() || ioc_.poll_one() > 0 || poller.poll();
                    if (!ran) ::sched_yield();
                }
                if (ran) continue;
                poller.release();  // epoll watches it while the thread sleeps
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
