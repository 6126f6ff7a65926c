// SPDX-License-Identifier: Apache-2.0
// ember-kv: a small key-value store replicated across processes (the endpoint is KvEndpoint,
// in kv_endpoint.hpp; the messages are in kv_store.capnp).
//
//   ember-kv node --id N --port P [--host H] [--peer ember://kv@HOST:PORT]...
//       Serves the "kv" endpoint until SIGINT or SIGTERM. Each Put is replicated one-way to
//       every peer; concurrent writes are resolved by last writer wins. Prints every write and
//       every connect and disconnect.
//   ember-kv put --uri ember://kv@HOST:PORT KEY VALUE
//   ember-kv get --uri ember://kv@HOST:PORT KEY
//       Clients. get prints the value; it exits 1 if the key is absent and 2 on an error.
//
// Three nodes on one machine, each in its own terminal with P=ember://kv@127.0.0.1:
//   ember-kv node --id 0 --port 7100 --peer $P:7101 --peer $P:7102
//   ember-kv node --id 1 --port 7101 --peer $P:7100 --peer $P:7102
//   ember-kv node --id 2 --port 7102 --peer $P:7100 --peer $P:7101
//   ember-kv put --uri ember://kv@127.0.0.1:7100 color blue
//   ember-kv get --uri ember://kv@127.0.0.1:7102 color
#include "apps/examples/kv_store/kv_endpoint.hpp"
#include "rpc/rpc_env.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <pthread.h>

namespace {

using namespace ember::rpc;
namespace kv = ember::examples::kv;
namespace wire = ember::examples::kv::wire;

int fail(const RpcError& e) {
    fmt::print(stderr, "ember-kv: {}: {}\n", to_string(e.code), e.message);
    return 2;
}

int run_node(std::uint32_t id, const std::string& host, std::uint16_t port,
             const std::vector<std::string>& peer_uris) {
    // SIGINT and SIGTERM wait for sigwait below (blocked before the env's threads start).
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    RpcEnvConfig config;
    config.name = fmt::format("kv-{}", id);
    config.bind_address = host;
    config.port = port;
    // The peers were told our port: if it is taken, fail instead of trying the next ones.
    config.conf.set("ember.port.maxRetries", "0");
    auto env = RpcEnv::create(std::move(config));
    if (!env) return fail(env.error());

    // endpoint_ref only names an endpoint: it neither connects nor checks that the endpoint
    // exists, so a node starts even when its peers are not up yet. The first send connects.
    std::vector<RpcEndpointRef> peers;
    for (const auto& uri : peer_uris) {
        auto peer = RpcEndpointAddress::parse(uri);
        if (!peer) return fail(peer.error());
        peers.push_back((*env)->endpoint_ref(peer->address, peer->name));
    }

    auto print = [](const std::string& line) { fmt::print("{}\n", line); };
    auto self = (*env)->setup_endpoint("kv", std::make_unique<kv::KvEndpoint>(id, peers, print));
    if (!self) return fail(self.error());
    fmt::print("node {} listening on {}\n", id, self->to_string());

    int sig = 0;
    sigwait(&stop_signals, &sig);
    fmt::print("got {}, shutting down\n", strsignal(sig));
    (*env)->shutdown();
    (*env)->await_termination();
    return 0;
}

/// A client-mode env and a ref to the node's endpoint, for one request.
struct Client {
    std::unique_ptr<RpcEnv> env;
    RpcEndpointRef node;
};

RpcResult<Client> connect(const std::string& uri) {
    auto target = RpcEndpointAddress::parse(uri);
    if (!target) return target.error();
    RpcEnvConfig config;
    config.name = "kv-client";
    config.client_mode = true;
    // Someone is waiting at a terminal: give up after 10 s rather than the default 120 s.
    config.conf.set("ember.rpc.askTimeout", "10s");
    auto env = RpcEnv::create(std::move(config));
    if (!env) return env.error();
    // No lookup round trip: if the node is down or has no "kv" endpoint, the ask fails saying so.
    auto node = (*env)->endpoint_ref(target->address, target->name);
    return Client{std::move(*env), std::move(node)};
}

int run_put(const std::string& uri, const std::string& key, const std::string& value) {
    auto client = connect(uri);
    if (!client) return fail(client.error());
    auto reply = client->node.ask_sync<wire::Ack>(
        OutgoingMessage::make<wire::Put>([&](wire::Put::Builder b) {
            b.setKey(key);
            b.setValue(value);
        }));
    if (!reply) return fail(reply.error());
    auto version = reply->get<wire::Ack>().getVersion();
    fmt::print("ok, version {}.{}\n", version.getCounter(), version.getNode());
    return 0;
}

int run_get(const std::string& uri, const std::string& key) {
    auto client = connect(uri);
    if (!client) return fail(client.error());
    auto reply = client->node.ask_sync<wire::Value>(
        OutgoingMessage::make<wire::Get>([&](wire::Get::Builder b) { b.setKey(key); }));
    if (!reply) return fail(reply.error());
    auto value = reply->get<wire::Value>();
    if (!value.getFound()) {
        fmt::print(stderr, "ember-kv: no key {} at {}\n", key, uri);
        return 1;
    }
    fmt::print("{}\n", value.getValue().cStr());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line at once, also into a pipe or file

    CLI::App app{"ember-kv: a key-value store replicated across processes"};
    app.require_subcommand(1);

    std::uint32_t id = 0;
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::vector<std::string> peers;
    auto* node = app.add_subcommand("node", "run a node until SIGINT/SIGTERM");
    node->add_option("--id", id, "this node's id, unique in the cluster")->required();
    node->add_option("--port", port, "port to listen on")->required();
    node->add_option("--host", host, "address to listen on and to advertise")
        ->capture_default_str();
    node->add_option("--peer", peers, "another node, ember://kv@HOST:PORT (repeatable)");

    std::string uri, key, value;
    auto* put = app.add_subcommand("put", "store KEY=VALUE through a node");
    put->add_option("--uri", uri, "the node, ember://kv@HOST:PORT")->required();
    put->add_option("key", key, "KEY")->required();
    put->add_option("value", value, "VALUE")->required();

    auto* get = app.add_subcommand("get", "print the value of KEY at a node");
    get->add_option("--uri", uri, "the node, ember://kv@HOST:PORT")->required();
    get->add_option("key", key, "KEY")->required();

    CLI11_PARSE(app, argc, argv);
    try {
        if (*node) return run_node(id, host, port, peers);
        if (*put) return run_put(uri, key, value);
        return run_get(uri, key);
    } catch (const std::exception& e) {
        fmt::print(stderr, "ember-kv: {}\n", e.what());
        return 2;
    }
}
