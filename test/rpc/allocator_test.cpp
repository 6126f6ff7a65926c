// SPDX-License-Identifier: Apache-2.0
// rpc/allocator_options.cpp: every program linking ember's allocator asks mimalloc for
// transparent huge pages unless MIMALLOC_LARGE_OS_PAGES says otherwise, and the kernel gives them;
// and for freed memory to stay committed for 1 s unless MIMALLOC_DECOMMIT_DELAY says otherwise.
// Built only when ember's programs use mimalloc (meson.build: ember_uses_mimalloc).

#include <catch2/catch.hpp>

#include <mimalloc.h>

#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

/// "always", "madvise" or "never": the bracketed word of the kernel's THP mode.
std::string thp_mode() {
    std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string line;
    std::getline(in, line);
    auto open = line.find('['), close = line.find(']');
    if (open == std::string::npos || close == std::string::npos || close < open) return "never";
    return line.substr(open + 1, close - open - 1);
}

/// AnonHugePages of this process, in KiB (/proc/self/smaps_rollup).
long anon_huge_kib() {
    std::ifstream in("/proc/self/smaps_rollup");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("AnonHugePages:", 0) == 0) {
            std::istringstream fields(line.substr(std::strlen("AnonHugePages:")));
            long kib = 0;
            fields >> kib;
            return kib;
        }
    }
    return -1;
}

}  // namespace

TEST_CASE("ember's programs ask mimalloc for transparent huge pages", "[allocator]") {
    if (std::getenv("MIMALLOC_LARGE_OS_PAGES") != nullptr) {
        WARN("MIMALLOC_LARGE_OS_PAGES is set: mimalloc reads it, ember leaves it alone");
        CHECK(mi_option_is_enabled(mi_option_large_os_pages) ==
              (std::atoi(std::getenv("MIMALLOC_LARGE_OS_PAGES")) != 0));
        return;
    }
    REQUIRE(mi_option_is_enabled(mi_option_large_os_pages));
}

TEST_CASE("A task's worth of small allocations lands on huge pages", "[allocator]") {
    auto mode = thp_mode();
    if (mode == "never" || std::getenv("MIMALLOC_LARGE_OS_PAGES") != nullptr) {
        WARN("transparent huge pages are off here (" << mode << ") or left to the environment");
        return;
    }
    long before = anon_huge_kib();
    REQUIRE(before >= 0);
    // 96 MiB in 16 KiB blocks, as a combine table's arena grows: mimalloc's segments, not one
    // dedicated mapping, and every byte written so that the kernel backs it.
    std::vector<std::unique_ptr<char[]>> blocks;
    for (int i = 0; i < 6144; ++i) {
        blocks.emplace_back(new char[16384]);
        std::memset(blocks.back().get(), i & 0xff, 16384);
    }
    long after = anon_huge_kib();
    INFO("AnonHugePages " << before << " KiB before, " << after << " KiB after; THP mode " << mode);
    // Most of the 96 MiB should be huge pages; 16 MiB leaves room for partly used segments and
    // a kernel that could not find a free 2 MiB frame for some of them.
    CHECK(after - before >= 16 * 1024);
}

TEST_CASE("Memory freed between jobs is reused without faulting it in again", "[allocator]") {
    if (std::getenv("MIMALLOC_DECOMMIT_DELAY") != nullptr) {
        WARN("MIMALLOC_DECOMMIT_DELAY is set: mimalloc reads it, ember leaves it alone");
        CHECK(mi_option_get(mi_option_decommit_delay) == std::atol(std::getenv("MIMALLOC_DECOMMIT_DELAY")));
        return;
    }
    REQUIRE(mi_option_get(mi_option_decommit_delay) == 1000);
    // A large frame's life: an I/O thread reads it into a buffer that doubles from 16 KiB to
    // 4 MiB, another thread copies it out and frees both. Jobs 100 ms apart (mimalloc's own
    // delay is 25 ms): the memory comes back committed, so the next job touches it without
    // faults. With a 25 ms delay this counted about 2,000 faults a job.
    auto minor_faults = [] {
        rusage u{};
        ::getrusage(RUSAGE_SELF, &u);
        return u.ru_minflt;
    };
    constexpr std::size_t kFrame = 3u << 20;
    std::mutex mu;
    std::condition_variable cv;
    int asked = 0;
    char* frame = nullptr;
    std::thread io([&] {
        for (int job = 1; job <= 6; ++job) {
            {
                std::unique_lock lk(mu);
                cv.wait(lk, [&] { return asked == job; });
            }
            char* buf = nullptr;
            std::size_t cap = 0;
            for (std::size_t grown = 16384; grown <= (4u << 20); grown *= 2) {
                char* next = new char[grown];
                if (buf != nullptr) std::memcpy(next, buf, cap);
                delete[] buf;
                std::memset(next + cap, 1, grown - cap);
                buf = next;
                cap = grown;
            }
            std::lock_guard lk(mu);
            frame = buf;
            cv.notify_all();
        }
    });
    long later_faults = 0;
    for (int job = 1; job <= 6; ++job) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        long before = minor_faults();
        char* got = nullptr;
        {
            std::unique_lock lk(mu);
            asked = job;
            cv.notify_all();
            cv.wait(lk, [&] { return frame != nullptr; });
            got = std::exchange(frame, nullptr);
        }
        std::unique_ptr<char[]> copy(new char[kFrame]);
        std::memcpy(copy.get(), got, kFrame);
        delete[] got;
        if (job > 1) later_faults += minor_faults() - before;  // the first job's memory is fresh
    }
    io.join();
    CAPTURE(later_faults);
    CHECK(later_faults < 1000);
}
