// SPDX-License-Identifier: Apache-2.0
#include "rpc/transport/transport_server.hpp"

#include "rpc/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <fcntl.h>

namespace ember::rpc::transport {
namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);

std::string host_port(const std::string& host, std::uint16_t port) {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

}  // namespace

TransportServer::TransportServer(tcp::acceptor acceptor, AcceptHandler on_accept)
    : acceptor_(std::move(acceptor)), on_accept_(std::move(on_accept)) {
    port_ = acceptor_.local_endpoint().port();
}

RpcResult<std::shared_ptr<TransportServer>> TransportServer::bind(net::io_context& ioc,
                                                                  const std::string& host,
                                                                  std::uint16_t port, int max_retries,
                                                                  AcceptHandler on_accept) {
    boost::system::error_code ec;
    auto addr = net::ip::make_address(host, ec);
    if (ec) {
        // A host name: bind the first address it resolves to.
        tcp::resolver resolver(ioc);
        auto results = resolver.resolve(host, "", ec);
        if (ec || results.empty()) {
            return RpcError{RpcErrc::bind_failed,
                            fmt::format("Cannot bind to {}: cannot resolve host: {}", host,
                                        ec ? ec.message() : "no address")};
        }
        addr = results.begin()->endpoint().address();
    }
    int attempts = (port == 0) ? 1 : std::max(1, max_retries + 1);
    boost::system::error_code last;
    for (int i = 0; i < attempts; ++i) {
        std::uint32_t try_port = port == 0 ? 0 : port + static_cast<std::uint32_t>(i);
        if (try_port > 65535) break;
        tcp::acceptor acc(ioc);
        tcp::endpoint ep(addr, static_cast<std::uint16_t>(try_port));
        acc.open(ep.protocol(), ec);
        // Asio opens without SOCK_CLOEXEC: executors this process starts must not hold its port.
        if (!ec) ::fcntl(acc.native_handle(), F_SETFD, FD_CLOEXEC);
        if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec) acc.bind(ep, ec);
        if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
        if (!ec) {
            return std::shared_ptr<TransportServer>(new TransportServer(std::move(acc), std::move(on_accept)));
        }
        last = ec;
        if (ec != net::error::address_in_use || try_port < 1024) break;
        log::get("transport")->warn("Port {} is in use; trying {}", try_port, try_port + 1);
    }
    return RpcError{RpcErrc::bind_failed,
                    fmt::format("Cannot bind to {} (ember.port.maxRetries={}): {}", host_port(host, port),
                                max_retries, last.message())};
}

void TransportServer::start() {
    net::co_spawn(acceptor_.get_executor(), accept_loop(shared_from_this()), net::detached);
}

void TransportServer::close() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
        boost::system::error_code ec;
        self->acceptor_.close(ec);
    });
}

net::awaitable<void> TransportServer::accept_loop([[maybe_unused]] std::shared_ptr<TransportServer> self) {
    for (;;) {
        auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) co_return;
        if (ec) {
            // EMFILE and friends: log, back off briefly, keep serving.
            log::get("transport")->warn("accept failed: {}", ec.message());
            net::steady_timer t(acceptor_.get_executor(), std::chrono::milliseconds(50));
            co_await t.async_wait(kTuple);
            continue;
        }
        on_accept_(std::move(socket));
    }
}

namespace {

struct ConnectOp : std::enable_shared_from_this<ConnectOp> {
    // socket, resolver and timer share one strand: the timeout may close the socket only while
    // no connect handler runs.
    ConnectOp(net::io_context& ioc, std::string h, std::uint16_t p, std::function<void(RpcResult<tcp::socket>)> d)
        : strand(net::make_strand(ioc)), socket(strand), resolver(strand), timer(strand),
          host(std::move(h)), port(p), done(std::move(d)) {}
    net::strand<net::io_context::executor_type> strand;
    tcp::socket socket;
    tcp::resolver resolver;
    net::steady_timer timer;
    std::string host;
    std::uint16_t port;
    std::function<void(RpcResult<tcp::socket>)> done;
    bool finished = false;  // strand-confined

    void finish(RpcResult<tcp::socket> r) {
        if (finished) return;
        finished = true;
        auto d = std::move(done);
        timer.cancel();
        d(std::move(r));
    }
    void fail(const std::string& why) {
        boost::system::error_code ec;
        socket.close(ec);
        finish(RpcError{RpcErrc::connection_failed,
                        fmt::format("Failed to connect to {}: {}", host_port(host, port), why)});
    }
};

void start_connect(const std::shared_ptr<ConnectOp>& op, std::chrono::milliseconds timeout);

}  // namespace

void async_connect(net::io_context& ioc, const std::string& host, std::uint16_t port,
                   std::chrono::milliseconds timeout,
                   std::function<void(RpcResult<tcp::socket>)> done) {
    auto op = std::make_shared<ConnectOp>(ioc, host, port, std::move(done));
    net::dispatch(op->strand, [op, timeout] { start_connect(op, timeout); });
}

namespace {

void start_connect(const std::shared_ptr<ConnectOp>& op, std::chrono::milliseconds timeout) {
    if (timeout.count() > 0) {
        op->timer.expires_after(timeout);
        op->timer.async_wait([op, timeout](boost::system::error_code ec) {
            if (ec) return;
            boost::system::error_code ignored;
            op->socket.close(ignored);
            op->resolver.cancel();
            op->finish(RpcError{RpcErrc::connection_failed,
                                fmt::format("Connecting to {} timed out ({} ms)", host_port(op->host, op->port),
                                            timeout.count())});
        });
    }
    auto on_connected = [op](boost::system::error_code ec, const tcp::endpoint&) {
        if (ec) {
            op->fail(ec.message());
            return;
        }
        op->finish(std::move(op->socket));
    };
    boost::system::error_code ec;
    auto addr = net::ip::make_address(op->host, ec);
    if (!ec) {
        std::array<tcp::endpoint, 1> eps{tcp::endpoint(addr, op->port)};
        net::async_connect(op->socket, eps, on_connected);
        return;
    }
    op->resolver.async_resolve(op->host, std::to_string(op->port),
                               [op, on_connected](boost::system::error_code ec, tcp::resolver::results_type results) {
                                   if (ec) {
                                       op->fail("cannot resolve host: " + ec.message());
                                       return;
                                   }
                                   net::async_connect(op->socket, results, on_connected);
                               });
}

}  // namespace

}  // namespace ember::rpc::transport
