// SPDX-License-Identifier: Apache-2.0
#include "scheduler/ui/prometheus.hpp"

#include <fmt/format.h>

#include <cstdint>

namespace ember::ui {

namespace {

/// A label value escaped as the text format requires (backslash, quote, newline).
std::string escape_label(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

class Writer {
public:
    explicit Writer(std::string labels) : labels_(std::move(labels)) {}

    /// # HELP / # TYPE once per family.
    void family(std::string_view name, std::string_view type, std::string_view help) {
        fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    void sample(std::string_view name, std::string_view extra_labels, double value) {
        out_ += name;
        out_ += '{';
        out_ += labels_;
        if (!extra_labels.empty()) {
            out_ += ',';
            out_ += extra_labels;
        }
        fmt::format_to(std::back_inserter(out_), "}} {}\n", value);
    }
    void single(std::string_view name, std::string_view type, std::string_view help, double value) {
        family(name, type, help);
        sample(name, {}, value);
    }
    std::string take() { return std::move(out_); }

private:
    std::string labels_;
    std::string out_;
};

std::string app_labels(const status::AppState& st) {
    return fmt::format("application_id=\"{}\",application_name=\"{}\"", escape_label(st.app.id),
                       escape_label(st.app.name));
}

double d(std::uint64_t v) { return static_cast<double>(v); }

}  // namespace

std::string prometheus_driver_metrics(const status::AppStatusStore& store) {
    return store.read([](const status::AppState& st) {
        Writer w(app_labels(st));
        const auto& c = st.counters;
        w.family("ember_jobs_total", "counter", "Jobs by state since the application started.");
        w.sample("ember_jobs_total", "state=\"submitted\"", d(c.jobs_submitted));
        w.sample("ember_jobs_total", "state=\"succeeded\"", d(c.jobs_succeeded));
        w.sample("ember_jobs_total", "state=\"failed\"", d(c.jobs_failed));
        int active_jobs = 0;
        for (auto& [id, j] : st.jobs) active_jobs += j.status == status::JobStatus::running ? 1 : 0;
        w.single("ember_jobs_active", "gauge", "Jobs running now.", active_jobs);

        w.family("ember_stages_total", "counter", "Stage attempts by state since the application started.");
        w.sample("ember_stages_total", "state=\"submitted\"", d(c.stages_submitted));
        w.sample("ember_stages_total", "state=\"completed\"", d(c.stages_completed));
        w.sample("ember_stages_total", "state=\"failed\"", d(c.stages_failed));
        w.sample("ember_stages_total", "state=\"skipped\"", d(c.stages_skipped));
        int active_stages = 0, active_tasks = 0;
        for (auto& [key, s] : st.stages) {
            if (s.status == status::StageStatus::active) {
                ++active_stages;
                active_tasks += s.active_tasks;
            }
        }
        w.single("ember_stages_active", "gauge", "Stage attempts running now.", active_stages);

        w.family("ember_tasks_total", "counter", "Task attempts by state since the application started.");
        w.sample("ember_tasks_total", "state=\"started\"", d(c.tasks_started));
        w.sample("ember_tasks_total", "state=\"succeeded\"", d(c.tasks_succeeded));
        w.sample("ember_tasks_total", "state=\"failed\"", d(c.tasks_failed));
        w.sample("ember_tasks_total", "state=\"killed\"", d(c.tasks_killed));
        w.single("ember_tasks_active", "gauge", "Task attempts running now.", active_tasks);

        int active_execs = 0;
        for (auto& [id, e] : st.executors) active_execs += (e.is_active && id != "driver") ? 1 : 0;
        w.single("ember_executors_active", "gauge", "Executors registered now (the driver not counted).", active_execs);
        w.single("ember_executors_removed_total", "counter", "Executors removed (lost or stopped).",
                 d(c.executors_removed));

        const auto& m = c.task_metrics;
        w.single("ember_input_bytes_total", "counter", "Bytes read from input by finished tasks.", d(m.input_bytes_read));
        w.single("ember_output_bytes_total", "counter", "Bytes written as output by finished tasks.",
                 d(m.output_bytes_written));
        w.single("ember_shuffle_read_bytes_total", "counter", "Shuffle bytes read (local and remote).",
                 d(m.shuffle_read.local_bytes_read + m.shuffle_read.remote_bytes_read));
        w.single("ember_shuffle_write_bytes_total", "counter", "Shuffle bytes written.", d(m.shuffle_write.bytes_written));
        w.single("ember_shuffle_read_records_total", "counter", "Shuffle records read.", d(m.shuffle_read.records_read));
        w.single("ember_shuffle_write_records_total", "counter", "Shuffle records written.",
                 d(m.shuffle_write.records_written));
        w.single("ember_task_run_seconds_total", "counter", "Executor run time of finished tasks.",
                 d(m.executor_run_time_ns) / 1e9);

        w.family("ember_executor_memory_used_bytes", "gauge", "Storage memory in use per executor.");
        for (auto& [id, e] : st.executors) {
            if (e.is_active) w.sample("ember_executor_memory_used_bytes", fmt::format("executor_id=\"{}\"", escape_label(id)), d(e.memory_used));
        }
        w.family("ember_executor_rss_bytes", "gauge", "Resident set size per executor, from its last heartbeat.");
        for (auto& [id, e] : st.executors) {
            if (e.is_active && e.latest_metrics) {
                w.sample("ember_executor_rss_bytes", fmt::format("executor_id=\"{}\"", escape_label(id)),
                         static_cast<double>(e.latest_metrics->process_rss_bytes));
            }
        }
        w.family("ember_executor_cpu_seconds_total", "counter", "CPU time (user + system) per executor process.");
        for (auto& [id, e] : st.executors) {
            if (e.is_active && e.latest_metrics) {
                w.sample("ember_executor_cpu_seconds_total", fmt::format("executor_id=\"{}\"", escape_label(id)),
                         static_cast<double>(e.latest_metrics->cpu_time_ns) / 1e9);
            }
        }
        return w.take();
    });
}

std::string prometheus_executor_metrics(const status::AppStatusStore& store, std::string_view version) {
    return store.read([&](const status::AppState& st) {
        std::string out = fmt::format("spark_info{{version=\"{}\", revision=\"\"}} 1.0\n", escape_label(version));
        const std::string app = app_labels(st);
        for (auto& [id, e] : st.executors) {
            if (!e.is_active) continue;
            std::string labels = fmt::format("{{{}, executor_id=\"{}\"}}", app, escape_label(id));
            auto put = [&](std::string_view name, double v) { fmt::format_to(std::back_inserter(out), "metrics_executor_{}{} {}\n", name, labels, v); };
            put("rddBlocks", e.rdd_blocks);
            put("memoryUsed_bytes", d(e.memory_used));
            put("diskUsed_bytes", d(e.disk_used));
            put("totalCores", e.total_cores);
            put("maxTasks", e.max_tasks);
            put("activeTasks", e.active_tasks);
            put("failedTasks_total", e.failed_tasks);
            put("completedTasks_total", e.completed_tasks);
            put("totalTasks_total", e.total_tasks);
            put("totalDuration_seconds_total", static_cast<double>(e.total_duration_ms) / 1000.0);
            put("totalGCTime_seconds_total", 0);
            put("totalInputBytes_bytes_total", d(e.total_input_bytes));
            put("totalShuffleRead_bytes_total", d(e.total_shuffle_read));
            put("totalShuffleWrite_bytes_total", d(e.total_shuffle_write));
            put("maxMemory_bytes", d(e.max_memory));
            put("usedOnHeapStorageMemory_bytes", d(e.memory_used));
            put("usedOffHeapStorageMemory_bytes", 0);
            put("totalOnHeapStorageMemory_bytes", d(e.max_memory));
            put("totalOffHeapStorageMemory_bytes", 0);
            if (e.peak_metrics) {
                put("ProcessTreeJVMRSSMemory_bytes", static_cast<double>(e.peak_metrics->process_rss_bytes));
                put("ProcessTreeJVMVMemory_bytes", static_cast<double>(e.peak_metrics->process_vmem_bytes));
                put("OnHeapStorageMemory_bytes", static_cast<double>(e.peak_metrics->storage_memory_bytes));
                put("OnHeapExecutionMemory_bytes", static_cast<double>(e.peak_metrics->execution_memory_bytes));
                put("ProcessCpuTime_seconds_total", static_cast<double>(e.peak_metrics->cpu_time_ns) / 1e9);
            }
        }
        return out;
    });
}

}  // namespace ember::ui
