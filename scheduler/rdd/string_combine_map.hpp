// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// StringCombineMap: the hash aggregation of a shuffle with string keys (Spark's
/// PartitionedAppendOnlyMap in SortShuffleWriter, and ExternalAppendOnlyMap on the reduce side,
/// specialised): an open-addressing table whose keys live in an arena of large blocks, each with
/// its stable_hash, so a distinct key costs one copy of its bytes and no allocation of its own,
/// and the hash computed for the lookup also picks the reduce partition.
///
/// Two layouts, chosen by the combiner type:
/// - trivially copyable combiners (counts, sums): Spark's BytesToBytesMap layout. Each entry is
///   one record in the arena (hash, key length, combiner, key bytes) and the table, ember's own
///   linear probing, holds only (hash, record address), 16 bytes a slot. for_each() walks the
///   arena in the order the records were written, so dumping a table of millions of keys reads
///   memory sequentially instead of jumping to each key from its slot (a cache miss per key);
///   prefetch(hash) lets a caller overlap the cache misses of several lookups;
/// - other combiners (group_by_key's vectors): boost::unordered_flat_map, whose slots hold
///   (hash, key address, key length) and the combiner; only the key bytes are in the arena.

#include "scheduler/util/huge_pages.hpp"
#include "shuffle/partitioner.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

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
/// it does not place them by the bits that ordered the map side's table (see detail::rotated_hash).
inline constexpr int kReduceSideHashRotation = 32;

/// How many lookups a caller of StringCombineMap::prefetch hashes and prefetches before it looks
/// them up (both sides of a string-keyed shuffle, and the word-count baselines that get the same
/// trick). 16 keeps a core's cache misses in flight; 32 measured no faster.
inline constexpr std::size_t kPrefetchBatch = 16;

