// SPDX-License-Identifier: Apache-2.0
#include "scheduler/util/huge_pages.hpp"

#include <algorithm>
#include <cstdint>

#include <sys/mman.h>

namespace ember::scheduler {

void* map_huge_pages(std::size_t n, std::size_t& mapped) {
    const std::size_t size = (std::max<std::size_t>(n, 1) + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
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
    mapped = size;
    return p;
}

void unmap_huge_pages(void* p, std::size_t mapped) noexcept { ::munmap(p, mapped); }

}  // namespace ember::scheduler
