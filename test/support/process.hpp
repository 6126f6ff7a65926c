// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Child processes for integration tests: run a command with its output captured, watch its
/// children while it runs, and make sure nothing outlives the test.

#include <cstdint>
#include <string>
#include <vector>

namespace ember::test {

struct ProcessResult {
    int exit_code = -1;        ///< -1 if killed by a signal
    std::string out;           ///< stdout
    std::string err;           ///< stderr
    int max_children = 0;      ///< most children whose command line contained `child_marker`, seen at once
    std::vector<int> children; ///< every such child pid seen
};

/// Runs `argv` to completion (killing it after `timeout_s`), polling its children every few ms.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& child_marker = "--ember-executor",
                          int timeout_s = 120);

/// The contents of `path`, or "" if it cannot be read. For /proc files: reading /proc/<pid>/*
/// of a process that is exiting fails with ESRCH, which std::ifstream turns into an exception
/// (libstdc++'s filebuf::underflow throws on read errors).
std::string read_file_or_empty(const std::string& path);

/// True if `pid` is a live process (not a zombie).
bool process_alive(int pid);

/// A TCP port on 127.0.0.1 that was free a moment ago (for a fixed ember.driver.port).
std::uint16_t free_port();

}  // namespace ember::test
