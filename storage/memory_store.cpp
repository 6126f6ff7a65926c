// SPDX-License-Identifier: Apache-2.0
#include "storage/memory_store.hpp"

namespace ember::storage {
namespace {

std::optional<int> rdd_of(const BlockId& id) {
    if (auto* r = std::get_if<RddBlockId>(&id)) return r->rdd_id;
    return std::nullopt;
}

}  // namespace

std::optional<std::vector<MemoryStore::Evicted>> MemoryStore::put_bytes(const BlockId& id, ManagedBuffer bytes) {
    const std::uint64_t size = bytes.size();
    return put_entry(id, Entry{std::move(bytes), nullptr, size, {}});
}

std::optional<std::vector<MemoryStore::Evicted>> MemoryStore::put_values(const BlockId& id, StoredValues values) {
    const std::uint64_t size = values.size;
    return put_entry(id, Entry{{}, std::make_shared<const StoredValues>(std::move(values)), size, {}});
}

std::optional<std::vector<MemoryStore::Evicted>> MemoryStore::put_entry(const BlockId& id, Entry entry) {
    std::lock_guard lk(mu_);
    if (entries_.count(id)) return std::vector<Evicted>{};
    const std::uint64_t size = entry.size;
    if (size > max_memory_) return std::nullopt;
    std::vector<Evicted> evicted;
    if (used_ + size > max_memory_) {
        // Pick victims oldest first, skipping blocks of the same RDD (Spark: replacing one
        // partition of an RDD by another only thrashes); evict only if that frees enough.
        const auto rdd = rdd_of(id);
        std::vector<std::list<BlockId>::iterator> victims;
        std::uint64_t freed = 0;
        for (auto it = lru_.begin(); it != lru_.end() && used_ - freed + size > max_memory_; ++it) {
            if (rdd && rdd_of(*it) == rdd) continue;
            victims.push_back(it);
            freed += entries_.at(*it).size;
        }
        if (used_ - freed + size > max_memory_) return std::nullopt;
        for (auto it : victims) {
            auto e = entries_.find(*it);
            evicted.push_back(Evicted{*it, std::move(e->second.bytes), std::move(e->second.values), e->second.size});
            used_ -= e->second.size;
            entries_.erase(e);
            lru_.erase(it);
        }
    }
    lru_.push_back(id);
    entry.lru = std::prev(lru_.end());
    entries_.emplace(id, std::move(entry));
    used_ += size;
    return evicted;
}

std::optional<ManagedBuffer> MemoryStore::get_bytes(const BlockId& id) {
    std::shared_ptr<const StoredValues> values;
    {
        std::lock_guard lk(mu_);
        auto it = entries_.find(id);
        if (it == entries_.end()) return std::nullopt;
        lru_.splice(lru_.end(), lru_, it->second.lru);
        if (!it->second.values) return it->second.bytes;
        values = it->second.values;
    }
    return values->serialize();  // outside the lock: encoding a large block takes a while
}

std::shared_ptr<const StoredValues> MemoryStore::get_values(const BlockId& id) {
    std::lock_guard lk(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || !it->second.values) return nullptr;
    lru_.splice(lru_.end(), lru_, it->second.lru);
    return it->second.values;
}

bool MemoryStore::contains(const BlockId& id) const {
    std::lock_guard lk(mu_);
    return entries_.count(id) > 0;
}

std::uint64_t MemoryStore::size(const BlockId& id) const {
    std::lock_guard lk(mu_);
    auto it = entries_.find(id);
    return it == entries_.end() ? 0 : it->second.size;
}

bool MemoryStore::remove(const BlockId& id) {
    std::lock_guard lk(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return false;
    used_ -= it->second.size;
    lru_.erase(it->second.lru);
    entries_.erase(it);
    return true;
}

std::vector<BlockId> MemoryStore::block_ids() const {
    std::lock_guard lk(mu_);
    std::vector<BlockId> out;
    out.reserve(entries_.size());
    for (auto& [id, _] : entries_) out.push_back(id);
    return out;
}

std::uint64_t MemoryStore::memory_used() const {
    std::lock_guard lk(mu_);
    return used_;
}

}  // namespace ember::storage
