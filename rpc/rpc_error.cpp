// SPDX-License-Identifier: Apache-2.0
#include "rpc/rpc_error.hpp"

#include <ostream>

namespace ember::rpc {

std::string_view to_string(RpcErrc c) noexcept {
    switch (c) {
        case RpcErrc::ok: return "ok";
        case RpcErrc::timeout: return "timeout";
        case RpcErrc::endpoint_not_found: return "endpoint_not_found";
        case RpcErrc::env_stopped: return "env_stopped";
        case RpcErrc::remote_failure: return "remote_failure";
        case RpcErrc::connection_failed: return "connection_failed";
        case RpcErrc::connection_closed: return "connection_closed";
        case RpcErrc::frame_too_large: return "frame_too_large";
        case RpcErrc::unknown_message_type: return "unknown_message_type";
        case RpcErrc::unexpected_message: return "unexpected_message";
        case RpcErrc::invalid_uri: return "invalid_uri";
        case RpcErrc::aborted: return "aborted";
        case RpcErrc::send_dropped: return "send_dropped";
        case RpcErrc::protocol_error: return "protocol_error";
        case RpcErrc::duplicate_endpoint: return "duplicate_endpoint";
        case RpcErrc::bind_failed: return "bind_failed";
        case RpcErrc::no_reply: return "no_reply";
        case RpcErrc::authentication_failed: return "authentication_failed";
        case RpcErrc::invalid_config: return "invalid_config";
    }
    return "unknown";
}

std::ostream& operator<<(std::ostream& os, const RpcError& e) {
    return os << to_string(e.code) << ": " << e.message;
}

void throw_exception_from_error(const RpcError& e, const boost::source_location&) {
    throw RpcException(e);
}

}  // namespace ember::rpc
