// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Estimated memory footprint of records kept as objects (Spark's SizeEstimator and
/// SizeTracker), for the MemoryStore's deserialized blocks.

#include "storage/serializer.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ember::storage {

/// Heap bytes an allocation of `n` bytes takes from glibc's malloc: a 16-byte multiple with its
/// 8-byte header, 32 at least.
constexpr std::uint64_t heap_block_bytes(std::uint64_t n) noexcept {
    if (n == 0) return 0;
    std::uint64_t b = (n + 8 + 15) & ~std::uint64_t{15};
    return b < 32 ? 32 : b;
}

/// deep(v): the bytes a T owns outside its own sizeof(T) (its heap allocations), estimated.
/// `known` is false for a type SizeOf has no specialisation for: its encoded size stands in.
template <class T, class Enable = void>
struct SizeOf {
    static constexpr bool known = false;
    /// Encoded bytes stand in for the heap payload of a user type (its strings and vectors are
    /// written as their bytes and elements, plus a length each).
    static std::uint64_t deep(const T& v) {
        if constexpr (Serializable<T>) {
            Encoder e;
            e.write(v);
            return e.size();
        } else {
            (void)v;
            return 0;
        }
    }
};

template <class T>
struct SizeOf<T, std::enable_if_t<std::is_arithmetic_v<T> || std::is_enum_v<T>>> {
    static constexpr bool known = true;
    static std::uint64_t deep(const T&) noexcept { return 0; }
};

template <>
struct SizeOf<std::string> {
    static constexpr bool known = true;
    // libstdc++ keeps up to 15 characters inside the object.
    static std::uint64_t deep(const std::string& s) noexcept {
        return s.capacity() > 15 ? heap_block_bytes(s.capacity() + 1) : 0;
    }
};

template <class A, class B>
struct SizeOf<std::pair<A, B>> {
    static constexpr bool known = SizeOf<std::remove_const_t<A>>::known && SizeOf<B>::known;
    static std::uint64_t deep(const std::pair<A, B>& p) {
        return SizeOf<std::remove_const_t<A>>::deep(p.first) + SizeOf<B>::deep(p.second);
    }
};

template <class... Ts>
struct SizeOf<std::tuple<Ts...>> {
    static constexpr bool known = (SizeOf<Ts>::known && ...);
    static std::uint64_t deep(const std::tuple<Ts...>& t) {
        return std::apply([](const auto&... xs) { return (std::uint64_t{0} + ... + SizeOf<std::decay_t<decltype(xs)>>::deep(xs)); }, t);
    }
};

template <class T, std::size_t N>
struct SizeOf<std::array<T, N>> {
    static constexpr bool known = SizeOf<T>::known;
    static std::uint64_t deep(const std::array<T, N>& a) {
        std::uint64_t n = 0;
        if constexpr (!std::is_arithmetic_v<T>) {
            for (const auto& x : a) n += SizeOf<T>::deep(x);
        }
        return n;
    }
};

template <class T>
struct SizeOf<std::optional<T>> {
    static constexpr bool known = SizeOf<T>::known;
    static std::uint64_t deep(const std::optional<T>& o) { return o ? SizeOf<T>::deep(*o) : 0; }
};

template <class T, class A>
struct SizeOf<std::vector<T, A>> {
    static constexpr bool known = SizeOf<T>::known;
    static std::uint64_t deep(const std::vector<T, A>& v) {
        std::uint64_t n = heap_block_bytes(v.capacity() * sizeof(T));
        if constexpr (!std::is_arithmetic_v<T> && !std::is_enum_v<T>) {
            for (const auto& x : v) n += SizeOf<T>::deep(x);
        }
        return n;
    }
};

/// Tree and hash maps: a node per entry (libstdc++: four pointers and a colour around a
/// std::map entry; a next pointer and the cached hash around an unordered_map entry) plus an
/// unordered_map's bucket array.
template <class K, class V, class C, class A>
struct SizeOf<std::map<K, V, C, A>> {
    static constexpr bool known = SizeOf<K>::known && SizeOf<V>::known;
    static std::uint64_t deep(const std::map<K, V, C, A>& m) {
        std::uint64_t n = m.size() * heap_block_bytes(32 + sizeof(std::pair<const K, V>));
        for (const auto& [k, v] : m) n += SizeOf<K>::deep(k) + SizeOf<V>::deep(v);
        return n;
    }
};
template <class K, class V, class H, class E, class A>
struct SizeOf<std::unordered_map<K, V, H, E, A>> {
    static constexpr bool known = SizeOf<K>::known && SizeOf<V>::known;
    static std::uint64_t deep(const std::unordered_map<K, V, H, E, A>& m) {
        std::uint64_t n = m.size() * heap_block_bytes(16 + sizeof(std::pair<const K, V>)) +
                          heap_block_bytes(m.bucket_count() * sizeof(void*));
        for (const auto& [k, v] : m) n += SizeOf<K>::deep(k) + SizeOf<V>::deep(v);
        return n;
    }
};

/// Running estimate of the memory a growing std::vector<T> of records takes (Spark's
/// SizeTracker): the vector's own array plus each record's heap bytes. Records of a type SizeOf
/// knows are measured one by one (a walk of their strings and vectors); others are sampled,
/// the first 32 and then every 32nd, by their encoded size, and the mean applied to the rest.
/// Threading: single-threaded.
template <class T>
class SizeTracker {
public:
    /// Accounts for `v`, the `count()`-th record (0-based) appended.
    void add(const T& v) {
        if constexpr (SizeOf<T>::known) {
            deep_ += SizeOf<T>::deep(v);
        } else {
            if (count_ < 32 || count_ % 32 == 0) {
                sampled_deep_ += SizeOf<T>::deep(v);
                ++samples_;
            }
        }
        ++count_;
    }
    std::uint64_t count() const noexcept { return count_; }
    /// Estimated bytes of `count()` records held in a vector whose capacity is `capacity`.
    std::uint64_t bytes(std::uint64_t capacity) const noexcept {
        std::uint64_t deep = deep_;
        if constexpr (!SizeOf<T>::known) {
            if (samples_ > 0) deep = sampled_deep_ * count_ / samples_;
        }
        return heap_block_bytes(capacity * sizeof(T)) + deep;
    }

private:
    std::uint64_t count_ = 0;
    std::uint64_t deep_ = 0;          // known types: the exact sum
    std::uint64_t sampled_deep_ = 0;  // other types: the sum over samples_
    std::uint64_t samples_ = 0;
};

}  // namespace ember::storage
