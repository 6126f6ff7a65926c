// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// CounterEndpoint: a custom endpoint written against an installed ember, as user code would be.

#include "counter.capnp.h"
#include "rpc/rpc_env.hpp"

#include <cstdint>
#include <vector>

namespace counter {

/// Keeps a running sum. Add (ask) adds and replies with the Total; Watch (one-way) subscribes an
/// endpoint to a Total after every Add.
/// Threading: strand-confined, as every endpoint.
class CounterEndpoint final : public ember::rpc::RpcEndpoint {
public:
    void receive(const ember::rpc::Message& msg) override {
        if (auto w = msg.try_get<wire::Watch>()) {
            watchers_.push_back(msg.ref(w->getWatcher()));
            return;
        }
        RpcEndpoint::receive(msg);
    }

    void receive_and_reply(const ember::rpc::Message& msg, ember::rpc::RpcCallContext ctx) override {
        if (auto add = msg.try_get<wire::Add>()) {
            sum_ += add->getN();
            ctx.reply<wire::Total>([&](wire::Total::Builder b) { b.setSum(sum_); });
            for (const auto& w : watchers_) w.send<wire::Total>([&](wire::Total::Builder b) { b.setSum(sum_); });
            return;
        }
        RpcEndpoint::receive_and_reply(msg, std::move(ctx));
    }

private:
    std::int64_t sum_ = 0;
    std::vector<ember::rpc::RpcEndpointRef> watchers_;
};

}  // namespace counter
