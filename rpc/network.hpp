// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: Network, everything an EnvCore takes from the world outside the process: the clock,
/// timers, listening and connecting (FoundationDB's INetwork). AsioNetwork is the real one (TCP,
/// steady_clock, the env's I/O threads); ember::sim::Simulation provides a simulated one that
/// runs many envs on one thread in virtual time. No Asio here.

#include "rpc/rpc_address.hpp"
#include "rpc/rpc_error.hpp"
#include "rpc/transport/connection.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace ember::rpc {
struct RpcEnvConfig;
}

namespace ember::rpc::detail {

class MessageLoop;

/// The world an env lives in. One per env.
///
/// Threading: thread-safe where the env calls it from several threads (the real network); a
/// single-threaded network (threaded() false) is only ever called on the simulation's thread.
class Network {
public:
    using Clock = std::chrono::steady_clock;

    /// A one-shot timer whose callback runs on the env's loop.
    class Timer {
    public:
        virtual ~Timer() = default;
        /// Runs `fn` serialised with every other post() of this timer (Asio: on a strand); arm
        /// and cancel the timer from inside it.
        virtual void post(std::function<void()> fn) = 0;
        /// Inside post(): `fire` runs at `at`, replacing what was pending.
        virtual void expires_at(Clock::time_point at, std::function<void()> fire) = 0;
        /// Inside post(): nothing pending fires.
        virtual void cancel() = 0;
    };

    virtual ~Network() = default;

    /// False for a simulation: nothing may block or start a thread; the env's loop has no
    /// threads of its own and is driven by the network's owner.
    virtual bool threaded() const noexcept = 0;
    /// The time deadlines and timeouts are measured in (virtual in a simulation).
    virtual Clock::time_point now() const = 0;
    virtual std::unique_ptr<Timer> make_timer() = 0;
    /// The first request id of the env: random in a real process (ids of two env incarnations
    /// must not collide), drawn from the seed in a simulation.
    virtual std::uint64_t request_id_base() = 0;

    /// Server mode: listens as `config` says and returns the address the env advertises.
    /// Accepted connections are made with `handler` and given to `on_accept` on the env's loop.
    virtual RpcResult<RpcAddress> listen(const RpcEnvConfig& config, transport::ConnectionHandler& handler,
                                         std::function<void(std::shared_ptr<transport::Connection>)> on_accept) = 0;
    /// Stops accepting. Idempotent.
    virtual void close_listener() = 0;
    /// Connects to `to` within `timeout` (<= 0: no limit), the connection made with `handler`;
    /// `done` runs on the env's loop. Failure: connection_failed naming the address.
    virtual void connect(const RpcAddress& to, std::chrono::milliseconds timeout, transport::ConnectionHandler& handler,
                         std::function<void(RpcResult<std::shared_ptr<transport::Connection>>)> done) = 0;
    /// Single-threaded networks: runs `fn` soon, outside every handler (a shutdown started inside
    /// a handler finishes there). Threaded networks never get this call.
    virtual void defer(std::function<void()> fn) = 0;
};

/// Makes the network of a new env, given the env's loop and connection handler.
using NetworkFactory = std::function<std::unique_ptr<Network>(MessageLoop& loop)>;

}  // namespace ember::rpc::detail
