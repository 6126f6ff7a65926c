// SPDX-License-Identifier: Apache-2.0
/// \file
/// mimalloc's options for ember's programs, set before main() runs. Linked whole into every
/// executable that links ember's allocator (meson.build: allocator_dep). The static libraries
/// built with that dependency carry a copy of the object too, which nothing refers to, so a
/// program linking only the installed libraries does not get it (README: Building against ember).
///
/// Transparent huge pages: mimalloc asks the kernel for 2 MiB pages (madvise(MADV_HUGEPAGE) on
/// its segments; this machine class runs THP in "madvise" mode, so nothing else gets them). A
/// task's combine table, arena and record buffers are hundreds of MiB of fresh memory; with 4 KiB
/// pages each page costs a fault (on this VM a fault traps to the hypervisor: 13% of a word count
/// task's time, `perf record`), with 2 MiB pages one fault in 512. mimalloc then keeps those pages
/// mapped between tasks instead of returning them (it treats large-page memory as pinned), so the
/// next task reuses them without faulting. The JVM's counterpart is -XX:+UseTransparentHugePages.
///
/// The environment wins: MIMALLOC_LARGE_OS_PAGES=0 (or any value) leaves mimalloc's own reading
/// of it in place, so a user can turn this off without rebuilding (or build with
/// -Dallocator=system for glibc's malloc).

#include <mimalloc.h>

#include <cstdlib>

namespace {

struct AllocatorOptions {
    AllocatorOptions() {
        if (std::getenv("MIMALLOC_LARGE_OS_PAGES") == nullptr) mi_option_set(mi_option_large_os_pages, 1);
    }
};

const AllocatorOptions allocator_options;

}  // namespace
