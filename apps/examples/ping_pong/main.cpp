// SPDX-License-Identifier: Apache-2.0
// ember-ping-pong: the smallest useful RpcEndpoint, in two processes.
//
//   ember-ping-pong server [--host H] [--port P]
//       Registers an endpoint called "pong" that answers Ping{n} with Pong{n}, prints
//       `listening on ember://pong@H:P` and runs until SIGINT or SIGTERM.
//   ember-ping-pong client --uri ember://pong@H:P [--count N] [--conf KEY=VALUE]...
//       Looks the endpoint up, asks N Pings and prints each round trip, sends one Note
//       one-way, then asks a Silence the server never answers, to show an ask timing out.
//
// The messages are Cap'n Proto structs, defined in ping_pong.capnp next to this file.
#include "apps/examples/ping_pong/ping_pong.capnp.h"
#include "rpc/rpc_env.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include <pthread.h>

namespace {

using namespace ember::rpc;
namespace wire = ember::examples::wire;
using Clock = std::chrono::steady_clock;

int fail(const RpcError& e) {
    fmt::print(stderr, "ember-ping-pong: {}: {}\n", to_string(e.code), e.message);
    return 1;
}

// -- the server --------------------------------------------------------------------------------

/// Answers Ping with Pong, prints Notes, and holds Silence asks without ever answering them.
///
/// Threading: strand-confined, as every endpoint: the env runs one handler at a time, so the
/// members need no lock. Handlers run on the env's I/O threads and must not block.
class PongEndpoint final : public RpcEndpoint {
public:
    // One-way messages (RpcEndpointRef::send) arrive here. Nobody waits for an answer.
    void receive(const Message& msg) override {
        // try_get<T>() returns the payload's capnp Reader if the message is a T.
        if (auto note = msg.try_get<wire::Note>()) {
            fmt::print("note from {}: {}\n", msg.sender_address().host_port(),
                       note->getText().cStr());
            return;
        }
        // Anything else goes to the base class, which reports the unhandled type to on_error.
        RpcEndpoint::receive(msg);
    }

    // Asks (RpcEndpointRef::ask and ask_sync) arrive here with the context to answer through.
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
        // An asker that gave up (its ask timed out or was aborted) sent a cancel frame, which
        // turned its context's cancelled() true: stop holding those.
        cancelled_ += std::erase_if(unanswered_, [](const RpcCallContext& held) { return held.cancelled(); });
        if (auto ping = msg.try_get<wire::Ping>()) {
            ++pings_;
            // The fill function writes the reply straight into its capnp builder.
            ctx.reply<wire::Pong>([&](wire::Pong::Builder b) { b.setN(ping->getN()); });
            return;
        }
        if (msg.is<wire::Silence>()) {
            // Keep the context and never reply: the asker waits until its timeout. (Dropping
            // every copy of a context without replying fails the ask at once with no_reply.)
            // Only the last few are kept, so a chatty client cannot grow this forever.
            if (unanswered_.size() == 16) unanswered_.pop_front();
            unanswered_.push_back(std::move(ctx));
            return;
        }
        // The base class fails the ask with unknown_message_type, naming the type.
        RpcEndpoint::receive_and_reply(msg, std::move(ctx));
    }

    // Runs last, once, when the env shuts down. An asker that gives up (its ask timed out or was
    // aborted) sends a cancel frame, which turns its context's cancelled() true here.
    void on_stop() override {
        fmt::print("answered {} pings; dropped {} held asks their askers cancelled\n", pings_, cancelled_);
    }

private:
    std::uint64_t pings_ = 0;
    std::uint64_t cancelled_ = 0;
    std::deque<RpcCallContext> unanswered_;
};

int run_server(const std::string& host, std::uint16_t port) {
    // Block SIGINT and SIGTERM before the env starts its threads (threads inherit the mask): the
    // signals then wait for the sigwait below instead of interrupting an I/O thread.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    // An RpcEnv is a process's actor runtime: it listens on host:port (0: any free port) and runs
    // endpoint handlers on its I/O threads. Failures come back as values (RpcResult).
    RpcEnvConfig config;
    config.name = "ping-pong-server";
    config.bind_address = host;  // also the address peers are told to use
    config.port = port;
    auto env = RpcEnv::create(std::move(config));
    if (!env) return fail(env.error());

    // Register the endpoint under a name. The env owns it from now on and calls on_start
    // before any message. Other processes reach it as ember://pong@host:port.
    auto pong = (*env)->setup_endpoint("pong", std::make_unique<PongEndpoint>());
    if (!pong) return fail(pong.error());
    fmt::print("listening on {}\n", pong->to_string());

    // Serve until told to stop, then stop every endpoint (on_stop runs) and close connections.
    int sig = 0;
    sigwait(&stop_signals, &sig);
    fmt::print("got {}, shutting down\n", strsignal(sig));
    (*env)->shutdown();
    (*env)->await_termination();
    return 0;
}

