// SPDX-License-Identifier: Apache-2.0
#include "rpc/endpoint_verifier.hpp"

namespace ember::rpc::detail {

void EndpointVerifier::receive_and_reply(const Message& msg, RpcCallContext ctx) {
    auto check = msg.get<wire::CheckExistence>();
    bool exists = exists_({check.getName().begin(), check.getName().size()});
    ctx.reply<wire::CheckExistenceReply>([&](wire::CheckExistenceReply::Builder b) { b.setExists(exists); });
}

}  // namespace ember::rpc::detail
