// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Prometheus text exposition (format 0.0.4) of an application's status, for Spark's two
/// endpoints: `/metrics/prometheus` (Spark's PrometheusServlet: the driver's metrics) and
/// `/metrics/executors/prometheus` (Spark's PrometheusResource: one series per executor, Spark's
/// names such as `metrics_executor_completedTasks_total`).
///
/// Driver metrics (every series labelled application_id and application_name; Spark puts the
/// app id into each metric's name, which makes dashboards per application; ember keeps names
/// stable and puts the id in a label):
///   ember_jobs_total{state="submitted|succeeded|failed"}, ember_jobs_active,
///   ember_stages_total{state="submitted|completed|failed|skipped"}, ember_stages_active,
///   ember_tasks_total{state="started|succeeded|failed|killed"}, ember_tasks_active,
///   ember_executors_active, ember_executors_removed_total,
///   ember_input_bytes_total, ember_output_bytes_total, ember_shuffle_read_bytes_total,
///   ember_shuffle_write_bytes_total, ember_shuffle_read_records_total,
///   ember_shuffle_write_records_total, ember_task_run_seconds_total,
///   ember_executor_memory_used_bytes{executor_id}, ember_executor_rss_bytes{executor_id},
///   ember_executor_cpu_seconds_total{executor_id}.

#include "scheduler/status/app_status_store.hpp"

#include <string>
#include <string_view>

namespace ember::ui {

/// The `/metrics/prometheus` body. Threading: thread-safe (reads the store under its lock).
std::string prometheus_driver_metrics(const status::AppStatusStore& store);

/// The `/metrics/executors/prometheus` body; `version` goes into `spark_info`.
std::string prometheus_executor_metrics(const status::AppStatusStore& store, std::string_view version);

/// Content-Type of both: "text/plain; version=0.0.4; charset=utf-8".
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace ember::ui
