// SPDX-License-Identifier: Apache-2.0
// counter: two RpcEnvs in one process; the client env asks the server env's Counter over TCP on
// loopback. Exit code 0 when every answer is right.
#include "counter_endpoint.hpp"

#include <cstdio>
#include <memory>
#include <string>

using namespace ember::rpc;

namespace {

std::unique_ptr<RpcEnv> make_env(std::string name) {
    RpcEnvConfig config;
    config.name = std::move(name);  // port 0: any free port on 127.0.0.1
    return RpcEnv::create(std::move(config)).value();
}

bool expect_total(const RpcEndpointRef& counter, std::int64_t n, std::int64_t want) {
    auto reply = counter.ask_sync<counter::wire::Total>(
        OutgoingMessage::make<counter::wire::Add>([&](counter::wire::Add::Builder b) { b.setN(n); }));
    if (!reply) {
        std::fprintf(stderr, "counter: Add{%lld} failed: %s\n", static_cast<long long>(n), reply.error().message.c_str());
        return false;
    }
    auto got = reply->get<counter::wire::Total>().getSum();
    if (got != want) {
        std::fprintf(stderr, "counter: Add{%lld} gave Total{%lld}, expected %lld\n", static_cast<long long>(n),
                     static_cast<long long>(got), static_cast<long long>(want));
        return false;
    }
    return true;
}

}  // namespace

int main() {
    auto server = make_env("server");
    auto client = make_env("client");
    server->setup_endpoint("counter", std::make_unique<counter::CounterEndpoint>()).value();

    // Found through the server's endpoint verifier, over TCP.
    auto uri = "ember://counter@" + server->address().host_port();
    auto counter = client->setup_endpoint_ref_by_uri(uri);
    if (!counter) {
        std::fprintf(stderr, "counter: lookup of %s failed: %s\n", uri.c_str(), counter.error().message.c_str());
        return 1;
    }
    bool ok = expect_total(*counter, 20, 20) && expect_total(*counter, 22, 42) && expect_total(*counter, -2, 40);
    client->shutdown();
    server->shutdown();
    if (ok) std::printf("counter: OK (asked %s from env %s)\n", uri.c_str(), client->name().c_str());
    return ok ? 0 : 1;
}
