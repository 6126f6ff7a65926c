// SPDX-License-Identifier: Apache-2.0
#include "rpc/conf.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace ember {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
        s.remove_suffix(1);
    }
    return s;
}

// Splits "120ms" into (120, "ms"). Throws on a missing or negative number.
std::pair<double, std::string> split_number_unit(std::string_view value) {
    std::string_view s = trim(value);
    std::size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
        ++i;
    }
    if (i == 0) {
        throw std::invalid_argument(fmt::format("'{}' is not a number with an optional unit", value));
    }
    double number = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + i, number);
    if (ec != std::errc{} || p != s.data() + i) {
        throw std::invalid_argument(fmt::format("'{}' is not a number with an optional unit", value));
    }
    return {number, lower(trim(s.substr(i)))};
}

double time_unit_ms(std::string_view unit, std::string_view value) {
    if (unit == "us") return 1e-3;
    if (unit == "ms") return 1;
    if (unit == "s") return 1e3;
    if (unit == "m" || unit == "min") return 60e3;
    if (unit == "h") return 3600e3;
    if (unit == "d") return 86400e3;
    throw std::invalid_argument(
        fmt::format("'{}' has an unknown time unit '{}' (use us, ms, s, m, min, h or d)", value, unit));
}

double size_unit_bytes(std::string_view unit, std::string_view value) {
    if (unit == "b") return 1;
    if (unit == "k" || unit == "kb") return 1024.0;
    if (unit == "m" || unit == "mb") return 1024.0 * 1024;
    if (unit == "g" || unit == "gb") return 1024.0 * 1024 * 1024;
    if (unit == "t" || unit == "tb") return 1024.0 * 1024 * 1024 * 1024;
    throw std::invalid_argument(
        fmt::format("'{}' has an unknown size unit '{}' (use b, k, m, g or t)", value, unit));
}

template <class F>
auto parse_key(std::string_view key, std::string_view value, F&& parse) {
    try {
        return parse(value);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(fmt::format("config {}: {}", key, e.what()));
    }
}

}  // namespace

Conf& Conf::set(std::string key, std::string value) {
    kv_.insert_or_assign(std::move(key), std::move(value));
    return *this;
}

Conf& Conf::set_if_missing(std::string key, std::string value) {
    kv_.try_emplace(std::move(key), std::move(value));
    return *this;
}

bool Conf::contains(std::string_view key) const { return kv_.find(key) != kv_.end(); }

std::optional<std::string> Conf::get(std::string_view key) const {
    auto it = kv_.find(key);
    if (it == kv_.end()) return std::nullopt;
    return it->second;
}

std::string Conf::get(std::string_view key, std::string_view fallback) const {
    auto it = kv_.find(key);
    return it == kv_.end() ? std::string(fallback) : it->second;
}

bool Conf::get_bool(std::string_view key, bool fallback) const {
    auto v = get(key);
    if (!v) return fallback;
    std::string l = lower(trim(*v));
    if (l == "true" || l == "1" || l == "yes") return true;
    if (l == "false" || l == "0" || l == "no") return false;
    throw std::invalid_argument(fmt::format("config {}: '{}' is not a boolean", key, *v));
}

std::int64_t Conf::get_int(std::string_view key, std::int64_t fallback) const {
    auto v = get(key);
    if (!v) return fallback;
    std::string_view s = trim(*v);
    std::int64_t out = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec != std::errc{} || p != s.data() + s.size()) {
        throw std::invalid_argument(fmt::format("config {}: '{}' is not an integer", key, *v));
    }
    return out;
}

double Conf::get_double(std::string_view key, double fallback) const {
    auto v = get(key);
    if (!v) return fallback;
    std::string_view s = trim(*v);
    double out = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec != std::errc{} || p != s.data() + s.size()) {
        throw std::invalid_argument(fmt::format("config {}: '{}' is not a number", key, *v));
    }
    return out;
}

std::chrono::milliseconds Conf::parse_time_ms(std::string_view value, std::string_view default_unit) {
    auto [n, unit] = split_number_unit(value);
    double ms = n * time_unit_ms(unit.empty() ? default_unit : unit, value);
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

std::int64_t Conf::parse_size_bytes(std::string_view value, std::string_view default_unit) {
    auto [n, unit] = split_number_unit(value);
    return static_cast<std::int64_t>(
        std::llround(n * size_unit_bytes(unit.empty() ? default_unit : unit, value)));
}

std::chrono::milliseconds Conf::get_time_ms(std::string_view key, std::string_view fallback,
                                            std::string_view default_unit) const {
    std::string v = get(key, fallback);
    return parse_key(key, v, [&](std::string_view s) { return parse_time_ms(s, default_unit); });
}

std::chrono::microseconds Conf::get_time_us(std::string_view key, std::string_view fallback,
                                            std::string_view default_unit) const {
    std::string v = get(key, fallback);
    return parse_key(key, v, [&](std::string_view s) {
        auto [n, unit] = split_number_unit(s);
        double us = n * time_unit_ms(unit.empty() ? default_unit : unit, s) * 1000.0;
        return std::chrono::microseconds(static_cast<std::int64_t>(std::llround(us)));
    });
}

std::int64_t Conf::get_size_bytes(std::string_view key, std::string_view fallback,
                                  std::string_view default_unit) const {
    std::string v = get(key, fallback);
    return parse_key(key, v, [&](std::string_view s) { return parse_size_bytes(s, default_unit); });
}

std::optional<std::string> Conf::first_set(std::initializer_list<std::string_view> keys) const {
    for (auto k : keys) {
        if (contains(k)) return std::string(k);
    }
    return std::nullopt;
}

}  // namespace ember
