// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// wait_future_for: a bounded wait for a std::future that also works on a simulation's thread
/// (master sim[...]), where nothing would complete the future while the thread sleeps: there the
/// wait runs the simulation, in virtual time, until the future is ready or the time is up.

#include "rpc/sim/simulation.hpp"

#include <chrono>
#include <future>

namespace ember::scheduler::util {

/// Waits up to `timeout` for `f`; true if it is ready. On the thread of an ember::sim::
/// Simulation outside its envs' handlers, runs the simulation for up to `timeout` of virtual
/// time instead of sleeping. Threading: as std::future::wait_for.
template <class T>
bool wait_future_for(std::future<T>& f, std::chrono::milliseconds timeout) {
    auto ready = [&f] { return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready; };
    if (auto* sim = sim::Simulation::current(); sim && sim->can_block()) {
        sim->schedule(timeout, [] {});  // the deadline comes even if all is quiet
        return sim->wait_until(ready, timeout);
    }
    return f.wait_for(timeout) == std::future_status::ready;
}

}  // namespace ember::scheduler::util
