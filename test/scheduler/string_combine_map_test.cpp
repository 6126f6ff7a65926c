// SPDX-License-Identifier: Apache-2.0
// StringCombineMap, both layouts, against std::unordered_map: every key once, with its hash and
// combiner, across arena blocks, keys of their own blocks, the empty key, clear() and reuse.
#include "scheduler/rdd/string_combine_map.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

using namespace ember;
using namespace ember::scheduler;

namespace {

struct alignas(16) Wide {
    double sum;
    std::uint64_t count;
};

/// Keys of 0-40 bytes drawn from a small alphabet (many repeats), a few of 300 KiB (each gets
/// an arena block of its own), and the empty key.
std::vector<std::string> keys(std::mt19937_64& rng, std::size_t n) {
    std::vector<std::string> out;
    std::uniform_int_distribution<int> len(0, 40), ch('a', 'd');
    for (std::size_t i = 0; i < n; ++i) {
        std::string k(static_cast<std::size_t>(len(rng)), ' ');
        for (auto& c : k) c = static_cast<char>(ch(rng));
        out.push_back(std::move(k));
    }
    for (int i = 0; i < 3; ++i) out.push_back(std::string(300 << 10, static_cast<char>('a' + i)));
    out.push_back("");
    std::shuffle(out.begin(), out.end(), rng);
    return out;
}

/// Adds each key once per occurrence (combiner: occurrences, via `add`), then checks the map
/// against a std::unordered_map, twice (after clear(), the map is filled again).
template <class Map, class C, class Add, class Count>
void check(Map& m, Add add, Count count) {
    std::mt19937_64 rng(7);
    for (int round = 0; round < 2; ++round) {
        auto ks = keys(rng, 200'000);
        std::unordered_map<std::string, std::uint64_t> expected;
        for (const auto& k : ks) {
            ++expected[k];
            std::uint64_t h = shuffle::stable_hash(k);
            if constexpr (kStringCombineRecordLayout<C>) m.prefetch(h);  // a hint: changes nothing
            if (C* c = m.find(k, h)) {
                add(*c);
            } else {
                C fresh{};
                add(fresh);
                m.insert(k, h, std::move(fresh));
            }
        }
        REQUIRE(m.size() == expected.size());
        REQUIRE(m.memory_bytes() > 900u << 10);  // the three big keys at least
        std::size_t seen = 0;
        m.for_each([&](std::string_view k, std::uint64_t h, C& c) {
            auto it = expected.find(std::string(k));
            REQUIRE(it != expected.end());
            REQUIRE(h == shuffle::stable_hash(k));
            REQUIRE(count(c) == it->second);
            REQUIRE(reinterpret_cast<std::uintptr_t>(&c) % alignof(C) == 0);
            expected.erase(it);  // a key seen twice would not be found again
            ++seen;
        });
        REQUIRE(expected.empty());
        REQUIRE(seen == m.size());
        for (const auto& k : {std::string(), std::string(300 << 10, 'b')}) {
            C* c = m.find(k, shuffle::stable_hash(k));
            REQUIRE(c != nullptr);
        }
        REQUIRE(m.find("not a key", shuffle::stable_hash(std::string_view("not a key"))) == nullptr);
        m.clear();
        REQUIRE(m.size() == 0);
        REQUIRE(m.memory_bytes() < 64u << 10);
        std::size_t after_clear = 0;
        m.for_each([&](std::string_view, std::uint64_t, C&) { ++after_clear; });
        REQUIRE(after_clear == 0);
    }
}

}  // namespace

TEST_CASE("Counts live in the arena's records and every key comes out once", "[combine]") {
    static_assert(kStringCombineRecordLayout<std::uint64_t>);
    StringCombineMap<std::uint64_t> map_side;
    check<decltype(map_side), std::uint64_t>(map_side, [](std::uint64_t& c) { ++c; }, [](std::uint64_t c) { return c; });
    StringCombineMap<std::uint64_t, kReduceSideHashRotation> reduce_side;
    check<decltype(reduce_side), std::uint64_t>(reduce_side, [](std::uint64_t& c) { ++c; },
                                                [](std::uint64_t c) { return c; });
}

TEST_CASE("A combiner aligned to 16 bytes stays aligned in the records", "[combine]") {
    static_assert(kStringCombineRecordLayout<Wide>);
    StringCombineMap<Wide> m;
    check<decltype(m), Wide>(m, [](Wide& w) { w.sum += 0.5, ++w.count; }, [](const Wide& w) {
        REQUIRE(w.sum == 0.5 * static_cast<double>(w.count));
        return w.count;
    });
}

TEST_CASE("Combiners that own memory stay in the table's slots", "[combine]") {
    static_assert(!kStringCombineRecordLayout<std::vector<int>>);
    StringCombineMap<std::vector<int>> m;
    check<decltype(m), std::vector<int>>(m, [](std::vector<int>& v) { v.push_back(static_cast<int>(v.size())); },
                                         [](const std::vector<int>& v) {
                                             for (std::size_t i = 0; i < v.size(); ++i) REQUIRE(v[i] == static_cast<int>(i));
                                             return static_cast<std::uint64_t>(v.size());
                                         });
}

TEST_CASE("A record's combiner does not move while the table grows", "[combine]") {
    StringCombineMap<std::uint64_t> m;
    std::string first = "first";
    m.insert(first, shuffle::stable_hash(first), 41);
    std::uint64_t* c = m.find(first, shuffle::stable_hash(first));
    REQUIRE(c != nullptr);
    for (int i = 0; i < 100'000; ++i) {
        auto k = std::to_string(i);
        m.insert(k, shuffle::stable_hash(k), 1);
    }
    ++*c;
    REQUIRE(m.find(first, shuffle::stable_hash(first)) == c);
    REQUIRE(*c == 42);
}
