// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// StringCombineMap: the hash aggregation of a shuffle with string keys (Spark's
/// PartitionedAppendOnlyMap in SortShuffleWriter, and ExternalAppendOnlyMap on the reduce side,
/// specialised): an open-addressing table (boost::unordered_flat_map/set) whose keys live in an
/// arena of large blocks, each with its stable_hash, so a distinct key costs one copy of its bytes
/// and no allocation of its own, and the hash computed for the lookup also picks the reduce
/// partition.
///
/// Two layouts, chosen by the combiner type:
/// - trivially copyable combiners (counts, sums): Spark's BytesToBytesMap layout. Each entry is
///   one record in the arena (hash, key length, combiner, key bytes) and the table holds only
///   (hash, record address), 16 bytes a slot. for_each() walks the arena in the order the
///   records were written, so dumping a table of millions of keys reads memory sequentially
///   instead of jumping to each key from its slot (a cache miss per key);
/// - other combiners (group_by_key's vectors): the table's slots hold (hash, key address, key
///   length) and the combiner, and only the key bytes are in the arena.

#include "shuffle/partitioner.hpp"

#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace ember::scheduler {

/// How far a table filled from map outputs (a reduce side's) rotates its keys' hashes, so that
/// it does not place them by the bits that ordered the map side's table (see detail::RotatedHash).
inline constexpr int kReduceSideHashRotation = 32;

namespace detail {

/// Bytes in blocks of 1 MiB, handed out in order; a request over a quarter of a block gets a
/// block of its own. Knows how much of each block is used, for a walk in allocation order.
/// Threading: single-threaded.
class CombineArena {
public:
    /// `n` bytes at an address aligned to `align` (a power of two, at most 16); never null.
    char* allocate(std::size_t n, std::size_t align) {
        std::size_t pad = (align - reinterpret_cast<std::uintptr_t>(cur_) % align) % align;
        if (cur_ == nullptr || n + pad > left_) {
            if (n > kBlock / 4) {
                // A large request gets a block of its own; the current block stays current.
                big_.push_back(Block{std::make_unique<char[]>(n), n});
                big_bytes_ += n;
                return big_.back().bytes.get();
            }
            blocks_.push_back(Block{std::make_unique<char[]>(kBlock), 0});
            current_ = blocks_.size() - 1;
            cur_ = blocks_[current_].bytes.get();
            left_ = kBlock;
            pad = 0;  // operator new[] aligns to __STDCPP_DEFAULT_NEW_ALIGNMENT__ (16)
        }
        char* p = cur_ + pad;
        cur_ += pad + n;
        left_ -= pad + n;
        blocks_[current_].used = static_cast<std::size_t>(cur_ - blocks_[current_].bytes.get());
        return p;
    }
    /// Bytes handed out, with the padding and the unused tails of the blocks left behind; not
    /// the free rest of the current block (so a small map counts its entries, not a whole block).
    std::size_t bytes() const noexcept {
        return blocks_.empty() ? big_bytes_ : (blocks_.size() - 1) * kBlock + blocks_.back().used + big_bytes_;
    }
    /// Calls f(const char* begin, std::size_t used) for every block that holds something: the
    /// shared blocks in allocation order, then the large ones.
    template <class F>
    void for_each_block(F&& f) const {
        for (const auto& b : blocks_) {
            if (b.used > 0) f(static_cast<const char*>(b.bytes.get()), b.used);
        }
        for (const auto& b : big_) f(static_cast<const char*>(b.bytes.get()), b.used);
    }
    /// Forgets every allocation and frees all blocks but the first.
    void clear() {
        big_.clear();
        big_bytes_ = 0;
        if (blocks_.size() > 1) blocks_.resize(1);
        current_ = 0;
        cur_ = nullptr;
        left_ = 0;
        if (!blocks_.empty()) {
            blocks_[0].used = 0;
            cur_ = blocks_[0].bytes.get();
            left_ = kBlock;
        }
    }

private:
    struct Block {
        std::unique_ptr<char[]> bytes;
        std::size_t used;
    };
    static constexpr std::size_t kBlock = 1 << 20;
    std::vector<Block> blocks_;
    std::vector<Block> big_;
    std::size_t big_bytes_ = 0;
    std::size_t current_ = 0;
    char* cur_ = nullptr;
    std::size_t left_ = 0;
};

/// The table's hash of a stored stable_hash. XXH3 is avalanching, so the table uses its bits as
/// they are (positions from the high bits, per-slot tags from the low byte), rotated by
/// `Rotate`. A table filled from another one's iteration (a reduce side reading map outputs that
/// were dumped in table order) must rotate differently, or its keys arrive in the order of its
/// own positions and pile up in long probe runs; and the keys of one reduce partition share
/// their hash modulo the partition count, which fixes the low bits the tags would come from.
template <int Rotate>
constexpr std::size_t rotated_hash(std::uint64_t h) noexcept {
    return static_cast<std::size_t>(std::rotr(h, Rotate));
}

/// The record layout (see the file comment). Combiners are constructed in the arena and never
/// destroyed (they are trivially copyable, hence trivially destructible).
template <class C, int Rotate>
class RecordStringCombineMap {
public:
    C* find(std::string_view key, std::uint64_t hash) {
        auto it = set_.find(Probe{hash, key});
        return it == set_.end() ? nullptr : &it->record->combiner;
    }
    void insert(std::string_view key, std::uint64_t hash, C&& c) {
        char* p = arena_.allocate(record_bytes(key.size()), alignof(Record));
        auto* r = ::new (p) Record{hash, static_cast<std::uint64_t>(key.size()), std::move(c)};
        if (!key.empty()) std::memcpy(p + sizeof(Record), key.data(), key.size());
        set_.insert(Slot{hash, r});
    }
    std::size_t size() const noexcept { return set_.size(); }
    std::size_t memory_bytes() const noexcept {
        return set_.bucket_count() * (sizeof(Slot) + 1) + arena_.bytes();
    }
    template <class F>
    void for_each(F&& f) {
        arena_.for_each_block([&](const char* begin, std::size_t used) {
            for (const char* p = begin; p < begin + used;) {
                auto* r = std::launder(reinterpret_cast<Record*>(const_cast<char*>(p)));
                f(std::string_view(p + sizeof(Record), r->size), r->hash, r->combiner);
                p += record_bytes(r->size);
            }
        });
    }
    void clear() {
        set_ = Set();
        arena_.clear();
    }

private:
    struct Record {
        std::uint64_t hash;
        std::uint64_t size;  // the key's bytes, which follow the record
        C combiner;
    };
    static std::size_t record_bytes(std::size_t key_size) noexcept {
        constexpr std::size_t a = alignof(Record);
        return (sizeof(Record) + key_size + a - 1) / a * a;
    }
    struct Slot {
        std::uint64_t hash;
        Record* record;
    };
    struct Probe {
        std::uint64_t hash;
        std::string_view key;
    };
    struct Hash {
        using is_transparent = void;
        using is_avalanching = void;
        std::size_t operator()(const Slot& s) const noexcept { return rotated_hash<Rotate>(s.hash); }
        std::size_t operator()(const Probe& p) const noexcept { return rotated_hash<Rotate>(p.hash); }
    };
    struct Eq {
        using is_transparent = void;
        static std::string_view key(const Slot& s) noexcept {
            return std::string_view(reinterpret_cast<const char*>(s.record) + sizeof(Record), s.record->size);
        }
        static bool same(std::uint64_t h, std::string_view a, std::uint64_t g, std::string_view b) noexcept {
            return h == g && a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
        }
        bool operator()(const Slot& a, const Slot& b) const noexcept { return same(a.hash, key(a), b.hash, key(b)); }
        bool operator()(const Probe& p, const Slot& s) const noexcept { return same(p.hash, p.key, s.hash, key(s)); }
        bool operator()(const Slot& s, const Probe& p) const noexcept { return same(p.hash, p.key, s.hash, key(s)); }
    };
    using Set = boost::unordered_flat_set<Slot, Hash, Eq>;

