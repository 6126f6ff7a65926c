// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: TransportServer, the listening socket of a server-mode RpcEnv (Spark's
/// TransportServer, bound through Utils.startServiceOnPort's retry rule).

#include "rpc/rpc_error.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ember::rpc::transport {

namespace net = boost::asio;
using tcp = net::ip::tcp;

/// Accepts connections and hands each socket to `on_accept` on an I/O thread.
///
/// Threading: bind() and close() are thread-safe; the accept loop runs on the io_context.
class TransportServer : public std::enable_shared_from_this<TransportServer> {
public:
    using AcceptHandler = std::function<void(tcp::socket)>;

    /// Binds `host:port`. Port 0 picks a free port. A busy port >= 1024 is retried as port+1,
    /// port+2, ... up to `max_retries` times (ember.port.maxRetries). Fails with bind_failed
    /// naming the address and the last error.
    static RpcResult<std::shared_ptr<TransportServer>> bind(net::io_context& ioc, const std::string& host,
                                                            std::uint16_t port, int max_retries,
                                                            AcceptHandler on_accept);

    std::uint16_t port() const noexcept { return port_; }
    void start();
    void close();

private:
    TransportServer(tcp::acceptor acceptor, AcceptHandler on_accept);
    net::awaitable<void> accept_loop(std::shared_ptr<TransportServer> self);

    tcp::acceptor acceptor_;
    AcceptHandler on_accept_;
    std::uint16_t port_ = 0;
};

/// Connects to `host:port` within `timeout` (ember.rpc.io.connectionCreationTimeout; <= 0: no
/// limit) and calls `done` on an I/O thread. Failure: connection_failed, "Failed to connect to
/// host:port: <reason>" or "Connecting to host:port timed out (N ms)".
void async_connect(net::io_context& ioc, const std::string& host, std::uint16_t port,
                   std::chrono::milliseconds timeout,
                   std::function<void(RpcResult<tcp::socket>)> done);

}  // namespace ember::rpc::transport
