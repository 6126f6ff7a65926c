// SPDX-License-Identifier: Apache-2.0
#include "apps/bench/rpc_bench.hpp"

#include "apps/bench/bench_messages.capnp.h"
#include "apps/bench/bench_support.hpp"
#include "apps/bench/raw_tcp.hpp"
#include "rpc/rpc_env.hpp"

#include <fmt/format.h>

#include <future>
#include <thread>

namespace bench {
namespace {

using namespace ember::rpc;
namespace bw = ember::bench::wire;

OutgoingMessage echo(const std::string& payload) {
    return OutgoingMessage::make<bw::Echo>([&](bw::Echo::Builder b) {
        b.setPayload(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(payload.data()), payload.size()));
    });
}

/// Echoes asks; counts one-way messages; answers Flush with the count.
class EchoServer final : public RpcEndpoint {
public:
    void receive(const Message& msg) override {
        if (msg.is<bw::Echo>()) ++received_;
    }
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
        if (auto e = msg.try_get<bw::Echo>()) {
            auto p = e->getPayload();
            ctx.reply<bw::Echo>([&](bw::Echo::Builder b) { b.setPayload(p); });
            return;
        }
        if (msg.is<bw::Flush>()) {
            ctx.reply<bw::FlushReply>([&](bw::FlushReply::Builder b) { b.setReceived(received_); });
            return;
        }
        RpcEndpoint::receive_and_reply(msg, std::move(ctx));
    }

private:
    std::uint64_t received_ = 0;
};

/// Asks the server `rounds` times, one outstanding at a time, from its own loop (no thread hop
/// between a reply and the next ask), recording each round trip.
class PingClient final : public RpcEndpoint {
public:
    PingClient(RpcEndpointRef server, int rounds, std::string payload)
        : server_(std::move(server)), remaining_(rounds), payload_(std::move(payload)) {}
    std::future<std::vector<double>> result() { return done_.get_future(); }
    void on_start() override { fire(); }

private:
    void fire() {
        t0_ = Clock::now();
        server_.ask(echo(payload_), RpcTimeout{std::chrono::seconds(30), "bench"}, [this](RpcResult<Message> r) {
            if (!r) {
                done_.set_exception(std::make_exception_ptr(std::runtime_error(r.error().message)));
                return;
            }
            rtts_.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0_).count());
            if (--remaining_ > 0) {
                fire();
            } else {
                done_.set_value(std::move(rtts_));
            }
        });
    }
    RpcEndpointRef server_;
    int remaining_;
    std::string payload_;
    Clock::time_point t0_;
    std::vector<double> rtts_;
    std::promise<std::vector<double>> done_;
};

/// Keeps `window` asks in flight until `total` completed; returns asks per second.
class WindowClient final : public RpcEndpoint {
public:
    WindowClient(RpcEndpointRef server, int total, int window, std::string payload)
        : server_(std::move(server)), total_(total), window_(window), payload_(std::move(payload)) {}
    std::future<double> result() { return done_.get_future(); }
    void on_start() override {
        t0_ = Clock::now();
        for (int i = 0; i < window_; ++i) fire();
    }

private:
    void fire() {
        ++sent_;
        server_.ask(echo(payload_), RpcTimeout{std::chrono::seconds(60), "bench"}, [this](RpcResult<Message> r) {
            if (!r) {
                if (!failed_) done_.set_exception(std::make_exception_ptr(std::runtime_error(r.error().message)));
                failed_ = true;
                return;
            }
            if (++completed_ == total_) {
                done_.set_value(total_ / std::chrono::duration<double>(Clock::now() - t0_).count());
            } else if (sent_ < total_) {
                fire();
            }
        });
    }
    RpcEndpointRef server_;
    int total_, window_;
    std::string payload_;
    int sent_ = 0, completed_ = 0;
    bool failed_ = false;
    Clock::time_point t0_;
    std::promise<double> done_;
};

std::unique_ptr<RpcEnv> client_env(const ember::Conf& conf) {
    RpcEnvConfig c;
    c.name = "bench-client";
    c.conf = conf;
    return RpcEnv::create(std::move(c)).value();
}

}  // namespace

int run_rpc_server(const ember::Conf& conf) {
    RpcEnvConfig c;
    c.name = "bench-server";
    c.conf = conf;
    auto env = RpcEnv::create(std::move(c)).value();
    env->setup_endpoint("echo", std::make_unique<EchoServer>()).value();
    announce_port(env->address().port);
    env->await_termination();  // until killed
    return 0;
}

