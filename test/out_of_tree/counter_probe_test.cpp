// SPDX-License-Identifier: Apache-2.0
// The Counter protocol driven message by message with the installed test kit: a Probe in one
// env watches and asks the Counter in another env (LocalEnvs: two envs on loopback).
#include "counter_endpoint.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/probe.hpp"

#include <cstdio>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>

using namespace ember::rpc;
namespace cw = counter::wire;

namespace {

void check(bool ok, const std::string& what) {
    if (!ok) throw std::runtime_error("check failed: " + what);
}

void counter_reports_every_add_to_its_watcher() {
    testkit::LocalEnvs envs(2);
    envs[0].setup_endpoint("counter", std::make_unique<counter::CounterEndpoint>()).value();
    auto counter = envs[1].endpoint_ref(envs[0].address(), "counter");
    testkit::Probe probe(envs[1], "watcher");

    probe.send(counter, OutgoingMessage::make<cw::Watch>([&](cw::Watch::Builder b) {
        write_ref(b.initWatcher(), probe.ref());
    }));
    // Sent after the Watch by the same endpoint, so it arrives after it.
    auto reply = probe.ask(counter, OutgoingMessage::make<cw::Add>([](cw::Add::Builder b) { b.setN(5); }));
    check(bool(reply), "the Add is answered");
    check(reply->get<cw::Total>().getSum() == 5, "the reply is Total{5}");

    auto total = probe.expect_msg<cw::Total>();
    check(total->getSum() == 5, "the watcher gets Total{5}");
    check(total.sender().name() == "counter", "the Total comes from the counter");
    probe.expect_no_msg();
}

}  // namespace

int main() {
    try {
        counter_reports_every_add_to_its_watcher();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "counter_probe_test: %s\n", e.what());
        return 1;
    }
    std::printf("counter_probe_test: OK\n");
    return 0;
}
