// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: MemoryBudget, the bytes an env may buffer for what peers send it unasked
/// (ember.rpc.io.maxBufferedBytes), shared by all its connections.

#include <atomic>
#include <cstdint>

namespace ember::rpc::transport {

/// A count of bytes held against a limit.
/// Threading: thread-safe (lock-free).
class MemoryBudget {
public:
    explicit MemoryBudget(std::uint64_t limit) noexcept : limit_(limit) {}

    /// Takes `n` bytes if they fit under the limit; false (nothing taken) if not.
    bool try_acquire(std::uint64_t n) noexcept {
        std::uint64_t used = used_.load(std::memory_order_relaxed);
        do {
            if (n > limit_ || used > limit_ - n) return false;
        } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
        return true;
    }
    void release(std::uint64_t n) noexcept { used_.fetch_sub(n, std::memory_order_relaxed); }
    std::uint64_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
    std::uint64_t limit() const noexcept { return limit_; }

private:
    const std::uint64_t limit_;
    std::atomic<std::uint64_t> used_{0};
};

}  // namespace ember::rpc::transport