    Set set_;
    CombineArena arena_;
};

/// The slot layout (see the file comment).
template <class C, int Rotate>
class SlotStringCombineMap {
public:
    C* find(std::string_view key, std::uint64_t hash) {
        auto it = map_.find(Key{hash, key.data(), key.size()});
        return it == map_.end() ? nullptr : &it->second;
    }
    void insert(std::string_view key, std::uint64_t hash, C&& c) {
        map_.emplace(Key{hash, copy(key), key.size()}, std::move(c));
    }
    std::size_t size() const noexcept { return map_.size(); }
    std::size_t memory_bytes() const noexcept {
        return map_.bucket_count() * (sizeof(typename Map::value_type) + 1) + arena_.bytes();
    }
    template <class F>
    void for_each(F&& f) {
        for (auto& [k, c] : map_) f(std::string_view(k.data, k.size), k.hash, c);
    }
    void clear() {
        map_ = Map();
        arena_.clear();
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
    struct KeyHash {
        using is_avalanching = void;
        std::size_t operator()(const Key& k) const noexcept { return rotated_hash<Rotate>(k.hash); }
    };
    using Map = boost::unordered_flat_map<Key, C, KeyHash>;

    const char* copy(std::string_view s) {
        if (s.empty()) return "";  // no arena bytes, and never a null pointer for memcpy/memcmp
        char* p = arena_.allocate(s.size(), 1);
        std::memcpy(p, s.data(), s.size());
        return p;
    }

    Map map_;
    CombineArena arena_;
};

}  // namespace detail

/// Whether StringCombineMap<C> keeps combiners in the arena's records (see the file comment).
template <class C>
inline constexpr bool kStringCombineRecordLayout = std::is_trivially_copyable_v<C> && alignof(C) <= 16;

/// Keys `std::string_view` -> combiners `C`, with memory_bytes() for spill decisions. `Rotate`:
/// how far the table rotates a key's hash before using it (see detail::rotated_hash): 0 for a
/// map side, kReduceSideHashRotation for a table filled from map outputs.
///
/// - `C* find(std::string_view key, std::uint64_t hash)`: the combiner of `key` (whose
///   stable_hash is `hash`), or nullptr. With a trivially copyable C the pointer stays valid
///   until clear(); otherwise until the next insert().
/// - `void insert(std::string_view key, std::uint64_t hash, C&& c)`: adds `key`, absent.
/// - `size()`; `memory_bytes()`: the table's slots and metadata, and the arena's bytes in use
///   (with the unused tails of its full blocks); `for_each(f)`: calls f(std::string_view key, std::uint64_t hash, C& combiner)
///   once per entry, in no particular order; `clear()`: empties the map and frees its memory
///   (the arena keeps one block for what comes next).
/// Views passed to find() and insert() need only live for the call (insert copies the bytes).
/// Threading: single-threaded (one task).
template <class C, int Rotate = 0>
using StringCombineMap = std::conditional_t<kStringCombineRecordLayout<C>, detail::RecordStringCombineMap<C, Rotate>,
                                            detail::SlotStringCombineMap<C, Rotate>>;

}  // namespace ember::scheduler
