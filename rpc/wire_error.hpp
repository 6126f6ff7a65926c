// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RpcErrc <-> rpc_wire::ErrorCode (RpcFailure.code in rpc/rpc_envelope.capnp), both ways, with a
/// compile-time check that every code has the same number on both sides. Internal: includes the
/// generated capnp header, so only the .cpp files that read or write RpcFailure include it.

#include "rpc/rpc_envelope.capnp.h"
#include "rpc/rpc_error.hpp"

#include <cstdint>

namespace ember::rpc {

namespace detail {

/// True if `c` and `w` carry the same number.
constexpr bool same_code(RpcErrc c, rpc_wire::ErrorCode w) {
    return static_cast<std::uint16_t>(c) == static_cast<std::uint16_t>(w);
}

// One line per code: adding an RpcErrc means adding its enumerant to the schema (same number).
static_assert(same_code(RpcErrc::ok, rpc_wire::ErrorCode::OK));
static_assert(same_code(RpcErrc::timeout, rpc_wire::ErrorCode::TIMEOUT));
static_assert(same_code(RpcErrc::endpoint_not_found, rpc_wire::ErrorCode::ENDPOINT_NOT_FOUND));
static_assert(same_code(RpcErrc::env_stopped, rpc_wire::ErrorCode::ENV_STOPPED));
static_assert(same_code(RpcErrc::remote_failure, rpc_wire::ErrorCode::REMOTE_FAILURE));
static_assert(same_code(RpcErrc::connection_failed, rpc_wire::ErrorCode::CONNECTION_FAILED));
static_assert(same_code(RpcErrc::connection_closed, rpc_wire::ErrorCode::CONNECTION_CLOSED));
static_assert(same_code(RpcErrc::frame_too_large, rpc_wire::ErrorCode::FRAME_TOO_LARGE));
static_assert(same_code(RpcErrc::unknown_message_type, rpc_wire::ErrorCode::UNKNOWN_MESSAGE_TYPE));
static_assert(same_code(RpcErrc::unexpected_message, rpc_wire::ErrorCode::UNEXPECTED_MESSAGE));
static_assert(same_code(RpcErrc::invalid_uri, rpc_wire::ErrorCode::INVALID_URI));
static_assert(same_code(RpcErrc::aborted, rpc_wire::ErrorCode::ABORTED));
static_assert(same_code(RpcErrc::send_dropped, rpc_wire::ErrorCode::SEND_DROPPED));
static_assert(same_code(RpcErrc::protocol_error, rpc_wire::ErrorCode::PROTOCOL_ERROR));
static_assert(same_code(RpcErrc::duplicate_endpoint, rpc_wire::ErrorCode::DUPLICATE_ENDPOINT));
static_assert(same_code(RpcErrc::bind_failed, rpc_wire::ErrorCode::BIND_FAILED));
static_assert(same_code(RpcErrc::no_reply, rpc_wire::ErrorCode::NO_REPLY));
static_assert(same_code(RpcErrc::authentication_failed, rpc_wire::ErrorCode::AUTHENTICATION_FAILED));
static_assert(same_code(RpcErrc::invalid_config, rpc_wire::ErrorCode::INVALID_CONFIG));

}  // namespace detail

/// The wire value of `c` (the same number).
constexpr rpc_wire::ErrorCode to_wire(RpcErrc c) noexcept {
    return static_cast<rpc_wire::ErrorCode>(static_cast<std::uint16_t>(c));
}

/// The RpcErrc of a received code. A number this build does not know (a newer peer's code) is
/// kept as it is: to_string() names it "unknown" and it compares unequal to every known code.
constexpr RpcErrc from_wire(rpc_wire::ErrorCode w) noexcept {
    return static_cast<RpcErrc>(static_cast<std::uint16_t>(w));
}

}  // namespace ember::rpc
