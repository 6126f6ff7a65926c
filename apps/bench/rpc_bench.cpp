// SPDX-License-Identifier: Apache-2.0
#include "apps/bench/rpc_bench.hpp"

#include "apps/bench/bench_messages.capnp.h"
#include "apps/bench/bench_support.hpp"
#include "apps/bench/raw_tcp.hpp"
#include "rpc/rpc_env.hpp"
#include "rpc/security/security_config.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <optional>
#include <random>
#include <set>
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
        if (auto f = msg.try_get<bw::Fetch>()) {
            auto file = FileHandle::open_read(f->getPath().cStr());
            if (!file) {
                ctx.send_failure(fmt::format("cannot open {}", f->getPath().cStr()));
                return;
            }
            auto reply = OutgoingMessage::make<bw::Fetched>([&](bw::Fetched::Builder b) { b.setLength(f->getLength()); });
            reply.add_body(FileRegion{std::move(file), f->getOffset(), f->getLength()});
            ctx.reply(std::move(reply));
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

/// Fetches a file of `size` bytes in `chunk`-byte asks, `window` in flight (a reducer's
/// ember.reducer.maxSizeInFlight), from its own loop; returns bytes per second. With `expect`,
/// checks every fetched byte against it.
class BulkClient final : public RpcEndpoint {
public:
    BulkClient(RpcEndpointRef server, std::string path, std::uint64_t size, std::uint64_t chunk, int window,
               const std::string* expect)
        : server_(std::move(server)), path_(std::move(path)), size_(size), chunk_(chunk), window_(window), expect_(expect) {}
    std::future<double> result() { return done_.get_future(); }
    void on_start() override {
        t0_ = Clock::now();
        for (int i = 0; i < window_ && next_ < size_; ++i) fire();
    }

private:
    void fire() {
        std::uint64_t offset = next_, length = std::min(chunk_, size_ - next_);
        next_ += length;
        auto ask = OutgoingMessage::make<bw::Fetch>([&](bw::Fetch::Builder b) {
            b.setPath(path_);
            b.setOffset(offset);
            b.setLength(length);
        });
        server_.ask(std::move(ask), RpcTimeout{std::chrono::seconds(60), "bench"}, [this, offset, length](RpcResult<Message> r) {
            if (failed_) return;
            std::string error;
            if (!r) {
                error = r.error().message;
            } else if (r->body().size() != length) {
                error = fmt::format("fetched {} bytes at {}, asked for {}", r->body().size(), offset, length);
            } else if (expect_ && std::memcmp(r->body().data(), expect_->data() + offset, length) != 0) {
                error = fmt::format("the {} bytes fetched at {} differ from the file", length, offset);
            }
            if (!error.empty()) {
                failed_ = true;
                done_.set_exception(std::make_exception_ptr(std::runtime_error(error)));
                return;
            }
            received_ += length;
            if (received_ == size_) {
                done_.set_value(static_cast<double>(size_) / std::chrono::duration<double>(Clock::now() - t0_).count());
            } else if (next_ < size_) {
                fire();
            }
        });
    }
    RpcEndpointRef server_;
    std::string path_;
    std::uint64_t size_, chunk_;
    int window_;
    const std::string* expect_;
    std::uint64_t next_ = 0, received_ = 0;
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

/// The echo server measured: a child `__rpc-server` with the options' conf, kept in `child`, or
/// with --server-port one started apart (for profiling it alone; `child` stays empty).
RpcAddress echo_server(const RpcBenchOptions& o, std::unique_ptr<ChildServer>& child) {
    if (o.server_port != 0) return RpcAddress{"127.0.0.1", static_cast<std::uint16_t>(o.server_port)};
    std::vector<std::string> args{"__rpc-server"};
    for (auto& [k, v] : o.conf.entries()) args.push_back("--conf=" + k + "=" + v);
    child = std::make_unique<ChildServer>(args);
    return RpcAddress{"127.0.0.1", child->port()};
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

    // The raw baselines: blocking, and spinning as ember's I/O threads do (raw_tcp.hpp).
    const auto spin = raw_spin_time(o.conf);
    ChildServer raw({"__raw-server"});
    raw_ping_pong(raw.port(), warmup, o.payload);
    auto raw_blocking = raw_ping_pong(raw.port(), o.latency_rounds, o.payload);
    raw_ping_pong(raw.port(), warmup, o.payload, spin);
    auto raw_spinning = raw_ping_pong(raw.port(), o.latency_rounds, o.payload, spin);

    std::unique_ptr<ChildServer> server;
    auto address = echo_server(o, server);
    auto env = client_env(o.conf);
    auto ref = env->endpoint_ref(address, "echo");
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
    auto vs_raw = [&](const std::string& name, std::vector<double>& ember, double q) {
        print_figure_vs_raw(name + suffix, percentile(ember, q), percentile(raw_blocking, q),
                            percentile(raw_spinning, q), spin, "us", /*lower_is_better=*/true);
    };
    vs_raw("rpc-latency", rtts, 0.5);
    vs_raw("rpc-latency-p99", rtts, 0.99);

    // The blocking form, from a thread outside the env: each round trip crosses threads twice.
    std::vector<double> sync_rtts;
    for (int i = 0; i < o.latency_rounds / 4; ++i) {
        auto t0 = Clock::now();
        if (!ref.ask_sync(echo(payload))) return 1;
        sync_rtts.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    vs_raw("rpc-latency-ask-sync", sync_rtts, 0.5);
    return 0;
}

int bench_rpc_throughput(const RpcBenchOptions& o) {
    pin_to_cpu(o.cpu);
    std::string suffix = o.cpu >= 0 ? fmt::format("-cpu{}", o.cpu) : "";
    std::string payload(o.payload, 'x');
    int n = o.throughput_messages;

    // The raw baselines: blocking, and spinning as ember's I/O threads do (raw_tcp.hpp).
    const auto spin = raw_spin_time(o.conf);
    ChildServer raw({"__raw-server"});
    raw_stream_rate(raw.port(), n / 10, o.payload);  // warm-up
    double raw_blocking = raw_stream_rate(raw.port(), n, o.payload);
    double raw_spinning = raw_stream_rate(raw.port(), n, o.payload, spin);
    double buffered_blocking = raw_buffered_stream_rate(raw.port(), n * 10, o.payload);
    double buffered_spinning = raw_buffered_stream_rate(raw.port(), n * 10, o.payload, spin);
    // The asks' own workload done raw: 64 requests in flight, echoed, each read's messages
    // answered with one write (ember coalesces the same way).
    constexpr int kWindow = 64;
    raw_window_rate(raw.port(), n / 10, o.payload, kWindow);  // warm-up
    double window_blocking = raw_window_rate(raw.port(), n, o.payload, kWindow);
    double window_spinning = raw_window_rate(raw.port(), n, o.payload, kWindow, spin);

    std::unique_ptr<ChildServer> server;
    auto address = echo_server(o, server);
    auto env = client_env(o.conf);
    auto ref = env->endpoint_ref(address, "echo");

    auto asks = [&](int total) {
        auto client = std::make_unique<WindowClient>(ref, total, kWindow, payload);
        auto f = client->result();
        auto cref = env->setup_endpoint("window-" + std::to_string(total), std::move(client)).value();
        double rate = f.get();
        env->stop(cref);
        return rate;
    };
    asks(n / 10);
    double ask_rate = asks(n);
    print_figure_vs_raw("rpc-ask-throughput-vs-window" + suffix, ask_rate, window_blocking, window_spinning, spin,
                        "msg/s", false);
    // The headline figure: against the better of the raw window and the raw one-way stream (one
    // send() per message; on a VM where a system call costs microseconds it is the slower one,
    // and alone it would flatter ember, which batches its writes).
    print_figure_vs_raw("rpc-ask-throughput" + suffix, ask_rate, std::max(window_blocking, raw_blocking),
                        std::max(window_spinning, raw_spinning), spin, "msg/s", false);

    auto sends = [&](int total) {
        auto t0 = Clock::now();
        for (int i = 0; i < total; ++i) ref.send(echo(payload));
        auto reply = ref.ask_sync<bw::FlushReply>(OutgoingMessage::make<bw::Flush>());
        if (!reply) throw std::runtime_error(reply.error().message);
        return total / std::chrono::duration<double>(Clock::now() - t0).count();
    };
    sends(n / 10);
    double send_rate = sends(n);
    print_figure_vs_raw("rpc-send-throughput-vs-stream" + suffix, send_rate, raw_blocking, raw_spinning, spin, "msg/s",
                        false);
    print_figure_vs_raw("rpc-send-throughput-vs-buffered-raw" + suffix, send_rate, buffered_blocking, buffered_spinning,
                        spin, "msg/s", false);
    // The headline: against the better raw stream. ember batches the messages queued for a
    // connection into one write, so the raw program that packs its writes is the fair one.
    print_figure_vs_raw("rpc-send-throughput" + suffix, send_rate, std::max(raw_blocking, buffered_blocking),
                        std::max(raw_spinning, buffered_spinning), spin, "msg/s", false);
    return 0;
}

int bench_security(const RpcBenchOptions& o, std::uint64_t bulk_bytes, int repeats,
                   const std::vector<std::string>& what) {
    std::set<std::string> parts(what.begin(), what.end());
    pin_to_cpu(o.cpu);
    std::string payload(o.payload, 'x');
    // One secret for every side, passed to the servers in their environment (never argv).
    ::setenv(ember::rpc::security::kSecretEnvVar, ember::rpc::security::generate_secret().c_str(), 1);
    struct Mode {
        std::string name;
        ember::Conf conf;
        std::unique_ptr<ChildServer> server;
        std::unique_ptr<RpcEnv> env;
        std::optional<RpcEndpointRef> ref;
        std::vector<double> latency, asks, bulk;
    };
    // "control" is security off again, in its own server process: its ratio to "off" is the
    // noise of this measurement on this machine (the same code, measured the same way).
    std::vector<Mode> modes(4);
    modes[0].name = "off";
    modes[1].name = "auth";
    modes[2].name = "crypto";
    modes[3].name = "control";
    for (std::size_t m = 0; m < modes.size(); ++m) {
        modes[m].conf = o.conf;
        if (m == 1 || m == 2) modes[m].conf.set("ember.authenticate", "true");
        if (m == 2) modes[m].conf.set("ember.network.crypto.enabled", "true");
    }
    // The bulk file: random bytes (nothing compresses or repeats), checked on the first pass.
    std::string path = fmt::format("/tmp/ember-bench-bulk-{}", ::getpid());
    std::string content(static_cast<std::size_t>(bulk_bytes), '\0');
    {
        std::mt19937_64 rng(42);
        for (std::size_t i = 0; i + 8 <= content.size(); i += 8) {
            std::uint64_t v = rng();
            std::memcpy(content.data() + i, &v, 8);
        }
        std::ofstream(path, std::ios::binary).write(content.data(), static_cast<std::streamsize>(content.size()));
    }
    struct Cleanup {
        std::string path;
        ~Cleanup() { std::remove(path.c_str()); }
    } cleanup{path};
    for (auto& m : modes) {
        std::vector<std::string> args{"__rpc-server"};
        for (auto& [k, v] : m.conf.entries()) args.push_back("--conf=" + k + "=" + v);
        m.server = std::make_unique<ChildServer>(args);
        m.env = client_env(m.conf);
        m.ref = m.env->endpoint_ref(RpcAddress{"127.0.0.1", m.server->port()}, "echo");
    }
    int serial = 0;
    auto run_endpoint = [&](Mode& m, auto client) {
        auto f = client->result();
        auto cref = m.env->setup_endpoint("bench-" + std::to_string(++serial), std::move(client)).value();
        auto r = f.get();
        m.env->stop(cref);
        return r;
    };
    // Interleaved passes, so that a change in the machine's load hits every mode alike; the
    // first pass warms up (and checks the bulk bytes).
    for (int pass = 0; pass <= repeats; ++pass) {
        for (auto& m : modes) {
            if (parts.count("latency")) {
                auto rtts = run_endpoint(m, std::make_unique<PingClient>(*m.ref, o.latency_rounds / 4, payload));
                if (pass > 0) m.latency.push_back(percentile(rtts, 0.5));
            }
            if (parts.count("asks")) {
                double asks = run_endpoint(m, std::make_unique<WindowClient>(*m.ref, o.throughput_messages / 5, 64, payload));
                if (pass > 0) m.asks.push_back(asks);
            }
            if (parts.count("bulk")) {
                // The server on CPU 1 and this client on CPU 0, as on two machines, for every mode
                // alike: where the scheduler puts two busy processes changes the rate by a third.
                const bool split = o.cpu < 0 && std::thread::hardware_concurrency() >= 2;
                if (split) {
                    pin_process(m.server->pid(), 1);
                    pin_process(0, 0);
                }
                double bulk = run_endpoint(m, std::make_unique<BulkClient>(*m.ref, path, bulk_bytes, 8u << 20, 6,
                                                                           pass == 0 ? &content : nullptr));
                if (split) {
                    pin_process(m.server->pid(), -1);
                    pin_process(0, -1);
                }
                if (pass > 0) m.bulk.push_back(bulk / 1e6);
            }
        }
    }
    // Medians over the passes.
    auto median = [](std::vector<double> v) { return percentile(v, 0.5); };
    for (std::size_t m = 1; m < modes.size(); ++m) {
        const auto& name = modes[m].name;
        if (parts.count("latency")) {
            print_figure("security-rpc-latency-" + name, median(modes[m].latency), median(modes[0].latency), "us");
        }
        if (parts.count("asks")) {
            print_figure("security-rpc-ask-throughput-" + name, median(modes[m].asks), median(modes[0].asks), "msg/s");
        }
        if (parts.count("bulk")) {
            print_figure("security-bulk-fetch-" + name, median(modes[m].bulk), median(modes[0].bulk), "MB/s");
        }
    }
    return 0;
}

}  // namespace bench
