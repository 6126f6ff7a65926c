// SPDX-License-Identifier: Apache-2.0
#include "rpc/wait_word.hpp"

#include "rpc/message_loop.hpp"

#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <ctime>

namespace ember::rpc {

namespace {

#if defined(__SANITIZE_THREAD__)
#define EMBER_WAIT_WORD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EMBER_WAIT_WORD_TSAN 1
#endif
#endif

/// futex(2) FUTEX_WAIT_PRIVATE: sleeps while *word == seen, up to `timeout` (null: no limit).
/// Returns 0 when woken, else errno: EAGAIN (the value differed), ETIMEDOUT, EINTR.
int futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t seen, const timespec* timeout) noexcept {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
#ifdef EMBER_WAIT_WORD_TSAN
    // ThreadSanitizer runs a signal handler only when the thread it interrupted enters or leaves
    // one of its interceptors, and a raw futex call is not one: the kernel restarts the sleep
    // after the handler's stub returns (SA_RESTART), so a SIGTERM that landed on a thread asleep
    // here would wait for the wake-up, possibly forever. Under TSan the sleep is cut into 50 ms
    // slices with an intercepted call after each, where TSan runs what it deferred. Callers
    // already treat an early return as spurious.
    constexpr timespec kSlice{0, 50'000'000};
    if (timeout == nullptr || timeout->tv_sec > 0 || timeout->tv_nsec > kSlice.tv_nsec) timeout = &kSlice;
#endif
    const long rc =
        ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_PRIVATE, seen, timeout, nullptr, 0);
    const int err = rc == 0 ? 0 : errno;
#ifdef EMBER_WAIT_WORD_TSAN
    ::poll(nullptr, 0, 0);
#endif
    return err;
}

}  // namespace

// The sleeper count and the value are both read and written sequentially consistent: a waker
// either sees the count a sleeper raised (and wakes it), or the sleeper sees the new value (and
// does not sleep). The kernel re-checks the value under its own lock, so a wake between the
// sleeper's check and its futex call is not lost either.

void WaitWord::wait(std::uint32_t seen) noexcept {
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    if (value_.load(std::memory_order_seq_cst) == seen) futex_wait(&value_, seen, nullptr);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
}

bool WaitWord::poll_for(std::uint32_t seen, std::chrono::nanoseconds spin) noexcept {
    if (load() != seen) return true;
    if (spin <= std::chrono::nanoseconds::zero()) return false;
    const auto until = std::chrono::steady_clock::now() + spin;
    bool changed = false;
    for (;;) {
        // Where this thread polls from, before each yield (it may have moved): a waker on the
        // same CPU hands it the CPU (hand_over_to_poller). sched_getcpu is a vDSO read.
        poll_cpu_.store(::sched_getcpu(), std::memory_order_relaxed);
        ::sched_yield();
        if (load() != seen) {
            changed = true;
            break;
        }
        if (std::chrono::steady_clock::now() >= until) break;
    }
    poll_cpu_.store(-1, std::memory_order_relaxed);
    return changed;
}

bool WaitWord::wait_for(std::uint32_t seen, std::chrono::nanoseconds timeout) noexcept {
    using clock = std::chrono::steady_clock;
    // At most a century: now() + nanoseconds::max() would overflow.
    constexpr std::chrono::nanoseconds kLongest = std::chrono::hours(24 * 365 * 100);
    const auto deadline = clock::now() + std::min(timeout, kLongest);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    bool changed = true;
    while (value_.load(std::memory_order_seq_cst) == seen) {
        const auto left = deadline - clock::now();
        if (left <= std::chrono::nanoseconds::zero()) {
            changed = false;
            break;
        }
        const auto s = std::chrono::duration_cast<std::chrono::seconds>(left);
        const timespec ts{static_cast<time_t>(s.count()),
                          static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(left - s).count())};
        futex_wait(&value_, seen, &ts);  // woken, timed out, changed or interrupted: the loop decides
    }
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return changed;
}

void WaitWord::store_and_wake_all(std::uint32_t value) noexcept {
    value_.store(value, std::memory_order_seq_cst);
    wake(INT_MAX);
    hand_over_to_poller();
}

bool WaitWord::compare_and_wake_all(std::uint32_t expected, std::uint32_t desired) noexcept {
    if (!value_.compare_exchange_strong(expected, desired, std::memory_order_seq_cst)) return false;
    wake(INT_MAX);
    hand_over_to_poller();
    return true;
}

void WaitWord::bump_and_wake_one() noexcept {
    value_.fetch_add(1, std::memory_order_seq_cst);
    wake(1);
    hand_over_to_poller();
}

void WaitWord::bump_and_wake_all() noexcept {
    value_.fetch_add(1, std::memory_order_seq_cst);
    wake(INT_MAX);
    hand_over_to_poller();
}

// A poller that shares this CPU runs only when this thread yields, and an I/O thread yields
// only once its loop comes round to its own sched_yield (several system calls later: 7-9 us of
// a one-task job's wait on the VMs ember is measured on). The value it waits for has just
// changed, so it gets the CPU now. A poller on another CPU sees the value there; a stale CPU
// number (the poller moved, or just stopped) costs one needless sched_yield.
void WaitWord::hand_over_to_poller() noexcept {
    const int cpu = poll_cpu_.load(std::memory_order_relaxed);
    if (cpu >= 0 && cpu == ::sched_getcpu()) ::sched_yield();
}

void WaitWord::wake(int count) noexcept {
    if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
    if (::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&value_), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0) >
        0) {
        detail::MessageLoop::yield_soon();
    }
}

}  // namespace ember::rpc

#undef EMBER_WAIT_WORD_TSAN  // unity builds: keep it out of the next file
