// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: EndpointVerifier, the "endpoint-verifier" endpoint that answers lookups
/// (Spark's RpcEndpointVerifier).

#include "rpc/rpc_endpoint.hpp"

#include <functional>
#include <string_view>

namespace ember::rpc::detail {

/// Answers CheckExistence(name) with whether this env has an endpoint called `name`.
/// Threading: strand-confined, like every endpoint.
class EndpointVerifier final : public RpcEndpoint {
public:
    static constexpr std::string_view kName = "endpoint-verifier";
    explicit EndpointVerifier(std::function<bool(std::string_view)> exists) : exists_(std::move(exists)) {}
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override;

private:
    std::function<bool(std::string_view)> exists_;
};

}  // namespace ember::rpc::detail
