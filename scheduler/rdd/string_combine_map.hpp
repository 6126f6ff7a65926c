// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// StringCombineMap: the map-side combine of a shuffle with string keys (Spark's
/// PartitionedAppendOnlyMap in SortShuffleWriter, specialised): an open-addressing table
/// (boost::unordered_flat_map) whose keys are views into an arena of large blocks, each with its
/// stable_hash, so a distinct key costs one copy of its bytes and no allocation of its own, and
/// the hash computed for the lookup also picks the reduce partition.

#include "shuffle/partitioner.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace ember::scheduler {

/// How far a table filled from map outputs (a reduce side's) rotates its keys' hashes, so that
/// it does not place them by the bits that ordered the map side's table (see KeyHash).
inline constexpr int kReduceSideHashRotation = 32;

/// Keys `std::string_view` -> combiners `C`, with memory_bytes() for spill decisions. `Rotate`:
/// how far the table rotates a key's hash before using it (see KeyHash): 0 for a map side,
/// kReduceSideHashRotation for a table filled from map outputs.
/// Views passed to find() and insert() need only live for the call (insert copies the bytes).
/// Threading: single-threaded (one map task).
template <class C, int Rotate = 0>
class StringCombineMap {
public:
    /// The entry of `key` (whose stable_hash is `hash`), or nullptr.
    C* find(std::string_view key, std::uint64_t hash) {
        auto it = map_.find(Key{hash, key.data(), key.size()});
        return it == map_.end() ? nullptr : &it->second;
    }
    /// Adds `key`, absent, with combiner `c`.
    void insert(std::string_view key, std::uint64_t hash, C&& c) {
        map_.emplace(Key{hash, copy(key), key.size()}, std::move(c));
    }
    std::size_t size() const noexcept { return map_.size(); }
    /// The table's slots and metadata, and the arena's blocks.
    std::size_t memory_bytes() const noexcept {
        return map_.bucket_count() * (sizeof(typename Map::value_type) + 1) + blocks_.size() * kBlock + big_bytes_;
    }
    /// Calls f(std::string_view key, std::uint64_t hash, C& combiner) for every entry, in no order.
    template <class F>
    void for_each(F&& f) {
        for (auto& [k, c] : map_) f(std::string_view(k.data, k.size), k.hash, c);
    }
    /// Empties the map and frees its memory (the arena keeps one block for what comes next).
    void clear() {
        map_ = Map();
        big_.clear();
        big_bytes_ = 0;
        if (blocks_.size() > 1) blocks_.resize(1);
        if (!blocks_.empty()) {
            cur_ = blocks_.front().get();
            left_ = kBlock;
        }
    }

private:
    struct Key {
        std::uint64_t hash;
        const char* data;
        std::size_t size;
        bool operator==(const Key& o) const noexcept {
            return hash == o.hash && size == o.size && (size == 0 || std::memcmp(data, o.data, size) == 0);
        }
    };
    // XXH3 is avalanching, so the table uses its bits as they are (positions from the high
    // bits, per-slot tags from the low byte), rotated by `Rotate`. A table filled from another
    // one's iteration (a reduce side reading map outputs that were dumped in table order) must
    // rotate differently, or its keys arrive in the order of its own positions and pile up in
    // long probe runs; and the keys of one reduce partition share their hash modulo the
    // partition count, which fixes the low bits the tags would come from.
    struct KeyHash {
        using is_avalanching = void;
        std::size_t operator()(const Key& k) const noexcept { return static_cast<std::size_t>(std::rotr(k.hash, Rotate)); }
    };
    using Map = boost::unordered_flat_map<Key, C, KeyHash>;
    static constexpr std::size_t kBlock = 1 << 20;

    const char* copy(std::string_view s) {
        if (s.empty()) return "";  // no block needed, and never a null pointer for memcpy/memcmp
        if (s.size() > left_) {
            if (s.size() > kBlock / 4) {
                // A large key gets a block of its own, before the current one, which stays current.
                auto own = std::make_unique<char[]>(s.size());
                std::memcpy(own.get(), s.data(), s.size());
                const char* p = own.get();
                big_.push_back(std::move(own));
                big_bytes_ += s.size();
                return p;
            }
            blocks_.push_back(std::make_unique<char[]>(kBlock));
            cur_ = blocks_.back().get();
            left_ = kBlock;
        }
        char* p = cur_;
        std::memcpy(p, s.data(), s.size());
        cur_ += s.size();
        left_ -= s.size();
        return p;
    }

    Map map_;
    std::vector<std::unique_ptr<char[]>> blocks_;
    std::vector<std::unique_ptr<char[]>> big_;
    std::size_t big_bytes_ = 0;
    char* cur_ = nullptr;
    std::size_t left_ = 0;
};

}  // namespace ember::scheduler
