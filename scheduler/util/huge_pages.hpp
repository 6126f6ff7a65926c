// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Huge-page arrays: large zero-filled buffers straight from the kernel, advised to use
/// transparent huge pages, for the tables and arenas of a task's hash aggregation.

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>

namespace ember::scheduler {

/// Sizes from which huge_page_array maps memory of its own: one transparent huge page.
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

/// Maps anonymous memory for one buffer: `n` bytes rounded up to 2 MiB (`mapped` receives the
/// size), 2 MiB-aligned, advised MADV_HUGEPAGE. A fresh mapping is zero-filled by the kernel as
/// each page is first touched; a kept one (set_huge_page_cache_limit) of the same size is handed
/// back instead, zero-filled here if `zeroed`, its bytes otherwise unspecified. Throws
/// std::bad_alloc if the kernel refuses. Thread-safe.
void* map_huge_pages(std::size_t n, std::size_t& mapped, bool zeroed = true);
/// Unmaps what map_huge_pages returned, or keeps it for the next map_huge_pages of its size while
/// the kept mappings stay within the cache limit. Thread-safe.
void unmap_huge_pages(void* p, std::size_t mapped) noexcept;

/// How many bytes of freed mappings the process keeps for reuse (0, the default: none; lowering
/// it unmaps the oldest kept ones at once). An executor keeps up to half of its unified memory:
/// each word count or reduce_by_key task of strings maps tables and arena blocks of 100-200 MiB
/// and frees them when it ends, and a fresh mapping costs a page fault and the kernel's zeroing
/// of every 2 MiB page on first touch (on this VM a trap to the hypervisor: 8% of a word count's
/// CPU, mostly the next task mapping the same sizes again). A kept mapping is already backed:
/// arena blocks are reused as they are, tables are zeroed with memset. A map_huge_pages that
/// finds no kept mapping of its size first unmaps at least as many bytes of the oldest kept ones,
/// so the cache never raises the process's peak of mapped bytes above the largest of what was
/// in use and what was kept before; and an executor releases it all when a task of another
/// stage starts (release_huge_page_cache). Thread-safe.
void set_huge_page_cache_limit(std::size_t bytes) noexcept;
/// Unmaps every kept mapping (the limit stays). An executor calls it when a task of another
/// stage than the last one starts: what one stage's tasks freed is kept for that stage's next
/// tasks, not held through a stage whose memory is of other kinds. Thread-safe.
void release_huge_page_cache() noexcept;
/// Bytes of freed mappings kept now. Thread-safe.
std::size_t huge_page_cache_bytes() noexcept;

/// Frees a huge_page_array: unmaps it, or delete[]s the small ones that came from operator new.
template <class T>
struct HugePageDeleter {
    std::size_t mapped = 0;  ///< bytes mapped; 0: from operator new[]
    void operator()(T* p) const noexcept {
        if (mapped == 0) {
            delete[] p;
        } else if (p != nullptr) {
            unmap_huge_pages(p, mapped);
        }
    }
};
template <class T>
using HugePageArray = std::unique_ptr<T[], HugePageDeleter<T>>;

/// `n` objects of trivial type T, all bytes zero if `zeroed` (otherwise unspecified). From
/// kHugePageBytes up the memory is a mapping of its own (map_huge_pages, perhaps one kept from an
/// earlier array), below it operator new[] (value-initialised if `zeroed`).
///
/// Why not the allocator's memory for the large ones: a word count task's combine table and
/// arena are hundreds of MiB read at random; with 4 KiB pages nearly every lookup misses the TLB
/// and every page's first touch is a fault (on this VM a trap to the hypervisor). mimalloc
/// advises its own segments too (rpc/allocator_options.cpp), but the memory it hands a new table
/// may be memory the process used before, with the small pages it got then: taking one unrelated
/// allocation out of an executor's first task (textFile's file list) cost the word count of the
/// Linux tree about 1 CPU second in every alternating run, and nothing with mimalloc's huge pages
/// off. A fresh mapping gets huge pages whenever the kernel has them, whatever the process did
/// before.
template <class T>
HugePageArray<T> huge_page_array(std::size_t n, bool zeroed = true) {
    static_assert(std::is_trivially_default_constructible_v<T> && std::is_trivially_destructible_v<T>,
                  "huge_page_array: zero bytes must be a valid T, and nothing to destroy");
    if (n * sizeof(T) < kHugePageBytes) {
        return HugePageArray<T>(zeroed ? new T[n == 0 ? 1 : n]() : new T[n == 0 ? 1 : n], HugePageDeleter<T>{});
    }
    std::size_t mapped = 0;
    void* p = map_huge_pages(n * sizeof(T), mapped, zeroed);
    return HugePageArray<T>(static_cast<T*>(p), HugePageDeleter<T>{mapped});
}

}  // namespace ember::scheduler
