// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// estimate_size: approximate heap + inline bytes of a record (Spark's SizeEstimator, reduced to
/// the types ember records are made of), for spill decisions.

#include <algorithm>
#include <cstddef>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace ember::scheduler {

template <class T>
std::size_t estimate_size(const T& v);

template <class T>
std::size_t estimate_size_impl(const T&) {
    return sizeof(T);
}
/// What malloc takes for `n` bytes (glibc: an 8-byte header, 16-byte granules, 32 at least).
constexpr std::size_t malloc_chunk_size(std::size_t n) { return std::max<std::size_t>(32, (n + 8 + 15) & ~std::size_t{15}); }

inline std::size_t estimate_size_impl(const std::string& s) {
    return sizeof(std::string) + (s.capacity() > 15 ? malloc_chunk_size(s.capacity() + 1) : 0);
}
template <class A, class B>
std::size_t estimate_size_impl(const std::pair<A, B>& p) {
    return estimate_size(p.first) + estimate_size(p.second);
}
template <class T, class A>
std::size_t estimate_size_impl(const std::vector<T, A>& v) {
    std::size_t n = sizeof(v) + (v.capacity() - v.size()) * sizeof(T);
    for (const auto& x : v) n += estimate_size(x);
    return n;
}

template <class T>
std::size_t estimate_size(const T& v) {
    return estimate_size_impl(v);
}

}  // namespace ember::scheduler
