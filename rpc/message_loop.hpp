// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: MessageLoop, an io_context and the threads that run it (Spark's MessageLoop and
/// Netty event loops in one: here endpoint handlers run on the I/O threads).

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace ember::rpc::detail {

namespace net = boost::asio;

/// An io_context run by `threads` threads named `<name>-<i>`. Each thread polls for up to
/// `spin` before sleeping in epoll, which saves the 50-100 us wake-up of a sleeping thread when
/// the next event is close (ember.rpc.io.spinTime); a loop of one such thread also reads the
/// connection of its last frames directly meanwhile (transport::ReadPoller).
///
/// Threading: thread-safe; stop() and join() may be called from any thread but a loop thread
/// must not join its own loop.
class MessageLoop {
public:
    MessageLoop(std::string name, int threads, std::chrono::microseconds spin);
    ~MessageLoop();
    MessageLoop(const MessageLoop&) = delete;
    MessageLoop& operator=(const MessageLoop&) = delete;

    net::io_context& context() noexcept { return ioc_; }
    net::io_context::executor_type executor() noexcept { return ioc_.get_executor(); }
    /// How long an idle thread of the loop polls before sleeping (ember.rpc.io.spinTime).
    std::chrono::microseconds spin_time() const noexcept { return spin_; }
    /// How many threads run the loop; 0: its owner drives it (a simulation).
    std::size_t threads() const noexcept { return threads_.size(); }
    /// True if the calling thread is one of this loop's threads (or runs one of its handlers).
    bool in_this_thread() const noexcept;
    /// True if the calling thread runs any MessageLoop (an env's I/O threads, a dedicated
    /// endpoint's thread): there a blocking wait could wait for the thread itself.
    static bool on_any_loop_thread() noexcept;
    /// Called on a loop thread that just woke a sleeping thread (WaitWord): the loop yields its
    /// CPU after the current batch of handlers, before polling on, so a thread woken onto this
    /// CPU runs without waiting for the loop's next pause. Does nothing on other threads.
    static void yield_soon() noexcept;
    /// Stops the threads after their current handler. Idempotent.
    void stop();
    /// Waits for the threads to exit (skips the calling thread if it is one of them).
    void join();

private:
    void run(std::size_t index);

    mutable net::io_context ioc_;
    net::executor_work_guard<net::io_context::executor_type> work_;
    std::string name_;
    std::chrono::microseconds spin_;
    const bool poll_reads_;  // one thread that spins: a transport::ReadPoller reads for it
    std::atomic<bool> stopping_{false};
    std::vector<std::thread> threads_;
};

}  // namespace ember::rpc::detail
