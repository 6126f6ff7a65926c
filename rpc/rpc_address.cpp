// SPDX-License-Identifier: Apache-2.0
#include "rpc/rpc_address.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>

namespace ember::rpc {
namespace {

RpcError bad_uri(std::string_view uri, std::string_view why) {
    return RpcError{RpcErrc::invalid_uri, fmt::format("Invalid ember URL '{}': {}", uri, why)};
}

// True for an IPv6 address, with or without a zone ("fe80::1%eth0").
bool is_ipv6_literal(const std::string& host) {
    in6_addr a;
    std::string addr = host.substr(0, host.find('%'));
    return ::inet_pton(AF_INET6, addr.c_str(), &a) == 1;
}

// Parses "host:port" / "[v6]:port" into an address, or explains why not.
RpcResult<RpcAddress> parse_authority(std::string_view s, std::string_view whole) {
    std::string host;
    std::string_view port_part;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos) return bad_uri(whole, "unterminated '[' in IPv6 host");
        host = std::string(s.substr(1, close - 1));
        if (!is_ipv6_literal(host)) return bad_uri(whole, fmt::format("'{}' in brackets is not an IPv6 address", host));
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

std::string RpcAddress::normalize_host(std::string host) {
    if (host.find(':') == std::string::npos) return host;  // a host name or IPv4: as written
    auto percent = host.find('%');
    std::string addr = host.substr(0, percent);
    in6_addr a;
    if (::inet_pton(AF_INET6, addr.c_str(), &a) != 1) return host;
    char text[INET6_ADDRSTRLEN];
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
        // As Java's InetAddress.getByName: an IPv4-mapped address is the IPv4 address.
        in_addr v4;
        std::memcpy(&v4, &a.s6_addr[12], sizeof v4);
        if (::inet_ntop(AF_INET, &v4, text, sizeof text) == nullptr) return host;
        return text;
    }
    // RFC 5952: lower-case hex fields without leading zeros, the longest run of two or more
    // zero fields (the first of equal runs) as "::". Written here rather than by inet_ntop,
    // which prints ::/96 addresses in the deprecated IPv4-compatible form ("::0.1.0.2").
    std::uint16_t w[8];
    for (int i = 0; i < 8; ++i) w[i] = static_cast<std::uint16_t>((a.s6_addr[2 * i] << 8) | a.s6_addr[2 * i + 1]);
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (w[i] != 0) {
            ++i;
            continue;
        }
        int j = i;
        while (j < 8 && w[j] == 0) ++j;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    if (best_len < 2) best = -1;
    std::string out;
    for (int i = 0; i < 8; ++i) {
        if (i == best) {
            out += "::";
            i += best_len - 1;
            continue;
        }
        if (!out.empty() && out.back() != ':') out += ':';
        out += fmt::format("{:x}", w[i]);
    }
    if (percent != std::string::npos) out += host.substr(percent);
    return out;
}

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
