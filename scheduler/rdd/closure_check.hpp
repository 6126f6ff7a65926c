// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// check_closures: refuses, on the driver and before anything is sent, a job whose closures
/// capture pointers or references (see scheduler/closure.hpp).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ember::scheduler {

class RddBase;
class ResultFunctionBase;

/// Scans every closure the job (`rdd`'s whole lineage, across shuffle dependencies, and `func`)
/// would ship as raw bytes for words that are addresses mapped in this process. Throws
/// SparkException naming the operation and its call site (the node's name, e.g. "map at
/// wordcount.cpp:42"; `call_site` for `func`), the address and what it points into, and the fix.
/// Nodes and functions are encoded into a scratch buffer to reach their closures; bulk data
/// (parallelize's records) is skipped while the scan runs.
/// Threading: thread-safe (the scan state is per thread; the address map cache is locked).
void check_closures(const RddBase& rdd, const ResultFunctionBase* func, const std::string& call_site);

/// What this process has mapped at `address`, in words for an error message ("the driver's
/// stack", "the driver's heap", ...), or nullopt if nothing is mapped there. Reads
/// /proc/self/maps once and again when an address is not in the cached map. Exposed for tests.
/// Threading: thread-safe.
std::optional<std::string> describe_driver_address(std::uint64_t address);

}  // namespace ember::scheduler
