// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RpcAddress (host:port of an env) and RpcEndpointAddress (`ember://name@host:port`).

#include "rpc/rpc_error.hpp"

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace ember::rpc {

/// The advertised address of an RpcEnv: host and port. After Spark's RpcAddress.
///
/// An empty address (no host) stands for a client-mode env, which does not listen. IPv6 hosts
/// are kept without brackets and bracketed when printed (`[::1]:7077`).
///
/// Hosts are normalised on construction (normalize_host), so two spellings of one IPv6 address
/// (`::0:1`, `0:0:0:0:0:0:0:1`) make equal addresses: IPv6 literals take their canonical RFC 5952
/// form (lower case, no leading zeros, the longest run of zero fields as `::`), IPv4-mapped IPv6
/// addresses become the IPv4 address (`::ffff:10.0.0.1` is `10.0.0.1`, as Java's InetAddress
/// shows it), and host names and IPv4 addresses stay as written. Assigning `host` directly
/// bypasses this.
///
/// Threading: immutable.
struct RpcAddress {
    std::string host;
    std::uint16_t port = 0;

    RpcAddress() = default;
    RpcAddress(std::string host_name, std::uint16_t port_number)
        : host(normalize_host(std::move(host_name))), port(port_number) {}

    /// The canonical form of `host` (see above); anything that is not an IPv6 literal, including
    /// an invalid one, is returned unchanged. An IPv6 zone (`fe80::1%eth0`) is kept as written.
    static std::string normalize_host(std::string host);

    bool empty() const noexcept { return host.empty(); }
    /// "host:port", "[v6]:port", or "client" for an empty address.
    std::string host_port() const;
    /// "ember://host:port".
    std::string to_url() const;
    /// Parses "host:port" or "[v6]:port"; the host is normalised, and a bracketed host must be
    /// an IPv6 address.
    static RpcResult<RpcAddress> parse_host_port(std::string_view s);

    friend auto operator<=>(const RpcAddress&, const RpcAddress&) = default;
    friend bool operator==(const RpcAddress&, const RpcAddress&) = default;
};

/// An endpoint's full address: `ember://name@host:port`, or `ember-client://name` for an
/// endpoint of a client-mode env. After Spark's RpcEndpointAddress.
///
/// Threading: immutable.
struct RpcEndpointAddress {
    RpcAddress address;
    std::string name;

    std::string to_string() const;
    /// Parses `ember://name@host:port`. The scheme must be `ember`, the name and host must be
    /// present, the port must be 0..65535 and there must be no path, query or fragment;
    /// anything else fails with RpcErrc::invalid_uri naming the whole URI.
    static RpcResult<RpcEndpointAddress> parse(std::string_view uri);

    friend bool operator==(const RpcEndpointAddress&, const RpcEndpointAddress&) = default;
};

}  // namespace ember::rpc

template <>
struct std::hash<ember::rpc::RpcAddress> {
    std::size_t operator()(const ember::rpc::RpcAddress& a) const noexcept {
        return std::hash<std::string>{}(a.host) * 31 + a.port;
    }
};
