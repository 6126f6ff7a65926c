// SPDX-License-Identifier: Apache-2.0
#include "scheduler/executor/process_metrics.hpp"

#include <cerrno>
#include <charconv>
#include <ctime>

#include <fcntl.h>
#include <unistd.h>

namespace ember::scheduler {
namespace {

std::int64_t clock_ns(clockid_t clock) noexcept {
    timespec ts{};
    if (::clock_gettime(clock, &ts) != 0) return 0;
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// Reads the first two numbers of /proc/self/statm ("size resident shared text lib data dt",
/// in pages) into `pages`; false if the file cannot be read or parsed.
bool read_statm(std::int64_t (&pages)[2]) noexcept {
    int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[128];
    ssize_t n;
    do {
        n = ::read(fd, buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    ::close(fd);
    if (n <= 0) return false;
    const char* p = buf;
    const char* end = buf + n;
    for (auto& v : pages) {
        while (p < end && *p == ' ') ++p;
        auto [next, ec] = std::from_chars(p, end, v);
        if (ec != std::errc{}) return false;
        p = next;
    }
    return true;
}

}  // namespace

ExecutorMetrics sample_process_metrics() noexcept {
    static const std::int64_t page = [] {
        long s = ::sysconf(_SC_PAGESIZE);
        return static_cast<std::int64_t>(s > 0 ? s : 4096);
    }();
    ExecutorMetrics m;
    std::int64_t pages[2];
    if (read_statm(pages)) {
        m.process_vmem_bytes = pages[0] * page;
        m.process_rss_bytes = pages[1] * page;
    }
    m.cpu_time_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    return m;
}

std::int64_t thread_cpu_time_ns() noexcept { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

}  // namespace ember::scheduler
