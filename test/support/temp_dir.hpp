// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// fresh_temp_dir: an empty scratch directory per test and process.

#include <filesystem>
#include <string>

#include <unistd.h>

namespace ember::test {

/// Creates (emptying it first) `<tmp>/ember-<name>-<pid>` and returns its path; the pid keeps
/// concurrent test processes apart. The caller removes it when done.
inline std::string fresh_temp_dir(const std::string& name) {
    auto p = std::filesystem::temp_directory_path() / ("ember-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p.string();
}

}  // namespace ember::test