// -- the client --------------------------------------------------------------------------------

int run_client(const std::string& uri, int count, const std::vector<std::string>& settings) {
    // A client needs no listener: a client-mode env only connects out, and replies come back
    // over the connection it opened.
    RpcEnvConfig config;
    config.name = "ping-pong-client";
    config.client_mode = true;
    for (const auto& kv : settings) {
        auto eq = kv.find('=');
        if (eq == std::string::npos) {
            fmt::print(stderr, "ember-ping-pong: --conf wants KEY=VALUE, got {}\n", kv);
            return 1;
        }
        config.conf.set(kv.substr(0, eq), kv.substr(eq + 1));
    }
    auto env = RpcEnv::create(std::move(config));
    if (!env) return fail(env.error());

    // Look the endpoint up: this connects and asks the server whether "pong" exists, so a wrong
    // address or name fails here, with an error naming the URI.
    auto pong = (*env)->setup_endpoint_ref_by_uri(uri);
    if (!pong) return fail(pong.error());

    // ask_sync blocks the calling thread until the reply or a failure. That is fine here, on
    // main; inside a handler use ask with a callback. ask_sync<Pong> also checks the reply type.
    for (int i = 1; i <= count; ++i) {
        auto t0 = Clock::now();
        auto reply = pong->ask_sync<wire::Pong>(
            OutgoingMessage::make<wire::Ping>([&](wire::Ping::Builder b) { b.setN(i); }));
        if (!reply) return fail(reply.error());
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
        fmt::print("ping {} -> pong {} from {} in {} us\n", i, reply->get<wire::Pong>().getN(),
                   pong->to_string(), us);
    }

    // send is one-way: it returns at once, with no reply and no error to check (a failed send
    // is only logged). Messages from one sender to one endpoint keep their order, so the
    // server prints this note before it sees the Silence below.
    pong->send<wire::Note>([](wire::Note::Builder b) { b.setText("hello from the client"); });
    fmt::print("sent a note one-way\n");

    // An ask that gets no answer fails after its RpcTimeout: a duration plus the config key
    // that set it, which the error names so users know what to raise. This one is
    // ember.rpc.askTimeout if set (--conf ember.rpc.askTimeout=1s), else 200 ms.
    auto timeout = RpcTimeout::from((*env)->conf(), {"ember.rpc.askTimeout"}, "200ms");
    auto silence = pong->ask_sync(OutgoingMessage::make<wire::Silence>(), timeout);
    if (silence) {
        fmt::print(stderr, "ember-ping-pong: the server answered a Silence\n");
        return 1;
    }
    fmt::print("silence -> {}: {}\n", to_string(silence.error().code), silence.error().message);
    return 0;
    // The env is destroyed here: it shuts down and closes its connection.
}

}  // namespace

int main(int argc, char** argv) {
    // Line-buffered stdout, so each line shows up at once even when piped to a file.
    std::setvbuf(stdout, nullptr, _IOLBF, 0);

    CLI::App app{"ember-ping-pong: an RpcEndpoint that answers Ping with Pong, across processes"};
    app.require_subcommand(1);

    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    auto* server = app.add_subcommand("server", "serve the \"pong\" endpoint until SIGINT/SIGTERM");
    server->add_option("--host", host, "address to listen on and to advertise")
        ->capture_default_str();
    server->add_option("--port", port, "port to listen on (0: any free port)")
        ->capture_default_str();

    std::string uri;
    int count = 3;
    std::vector<std::string> settings;
    auto* client = app.add_subcommand("client", "ask a pong server");
    client->add_option("--uri", uri, "the server's endpoint, ember://pong@HOST:PORT")->required();
    client->add_option("--count", count, "number of pings")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    client->add_option("--conf", settings, "KEY=VALUE setting, e.g. ember.rpc.askTimeout=1s")->allow_extra_args(false);

    CLI11_PARSE(app, argc, argv);
    try {
        if (*server) return run_server(host, port);
        return run_client(uri, count, settings);
    } catch (const std::exception& e) {  // e.g. a malformed --conf value
        fmt::print(stderr, "ember-ping-pong: {}\n", e.what());
        return 1;
    }
}
