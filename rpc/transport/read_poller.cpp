// SPDX-License-Identifier: Apache-2.0
#include "rpc/transport/read_poller.hpp"

#include <atomic>
#include <utility>

namespace ember::rpc::transport {

namespace {
thread_local ReadPoller* t_poller = nullptr;
std::atomic<std::uint64_t> g_reads_delivered{0};
}  // namespace

std::uint64_t ReadPoller::reads_delivered() noexcept { return g_reads_delivered.load(std::memory_order_relaxed); }

ReadPoller::~ReadPoller() {
    if (t_poller == this) t_poller = nullptr;
    hot_.reset();  // the loop is stopping: nothing reads any more
}

ReadPoller* ReadPoller::current() noexcept { return t_poller; }

void ReadPoller::install() noexcept { t_poller = this; }

ReadPoller* ReadPoller::exchange_current(ReadPoller* p) noexcept { return std::exchange(t_poller, p); }

void ReadPoller::take(std::shared_ptr<PolledRead> c) {
    if (hot_ == c) return;
    auto before = std::exchange(hot_, std::move(c));
    if (before) before->arm();
}

bool ReadPoller::poll() {
    if (!hot_) return false;
    // read_now() may deliver frames whose handlers make another connection hot, or take this
    // one again: it is out of the slot meanwhile.
    auto c = std::move(hot_);
    if (c->read_now()) {
        g_reads_delivered.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    hot_ = std::move(c);  // nothing was there, so nothing ran that could have taken the slot
    return false;
}

void ReadPoller::release() {
    if (auto c = std::move(hot_)) c->arm();
}

}  // namespace ember::rpc::transport
