// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// fresh_temp_dir: an empty scratch directory per test and process, removed when the process
/// exits.

#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

namespace ember::test {

namespace detail {
/// The directories fresh_temp_dir made; each is removed (with its contents) when the process
/// that made it exits normally, after its SparkContexts and executors are gone, so a failed
/// assertion leaves nothing behind either (a crash does). A forked child that exits normally
/// removes nothing of its parent's.
struct TempDirRegistry {
    std::mutex mu;
    std::vector<std::filesystem::path> dirs;
    pid_t owner = ::getpid();
    ~TempDirRegistry() {
        if (::getpid() != owner) return;
        for (auto& d : dirs) {
            std::error_code ec;
            std::filesystem::remove_all(d, ec);
        }
    }
};
inline TempDirRegistry& temp_dir_registry() {
    static TempDirRegistry registry;
    return registry;
}
}  // namespace detail

/// Creates (emptying it first) `<tmp>/ember-<name>-<pid>` and returns its path; the pid keeps
/// concurrent test processes apart. Removed when the process exits (detail::TempDirRegistry);
/// a caller may remove it sooner.
/// `root` is the directory to make it in (the default: std::filesystem::temp_directory_path(),
/// that is TMPDIR or /tmp).
inline std::string fresh_temp_dir(const std::string& name, const std::filesystem::path& root = {}) {
    auto p = (root.empty() ? std::filesystem::temp_directory_path() : root) /
             ("ember-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    auto& registry = detail::temp_dir_registry();
    std::lock_guard lk(registry.mu);
    registry.dirs.push_back(p);
    return p.string();
}

}  // namespace ember::test
