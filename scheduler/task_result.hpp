// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// IndirectTaskResult: a finished task's result left in its executor's BlockManager (Spark's
/// IndirectTaskResult), and the rules that decide between direct and indirect results.

#include "rpc/conf.hpp"
#include "storage/block_id.hpp"
#include "storage/block_manager_id.hpp"

#include <cstdint>
#include <string>

namespace ember::scheduler {

/// The result of task `block_id.task_id` is `size` bytes in block `block_id` of the BlockManager
/// `location` (the driver fills it in from the executor that reported). When `size` exceeded
/// ember.driver.maxResultSize the executor stored nothing (Spark does the same): the driver
/// then fails the task set on size alone.
/// Threading: immutable.
struct IndirectTaskResult {
    storage::TaskResultBlockId block_id;
    std::uint64_t size = 0;
    storage::BlockManagerId location;
};

/// ember.driver.maxResultSize in bytes (default 1g; 0 = unlimited).
inline std::uint64_t max_result_size(const Conf& conf) {
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, conf.get_size_bytes("ember.driver.maxResultSize", "1g")));
}

/// min(ember.task.maxDirectResultSize (1m), ember.rpc.message.maxSize (128, MiB)): results up
/// to this size travel inside the StatusUpdate (Spark's maxDirectResultSize). A margin of 64 KiB
/// below the frame limit leaves room for the rest of the message.
inline std::uint64_t max_direct_result_size(const Conf& conf) {
    auto direct = static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, conf.get_size_bytes("ember.task.maxDirectResultSize", "1m")));
    auto frame = static_cast<std::uint64_t>(conf.get_size_bytes("ember.rpc.message.maxSize", "128", "m"));
    std::uint64_t limit = frame > (64u << 10) ? frame - (64u << 10) : 0;
    return std::min(direct, limit);
}

/// Spark's Utils.bytesToString: "512.0 B", "1024.0 KiB", "3.0 MiB" (a unit is used from twice
/// its size; one decimal).
std::string bytes_to_string(std::uint64_t size);

}  // namespace ember::scheduler
