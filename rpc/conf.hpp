// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Conf: string key/value configuration with Spark's typed getters (after SparkConf).

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember {

/// Configuration for every ember component: Spark's keys with the `ember.` prefix
/// (`ember.rpc.askTimeout`, `ember.network.timeout`, ...).
///
/// Values are strings; getters parse them the way Spark does: times as `<n><unit>` with units
/// us, ms, s, m/min, h, d (a bare number uses the getter's default unit), sizes as `<n><unit>`
/// with units b, k/kb, m/mb, g/gb, t/tb (powers of 1024). Malformed values throw
/// std::invalid_argument naming the key and the value.
///
/// Threading: immutable once shared; build it single-threaded, then copy or share by const&.
class Conf {
public:
    Conf() = default;
    Conf(std::initializer_list<std::pair<const std::string, std::string>> kv) : kv_(kv) {}

    /// Sets `key` to `value`, replacing any earlier value. Returns *this for chaining.
    Conf& set(std::string key, std::string value);
    /// Sets `key` only if it is not set yet.
    Conf& set_if_missing(std::string key, std::string value);
    bool contains(std::string_view key) const;
    std::optional<std::string> get(std::string_view key) const;
    std::string get(std::string_view key, std::string_view fallback) const;

    bool get_bool(std::string_view key, bool fallback) const;
    std::int64_t get_int(std::string_view key, std::int64_t fallback) const;
    double get_double(std::string_view key, double fallback) const;

    /// Time value in milliseconds; a bare number is taken as `default_unit`.
    std::chrono::milliseconds get_time_ms(std::string_view key, std::string_view fallback,
                                          std::string_view default_unit = "ms") const;
    /// Time value in microseconds (for sub-millisecond settings such as ember.rpc.io.spinTime).
    std::chrono::microseconds get_time_us(std::string_view key, std::string_view fallback,
                                          std::string_view default_unit = "us") const;
    /// Size value in bytes; a bare number is taken as `default_unit` (Spark: "b" or "m").
    std::int64_t get_size_bytes(std::string_view key, std::string_view fallback,
                                std::string_view default_unit = "b") const;

    /// The first key of `keys` that is set, for timeouts controlled by a list of keys
    /// (`ember.rpc.askTimeout`, then `ember.network.timeout`); nullopt if none is set.
    std::optional<std::string> first_set(std::initializer_list<std::string_view> keys) const;

    /// All entries in key order, for shipping the configuration to executors.
    const std::map<std::string, std::string, std::less<>>& entries() const { return kv_; }

    /// Parses a Spark time string ("120s", "100ms", "5") into milliseconds.
    static std::chrono::milliseconds parse_time_ms(std::string_view value,
                                                   std::string_view default_unit = "ms");
    /// Parses a Spark size string ("48m", "1g", "512k", "100") into bytes.
    static std::int64_t parse_size_bytes(std::string_view value, std::string_view default_unit = "b");

private:
    std::map<std::string, std::string, std::less<>> kv_;
};

}  // namespace ember
