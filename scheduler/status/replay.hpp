// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Reading event logs back: replay through a listener (Spark's ReplayListenerBus) and listing a
/// log directory for the History Server (Spark's FsHistoryProvider scan, files only).

#include "scheduler/listener.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ember::scheduler {

/// What a replay found.
struct ReplayResult {
    std::size_t events = 0;   ///< events delivered
    std::size_t skipped = 0;  ///< lines whose "Event" ember does not know (dropped, as Spark does)
    /// The log ended mid-way: a garbled last line was dropped, or the compressed stream stops
    /// inside a frame (an in-progress zstd/LZ4 log always does). Only with maybe_truncated.
    bool truncated = false;
    std::string spark_version;  ///< from the SparkListenerLogStart line; "" without one
};

/// Delivers every event of the log at `path` to `listener` (through dispatch()), in file order.
///
/// The codec comes from the name, after dropping a ".inprogress" suffix: ".zstd" (or ".zst")
/// zstd, ".lz4" LZ4 frame, anything else plain text. A compressed stream cut short (a log being
/// written) replays whatever decodes. When `maybe_truncated` (pass it for in-progress logs), a
/// last line that is not valid JSON is dropped and `truncated` is set; otherwise, and for any
/// bad line before the last, throws std::runtime_error naming the file and the 1-based line
/// number (and, for a known event with a missing or mistyped field, the event and the field).
/// Also throws std::runtime_error naming the file when it cannot be opened or read, its
/// compressed data is corrupt, its zstd data decodes to more than 1000 times its size (past
/// the first 4 MiB: a decompression bomb; real logs compress about 10:1 to 30:1), or its codec
/// is one ember cannot read (".lzf", ".snappy").
/// Blank lines are ignored. An exception thrown by the listener propagates.
ReplayResult replay_event_log(const std::string& path, SparkListener& listener, bool maybe_truncated);

/// The same, calling `on_event` for each event.
ReplayResult replay_event_log(const std::string& path, const std::function<void(const SparkListenerEvent&)>& on_event,
                              bool maybe_truncated);

/// One event log file in a log directory.
struct EventLogInfo {
    std::string path;  ///< full path
    std::string app_id;  ///< the file name without codec and ".inprogress" (the sanitized app id)
    bool in_progress = false;  ///< the name ends in ".inprogress": the app is running (or died)
    std::string codec;         ///< "", "zstd" or "lz4"
    std::int64_t size = 0;     ///< bytes on disk
    std::int64_t mtime_ms = 0;  ///< last modification, milliseconds since the Unix epoch
};

/// The event logs in `dir`, sorted by path: regular files only; hidden files, directories
/// (Spark's rolling-log directories included) and files with a codec ember cannot read are
/// left out. Throws std::runtime_error naming `dir` when it does not exist or cannot be read.
std::vector<EventLogInfo> list_event_logs(const std::string& dir);

}  // namespace ember::scheduler
