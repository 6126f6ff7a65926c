// SPDX-License-Identifier: Apache-2.0
#include "rpc/rpc_address.hpp"

#include <fmt/format.h>

#include <charconv>

namespace ember::rpc {
namespace {

RpcError bad_uri(std::string_view uri, std::string_view why) {
    return RpcError{RpcErrc::invalid_uri, fmt::format("Invalid ember URL '{}': {}", uri, why)};
}

// Parses "host:port" / "[v6]:port" into an address, or explains why not.
RpcResult<RpcAddress> parse_authority(std::string_view s, std::string_view whole) {
    std::string host;
    std::string_view port_part;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos) return bad_uri(whole, "unterminated '[' in IPv6 host");
        host = std::string(s.substr(1, close - 1));
        std::string_view rest = s.substr(close + 1);
        if (rest.empty() || rest.front() != ':') return bad_uri(whole, "missing port");
        port_part = rest.substr(1);
    } else {
        auto colon = s.rfind(':');
        if (colon == std::string_view::npos) return bad_uri(whole, "missing port");
        host = std::string(s.substr(0, colon));
        if (host.find(':') != std::string::npos) {
            return bad_uri(whole, "IPv6 hosts must be written in brackets, as [::1]:port");
        }
        port_part = s.substr(colon + 1);
    }
    if (host.empty()) return bad_uri(whole, "missing host");
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_part.data(), port_part.data() + port_part.size(), port);
    if (port_part.empty() || ec != std::errc{} || p != port_part.data() + port_part.size() ||
        port > 65535) {
        return bad_uri(whole, fmt::format("port '{}' is not a number in 0..65535", port_part));
    }
    return RpcAddress{std::move(host), static_cast<std::uint16_t>(port)};
}

}  // namespace

std::string RpcAddress::host_port() const {
    if (host.empty()) return "client";
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

std::string RpcAddress::to_url() const { return "ember://" + host_port(); }

RpcResult<RpcAddress> RpcAddress::parse_host_port(std::string_view s) {
    return parse_authority(s, s);
}

std::string RpcEndpointAddress::to_string() const {
    if (address.empty()) return fmt::format("ember-client://{}", name);
    return fmt::format("ember://{}@{}", name, address.host_port());
}

RpcResult<RpcEndpointAddress> RpcEndpointAddress::parse(std::string_view uri) {
    constexpr std::string_view kScheme = "ember://";
    if (uri.substr(0, kScheme.size()) != kScheme) {
        return bad_uri(uri, "the scheme must be ember://");
    }
    std::string_view rest = uri.substr(kScheme.size());
    if (rest.find_first_of("/?#") != std::string_view::npos) {
        return bad_uri(uri, "a path, query or fragment is not allowed");
    }
    auto at = rest.find('@');
    if (at == std::string_view::npos || at == 0) {
        return bad_uri(uri, "missing endpoint name (expected ember://name@host:port)");
    }
    auto addr = parse_authority(rest.substr(at + 1), uri);
    if (!addr) return addr.error();
    return RpcEndpointAddress{std::move(*addr), std::string(rest.substr(0, at))};
}

}  // namespace ember::rpc
