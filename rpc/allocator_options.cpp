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
/// Decommit delay: memory a thread frees stays committed for 1 s (mimalloc's default is 25 ms)
/// before mimalloc gives it back to the kernel. On this VM a 4 KiB page fault costs about 11 us
/// (a memset of fresh memory runs at 0.37 GB/s, of touched memory at 21 GB/s), and jobs that
/// come tens of milliseconds apart paid it again and again: a one-partition parallelize of
/// 2.7 MB, counted in a loop on local-cluster[1,1,1024], took 56 ms a job when the freed frame
/// and task buffers had been decommitted since the last job (about 3,600 faults more a job), and
/// 6 ms with them kept. A slow job let the 25 ms pass, so one slow job made the next one slow.
/// A process idle for a second still returns what it freed.
///
/// The environment wins: MIMALLOC_LARGE_OS_PAGES=0 (or any value) leaves mimalloc's own reading
/// of it in place, so a user can turn this off without rebuilding (or build with
/// -Dallocator=system for glibc's malloc); MIMALLOC_DECOMMIT_DELAY likewise for the delay.

#include <mimalloc.h>

#include <cstdlib>

namespace {

constexpr long kDecommitDelayMs = 1000;

struct AllocatorOptions {
    AllocatorOptions() {
        if (std::getenv("MIMALLOC_LARGE_OS_PAGES") == nullptr) mi_option_set(mi_option_large_os_pages, 1);
        if (std::getenv("MIMALLOC_DECOMMIT_DELAY") == nullptr) mi_option_set(mi_option_decommit_delay, kDecommitDelayMs);
    }
};

const AllocatorOptions allocator_options;

}  // namespace
