// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RpcErrc, RpcError and RpcResult: how RpcEnv failures reach callers, as values.

#include <boost/system/result.hpp>

#include <cstdint>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ember::rpc {

/// What went wrong with a send or an ask. The numeric values travel on the wire in
/// RpcFailure.code, so they never change.
enum class RpcErrc : std::uint16_t {
    ok = 0,
    timeout = 1,               ///< no reply within the ask timeout (Spark RpcTimeoutException)
    endpoint_not_found = 2,    ///< no endpoint of that name (Spark RpcEndpointNotFoundException)
    env_stopped = 3,           ///< the RpcEnv was shut down (Spark RpcEnvStoppedException)
    remote_failure = 4,        ///< the handler called send_failure or threw
    connection_failed = 5,     ///< could not connect to the peer
    connection_closed = 6,     ///< the connection closed with the request outstanding
    frame_too_large = 7,       ///< a frame exceeded ember.rpc.message.maxSize
    unknown_message_type = 8,  ///< the receiver does not handle this payload type
    unexpected_message = 9,    ///< a reply of another type than the asker expected
    invalid_uri = 10,          ///< malformed ember:// URI or address
    aborted = 11,              ///< the asker aborted the request
    send_dropped = 12,         ///< an outbox was stopped or full and dropped the message
    protocol_error = 13,       ///< malformed bytes on the wire
    duplicate_endpoint = 14,   ///< setup_endpoint with a name already in use
    bind_failed = 15,          ///< could not listen on the requested address/port
    no_reply = 16,             ///< the endpoint dropped an ask without replying
    authentication_failed = 17,  ///< the connection's handshake failed (ember.authenticate)
    invalid_config = 18,       ///< a configuration value is malformed or inconsistent
};

/// Short name of a code, e.g. "timeout".
std::string_view to_string(RpcErrc c) noexcept;

/// A failure: its kind and a message for humans. The message is complete on its own (it names
/// the endpoint, address, config key or remote exception text involved).
///
/// Threading: immutable.
struct RpcError {
    RpcErrc code = RpcErrc::ok;
    std::string message;

    const std::string& what() const noexcept { return message; }
};

/// Thrown where a failure cannot be returned as a value (RpcResult::value() on an error).
class RpcException : public std::runtime_error {
public:
    explicit RpcException(RpcError e) : std::runtime_error(e.message), error_(std::move(e)) {}
    const RpcError& error() const noexcept { return error_; }

private:
    RpcError error_;
};

/// Prints "<code>: <message>".
std::ostream& operator<<(std::ostream& os, const RpcError& e);

/// boost::system::result with RpcError: `if (!r) log(r.error().message); use(*r);`
template <class T>
using RpcResult = boost::system::result<T, RpcError>;

/// Found by ADL when RpcResult::value() is called on an error.
[[noreturn]] void throw_exception_from_error(const RpcError& e, const boost::source_location& loc);

}  // namespace ember::rpc
