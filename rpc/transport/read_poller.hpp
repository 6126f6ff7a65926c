// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: ReadPoller, the connection an I/O thread reads directly while it spins.

#include <cstdint>
#include <memory>

namespace ember::rpc::transport {

/// A connection that can be read without an asynchronous read in flight.
class PolledRead {
public:
    virtual ~PolledRead() = default;
    /// Reads what the socket holds without blocking and delivers it (frames, an error, the
    /// peer's close). Returns false only if nothing was there, the connection still polled.
    virtual bool read_now() = 0;
    /// Leaves polling: starts an asynchronous read, so epoll reports what comes next.
    virtual void arm() = 0;
};

/// The last connection that delivered frames on an I/O thread which spins before sleeping
/// (ember.rpc.io.spinTime > 0) and is its loop's only thread. Such a connection keeps no
/// asynchronous read in flight: the spinning thread calls recv() on it directly between its
/// polls of epoll, which takes one system call off each message's critical path (epoll_wait,
/// then recv, became recv alone; the reply of an ask is most often on the connection that
/// carried the ask). Another connection delivering frames takes its place, and the one it
/// displaces is armed; so is the polled one before the thread sleeps in epoll.
///
/// Threading: one per loop thread, used only by the thread running the loop (no locks).
class ReadPoller {
public:
    ReadPoller() = default;
    ~ReadPoller();
    ReadPoller(const ReadPoller&) = delete;
    ReadPoller& operator=(const ReadPoller&) = delete;

    /// The calling thread's poller; null when the thread is no single spinning loop thread.
    static ReadPoller* current() noexcept;
    /// Makes this the calling thread's poller until the destructor runs.
    void install() noexcept;
    /// Makes `p` (may be null) the calling thread's poller; returns the one before. For a thread
    /// that runs a loop for a while in place of the loop's own thread (MessageLoop::drive_until).
    static ReadPoller* exchange_current(ReadPoller* p) noexcept;

    /// Polls `c` from now on (it has no read in flight); arms the one polled before, if other.
    void take(std::shared_ptr<PolledRead> c);
    /// Reads the polled connection once; true if it delivered anything.
    bool poll();
    /// Arms the polled connection and stops polling it (before the thread sleeps).
    void release();
    /// Forgets the polled connection without arming it (its loop is stopping).
    void drop() noexcept { hot_.reset(); }
    /// True if a connection is polled.
    bool polling() const noexcept { return static_cast<bool>(hot_); }
    /// Direct reads that delivered bytes (or a close), in this process so far, on every thread.
    static std::uint64_t reads_delivered() noexcept;

private:
    std::shared_ptr<PolledRead> hot_;
};

}  // namespace ember::rpc::transport