namespace detail {

/// Bytes in blocks, handed out in order: the first block 1 MiB from the allocator, the others
/// 2 MiB mapped on their own (huge_page_array: huge pages whatever the process allocated before);
/// a request over a quarter of a block gets a block of its own. Knows how much of each block is
/// used, for a walk in allocation order.
/// Threading: single-threaded.
class CombineArena {
public:
    /// `n` bytes at an address aligned to `align` (a power of two, at most 16); never null.
    char* allocate(std::size_t n, std::size_t align) {
        std::size_t pad = (align - reinterpret_cast<std::uintptr_t>(cur_) % align) % align;
        if (cur_ == nullptr || n + pad > left_) {
            if (n > kFirstBlock / 4) {
                // A large request gets a block of its own; the current block stays current.
                big_.push_back(Block{huge_page_array<char>(n, false), n, n});
                big_bytes_ += n;
                return big_.back().bytes.get();
            }
            const std::size_t size = blocks_.empty() ? kFirstBlock : kBlock;
            if (!blocks_.empty()) full_bytes_ += blocks_.back().size;
            blocks_.push_back(Block{huge_page_array<char>(size, false), 0, size});
            cur_ = blocks_.back().bytes.get();
            left_ = size;
            pad = 0;  // operator new[] aligns to __STDCPP_DEFAULT_NEW_ALIGNMENT__ (16)
        }
        char* p = cur_ + pad;
        cur_ += pad + n;
        left_ -= pad + n;
        blocks_.back().used = static_cast<std::size_t>(cur_ - blocks_.back().bytes.get());
        return p;
    }
    /// Bytes handed out, with the padding and the unused tails of the blocks left behind; not
    /// the free rest of the current block (so a small map counts its entries, not a whole block).
    std::size_t bytes() const noexcept {
        return blocks_.empty() ? big_bytes_ : full_bytes_ + blocks_.back().used + big_bytes_;
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
        full_bytes_ = 0;
        if (blocks_.size() > 1) blocks_.resize(1);
        cur_ = nullptr;
        left_ = 0;
        if (!blocks_.empty()) {
            blocks_[0].used = 0;
            cur_ = blocks_[0].bytes.get();
            left_ = blocks_[0].size;
        }
    }

private:
    struct Block {
        HugePageArray<char> bytes;
        std::size_t used;
        std::size_t size;
    };
    static constexpr std::size_t kFirstBlock = 1 << 20;
    static constexpr std::size_t kBlock = kHugePageBytes;
    std::vector<Block> blocks_;
    std::size_t full_bytes_ = 0;  // the sizes of blocks_ but the last
    std::vector<Block> big_;
    std::size_t big_bytes_ = 0;
    char* cur_ = nullptr;  // in blocks_.back(), the current block
    std::size_t left_ = 0;
};

/// The table's hash of a stored stable_hash. XXH3 is avalanching, so the tables use its bits as
/// they are (positions from the high bits; boost's per-slot tags from the low byte), rotated by
/// `Rotate`. A table filled from another one's iteration (a reduce side reading map outputs that
/// were dumped in table order, as the slot layout dumps them) must rotate differently, or its
/// keys arrive in the order of its own positions and pile up in long probe runs; and the keys of
/// one reduce partition share their hash modulo the partition count, which fixes the low bits.
template <int Rotate>
constexpr std::size_t rotated_hash(std::uint64_t h) noexcept {
    return static_cast<std::size_t>(std::rotr(h, Rotate));
}

/// The record layout (see the file comment). The table is its own: linear probing over
/// 16-byte slots (hash, record address; a null address is an empty slot), at most half full,
/// positions from the rotated hash's high bits. Like Spark's BytesToBytesMap it keeps the full
/// hash in the slot, so a probe touches a record only when the hashes are equal, and growing
/// never reads a record; unlike boost's tables it can say where a key's probe will start, for
/// prefetch(). Combiners are constructed in the arena and never destroyed (they are trivially
/// copyable, hence trivially destructible).
template <class C, int Rotate>
class RecordStringCombineMap {
public:
    C* find(std::string_view key, std::uint64_t hash) {
        if (slots_ == nullptr) return nullptr;
        for (std::size_t i = position(hash);; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (s.record == nullptr) return nullptr;
            if (s.hash == hash && same_key(*s.record, key)) return &s.record->combiner;
        }
    }
    void insert(std::string_view key, std::uint64_t hash, C&& c) {
        if ((size_ + 1) * 2 > capacity()) grow();
        char* p = arena_.allocate(record_bytes(key.size()), alignof(Record));
        auto* r = ::new (p) Record{hash, static_cast<std::uint64_t>(key.size()), std::move(c)};
        if (!key.empty()) std::memcpy(p + sizeof(Record), key.data(), key.size());
        place(slots_.get(), mask_, Slot{hash, r});
        ++size_;
    }
    /// Asks the CPU to fetch the slot where a lookup of `hash` starts (a hint; no effect on the
    /// map's contents).
    void prefetch(std::uint64_t hash) const noexcept {
        if (slots_ != nullptr) __builtin_prefetch(&slots_[position(hash)]);
    }
    void reserve(std::size_t n) {
        const std::size_t cap = std::max(kFirstCapacity, std::bit_ceil((n + 1) * 2));
        if (cap > capacity()) rehash(cap);
    }
    std::size_t size() const noexcept { return size_; }
    std::size_t memory_bytes() const noexcept { return capacity() * sizeof(Slot) + arena_.bytes(); }
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
        slots_.reset();
        mask_ = 0;
        shift_ = 64;
        size_ = 0;
        arena_.clear();
    }

private:
    struct Record {
        std::uint64_t hash;
        std::uint64_t size;  // the key's bytes, which follow the record
        C combiner;
    };
    struct Slot {
        std::uint64_t hash;
        Record* record;
    };
    static constexpr std::size_t kFirstCapacity = 1024;

