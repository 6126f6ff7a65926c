// SPDX-License-Identifier: Apache-2.0
#include "rpc/message_loop.hpp"

#include "rpc/log.hpp"
#include "rpc/transport/no_sigpipe.hpp"
#include "rpc/transport/read_poller.hpp"

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <sched.h>

#include <algorithm>
#include <utility>

namespace ember::rpc::detail {

namespace {
thread_local const MessageLoop* t_loop = nullptr;
thread_local bool t_yield_soon = false;
thread_local MessageLoop* t_wait_loop = nullptr;  // the innermost WaitScope's
}  // namespace

bool MessageLoop::on_any_loop_thread() noexcept { return t_loop != nullptr; }

void MessageLoop::yield_soon() noexcept {
    if (t_loop) t_yield_soon = true;
}

bool MessageLoop::in_this_thread() const noexcept {
    // The thread's loop, or a handler this io_context runs (a simulation drives it itself).
    return t_loop == this || ioc_.get_executor().running_in_this_thread();
}

MessageLoop::MessageLoop(std::string name, int threads, std::chrono::microseconds spin, bool lend)
    : ioc_(threads),
      work_(ioc_.get_executor()),
      name_(std::move(name)),
      spin_(spin),
      poll_reads_(threads == 1 && spin.count() > 0),
      lend_(lend && poll_reads_) {
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
    // One thread that spins reads the connection of its last frames directly (ReadPoller),
    // with the loop's own poller, which a caller driving the loop uses in its turn. Several
    // threads each keep an empty one, installed nowhere.
    transport::ReadPoller own;
    transport::ReadPoller& poller = poll_reads_ ? poller_ : own;
    if (poll_reads_) poller_.install();
    using clock = std::chrono::steady_clock;
    bool busy = false;  // the last pass ran handlers
    while (!stopping_.load(std::memory_order_relaxed)) {
        try {
            if (spin_.count() > 0) {
                if (lend_ && baton_.load() == kWanted) {
                    lend();
                    busy = true;
                    continue;
                }
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
                // connection is read on both sides of each epoll poll. A caller asking for the
                // loop (drive_until) ends the polling.
                auto until = clock::now() + spin_;
                bool ran = false;
                while (!ran && clock::now() < until && !stopping_.load(std::memory_order_relaxed) &&
                       baton_.load() == kOwned) {
                    ran = poller.poll() || ioc_.poll_one() > 0 || poller.poll();
                    if (!ran) ::sched_yield();
                }
                if (ran || baton_.load() != kOwned) continue;
                poller.release();  // epoll watches it while the thread sleeps
            }
            ioc_.run_one();  // a caller asking for the loop posts a handler, which ends the sleep
        } catch (const std::exception& e) {
            // Handlers catch their own exceptions; anything here is a bug in ember.
            log::get("rpc")->error("{}: handler escaped with exception: {}", name_, e.what());
        }
        if (ioc_.stopped() && !stopping_.load()) ioc_.restart();
    }
    poller.drop();  // the loop is stopping: nothing reads any more
    if (poll_reads_) transport::ReadPoller::exchange_current(nullptr);
    t_loop = nullptr;
}

void MessageLoop::lend() {
    // The caller polls for kLent (WaitWord::poll_for): if it shares this CPU, it gets it now.
    // Then this thread sleeps until the loop comes back: handed back (kOwned), or left free
    // (kFree) by a caller whose wait ended, which does not wake this thread. It takes a free
    // loop back at the end of a nap of kReclaimAfter, unless a caller took it again meanwhile.
    baton_.store_and_wake_all(kLent);
    for (;;) {
        const auto v = baton_.load();
        if (v == kOwned) return;
        if (v == kFree) {
            if (baton_.compare_and_swap(kFree, kOwned)) return;
            continue;  // a caller took it
        }
        if (v == kWanted) {
            // A caller handed the loop back (kOwned) and the next one asked for it (kWanted)
            // before this thread woke to see it back: lend it again.
            baton_.store_and_wake_all(kLent);
            continue;
        }
        baton_.wait_for(v, kReclaimAfter);
    }
}

MessageLoop::WaitScope::WaitScope(MessageLoop& loop) noexcept : before_(std::exchange(t_wait_loop, &loop)) {}

MessageLoop::WaitScope::~WaitScope() { t_wait_loop = before_; }

bool MessageLoop::drive_while_waiting(const std::function<bool()>& done, const MessageLoop* only) {
    MessageLoop* loop = t_wait_loop;
    if (loop == nullptr || (only != nullptr && only != loop)) return done();
    return loop->drive_until(done, loop->spin_);
}

bool MessageLoop::drive_until(const std::function<bool()>& done, std::chrono::microseconds idle) {
    if (!lend_ || t_loop != nullptr) return done();
    std::unique_lock guest(guest_mu_, std::try_to_lock);
    if (!guest.owns_lock() || stopping_.load() || done()) return done();

    // Take the loop: at once if the last caller left it free (its thread naps), else ask the
    // thread. The empty handler ends its sleep in epoll if it sleeps; a polling thread sees
    // the request between two polls. (With guest_mu_ held, the value is kFree or kOwned here.)
    if (!baton_.compare_and_swap(kFree, kLent)) {
        baton_.store(kWanted);
        net::post(ioc_, [] {});
        if (!baton_.poll_for(kWanted, spin_)) {
            // The thread runs a long handler: wait for it, or for the loop to stop (its thread
            // may then have exited without lending).
            while (baton_.load() == kWanted && !stopping_.load()) {
                baton_.wait_for(kWanted, std::chrono::milliseconds(1));
            }
        }
        if (baton_.load() != kLent && baton_.compare_and_wake_all(kWanted, kOwned)) return done();  // stopped
    }

    // The loop is this thread's: run it as run() does while it polls, checking `done` before
    // each pass, until `idle` passes with nothing run or read.
    t_loop = this;
    auto* before = transport::ReadPoller::exchange_current(&poller_);
    using clock = std::chrono::steady_clock;
    auto last = clock::now();
    bool result = false;
    while (!(result = done()) && !stopping_.load(std::memory_order_relaxed)) {
        bool ran = false;
        try {
            ran = poller_.poll();
            ran = ioc_.poll() > 0 || ran;
        } catch (const std::exception& e) {
            log::get("rpc")->error("{}: handler escaped with exception: {}", name_, e.what());
            ran = true;
        }
        if (t_yield_soon) {
            t_yield_soon = false;
            ::sched_yield();
        }
        if (ran) {
            last = clock::now();
            continue;
        }
        if (clock::now() - last >= idle) break;
        ::sched_yield();
    }
    transport::ReadPoller::exchange_current(before);
    t_loop = nullptr;
    t_yield_soon = false;
    if (result && !stopping_.load()) {
        // What the caller waited for came, and it goes on with it: a task thread runs its task
        // and comes back for the next one, often within microseconds. Leave the loop free
        // without the system call of waking its thread, which takes it back within
        // kReclaimAfter if nobody does (meanwhile the loop is unattended: the price of the
        // saved wake-up, bounded).
        baton_.store(kFree);
    } else {
        baton_.store_and_wake_all(kOwned);  // the caller will sleep: the thread runs it now
    }
    return result;
}

void MessageLoop::stop() {
    if (stopping_.exchange(true)) return;
    baton_.compare_and_wake_all(kFree, kOwned);  // a thread napping in lend() exits now
    work_.reset();
    ioc_.stop();
}

void MessageLoop::join() {
    const bool on_loop_thread = std::any_of(threads_.begin(), threads_.end(), [](const std::thread& t) {
        return t.get_id() == std::this_thread::get_id();
    });
    if (t_loop == this && !on_loop_thread) {
        // A handler on a thread driving the loop: the loop's thread sleeps until that thread
        // hands the loop back, after this handler.
        for (auto& t : threads_) {
            if (t.joinable()) t.detach();
        }
        return;
    }
    for (auto& t : threads_) {
        if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }
    for (auto& t : threads_) {
        if (t.joinable()) t.detach();  // only our own thread is left: it exits right after
    }
    // A caller driving the loop (drive_until) leaves it before the loop may be destroyed.
    if (!on_loop_thread) std::lock_guard wait_for_guest(guest_mu_);
}

}  // namespace ember::rpc::detail
