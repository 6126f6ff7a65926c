// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// stable_hash and HashPartitioner (Spark's HashPartitioner with a hash that is the same in
/// every process and every build: XXH3 over strings, a 64-bit mixer over integers).

#include "storage/serializer.hpp"

#include <xxhash.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace ember::shuffle {

inline std::uint64_t mix64(std::uint64_t x) {
    // splitmix64 finaliser: every input bit affects every output bit.
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/// A hash of `v` that depends only on its value: identical on the driver and on every executor.
template <class T>
std::uint64_t stable_hash(const T& v) {
    if constexpr (std::is_convertible_v<const T&, std::string_view>) {
        std::string_view s = v;
        return XXH3_64bits(s.data(), s.size());
    } else if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
        return mix64(static_cast<std::uint64_t>(v));
    } else if constexpr (std::is_floating_point_v<T>) {
        double d = v == 0 ? 0.0 : static_cast<double>(v);  // +0 and -0 hash alike
        std::uint64_t bits;
        std::memcpy(&bits, &d, sizeof bits);
        return mix64(bits);
    } else {
        // Any serialisable key: hash its encoding.
        std::string bytes = encode(v);
        return XXH3_64bits(bytes.data(), bytes.size());
    }
}

template <class A, class B>
std::uint64_t stable_hash(const std::pair<A, B>& p) {
    return mix64(stable_hash(p.first) * 31 + stable_hash(p.second));
}

/// Hash functor over stable_hash, for hash maps keyed like the shuffle. Transparent: a
/// std::string_view finds a std::string key (both hash their bytes). Deliberately not marked
/// avalanching for open-addressing tables: the keys of one reduce partition share their hash
/// modulo the partition count, so the table mixes the hash again before using its low bits.
struct StableHash {
    using is_transparent = void;
    template <class T>
    std::size_t operator()(const T& v) const {
        return static_cast<std::size_t>(stable_hash(v));
    }
};

/// Assigns keys to `num_partitions` partitions by stable_hash (Spark's HashPartitioner).
/// Threading: immutable.
struct HashPartitioner {
    int num_partitions = 1;

    template <class K>
    int partition(const K& key) const {
        return static_cast<int>(stable_hash(key) % static_cast<std::uint64_t>(num_partitions));
    }
    /// For a hash already computed with stable_hash.
    int partition_of_hash(std::uint64_t h) const {
        return static_cast<int>(h % static_cast<std::uint64_t>(num_partitions));
    }
    /// Equal partitioners place every key alike (Spark: HashPartitioners with the same count).
    bool operator==(const HashPartitioner&) const = default;
    EMBER_SERDE(num_partitions)
};

}  // namespace ember::shuffle
