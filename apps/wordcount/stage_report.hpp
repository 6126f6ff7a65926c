// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// StageReport: a SparkListener that records each job's stages and prints, per stage, its tasks,
/// wall time, shuffle bytes written and shuffle bytes fetched locally and remotely.

#include "scheduler/listener.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace wordcount {

class StageReport final : public ember::scheduler::SparkListener {
public:
    struct Job {
        int job_id = 0;
        std::int64_t start = 0;
        std::int64_t end = 0;
        std::vector<ember::scheduler::StageInfo> planned;           // every stage of the job
        std::map<int, ember::scheduler::StageInfo> completed;       // last attempt that finished
    };

    void on_job_start(const ember::scheduler::SparkListenerJobStart& e) override {
        std::lock_guard lk(mu_);
        auto& j = jobs_[e.job_id];
        j.job_id = e.job_id;
        j.start = e.time;
        j.planned = e.stage_infos;
    }
    void on_stage_completed(const ember::scheduler::SparkListenerStageCompleted& e) override {
        std::lock_guard lk(mu_);
        for (auto& [_, j] : jobs_) {
            if (j.end != 0) continue;
            for (auto& s : j.planned) {
                if (s.stage_id == e.stage_info.stage_id) j.completed[s.stage_id] = e.stage_info;
            }
        }
    }
    void on_job_end(const ember::scheduler::SparkListenerJobEnd& e) override {
        std::lock_guard lk(mu_);
        jobs_[e.job_id].end = e.time;
    }

    /// Jobs in id order.
    std::vector<Job> jobs() const {
        std::lock_guard lk(mu_);
        std::vector<Job> out;
        for (auto& [_, j] : jobs_) out.push_back(j);
        return out;
    }

    static std::string bytes(std::uint64_t b) {
        if (b < 1024) return fmt::format("{} B", b);
        return fmt::format("{:.1f} MiB ({} B)", static_cast<double>(b) / (1 << 20), b);
    }

    /// Prints one job and its stages to `out`.
    static void print(std::FILE* out, const Job& j, const std::string& label) {
        fmt::print(out, "Job {} ({}): {:.2f} s\n", j.job_id, label, static_cast<double>(j.end - j.start) / 1000.0);
        for (const auto& planned : j.planned) {
            auto it = j.completed.find(planned.stage_id);
            if (it == j.completed.end()) {
                fmt::print(out, "  Stage {} ({}): skipped (its output was computed by an earlier job)\n",
                           planned.stage_id, planned.name);
                continue;
            }
            const auto& s = it->second;
            double wall = s.submission_time && s.completion_time
                              ? static_cast<double>(*s.completion_time - *s.submission_time) / 1000.0
                              : 0.0;
            const auto& m = s.metrics;
            fmt::print(out,
                       "  Stage {} ({}){}: {} tasks, {:.2f} s, shuffle written {}, shuffle fetched local {}, "
                       "remote {}\n",
                       s.stage_id, s.name, s.attempt_id > 0 ? fmt::format(" attempt {}", s.attempt_id) : "",
                       s.num_tasks, wall, bytes(m.shuffle_write.bytes_written), bytes(m.shuffle_read.local_bytes_read),
                       bytes(m.shuffle_read.remote_bytes_read));
        }
    }

private:
    mutable std::mutex mu_;
    std::map<int, Job> jobs_;  // guarded by mu_
};

}  // namespace wordcount
