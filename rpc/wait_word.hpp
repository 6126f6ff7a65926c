// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// WaitWord: a 32-bit value threads sleep on until it changes (a Linux futex), for the waits on
/// ember's latency path: an idle task thread, the caller of an action, the caller of a blocking
/// ask.
///
/// Why not the standard tools:
/// - std::condition_variable: after a wait, glibc re-takes the mutex as contended, so the woken
///   thread's next unlock makes a FUTEX_WAKE system call whether or not anyone waits (about
///   1.2 us on the VMs ember is measured on, once per woken wait).
/// - std::atomic<T>::wait (libstdc++ 12): spins twelve pauses and four sched_yield calls before
///   each sleep: four system calls per sleep, taking the CPU from the thread doing the work.
/// WaitWord sleeps at once (or polls first for as long as its caller asks: poll_for), and wakes
/// make a system call only while a thread sleeps on the word.
/// A wake that woke a thread from an I/O thread makes that loop yield its CPU after the current
/// handlers (MessageLoop::yield_soon), so a thread woken onto the same CPU runs at once. A
/// thread polling the word (poll_for) from the waker's CPU gets it sooner still: the waker
/// yields as soon as the value has changed.
/// The protocol is futex(2)'s FUTEX_WAIT_PRIVATE / FUTEX_WAKE_PRIVATE with a count of sleepers,
/// as in Drepper's "Futexes Are Tricky" (the kernel re-checks the value, so no wake is lost).

#include <atomic>
#include <chrono>
#include <cstdint>

namespace ember::rpc {

/// Threading: every member is thread-safe. A thread that calls store_and_wake_all(),
/// bump_and_wake_one() or bump_and_wake_all() must keep the WaitWord alive until the call
/// returns (a waiter that sees the new value may return before it does), e.g. by holding the
/// shared_ptr that owns it.
class WaitWord {
public:
    /// The value, with acquire ordering: what the waker wrote before changing it is visible.
    std::uint32_t load() const noexcept { return value_.load(std::memory_order_acquire); }

    /// Blocks while the value is `seen`; returns at once if it differs. May return early
    /// (a signal); callers re-check their condition.
    void wait(std::uint32_t seen) noexcept;

    /// Polls without sleeping, for at most `spin`, while the value is `seen`, yielding the CPU
    /// between looks (sched_yield: a thread sharing this CPU, such as the one about to change
    /// the value, runs meanwhile). Returns true once the value differs, false if `spin` ran out.
    /// For a wait that is usually microseconds long, where a sleep's wake-up would cost more
    /// than the wait (the same trade as the I/O threads' ember.rpc.io.spinTime). The poller
    /// records the CPU it polls from, so that a waker on the same CPU yields to it at once
    /// (see store_and_wake_all); one poller per word is the intended use (with several, the
    /// last to record its CPU gets that hand-over).
    bool poll_for(std::uint32_t seen, std::chrono::nanoseconds spin) noexcept;

    /// Like wait(), for at most `timeout`; false if it ran out with the value still `seen`.
    bool wait_for(std::uint32_t seen, std::chrono::nanoseconds timeout) noexcept;

    /// Sets the value and wakes every sleeper. If a poll_for caller polls from the CPU this
    /// thread runs on, this thread then yields the CPU to it (sched_yield) before returning.
    void store_and_wake_all(std::uint32_t value) noexcept;

    /// Sets the value without waking anyone: a sleeper sees it when it wakes on its own
    /// (wait_for's timeout), or a poller at its next look.
    void store(std::uint32_t value) noexcept { value_.store(value, std::memory_order_seq_cst); }
    /// Sets the value to `desired` if it is `expected`, waking nobody; false, changing nothing,
    /// if it is not.
    bool compare_and_swap(std::uint32_t expected, std::uint32_t desired) noexcept {
        return value_.compare_exchange_strong(expected, desired, std::memory_order_seq_cst);
    }
    /// Adds one to the value without waking anyone: for a change the thread that would be woken
    /// sees by itself (it polls the value).
    void bump() noexcept { value_.fetch_add(1, std::memory_order_seq_cst); }

    /// Sets the value to `desired` and wakes every sleeper if it is `expected`; returns false,
    /// changing nothing, if it is not. Yields to a poller on this CPU, as above, on success.
    bool compare_and_wake_all(std::uint32_t expected, std::uint32_t desired) noexcept;

    /// Adds one to the value and wakes one sleeper; yields to a poller on this CPU, as above.
    void bump_and_wake_one() noexcept;

    /// Adds one to the value and wakes every sleeper; yields to a poller on this CPU, as above.
    void bump_and_wake_all() noexcept;

private:
    void wake(int count) noexcept;
    void hand_over_to_poller() noexcept;
    std::atomic<std::uint32_t> value_{0};
    std::atomic<std::uint32_t> sleepers_{0};  // threads between announcing a sleep and leaving it
    std::atomic<int> poll_cpu_{-1};  // the CPU a poll_for caller polls from; -1: none polls
};

}  // namespace ember::rpc
