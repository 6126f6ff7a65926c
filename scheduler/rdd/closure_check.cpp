// SPDX-License-Identifier: Apache-2.0
#include "scheduler/rdd/closure_check.hpp"

#include "scheduler/closure.hpp"
#include "scheduler/job_waiter.hpp"
#include "scheduler/rdd/rdd_base.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <vector>

#include <cxxabi.h>
#include <pthread.h>
#include <unistd.h>

namespace ember::scheduler {
namespace {

/// One line of /proc/self/maps.
struct Mapping {
    std::uint64_t start = 0;
    std::uint64_t end = 0;  ///< exclusive
    std::string perms;      ///< "rw-p"
    std::string path;       ///< file, "[stack]", "[heap]", ... or empty (anonymous)
};

/// This process's mappings, read from /proc/self/maps and cached (addresses of a running process
/// change only by mmap/munmap/brk, so the cache is refreshed when an address is not in it).
/// Threading: thread-safe.
class AddressSpace {
public:
    /// The mapping holding `a` and the one before it (for a .bss that follows its file mapping);
    /// reloads once if `a` is not mapped in the cache and `may_reload` (then cleared).
    std::optional<std::pair<Mapping, Mapping>> find(std::uint64_t a, bool& may_reload) {
        std::lock_guard lk(mu_);
        if (maps_.empty()) load();
        if (auto m = lookup(a)) return m;
        if (!may_reload) return std::nullopt;
        may_reload = false;
        load();
        return lookup(a);
    }
    const std::string& executable() const noexcept { return exe_; }

private:
    std::optional<std::pair<Mapping, Mapping>> lookup(std::uint64_t a) const {
        auto it = std::upper_bound(maps_.begin(), maps_.end(), a,
                                   [](std::uint64_t x, const Mapping& m) { return x < m.start; });
        if (it == maps_.begin()) return std::nullopt;
        --it;
        if (a >= it->end) return std::nullopt;
        Mapping prev = it == maps_.begin() ? Mapping{} : *std::prev(it);
        return std::pair{*it, prev};
    }
    void load() {
        maps_.clear();
        std::ifstream in("/proc/self/maps");
        std::string line;
        while (std::getline(in, line)) {
            Mapping m;
            std::istringstream ls(line);
            std::string range, offset, dev, inode;
            if (!(ls >> range >> m.perms >> offset >> dev >> inode)) continue;
            auto dash = range.find('-');
            if (dash == std::string::npos) continue;
            m.start = std::strtoull(range.substr(0, dash).c_str(), nullptr, 16);
            m.end = std::strtoull(range.substr(dash + 1).c_str(), nullptr, 16);
            std::getline(ls >> std::ws, m.path);
            if (m.path == "[vsyscall]") continue;  // at the same address in every process
            maps_.push_back(std::move(m));
        }
        std::sort(maps_.begin(), maps_.end(), [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
        if (exe_.empty()) {
            char buf[4096];
            ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
            if (n > 0) exe_.assign(buf, static_cast<std::size_t>(n));
        }
    }

    std::mutex mu_;
    std::vector<Mapping> maps_;  // guarded by mu_, sorted by start
    std::string exe_;            // guarded by mu_ (set once)
};

AddressSpace& address_space() {
    static AddressSpace space;  // a cache of this process's own memory map: one per process
    return space;
}

/// Whether `a` lies in the calling thread's stack.
bool on_this_threads_stack(std::uint64_t a) {
    pthread_attr_t attr;
    if (::pthread_getattr_np(::pthread_self(), &attr) != 0) return false;
    void* base = nullptr;
    std::size_t size = 0;
    bool in = false;
    if (::pthread_attr_getstack(&attr, &base, &size) == 0) {
        auto lo = reinterpret_cast<std::uintptr_t>(base);
        in = a >= lo && a < lo + size;
    }
    ::pthread_attr_destroy(&attr);
    return in;
}

std::optional<std::string> describe(std::uint64_t a, bool& may_reload) {
    // Below the lowest address mmap may use, or beyond any user-space address: a number.
    if (a < 0x10000 || a >= (std::uint64_t{1} << 57)) return std::nullopt;
    auto& space = address_space();
    auto found = space.find(a, may_reload);
    if (!found) return std::nullopt;
    const auto& [m, prev] = *found;
    const std::string& exe = space.executable();
    auto base_name = [](const std::string& p) {
        auto slash = p.rfind('/');
        return slash == std::string::npos ? p : p.substr(slash + 1);
    };
    if (m.path == "[stack]" || m.path.starts_with("[stack:") || on_this_threads_stack(a)) {
        return "the driver's stack";
    }
    if (m.path == "[heap]") return "the driver's heap";
    if (!m.path.empty() && m.path == exe) {
        if (m.perms.find('w') != std::string::npos) return "a global or static variable of the driver's executable";
        if (m.perms.find('x') != std::string::npos) return "the driver's code (a function's address)";
        return "read-only data of the driver's executable (a constant or string literal)";
    }
    if (m.path.empty() && !exe.empty() && prev.path == exe && prev.end == m.start) {
        return "a global or static variable of the driver's executable";  // its .bss
    }
    if (m.path.starts_with("[")) return "the driver's " + m.path;
    if (!m.path.empty()) return fmt::format("memory of {} mapped in the driver", base_name(m.path));
    return "the driver's memory (an anonymous mapping: a large or another thread's heap block, or a thread's "
           "stack)";
}

std::string demangle(const char* name) {
    int status = 0;
    char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    if (status != 0 || !out) return name;
    std::string s(out);
    std::free(out);
    return s;
}

/// The scan running on this thread: the first pointer found.
struct Violation {
    std::uint64_t address = 0;
    std::string region;  ///< what the address points into
    std::string type;    ///< the closure type holding it
    std::size_t size = 0;
    std::size_t offset = 0;
};
struct ClosureScan {
    bool may_reload = true;  ///< one reload of /proc/self/maps per scan
    std::optional<Violation> violation;
};
thread_local ClosureScan* current_scan = nullptr;

struct ScanScope {
    explicit ScanScope(ClosureScan& s) : prev(current_scan) { current_scan = &s; }
    ~ScanScope() { current_scan = prev; }
    ClosureScan* prev;
};

}  // namespace

std::optional<std::string> describe_driver_address(std::uint64_t address) {
    bool may_reload = true;
    return describe(address, may_reload);
}

void check_closures(const RddBase& rdd, const ResultFunctionBase* func, const std::string& call_site) {
    ClosureScan scan;
    ScanScope scope(scan);
    auto check = [&](const std::string& what, auto&& encode_params) {
        Encoder scratch;
        try {
            encode_params(scratch);
        } catch (const std::exception&) {
            // Not a closure problem: encoding the stage (on a cluster) will report it.
        }
        if (scan.violation) {
            const Violation& v = *scan.violation;
            throw SparkException(fmt::format(
                "{} captures a pointer or reference ({:#x}: {}); it would be meaningless on an executor. Capture by "
                "value, or use ember::bind(fn, values...). (The word at byte {} of the {}-byte closure {}; a number "
                "that only looks like an address can travel as a value of ember::bind, which is not checked.)",
                what, v.address, v.region, v.offset, v.size, v.type));
        }
    };
    auto label = [](const RddBase& r) {
        return r.name().empty() ? fmt::format("{} {}", r.kind(), r.id()) : r.name();
    };
    std::set<int> seen;
    std::vector<const RddBase*> todo{&rdd};
    while (!todo.empty()) {
        const RddBase* r = todo.back();
        todo.pop_back();
        if (!seen.insert(r->id()).second) continue;
        check(label(*r), [&](Encoder& e) { r->encode_params(e); });
        for (const auto& dep : r->shuffle_dependencies()) {
            check(label(*r), [&](Encoder& e) { dep->encode_params(e); });
            todo.push_back(dep->rdd().get());
        }
        for (const auto& dep : r->narrow_dependencies()) todo.push_back(dep.rdd.get());
    }
    if (func) check(call_site, [&](Encoder& e) { func->encode_params(e); });
}

}  // namespace ember::scheduler

namespace ember::detail {

bool closure_scan_active() noexcept { return scheduler::current_scan != nullptr; }

void scan_shipped_closure(const void* bytes, std::size_t size, std::size_t step, const std::type_info& type) {
    auto* scan = scheduler::current_scan;
    if (!scan || scan->violation || step == 0) return;
    const auto* p = static_cast<const unsigned char*>(bytes);
    for (std::size_t off = 0; off + sizeof(std::uint64_t) <= size; off += step) {
        std::uint64_t word;
        std::memcpy(&word, p + off, sizeof word);
        if (auto what = scheduler::describe(word, scan->may_reload)) {
            scan->violation = scheduler::Violation{word, std::move(*what), scheduler::demangle(type.name()), size, off};
            return;
        }
    }
}

}  // namespace ember::detail
