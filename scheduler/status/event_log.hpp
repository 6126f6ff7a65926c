// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// EventLoggingListener: writes every listener event to a file, one JSON object per line, for
/// the History Server (Spark's EventLoggingListener with a SingleEventLogFileWriter).

#include "rpc/conf.hpp"
#include "scheduler/listener.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ember::scheduler {

/// Where and how the event log is written.
struct EventLogOptions {
    std::string dir = "/tmp/ember-events";  ///< created (with parents) if missing
    bool compress = false;
    std::string codec = "zstd";  ///< "zstd" or "lz4" (LZ4 frame format), used when `compress`
    bool overwrite = false;      ///< replace an existing log of the same app id
    bool log_block_updates = false;
    /// Also log SparkListenerExecutorMetricsUpdate (every heartbeat's executor metrics), so the
    /// History Server sees memory peaks. Spark logs per-stage peaks instead; ember has no
    /// SparkListenerStageExecutorMetrics event.
    bool log_executor_metrics = false;
    /// Bytes of serialized events kept before a write, between flush points (Spark's
    /// spark.eventLog.buffer.kb).
    std::size_t buffer_bytes = 100 * 1024;

    /// Reads ember.eventLog.dir (a "file:" prefix is dropped), ember.eventLog.compress,
    /// ember.eventLog.compression.codec, ember.eventLog.overwrite,
    /// ember.eventLog.logBlockUpdates.enabled, ember.eventLog.logStageExecutorMetrics and
    /// ember.eventLog.buffer.kb. (ember.eventLog.enabled is the caller's to check.) Throws
    /// std::invalid_argument naming the key for a codec other than zstd or lz4.
    static EventLogOptions from_conf(const Conf& conf);
};

/// Logs listener events to `<dir>/<appId>[.zstd|.lz4]`, which is named
/// `<dir>/<appId>[.zstd|.lz4].inprogress` until stop() (Spark's layout and file names; the app
/// id is sanitized as Spark does: ' ', ':' and '/' become '-', '.', '$', '{', '}', '\'' and '"'
/// become '_', then lower case).
///
/// The first line is `{"Event":"SparkListenerLogStart","Spark Version":"<version>"}`; then one
/// compact JSON object per event (json_protocol.hpp). Lines are buffered; job, stage,
/// application, executor, block manager, environment, unpersist and block update events flush
/// the buffer to the file (with a zstd or LZ4 flush when compressed, so an in-progress file
/// decodes up to its last flush); task events do not. SparkListenerBlockUpdated is logged only
/// with `log_block_updates`, SparkListenerExecutorMetricsUpdate only with
/// `log_executor_metrics`.
///
/// A failed write (disk full, I/O error) is logged once at error level; the listener then stops
/// logging and leaves the file under its `.inprogress` name. No callback ever throws.
///
/// Threading: thread-safe (callbacks come from the listener bus, stop() may come from any
/// thread; a mutex orders them).
class EventLoggingListener : public SparkListener {
public:
    /// Creates the directory if missing and opens the in-progress file, then writes and
    /// flushes the LogStart line. Throws std::runtime_error naming the path when the directory
    /// cannot be created or written, or when the log (finished or in progress) already exists
    /// and `options.overwrite` is false; std::invalid_argument for an unknown codec.
    EventLoggingListener(EventLogOptions options, const std::string& app_id, const std::string& spark_version);
    /// Calls stop().
    ~EventLoggingListener() override;

    EventLoggingListener(const EventLoggingListener&) = delete;
    EventLoggingListener& operator=(const EventLoggingListener&) = delete;

    /// Writes out what is buffered, ends the compressed stream, closes the file and renames it
    /// to drop `.inprogress` (unless a write failed). Later events are ignored. Idempotent;
    /// never throws.
    void stop();

    /// The file's current path: ending in ".inprogress" until stop() renamed it.
    std::string path() const;
    /// Whether a write failed and logging stopped.
    bool failed() const;
    /// Events written so far, the LogStart line not counted.
    std::uint64_t events_logged() const;

    void on_job_start(const SparkListenerJobStart& e) override;
    void on_job_end(const SparkListenerJobEnd& e) override;
    void on_stage_submitted(const SparkListenerStageSubmitted& e) override;
    void on_stage_completed(const SparkListenerStageCompleted& e) override;
    void on_task_start(const SparkListenerTaskStart& e) override;
    void on_task_getting_result(const SparkListenerTaskGettingResult& e) override;
    void on_task_end(const SparkListenerTaskEnd& e) override;
    void on_executor_added(const SparkListenerExecutorAdded& e) override;
    void on_executor_removed(const SparkListenerExecutorRemoved& e) override;
    void on_application_start(const SparkListenerApplicationStart& e) override;
    /// Logs the event, then stop().
    void on_application_end(const SparkListenerApplicationEnd& e) override;
    void on_speculative_task_submitted(const SparkListenerSpeculativeTaskSubmitted& e) override;
    void on_environment_update(const SparkListenerEnvironmentUpdate& e) override;
    void on_block_manager_added(const SparkListenerBlockManagerAdded& e) override;
    void on_block_manager_removed(const SparkListenerBlockManagerRemoved& e) override;
    void on_unpersist_rdd(const SparkListenerUnpersistRDD& e) override;
    void on_block_updated(const SparkListenerBlockUpdated& e) override;
    void on_executor_metrics_update(const SparkListenerExecutorMetricsUpdate& e) override;
    void on_executor_excluded(const SparkListenerExecutorExcluded& e) override;
    void on_executor_unexcluded(const SparkListenerExecutorUnexcluded& e) override;
    void on_node_excluded(const SparkListenerNodeExcluded& e) override;
    void on_node_unexcluded(const SparkListenerNodeUnexcluded& e) override;
    void on_executor_excluded_for_stage(const SparkListenerExecutorExcludedForStage& e) override;
    void on_node_excluded_for_stage(const SparkListenerNodeExcludedForStage& e) override;

    /// Spark's sanitize(appId): the file name stem for `app_id`.
    static std::string sanitize(const std::string& app_id);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ember::scheduler
