// SPDX-License-Identifier: Apache-2.0
#include "scheduler/util/huge_pages.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include <sys/mman.h>

namespace ember::scheduler {
namespace {

/// Mappings freed by unmap_huge_pages and kept for the next map_huge_pages of the same size (see
/// set_huge_page_cache_limit). Most recently freed last.
struct Cache {
    std::mutex mu;
    std::size_t limit = 0;
    std::size_t bytes = 0;
    std::vector<std::pair<void*, std::size_t>> kept;
};

Cache& cache() {
    static Cache* c = new Cache;  // never destroyed: tasks may free arrays during exit
    return *c;
}

/// Unmaps the oldest kept mappings until at most `keep` bytes are kept. The caller holds c.mu;
/// unmapping under it allocates nothing, and it is rare.
void evict_oldest(Cache& c, std::size_t keep) noexcept {
    std::size_t n = 0;
    while (c.bytes > keep) {
        ::munmap(c.kept[n].first, c.kept[n].second);
        c.bytes -= c.kept[n].second;
        ++n;
    }
    c.kept.erase(c.kept.begin(), c.kept.begin() + static_cast<std::ptrdiff_t>(n));
}

void* map_fresh(std::size_t size) {
    // One huge page more than needed, then the unaligned ends are unmapped (mmap aligns to 4 KiB).
    void* raw = ::mmap(nullptr, size + kHugePageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto base = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (base + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
    if (aligned > base) ::munmap(raw, aligned - base);
    if (const std::uintptr_t end = base + size + kHugePageBytes; end > aligned + size) {
        ::munmap(reinterpret_cast<void*>(aligned + size), end - (aligned + size));
    }
    void* p = reinterpret_cast<void*>(aligned);
    ::madvise(p, size, MADV_HUGEPAGE);  // advice only: without huge pages it is ordinary memory
    return p;
}

}  // namespace

void* map_huge_pages(std::size_t n, std::size_t& mapped, bool zeroed) {
    const std::size_t size = (std::max<std::size_t>(n, 1) + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
    mapped = size;
    void* hit = nullptr;
    {
        auto& c = cache();
        std::lock_guard lock(c.mu);
        for (auto it = c.kept.rbegin(); it != c.kept.rend(); ++it) {
            if (it->second == size) {
                hit = it->first;
                c.kept.erase(std::next(it).base());
                c.bytes -= size;
                break;
            }
        }
        // A miss: give back as much of the oldest kept memory as is mapped anew, so that what
        // the cache keeps never adds to the process's peak (kept + in use stays at most what it was).
        if (hit == nullptr) evict_oldest(c, c.bytes > size ? c.bytes - size : 0);
    }
    if (hit != nullptr) {
        if (zeroed) std::memset(hit, 0, size);  // outside the lock: tens of MiB for a big table
        return hit;
    }
    return map_fresh(size);
}

void unmap_huge_pages(void* p, std::size_t mapped) noexcept {
    {
        auto& c = cache();
        std::lock_guard lock(c.mu);
        if (c.bytes + mapped <= c.limit) {
            try {
                c.kept.emplace_back(p, mapped);
                c.bytes += mapped;
                return;
            } catch (const std::bad_alloc&) {
                // not kept: unmapped below
            }
        }
    }
    ::munmap(p, mapped);
}

void set_huge_page_cache_limit(std::size_t bytes) noexcept {
    auto& c = cache();
    std::lock_guard lock(c.mu);
    c.limit = bytes;
    evict_oldest(c, bytes);
}

void release_huge_page_cache() noexcept {
    auto& c = cache();
    std::lock_guard lock(c.mu);
    evict_oldest(c, 0);
}

std::size_t huge_page_cache_bytes() noexcept {
    auto& c = cache();
    std::lock_guard lock(c.mu);
    return c.bytes;
}

}  // namespace ember::scheduler
