// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// FsHistoryProvider: the applications of an event-log directory, each replayed into its own
/// AppStatusStore for the History Server (Spark's FsHistoryProvider).

#include "scheduler/status/api_v1.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ember::status {

/// Lists the event logs in `dir` and replays each into a store, completed and in-progress ones
/// alike (an in-progress log's truncated last line is tolerated). A log is replayed again only
/// when its size or modification time changed, and the directory is rescanned at most every
/// `update_interval` (Spark's spark.history.fs.update.interval, 10s; ember.history.fs.update.interval).
/// A log that cannot be replayed is left out and its error logged once.
/// Threading: thread-safe.
class FsHistoryProvider final : public ApplicationSource {
public:
    explicit FsHistoryProvider(std::string dir,
                               std::chrono::milliseconds update_interval = std::chrono::seconds(10));
    /// Every application, newest start first.
    std::vector<std::shared_ptr<const AppStatusStore>> applications() const override;
    std::shared_ptr<const AppStatusStore> application(const std::string& app_id) const override;
    /// Rescans the directory now.
    void refresh() const;
    const std::string& dir() const noexcept { return dir_; }

private:
    struct Entry {
        std::string path;
        std::int64_t size = -1;
        std::int64_t mtime_ms = -1;
        std::shared_ptr<const AppStatusStore> store;  ///< null if the log failed to replay
        std::int64_t start_time = 0;
        std::string app_id;
    };
    void refresh_locked() const;

    std::string dir_;
    std::chrono::milliseconds update_interval_;
    mutable std::mutex mu_;
    mutable std::map<std::string, Entry> entries_;  // guarded by mu_; by path
    mutable std::chrono::steady_clock::time_point last_scan_{};
    mutable bool scanned_ = false;
};

}  // namespace ember::status
