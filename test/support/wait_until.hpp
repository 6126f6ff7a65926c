// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Bounded polling for integration tests: wait_until(pred, timeout).

#include <chrono>
#include <thread>

namespace ember::test {

/// Polls `pred` every millisecond until it is true or `timeout` passes; returns its last value.
template <class Pred>
bool wait_until(Pred&& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= until) return pred();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

}  // namespace ember::test
