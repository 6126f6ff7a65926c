// SPDX-License-Identifier: Apache-2.0
#include "rpc/endpoint_verifier.hpp"

namespace ember::rpc::detail {

void EndpointVerifier::receive_and_reply(const Message& msg, RpcCallContext ctx) {
    auto check = msg.get<rpc_wire::CheckExistence>();
    bool exists = exists_({check.getName().begin(), check.getName().size()});
    ctx.reply<rpc_wire::CheckExistenceReply>([&](rpc_wire::CheckExistenceReply::Builder b) { b.setExists(exists); });
}

}  // namespace ember::rpc::detail
