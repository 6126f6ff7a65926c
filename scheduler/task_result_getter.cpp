// SPDX-License-Identifier: Apache-2.0
#include "scheduler/task_result_getter.hpp"

#include "rpc/log.hpp"
#include "scheduler/task_scheduler_impl.hpp"
#include "storage/block_manager.hpp"

#include <fmt/format.h>

namespace ember::scheduler {

std::string bytes_to_string(std::uint64_t size) {
    constexpr std::uint64_t kKiB = 1ull << 10;
    constexpr std::uint64_t kMiB = 1ull << 20;
    constexpr std::uint64_t kGiB = 1ull << 30;
    constexpr std::uint64_t kTiB = 1ull << 40;
    constexpr std::uint64_t kPiB = 1ull << 50;
    constexpr std::uint64_t kEiB = 1ull << 60;
    struct Unit {
        std::uint64_t bytes;
        const char* name;
    };
    for (Unit u : {Unit{kEiB, "EiB"}, Unit{kPiB, "PiB"}, Unit{kTiB, "TiB"}, Unit{kGiB, "GiB"}, Unit{kMiB, "MiB"},
                   Unit{kKiB, "KiB"}}) {
        if (size >= 2 * u.bytes) {
            return fmt::format("{:.1f} {}", static_cast<double>(size) / static_cast<double>(u.bytes), u.name);
        }
    }
    return fmt::format("{:.1f} B", static_cast<double>(size));
}

void TaskResultGetter::enqueue_successful_task(std::int64_t tid, std::string result,
                                               std::optional<IndirectTaskResult> indirect,
                                               const TaskMetrics& metrics) {
    TaskMetrics m = metrics;
    // Spark: the driver sets resultSize from what it saw; the executor leaves it at 0.
    m.result_size = indirect ? indirect->size : result.size();
    if (!scheduler_.can_fetch_more_results(tid, m.result_size)) {
        if (indirect) block_manager_.remove_block_at(indirect->location, indirect->block_id);
        scheduler_.handle_failed_task(tid, TaskState::killed, TaskKilled{"Tasks result size has exceeded maxResultSize"},
                                      m);
        return;
    }
    if (!indirect) {
        scheduler_.handle_successful_task(tid, std::move(result), m);
        return;
    }
    scheduler_.handle_task_getting_result(tid);
    log::get("scheduler")->debug("Fetching indirect result of TID {} ({} bytes) from {}", tid, indirect->size,
                                 indirect->location.to_string());
    if (indirect->location == block_manager_.id()) {
        // local[N]: the block is in this process.
        auto bytes = block_manager_.get_local_block(indirect->block_id);
        std::optional<std::string> value;
        if (bytes) value.emplace(bytes->view());
        fetched(tid, *indirect, std::move(value), m, "not found");
        return;
    }
    IndirectTaskResult where = *indirect;
    block_manager_.fetch_blocks(
        where.location, {where.block_id},
        [this, tid, where, m](rpc::RpcResult<std::vector<storage::ManagedBuffer>> r) {
            // On an I/O thread: copy the bytes out of the reply, then continue on the loop.
            std::optional<std::string> value;
            std::string error;
            if (r && r->size() == 1) {
                value.emplace(r->front().view());
            } else {
                error = r ? "malformed reply" : r.error().message;
            }
            post_([this, tid, where, value = std::move(value), m, error]() mutable {
                fetched(tid, where, std::move(value), m, error);
            });
        });
}

void TaskResultGetter::fetched(std::int64_t tid, const IndirectTaskResult& indirect, std::optional<std::string> bytes,
                               TaskMetrics metrics, const std::string& error) {
    if (!bytes || bytes->size() != indirect.size) {
        log::get("scheduler")->warn("Cannot fetch the result of TID {} ({}) from {}: {}", tid,
                                    storage::name(indirect.block_id), indirect.location.to_string(),
                                    bytes ? fmt::format("{} bytes instead of {}", bytes->size(), indirect.size) : error);
        scheduler_.handle_failed_task(tid, TaskState::finished, TaskResultLost{}, metrics);
        return;
    }
    block_manager_.remove_block_at(indirect.location, indirect.block_id);
    scheduler_.handle_successful_task(tid, std::move(*bytes), metrics);
}

}  // namespace ember::scheduler
