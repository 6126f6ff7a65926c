// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// KeyIndex: where each key sits in a partition kept as objects, so that an inner join against a
/// few keys looks them up instead of streaming the whole partition past its hash table.

#include "scheduler/function_ref.hpp"
#include "shuffle/partitioner.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ember::scheduler {

/// Keys a KeyIndex is built for: integers, enums and strings (cheap to hash and compare). A
/// partition of other keys is kept without an index, and joins stream it as before.
template <class K>
concept IndexableKey = std::is_integral_v<K> || std::is_enum_v<K> || std::is_same_v<K, std::string>;

/// The positions of each key in an immutable std::vector<std::pair<K, V>> (a cached partition,
/// RddNode::iterator_where_key). A table maps each distinct key to its first position; a key
/// that occurs again is chained through `next_` in ascending position order (the chain array
/// exists only if some key repeats). String keys are views into the records, which must outlive
/// the index (both live in one storage::StoredValues).
///
/// Size: 8/7 to 16/7 slots per distinct key (a table at most 7/8 full, in power-of-two groups), a
/// slot being (key, position) and a byte of metadata: 9 bytes for int keys, 25 for strings (kept
/// as views); 4 bytes more per record if any key repeats. memory_bytes(), counted with the records
/// by the MemoryStore. Not built past 2^32 - 1 records (make() returns nullptr).
///
/// Threading: immutable after construction; any number of readers.
template <class K>
    requires IndexableKey<K>
class KeyIndex {
    using Key = std::conditional_t<std::is_same_v<K, std::string>, std::string_view, K>;

public:
    static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

    /// The index of `records`, or nullptr if they are too many to number in 32 bits.
    template <class V>
    static std::shared_ptr<const KeyIndex> make(const std::vector<std::pair<K, V>>& records) {
        if (records.size() >= kNone) return nullptr;
        return std::make_shared<const KeyIndex>(records);
    }

    template <class V>
    explicit KeyIndex(const std::vector<std::pair<K, V>>& records) {
        first_.reserve(records.size());
        // Backwards, so that each key's chain ends up in ascending order.
        for (auto i = static_cast<std::uint32_t>(records.size()); i-- > 0;) {
            auto [it, fresh] = first_.try_emplace(Key(records[i].first), i);
            if (fresh) continue;
            if (next_.empty()) next_.assign(records.size(), kNone);
            next_[i] = it->second;
            it->second = i;
        }
    }

    /// Calls `f(position)` for each record whose key is `k`, in ascending position order.
    template <class F>
    void for_each_position(const K& k, F&& f) const {
        auto it = first_.find(Key(k));
        if (it == first_.end()) return;
        for (std::uint32_t i = it->second; i != kNone; i = next_.empty() ? kNone : next_[i]) f(i);
    }

    std::size_t distinct_keys() const noexcept { return first_.size(); }

    /// Bytes the index holds: its table's slots and metadata, and the chain array.
    std::uint64_t memory_bytes() const noexcept {
        return sizeof(*this) + first_.bucket_count() * (sizeof(std::pair<const Key, std::uint32_t>) + 1) +
               next_.capacity() * sizeof(std::uint32_t);
    }

private:
    boost::unordered_flat_map<Key, std::uint32_t, shuffle::StableHash, std::equal_to<>> first_;
    std::vector<std::uint32_t> next_;  // empty, or the next position with the same key (kNone: the last)
};

/// The keys a hash join keeps (RddNode::iterator_where_key): how many, and a walk over them.
template <class K>
struct JoinKeys {
    std::size_t count;
    FunctionRef<void(FunctionRef<void(const K&)>)> for_each;
};

}  // namespace ember::scheduler
