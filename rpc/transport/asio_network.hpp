// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: AsioNetwork, the real Network of an RpcEnv: TCP through TransportServer and
/// TransportClient, steady_clock, Asio timers on the env's I/O threads.

#include "rpc/network.hpp"
#include "rpc/transport/transport_client.hpp"

#include <memory>

namespace ember::rpc::detail {
class MessageLoop;
}

namespace ember::rpc::transport {

class TransportServer;

/// Threading: thread-safe.
class AsioNetwork final : public detail::Network {
public:
    AsioNetwork(detail::MessageLoop& loop, TransportOptions options);
    ~AsioNetwork() override;

    bool threaded() const noexcept override { return true; }
    Clock::time_point now() const override { return Clock::now(); }
    std::unique_ptr<Timer> make_timer() override;
    /// Random, with room to count up without wrapping.
    std::uint64_t request_id_base() override;
    /// Binds `bind_address:port`, retrying a busy port upward ember.port.maxRetries times; the
    /// advertised host is advertise_address, else the bind address (the host name for an
    /// unspecified one).
    RpcResult<RpcAddress> listen(const RpcEnvConfig& config, ConnectionHandler& handler,
                                 std::function<void(std::shared_ptr<Connection>)> on_accept) override;
    void close_listener() override;
    void connect(const RpcAddress& to, std::chrono::milliseconds timeout, ConnectionHandler& handler,
                 std::function<void(RpcResult<std::shared_ptr<Connection>>)> done) override;
    void defer(std::function<void()> fn) override;

private:
    detail::MessageLoop& loop_;
    TransportOptions options_;
    std::shared_ptr<TransportServer> server_;
};

}  // namespace ember::rpc::transport
