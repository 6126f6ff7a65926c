// SPDX-License-Identifier: Apache-2.0
// StringCombineMap, both layouts, against std::unordered_map: every key once, with its hash and
// combiner, across arena blocks, keys of their own blocks, the empty key, clear() and reuse. And
// KeyIndex (a cached partition's key positions, for joins) against a linear scan.
#include "scheduler/rdd/external_spill.hpp"
#include "scheduler/rdd/key_index.hpp"
#include "scheduler/rdd/string_combine_map.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>
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

TEMPLATE_TEST_CASE("reserve(n) makes room for n keys: the table does not grow while they go in", "[combine]",
                   std::uint64_t, std::vector<int>) {
    StringCombineMap<TestType> m;
    m.reserve(10'000);
    // The slots for 10,000 keys at most half full: 32,768 of them, counted at once.
    const std::size_t reserved = m.memory_bytes();
    if constexpr (std::is_same_v<TestType, std::uint64_t>) CHECK(reserved >= 32'768 * 16);
    std::size_t keys_bytes = 0;
    for (int i = 0; i < 10'000; ++i) {
        auto k = "key" + std::to_string(i);
        keys_bytes += k.size();
        m.insert(k, shuffle::stable_hash(k), TestType{});
    }
    CHECK(m.size() == 10'000);
    // What grew is the arena (the keys), not the slots.
    CHECK(m.memory_bytes() - reserved < keys_bytes + 10'000 * 40 + (1u << 20));
    for (int i = 0; i < 10'000; i += 997) {
        auto k = "key" + std::to_string(i);
        CHECK(m.find(k, shuffle::stable_hash(k)) != nullptr);
    }
    m.reserve(5);  // never shrinks
    CHECK(m.find("key0", shuffle::stable_hash(std::string_view("key0"))) != nullptr);
}

TEST_CASE("combine_reserve_keys keeps the reserved slots within a quarter of the task's memory", "[combine]") {
    CHECK(combine_reserve_keys(1000, 434u << 20) == 1000);
    // 434 MiB: slots of 16 bytes in a quarter of it, a power of two, at most half full.
    const std::size_t most = combine_reserve_keys(std::size_t{1} << 40, 434u << 20);
    CHECK(most == (std::size_t{4} << 20) / 2 - 1);
    CHECK(std::bit_ceil((most + 1) * 2) * 16 <= (434u << 20) / 4);
    CHECK(combine_reserve_keys(100, 1) == 0);
}

TEST_CASE("reserve_keys keeps a flat map's reserved slots within a tenth of the task's memory", "[combine]") {
    using Entry = std::pair<const int, double>;  // 16 bytes
    CHECK(reserve_keys<Entry>(1000, 434u << 20) == 1000);
    const std::size_t most = reserve_keys<Entry>(std::size_t{1} << 40, 434u << 20);
    CHECK(most == (434u << 20) / 10 / (3 * 17));
    boost::unordered_flat_map<int, double> m;
    m.reserve(most);
    CHECK(m.bucket_count() * (sizeof(Entry) + 1) <= (434u << 20) / 10);
    CHECK(reserve_keys<Entry>(100, 1) == 0);
}

TEST_CASE("SizedFill reserves for the records it holds, then inserts every record in order", "[combine]") {
    using Fill = SizedFill<std::string, std::function<void(std::size_t)>, std::function<void(std::string&&)>>;
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{1000}, Fill::kMaxRecords - 1, Fill::kMaxRecords,
                          Fill::kMaxRecords + 1, 3 * Fill::kMaxRecords + 5}) {
        CAPTURE(n);
        std::vector<std::size_t> reserved;
        std::vector<std::string> inserted;
        Fill fill([&](std::size_t k) { reserved.push_back(k); },
                  [&](std::string&& s) {
                      CHECK(reserved.size() == 1);  // nothing goes in before the table is sized
                      inserted.push_back(std::move(s));
                  });
        for (std::size_t i = 0; i < n; ++i) fill.add(std::to_string(i));
        fill.finish();
        REQUIRE(reserved == std::vector<std::size_t>{std::min(n, Fill::kMaxRecords)});
        REQUIRE(inserted.size() == n);
        for (std::size_t i = 0; i < n; ++i) {
            if (inserted[i] != std::to_string(i)) FAIL("record " << i << " came out as " << inserted[i]);
        }
    }
    // Large records: the held bytes bound it first (64 KiB strings: 4 MiB after 64 of them).
    std::vector<std::size_t> reserved;
    std::size_t inserted = 0;
    Fill fill([&](std::size_t k) { reserved.push_back(k); }, [&](std::string&&) { ++inserted; });
    for (int i = 0; i < 100; ++i) fill.add(std::string(64 << 10, 'x'));
    fill.finish();
    CHECK(reserved == std::vector<std::size_t>{64});
    CHECK(inserted == 100);
}

namespace {

/// The "THPeligible:" flag of the mapping that holds `p` (/proc/self/smaps), or -1.
int thp_eligible(const void* p) {
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    std::ifstream in("/proc/self/smaps");
    std::string line;
    bool inside = false;
    while (std::getline(in, line)) {
        std::uintptr_t lo = 0, hi = 0;
        char dash = 0;
        std::istringstream range(line);
        if (range >> std::hex >> lo >> dash >> hi && dash == '-') {
            inside = lo <= addr && addr < hi;
        } else if (inside && line.rfind("THPeligible:", 0) == 0) {
            return std::stoi(line.substr(std::strlen("THPeligible:")));
        }
    }
    return -1;
}

}  // namespace

TEST_CASE("huge_page_array: zeroed memory, mapped on its own and advised huge from 2 MiB", "[combine]") {
    // Below 2 MiB: operator new[], value-initialised.
    auto small = huge_page_array<std::uint64_t>(1000);
    CHECK(small.get_deleter().mapped == 0);
    CHECK(std::all_of(small.get(), small.get() + 1000, [](std::uint64_t v) { return v == 0; }));
    // From 2 MiB: a mapping of whole huge pages, 2 MiB-aligned, zero, writable, and eligible for
    // transparent huge pages (the madvise) wherever the kernel's mode allows them at all.
    const std::size_t n = (3 * kHugePageBytes) / sizeof(std::uint64_t) + 1;
    auto big = huge_page_array<std::uint64_t>(n);
    CHECK(big.get_deleter().mapped == 4 * kHugePageBytes);
    CHECK(reinterpret_cast<std::uintptr_t>(big.get()) % kHugePageBytes == 0);
    CHECK(std::all_of(big.get(), big.get() + n, [](std::uint64_t v) { return v == 0; }));
    big[n - 1] = 7;
    CHECK(big[n - 1] == 7);
    std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string modes;
    std::getline(mode, modes);
    if (modes.find("[never]") == std::string::npos) CHECK(thp_eligible(big.get()) == 1);
    // Freed by unmapping: the range is no longer mapped.
    const void* where = big.get();
    big.reset();
    CHECK(thp_eligible(where) == -1);
}

TEST_CASE("Freed huge-page mappings are kept within the cache limit and handed back zeroed when asked", "[combine]") {
    REQUIRE(huge_page_cache_bytes() == 0);  // the default: nothing kept
    {
        auto a = huge_page_array<char>(kHugePageBytes, false);
        const void* where = a.get();
        a.reset();
        CHECK(thp_eligible(where) == -1);  // no limit: unmapped
    }
    set_huge_page_cache_limit(3 * kHugePageBytes);  // 6 MiB
    auto a = huge_page_array<std::uint64_t>(2 * kHugePageBytes / sizeof(std::uint64_t));  // 4 MiB
    std::fill(a.get(), a.get() + 2 * kHugePageBytes / sizeof(std::uint64_t), 0x5a5a5a5a5a5a5a5aull);
    std::uint64_t* where = a.get();
    a.reset();
    CHECK(huge_page_cache_bytes() == 2 * kHugePageBytes);
    CHECK(thp_eligible(where) != -1);  // kept, still mapped
    // The same size again: the same mapping, zeroed (the table's slots rely on it).
    auto b = huge_page_array<std::uint64_t>(2 * kHugePageBytes / sizeof(std::uint64_t));
    CHECK(b.get() == where);
    CHECK(huge_page_cache_bytes() == 0);
    CHECK(std::all_of(b.get(), b.get() + 2 * kHugePageBytes / sizeof(std::uint64_t), [](std::uint64_t v) { return v == 0; }));
    // Past the limit a freed mapping is unmapped: 4 MiB kept, then 4 + 4 > 6.
    auto c = huge_page_array<char>(2 * kHugePageBytes, false);
    const void* c_where = c.get();
    b.reset();
    c.reset();
    CHECK(huge_page_cache_bytes() == 2 * kHugePageBytes);
    CHECK(thp_eligible(c_where) == -1);
    // A size nobody kept: the oldest kept mappings are unmapped first, at least as many bytes as
    // are mapped anew, so keeping never adds to the process's peak.
    // (Not checked by address: the new mapping may take the range just unmapped.)
    auto d = huge_page_array<char>(kHugePageBytes, false);
    CHECK(huge_page_cache_bytes() == 0);
    const void* d_where = d.get();
    d.reset();
    CHECK(huge_page_cache_bytes() == kHugePageBytes);
    // A new stage's first task: everything kept is unmapped, and the limit stays.
    release_huge_page_cache();
    CHECK(huge_page_cache_bytes() == 0);
    CHECK(thp_eligible(d_where) == -1);
    huge_page_array<char>(kHugePageBytes, false).reset();
    CHECK(huge_page_cache_bytes() == kHugePageBytes);
    // Lowering the limit unmaps what no longer fits.
    set_huge_page_cache_limit(0);
    CHECK(huge_page_cache_bytes() == 0);
}

TEST_CASE("The arena's blocks past the first are huge-page mappings and its byte count holds", "[combine]") {
    detail::CombineArena arena;
    std::vector<char*> got;
    // 4 MB: the first block (1 MiB), a mapped one (2 MiB) and part of another.
    for (int i = 0; i < 4000; ++i) got.push_back(arena.allocate(1000, 8));
    CHECK(arena.bytes() >= 4000 * 1000);
    CHECK(arena.bytes() < 4000 * 1000 + 2 * 1000);  // the two full blocks' unused tails
    // Every allocation is distinct, 8-aligned and writable.
    std::sort(got.begin(), got.end());
    CHECK(std::adjacent_find(got.begin(), got.end(), [](char* a, char* b) { return b - a < 1000; }) == got.end());
    for (char* p : got) {
        CHECK(reinterpret_cast<std::uintptr_t>(p) % 8 == 0);
        p[999] = 'x';
    }
    std::size_t blocks = 0, mapped = 0;
    arena.for_each_block([&](const char* begin, std::size_t used) {
        ++blocks;
        CHECK(used > 0);
        if (blocks > 1 && reinterpret_cast<std::uintptr_t>(begin) % kHugePageBytes == 0 && thp_eligible(begin) != -1) ++mapped;
    });
    CHECK(blocks == 3);
    CHECK(mapped == 2);
}

TEST_CASE("KeyIndex finds every position of a key, in order, against a linear scan", "[scheduler][rdd][key_index]") {
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<int> key(-50, 400);
    std::vector<std::pair<int, int>> records;
    for (int i = 0; i < 5000; ++i) records.emplace_back(key(rng), i);
    auto index = KeyIndex<int>::make(records);
    REQUIRE(index);
    std::set<int> distinct;
    for (auto& r : records) distinct.insert(r.first);
    CHECK(index->distinct_keys() == distinct.size());
    CHECK(index->memory_bytes() >= distinct.size() * (sizeof(int) + sizeof(std::uint32_t)) + 5000 * 4);
    for (int k = -60; k <= 410; ++k) {
        std::vector<std::uint32_t> want, got;
        for (std::uint32_t i = 0; i < records.size(); ++i) {
            if (records[i].first == k) want.push_back(i);
        }
        index->for_each_position(k, [&](std::uint32_t i) { got.push_back(i); });
        INFO("key " << k);
        CHECK(got == want);
    }
}

TEST_CASE("KeyIndex over string keys views the records; unique keys need no chain", "[scheduler][rdd][key_index]") {
    std::vector<std::pair<std::string, double>> records;
    for (int i = 0; i < 300; ++i) {
        records.emplace_back("key-" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 40), 'x'), i);
    }
    records.emplace_back("", -1.0);  // the empty key
    auto index = KeyIndex<std::string>::make(records);
    REQUIRE(index);
    CHECK(index->distinct_keys() == records.size());
    // No key repeats: the index is its table alone (no 4 bytes per record for chains).
    auto unique_bytes = index->memory_bytes();
    for (std::uint32_t i = 0; i < records.size(); ++i) {
        std::vector<std::uint32_t> got;
        index->for_each_position(records[i].first, [&](std::uint32_t p) { got.push_back(p); });
        CHECK(got == std::vector<std::uint32_t>{i});
    }
    int misses = 0;
    index->for_each_position("key-300", [&](std::uint32_t) { ++misses; });
    CHECK(misses == 0);
    records.push_back(records[5]);
    auto repeated = KeyIndex<std::string>::make(records);
    std::vector<std::uint32_t> got;
    repeated->for_each_position(records[5].first, [&](std::uint32_t p) { got.push_back(p); });
    CHECK(got == std::vector<std::uint32_t>{5, static_cast<std::uint32_t>(records.size() - 1)});
    CHECK(repeated->memory_bytes() >= unique_bytes + records.size() * 4);
}
