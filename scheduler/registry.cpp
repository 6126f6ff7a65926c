// SPDX-License-Identifier: Apache-2.0
#include "scheduler/registry.hpp"

#include <cxxabi.h>
#include <fmt/format.h>
#include <xxhash.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

#include <elf.h>
#include <link.h>

namespace ember::scheduler {
namespace detail {
namespace {

/// Hashes a type's key (its mangled name, tens of bytes) in one pass per lookup; an ordered map
/// compared it with a dozen others. Each task looks its stage's types up when it decodes them.
struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return XXH3_64bits(s.data(), s.size()); }
};

struct Table {
    std::mutex mu;
    std::unordered_map<std::string, const void*, KeyHash, std::equal_to<>> factories[3];  // guarded by mu
    std::set<std::string, std::less<>> ambiguous[3];                                       // guarded by mu
};

Table& table() {
    static Table t;
    return t;
}

const char* kind_name(int kind) {
    switch (kind) {
        case 0: return "RDD";
        case 1: return "shuffle dependency";
        default: return "task function";
    }
}

}  // namespace

bool register_factory(int kind, const char* key, const void* factory) {
    auto& t = table();
    std::lock_guard lk(t.mu);
    auto [it, inserted] = t.factories[kind].emplace(key, factory);
    if (!inserted && it->second != factory) t.ambiguous[kind].insert(key);
    return true;
}

const void* find_factory(int kind, std::string_view key) {
    auto& t = table();
    std::lock_guard lk(t.mu);
    if (t.ambiguous[kind].count(key)) {
        throw std::runtime_error(fmt::format(
            "{} type {} has the same identity as another type (lambdas in functions with internal linkage that "
            "share a name in two source files); rename one of the functions",
            kind_name(kind), demangle(key)));
    }
    auto it = t.factories[kind].find(key);
    if (it == t.factories[kind].end()) {
        throw std::runtime_error(fmt::format("unknown {} type {}: the executor is not the driver's executable",
                                             kind_name(kind), demangle(key)));
    }
    return it->second;
}

}  // namespace detail

std::string demangle(std::string_view mangled) {
    std::string m(mangled);
    int status = 0;
    char* out = abi::__cxa_demangle(m.c_str(), nullptr, nullptr, &status);
    if (status != 0 || !out) return m;
    std::string s(out);
    std::free(out);
    return s;
}

namespace {

int find_build_id(struct dl_phdr_info* info, size_t, void* data) {
    // The first object is the executable itself.
    auto* out = static_cast<std::string*>(data);
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto& ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_NOTE) continue;
        const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
        const char* end = p + ph.p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
            const char* name = p + sizeof(ElfW(Nhdr));
            const char* desc = name + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && std::string_view(name, 3) == "GNU") {
                for (unsigned j = 0; j < nh->n_descsz; ++j) {
                    *out += fmt::format("{:02x}", static_cast<unsigned char>(desc[j]));
                }
                return 1;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    return 1;  // only look at the executable
}

}  // namespace

const std::string& build_id() {
    static const std::string id = [] {
        std::string s;
        dl_iterate_phdr(find_build_id, &s);
        if (!s.empty()) return s;
        std::ifstream in("/proc/self/exe", std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        return fmt::format("xxh3:{:016x}", XXH3_64bits(bytes.data(), bytes.size()));
    }();
    return id;
}

}  // namespace ember::scheduler