    static std::size_t record_bytes(std::size_t key_size) noexcept {
        constexpr std::size_t a = alignof(Record);
        return (sizeof(Record) + key_size + a - 1) / a * a;
    }
    static bool same_key(const Record& r, std::string_view key) noexcept {
        return r.size == key.size() &&
               (key.empty() || std::memcmp(reinterpret_cast<const char*>(&r) + sizeof(Record), key.data(), key.size()) == 0);
    }
    std::size_t capacity() const noexcept { return slots_ == nullptr ? 0 : mask_ + 1; }
    std::size_t position(std::uint64_t hash) const noexcept {
        return static_cast<std::size_t>(std::rotr(hash, Rotate) >> shift_);
    }
    void place(Slot* slots, std::size_t mask, Slot s) const noexcept {
        std::size_t i = position(s.hash);
        while (slots[i].record != nullptr) i = (i + 1) & mask;
        slots[i] = s;
    }
    void grow() { rehash(slots_ == nullptr ? kFirstCapacity : capacity() * 2); }
    void rehash(std::size_t cap) {
        auto bigger = huge_page_array<Slot>(cap);  // zero-filled: every record null
        SlotArray old = std::move(slots_);
        std::size_t old_cap = old == nullptr ? 0 : mask_ + 1;
        mask_ = cap - 1;
        shift_ = 64 - std::countr_zero(cap);
        for (std::size_t i = 0; i < old_cap; ++i) {
            if (old[i].record != nullptr) place(bigger.get(), mask_, old[i]);
        }
        slots_ = std::move(bigger);
    }

    using SlotArray = HugePageArray<Slot>;
    SlotArray slots_;
    std::size_t mask_ = 0;
    int shift_ = 64;  // position = rotated hash >> shift_ (64 - log2(capacity))
    std::size_t size_ = 0;
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
    void reserve(std::size_t n) { map_.reserve(n); }
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

/// How many keys a task's string-keyed table reserves before its first insert: `hint`, the
/// distinct keys of this process's previous task of the same stage (a shuffle's map or reduce
/// side; tasks of one stage hold alike many), at most what keeps the record layout's slots
/// (16 bytes, at most half full) within a quarter of the task's execution memory `budget` bytes.
/// Reserving skips the table's doublings: each rehashes every key and zeroes a new table (in a
/// word count of the Linux tree, about 3% of the tasks' CPU).
inline std::size_t combine_reserve_keys(std::size_t hint, std::uint64_t budget) noexcept {
    const std::size_t max_slots = std::bit_floor(static_cast<std::size_t>(std::max<std::uint64_t>(budget / 64, 2)));
    return std::min(hint, max_slots / 2 - 1);
}

/// The same for a boost::unordered_flat_map of `Entry`s (other keys than strings): `hint`, at most
/// what keeps its slots (up to 2.3 per key, one control byte each) within a tenth of `budget`.
template <class Entry>
std::size_t reserve_keys(std::size_t hint, std::uint64_t budget) noexcept {
    return std::min<std::uint64_t>(hint, budget / 10 / (3 * (sizeof(Entry) + 1)));
}

/// Keys `std::string_view` -> combiners `C`, with memory_bytes() for spill decisions. `Rotate`:
/// how far the table rotates a key's hash before using it (see detail::rotated_hash): 0 for a
/// map side, kReduceSideHashRotation for a table filled from map outputs.
///
/// - `C* find(std::string_view key, std::uint64_t hash)`: the combiner of `key` (whose
///   stable_hash is `hash`), or nullptr. With a trivially copyable C the pointer stays valid
///   until clear(); otherwise until the next insert().
/// - `void insert(std::string_view key, std::uint64_t hash, C&& c)`: adds `key`, absent.
/// - record layout only (kStringCombineRecordLayout<C>): `void prefetch(std::uint64_t hash)`, a
///   hint that a lookup of `hash` follows.
/// - `void reserve(std::size_t n)`: room for `n` keys without growing (the slots counted in
///   memory_bytes() at once).
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
