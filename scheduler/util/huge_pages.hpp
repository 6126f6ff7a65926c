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
/// size), 2 MiB-aligned, advised MADV_HUGEPAGE, zero-filled by the kernel as each page is first
/// touched. Throws std::bad_alloc if the kernel refuses. Thread-safe.
void* map_huge_pages(std::size_t n, std::size_t& mapped);
/// Unmaps what map_huge_pages returned. Thread-safe.
void unmap_huge_pages(void* p, std::size_t mapped) noexcept;

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

/// `n` objects of trivial type T, all bytes zero. From kHugePageBytes up the memory is a mapping
/// of its own (map_huge_pages), below it operator new[] (value-initialised, or uninitialised if
/// `zeroed` is false; mapped memory is always zero).
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
    void* p = map_huge_pages(n * sizeof(T), mapped);
    return HugePageArray<T>(static_cast<T*>(p), HugePageDeleter<T>{mapped});
}

}  // namespace ember::scheduler
