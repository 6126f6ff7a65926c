// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: MessageLoop, an io_context and the threads that run it (Spark's MessageLoop and
/// Netty event loops in one: here endpoint handlers run on the I/O threads).

#include "rpc/transport/read_poller.hpp"
#include "rpc/wait_word.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
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
/// A thread waiting for something the loop will bring may run the loop in its place meanwhile
/// (drive_until, when `lend`).
///
/// Threading: thread-safe; stop() and join() may be called from any thread but a loop thread
/// must not join its own loop.
class MessageLoop {
public:
    MessageLoop(std::string name, int threads, std::chrono::microseconds spin, bool lend = false);
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
    /// Runs the loop on the calling thread in place of its own thread, while the caller waits
    /// for something the loop will bring (the leader/followers pattern; gRPC's synchronous
    /// calls likewise poll on the waiting thread): until `done()` returns true, the loop stops,
    /// or `idle` passes with no handler run and nothing read. Returns `done()`.
    ///
    /// The loop's thread hands the loop over between two of its polls and sleeps; the caller
    /// reads the connections and runs the handlers, one at a time, exactly as that thread would
    /// (in_this_thread() and on_any_loop_thread() are true meanwhile). So the message the
    /// caller waits for is read by the caller: no wake-up of a sleeping thread between the read
    /// and the work (50-100 us when it lands on an idle vCPU of a VM), and no second thread
    /// polling beside it. If `done()` stayed false, the caller then hands the loop back and
    /// wakes its thread. If it came true, the caller leaves the loop free without a system
    /// call, for its next wait to take at once: the loop's thread takes it back at the end of
    /// a nap of kReclaimAfter (1 ms) if nobody has, so the loop is unattended for at most that
    /// long (a thread that waits so between jobs holds a WaitScope, so that its other blocking
    /// waits take the loop too).
    ///
    /// Returns `done()` at once, without running anything, unless the loop lends itself (`lend`,
    /// one thread, spin > 0); also on a thread running a loop, and while another caller drives
    /// this one. Waits for the loop's thread to finish its current handler first. `done` runs
    /// on the calling thread before each pass: cheap, not blocking.
    ///
    /// A handler run here may stop the loop or the object that called this: join() from such a
    /// handler does not wait for the loop's thread, and callers must not touch state such a
    /// handler may have destroyed once this returns.
    /// Threading: any thread but a loop thread; callers drive one at a time.
    bool drive_until(const std::function<bool()>& done, std::chrono::microseconds idle);
    /// While one lives, the calling thread's blocking waits for this loop's events (ask_sync,
    /// a shuffle fetch's results) run the loop meanwhile: drive_while_waiting. For the threads
    /// that drive the loop between their jobs, whose loop may be left free while they work.
    /// Threading: a scope of the thread that makes it; nests.
    class WaitScope {
    public:
        explicit WaitScope(MessageLoop& loop) noexcept;
        ~WaitScope();
        WaitScope(const WaitScope&) = delete;
        WaitScope& operator=(const WaitScope&) = delete;

    private:
        MessageLoop* before_;
    };
    /// drive_until(done, spin_time()) on the loop of the calling thread's WaitScope, if it is
    /// `only` (or `only` is null); else returns done() at once.
    static bool drive_while_waiting(const std::function<bool()>& done, const MessageLoop* only = nullptr);
    /// Stops the threads after their current handler. Idempotent.
    void stop();
    /// Waits for the threads to exit, and for a thread driving the loop (drive_until) to leave
    /// it. Skips the calling thread if it is one of them; called from a handler on a driving
    /// thread, waits for nothing (the loop's thread exits once the handler's caller hands the
    /// loop back).
    void join();

private:
    void run(std::size_t index);
    /// On the loop's thread, asked for the loop (kWanted): hands it over and sleeps until it
    /// comes back.
    void lend();
    // Who runs the loop: its thread (kOwned); its thread, asked for it by a caller of
    // drive_until (kWanted); that caller (kLent); nobody, the caller having left it free and
    // the thread napping in lend() (kFree). The caller holding guest_mu_ moves kOwned ->
    // kWanted, kFree -> kLent, kLent -> kFree or kOwned, and kWanted -> kOwned when the loop
    // stopped; the loop's thread kWanted -> kLent and kFree -> kOwned; stop() kFree -> kOwned.
    static constexpr std::uint32_t kOwned = 0, kWanted = 1, kLent = 2, kFree = 3;
    /// How long a loop left free (kFree) stays unattended at most before its thread takes it
    /// back. Short naps cost more than they save: at 50 us, the thread woken by each while the
    /// caller held its vCPU was placed on the other vCPU, beside the executor's task thread
    /// (apps/bench/RESULTS.md, task-latency).
    static constexpr std::chrono::milliseconds kReclaimAfter{1};

    mutable net::io_context ioc_;
    net::executor_work_guard<net::io_context::executor_type> work_;
    std::string name_;
    std::chrono::microseconds spin_;
    const bool poll_reads_;  // one thread that spins: a transport::ReadPoller reads for it
    const bool lend_;        // drive_until may take the loop (lend, and poll_reads_)
    std::atomic<bool> stopping_{false};
    // The connection the spinning thread reads directly (poll_reads_); a caller driving the
    // loop reads it in its place.
    transport::ReadPoller poller_;
    WaitWord baton_;
    std::mutex guest_mu_;  // held by the caller of drive_until throughout
    std::vector<std::thread> threads_;
};

}  // namespace ember::rpc::detail
