// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// KvEndpoint: one node of ember-kv, a key-value store replicated across processes by one-way
/// messages, with last-writer-wins versions.

#include "apps/examples/kv_store/kv_store.capnp.h"
#include "rpc/rpc_env.hpp"

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ember::examples::kv {

/// A write's version: a Lamport counter, ties broken by the writing node's id. Versions compare
/// counter first, then node, so every node picks the same winner among concurrent writes.
///
/// Threading: immutable.
struct Version {
    std::uint64_t counter = 0;
    std::uint32_t node = 0;

    friend auto operator<=>(const Version&, const Version&) = default;
};

/// One node of the store. Answers Put and Get asks from clients and applies Replicate messages
/// from the other nodes.
///
/// A Put is applied here, sent one-way to every peer, and acknowledged at once: the client does
/// not wait for the peers. Peers are connected lazily, on the first message to each. While a
/// peer is down, messages to it are dropped (the env logs a warning) and this node keeps
/// serving. A peer that missed writes does not catch up when it returns, as there is no
/// anti-entropy: a real store would resend on on_connected or ask and retry.
///
/// Threading: strand-confined, as every endpoint; `print` is called from its handlers.
class KvEndpoint final : public rpc::RpcEndpoint {
public:
    /// Receives one line of text to show (ember-kv prints it on stdout).
    using Printer = std::function<void(const std::string&)>;

    /// `node_id` must differ between nodes. `peers`: refs to the other nodes' kv endpoints.
    KvEndpoint(std::uint32_t node_id, std::vector<rpc::RpcEndpointRef> peers, Printer print = {});

    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override;
    void receive(const rpc::Message& msg) override;
    void on_connected(const rpc::RpcAddress& remote) override;
    void on_disconnected(const rpc::RpcAddress& remote) override;

private:
    struct Entry {
        std::string value;
        Version version;
    };

    /// Stores the write if it is newer than the one held for `key`; returns whether it did.
    bool apply(std::string_view key, std::string_view value, Version version);
    void print(const std::string& line) const;

    std::uint32_t node_id_;
    std::vector<rpc::RpcEndpointRef> peers_;
    Printer print_;
    std::uint64_t clock_ = 0;  // Lamport clock: at least every counter seen so far
    std::map<std::string, Entry, std::less<>> data_;
};

}  // namespace ember::examples::kv
