// SPDX-License-Identifier: Apache-2.0
#include "apps/bench/task_bench.hpp"

#include "apps/bench/bench_support.hpp"
#include "apps/bench/raw_tcp.hpp"
#include "scheduler/ember.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

namespace bench {
namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int bench_tasks(const TaskBenchOptions& o) {
    pin_to_cpu(o.cpu);
    // The raw baselines: blocking, and spinning as ember's I/O threads do (raw_tcp.hpp).
    const auto spin = raw_spin_time(o.conf);
    double raw_blocking, raw_spinning;
    {
        ChildServer raw({"__raw-server"});
        raw_stream_rate(raw.port(), o.tasks / 10, 64);  // warm-up
        raw_blocking = raw_stream_rate(raw.port(), o.tasks * 5, 64);
        raw_spinning = raw_stream_rate(raw.port(), o.tasks * 5, 64, spin);
    }
    ember::SparkContext sc(o.master, "ember-bench-tasks", o.conf);
    // Empty partitions: a task does nothing but count zero records and report 8 bytes.
    auto warm = sc.parallelize(std::vector<int>{}, std::min(o.tasks, 1000));
    warm.count();
    auto rdd = sc.parallelize(std::vector<int>{}, o.tasks);
    auto t0 = Clock::now();
    auto n = rdd.count();
    double s = seconds_since(t0);
    if (n != 0) {
        fmt::print(stderr, "ember-bench tasks: expected 0 records, got {}\n", n);
        return 1;
    }
    fmt::print(stderr, "tasks: {} no-op tasks in {:.3f} s on {}\n", o.tasks, s, o.master);
    print_figure_vs_raw(o.cpu >= 0 ? "tasks-pinned" : "tasks", o.tasks / s, raw_blocking, raw_spinning, spin,
                        "tasks/s", /*lower_is_better=*/false);
    return 0;
}

int bench_monitoring(const TaskBenchOptions& o, int repeats) {
    pin_to_cpu(o.cpu);
    auto events = std::filesystem::temp_directory_path() / ("ember-bench-events-" + std::to_string(::getpid()));
    std::filesystem::create_directories(events);
    // One run: a fresh SparkContext, a warm-up job, then one job of o.tasks no-op tasks.
    auto run = [&](bool on) {
        ember::Conf conf = o.conf;
        conf.set("ember.ui.enabled", on ? "true" : "false");
        conf.set("ember.eventLog.enabled", on ? "true" : "false");
        if (on) {
            conf.set("ember.ui.port", "0");
            conf.set("ember.eventLog.dir", events.string());
        }
        ember::SparkContext sc(o.master, on ? "ember-bench-monitoring-on" : "ember-bench-monitoring-off", conf);
        sc.parallelize(std::vector<int>{}, std::min(o.tasks, 1000)).count();
        auto rdd = sc.parallelize(std::vector<int>{}, o.tasks);
        auto t0 = Clock::now();
        rdd.count();
        return o.tasks / seconds_since(t0);
    };
    std::vector<double> off, on;
    for (int i = 0; i < repeats; ++i) {  // alternating, so drift hits both alike
        off.push_back(run(false));
        on.push_back(run(true));
        fmt::print(stderr, "monitoring: pass {}: off {:.0f} tasks/s, on {:.0f} tasks/s\n", i + 1, off.back(), on.back());
    }
    std::error_code ec;
    std::filesystem::remove_all(events, ec);
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    // The baseline is the same job with the UI, status store and event log off.
    print_figure("tasks-monitoring", median(on), median(off), "tasks/s");
    return 0;
}

int bench_task_latency(const TaskBenchOptions& o) {
    pin_to_cpu(o.cpu);
    // The raw baselines: blocking, and spinning as ember's I/O threads do (raw_tcp.hpp).
    const auto spin = raw_spin_time(o.conf);
    std::vector<double> raw_blocking, raw_spinning;
    {
        ChildServer raw({"__raw-server"});
        raw_ping_pong(raw.port(), 1000, 64);
        raw_blocking = raw_ping_pong(raw.port(), std::max(o.jobs, 1000), 64);
        raw_ping_pong(raw.port(), 1000, 64, spin);
        raw_spinning = raw_ping_pong(raw.port(), std::max(o.jobs, 1000), 64, spin);
    }
    ember::SparkContext sc(o.master, "ember-bench-task-latency", o.conf);
    auto rdd = sc.parallelize(std::vector<int>{}, 1);
    for (int i = 0; i < std::min(o.jobs, 200); ++i) rdd.count();  // warm-up: stage binaries, connections
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(o.jobs));
    for (int i = 0; i < o.jobs; ++i) {
        auto t0 = Clock::now();
        rdd.count();
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    std::string suffix = o.cpu >= 0 ? "-pinned" : "";
    for (auto [name, q] : {std::pair{"task-latency", 0.5}, std::pair{"task-latency-p99", 0.99}}) {
        print_figure_vs_raw(name + suffix, percentile(us, q), percentile(raw_blocking, q), percentile(raw_spinning, q),
                            spin, "us", /*lower_is_better=*/true);
    }
    return 0;
}

}  // namespace bench
