// SPDX-License-Identifier: Apache-2.0
#include "apps/examples/kv_store/kv_endpoint.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace ember::examples::kv {

using namespace ember::rpc;

namespace {

std::string_view text(capnp::Text::Reader t) { return {t.begin(), t.size()}; }

Version read_version(wire::Version::Reader v) { return {v.getCounter(), v.getNode()}; }

void write_version(wire::Version::Builder b, Version v) {
    b.setCounter(v.counter);
    b.setNode(v.node);
}

}  // namespace

KvEndpoint::KvEndpoint(std::uint32_t node_id, std::vector<RpcEndpointRef> peers, Printer print)
    : node_id_(node_id), peers_(std::move(peers)), print_(std::move(print)) {}

void KvEndpoint::receive_and_reply(const Message& msg, RpcCallContext ctx) {
    if (auto put = msg.try_get<wire::Put>()) {
        // A local write gets a counter above every one seen, so it wins over all of them.
        Version version{++clock_, node_id_};
        apply(text(put->getKey()), text(put->getValue()), version);
        print(fmt::format("put {}={} version {}.{}", text(put->getKey()), text(put->getValue()),
                          version.counter, version.node));
        // Replicate one-way, so no peer can hold up the client. send reports nothing: a
        // message to a peer that is down, or whose queue is full (in a handler that fails at
        // once instead of waiting), is dropped with a warning in the log.
        for (const auto& peer : peers_) {
            peer.send<wire::Replicate>([&](wire::Replicate::Builder b) {
                b.setKey(put->getKey());
                b.setValue(put->getValue());
                write_version(b.initVersion(), version);
            });
        }
        ctx.reply<wire::Ack>(
            [&](wire::Ack::Builder b) { write_version(b.initVersion(), version); });
        return;
    }
    if (auto get = msg.try_get<wire::Get>()) {
        auto it = data_.find(text(get->getKey()));
        ctx.reply<wire::Value>([&](wire::Value::Builder b) {
            b.setFound(it != data_.end());
            if (it != data_.end()) b.setValue(it->second.value);
        });
        return;
    }
    RpcEndpoint::receive_and_reply(msg, std::move(ctx));
}

void KvEndpoint::receive(const Message& msg) {
    if (auto rep = msg.try_get<wire::Replicate>()) {
        Version version = read_version(rep->getVersion());
        clock_ = std::max(clock_, version.counter);  // Lamport: later local writes win over it
        bool applied = apply(text(rep->getKey()), text(rep->getValue()), version);
        print(fmt::format("{} {}={} version {}.{} from {}",
                          applied ? "replicated" : "ignored stale", text(rep->getKey()),
                          text(rep->getValue()), version.counter, version.node,
                          msg.sender_address().host_port()));
        return;
    }
    RpcEndpoint::receive(msg);
}

// Network events reach every endpoint of the env, in order with its messages. An accepted
// connection is first named by its socket address, then again by the peer's advertised
// address once its first message says what that is.
void KvEndpoint::on_connected(const RpcAddress& remote) {
    print("connected " + remote.host_port());
}

void KvEndpoint::on_disconnected(const RpcAddress& remote) {
    print("disconnected " + remote.host_port());
}

bool KvEndpoint::apply(std::string_view key, std::string_view value, Version version) {
    auto it = data_.find(key);
    if (it == data_.end()) {
        data_.emplace(std::string(key), Entry{std::string(value), version});
        return true;
    }
    if (version <= it->second.version) return false;  // last writer wins
    it->second = Entry{std::string(value), version};
    return true;
}

void KvEndpoint::print(const std::string& line) const {
    if (print_) print_(line);
}

}  // namespace ember::examples::kv
