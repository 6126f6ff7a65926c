// SPDX-License-Identifier: Apache-2.0
#include "rpc/transport/asio_network.hpp"

#include "rpc/message_loop.hpp"
#include "rpc/rpc_env.hpp"
#include "rpc/transport/transport_server.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <random>

#include <unistd.h>

namespace ember::rpc::transport {
namespace {

/// A steady_timer on a strand of its own. Its state is shared with the handlers in flight, so
/// a handler that runs after the Timer object is gone touches nothing freed.
class AsioTimer final : public detail::Network::Timer {
public:
    explicit AsioTimer(net::io_context& ioc) : state_(std::make_shared<State>(ioc)) {}

    void post(std::function<void()> fn) override { net::post(state_->strand, std::move(fn)); }
    void expires_at(detail::Network::Clock::time_point at, std::function<void()> fire) override {
        state_->timer.expires_at(at);
        state_->timer.async_wait([fire = std::move(fire)](boost::system::error_code ec) {
            if (!ec) fire();
        });
    }
    void cancel() override { state_->timer.cancel(); }

private:
    struct State {
        explicit State(net::io_context& ioc) : strand(net::make_strand(ioc)), timer(strand) {}
        net::strand<net::io_context::executor_type> strand;
        net::steady_timer timer;
    };
    std::shared_ptr<State> state_;
};

std::string advertised_host(const RpcEnvConfig& c) {
    if (!c.advertise_address.empty()) return c.advertise_address;
    boost::system::error_code ec;
    auto a = net::ip::make_address(c.bind_address, ec);
    if (!ec && a.is_unspecified()) {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) == 0) return host;
    }
    return c.bind_address;
}

}  // namespace

AsioNetwork::AsioNetwork(detail::MessageLoop& loop, TransportOptions options)
    : loop_(loop), options_(std::move(options)) {}

AsioNetwork::~AsioNetwork() { close_listener(); }

std::unique_ptr<detail::Network::Timer> AsioNetwork::make_timer() {
    return std::make_unique<AsioTimer>(loop_.context());
}

std::uint64_t AsioNetwork::request_id_base() {
    std::random_device rd;
    std::uint64_t v = (std::uint64_t{rd()} << 32) ^ rd();
    return (v & 0x3fffffffffffffffull) + 1;  // leave room to count up without wrapping
}

RpcResult<RpcAddress> AsioNetwork::listen(const RpcEnvConfig& config, ConnectionHandler& handler,
                                          std::function<void(std::shared_ptr<Connection>)> on_accept) {
    auto server = TransportServer::bind(
        loop_.context(), config.bind_address, config.port,
        static_cast<int>(config.conf.get_int("ember.port.maxRetries", 16)),
        [&handler, options = options_, on_accept = std::move(on_accept)](tcp::socket s) {
            on_accept(std::make_shared<TransportClient>(std::move(s), handler, options, Role::accepted));
        });
    if (!server) return server.error();
    server_ = *server;
    server_->start();
    return RpcAddress{advertised_host(config), server_->port()};
}

void AsioNetwork::close_listener() {
    if (server_) server_->close();
}

void AsioNetwork::connect(const RpcAddress& to, std::chrono::milliseconds timeout, ConnectionHandler& handler,
                          std::function<void(RpcResult<std::shared_ptr<Connection>>)> done) {
    async_connect(loop_.context(), to.host, to.port, timeout,
                  [&handler, options = options_, done = std::move(done)](RpcResult<tcp::socket> r) {
                      if (!r) {
                          done(r.error());
                          return;
                      }
                      done(std::make_shared<TransportClient>(std::move(*r), handler, options, Role::connected));
                  });
}

void AsioNetwork::defer(std::function<void()> fn) { net::post(loop_.context(), std::move(fn)); }

}  // namespace ember::rpc::transport