int bench_rpc_latency(const RpcBenchOptions& o) {
    pin_to_cpu(o.cpu);
    std::string suffix = o.cpu >= 0 ? fmt::format("-cpu{}", o.cpu) : "";
    std::string payload(o.payload, 'x');
    const int warmup = 2000;

    ChildServer raw({"__raw-server"});
    raw_ping_pong(raw.port(), warmup, o.payload);
    auto raw_rtts = raw_ping_pong(raw.port(), o.latency_rounds, o.payload);

    std::vector<std::string> args{"__rpc-server"};
    for (auto& [k, v] : o.conf.entries()) args.push_back("--conf=" + k + "=" + v);
    std::unique_ptr<ChildServer> server;
    if (o.server_port == 0) server = std::make_unique<ChildServer>(args);
    auto env = client_env(o.conf);
    auto ref = env->endpoint_ref(RpcAddress{"127.0.0.1", server ? server->port() : static_cast<std::uint16_t>(o.server_port)}, "echo");
    auto run = [&](int rounds, const std::string& name) {
        auto client = std::make_unique<PingClient>(ref, rounds, payload);
        auto f = client->result();
        auto cref = env->setup_endpoint(name, std::move(client)).value();
        auto r = f.get();
        env->stop(cref);
        return r;
    };
    run(warmup, "warmup");
    auto rtts = run(o.latency_rounds, "ping");
    print_figure("rpc-latency" + suffix, percentile(rtts, 0.5), percentile(raw_rtts, 0.5), "us");
    print_figure("rpc-latency-p99" + suffix, percentile(rtts, 0.99), percentile(raw_rtts, 0.99), "us");

    // The blocking form, from a thread outside the env: each round trip crosses threads twice.
    std::vector<double> sync_rtts;
    for (int i = 0; i < o.latency_rounds / 4; ++i) {
        auto t0 = Clock::now();
        if (!ref.ask_sync(echo(payload))) return 1;
        sync_rtts.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    print_figure("rpc-latency-ask-sync" + suffix, percentile(sync_rtts, 0.5), percentile(raw_rtts, 0.5), "us");
    return 0;
}

int bench_rpc_throughput(const RpcBenchOptions& o) {
    pin_to_cpu(o.cpu);
    std::string suffix = o.cpu >= 0 ? fmt::format("-cpu{}", o.cpu) : "";
    std::string payload(o.payload, 'x');
    int n = o.throughput_messages;

    ChildServer raw({"__raw-server"});
    raw_stream_rate(raw.port(), n / 10, o.payload);  // warm-up
    double raw_rate = raw_stream_rate(raw.port(), n, o.payload);
    double buffered_rate = raw_buffered_stream_rate(raw.port(), n * 10, o.payload);

    std::vector<std::string> args{"__rpc-server"};
    for (auto& [k, v] : o.conf.entries()) args.push_back("--conf=" + k + "=" + v);
    ChildServer server(args);
    auto env = client_env(o.conf);
    auto ref = env->endpoint_ref(RpcAddress{"127.0.0.1", server.port()}, "echo");

    auto asks = [&](int total) {
        auto client = std::make_unique<WindowClient>(ref, total, 64, payload);
        auto f = client->result();
        auto cref = env->setup_endpoint("window-" + std::to_string(total), std::move(client)).value();
        double rate = f.get();
        env->stop(cref);
        return rate;
    };
    asks(n / 10);
    double ask_rate = asks(n);
    print_figure("rpc-ask-throughput" + suffix, ask_rate, raw_rate, "msg/s");

    auto sends = [&](int total) {
        auto t0 = Clock::now();
        for (int i = 0; i < total; ++i) ref.send(echo(payload));
        auto reply = ref.ask_sync<bw::FlushReply>(OutgoingMessage::make<bw::Flush>());
        if (!reply) throw std::runtime_error(reply.error().message);
        return total / std::chrono::duration<double>(Clock::now() - t0).count();
    };
    sends(n / 10);
    double send_rate = sends(n);
    print_figure("rpc-send-throughput" + suffix, send_rate, raw_rate, "msg/s");
    print_figure("rpc-send-throughput-vs-buffered-raw" + suffix, send_rate, buffered_rate, "msg/s");
    return 0;
}

}  // namespace bench
