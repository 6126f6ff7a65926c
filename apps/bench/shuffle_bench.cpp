// SPDX-License-Identifier: Apache-2.0
#include "apps/bench/shuffle_bench.hpp"

#include "apps/bench/bench_support.hpp"
#include "apps/bench/shuffle_jobs.hpp"
#include "scheduler/master_url.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

namespace bench {
namespace {

namespace fs = std::filesystem;

struct Layout {
    int maps = 0;
    int reduces = 0;
};

Layout parse_layout(const std::string& s) {
    auto x = s.find('x');
    if (x == std::string::npos) throw std::invalid_argument("layout '" + s + "' is not MAPSxREDUCES");
    Layout l{std::stoi(s.substr(0, x)), std::stoi(s.substr(x + 1))};
    if (l.maps <= 0 || l.reduces <= 0) throw std::invalid_argument("layout '" + s + "' needs positive counts");
    return l;
}

void print_line(const std::string& name, double ember, double baseline, const std::string& unit,
                const shuffle_jobs::JobHealth& health, bool exact) {
    fmt::print("{{\"name\": \"{}\", \"ember\": {:.6g}, \"baseline\": {:.6g}, \"ratio\": {:.4g}, \"unit\": \"{}\", "
               "\"fetch_failed\": {}, \"stage_retries\": {}, \"exact\": {}, \"remote_bytes_to_disk\": {}}}\n",
               name, ember, baseline, baseline > 0 ? ember / baseline : 0.0, unit, health.fetch_failed.load(),
               health.retried_stages.load(), exact ? "true" : "false", health.remote_bytes_to_disk.load());
    std::fflush(stdout);
}

}  // namespace

int bench_shuffle(const ShuffleBenchOptions& o) {
    auto master = ember::scheduler::MasterUrl::parse(o.master);
    int executors = master.kind == ember::scheduler::MasterUrl::Kind::local ? 1 : master.executors;
    int cores = master.kind == ember::scheduler::MasterUrl::Kind::local ? master.threads : master.cores * executors;
    std::uint64_t declared = static_cast<std::uint64_t>(master.memory_mb) << 20;

    fs::path dir = o.dir.empty() ? fs::temp_directory_path() / fmt::format("ember-bench-shuffle-{}", ::getpid())
                                 : fs::path(o.dir);
    fs::create_directories(dir);
    std::string input = (dir / "records.txt").string();
    std::uint64_t records = o.bytes / shuffle_jobs::kRecordBytes;
    std::uint64_t bytes = records * shuffle_jobs::kRecordBytes;
    if (!fs::exists(input) || fs::file_size(input) != bytes) {
        fmt::print(stderr, "shuffle: generating {} records ({:.0f} MB) in {}\n", records, bytes / 1e6, input);
        shuffle_jobs::generate_records(input, records);
    }
    // GNU sort gets the memory and the cores of the whole cluster.
    std::string sort_memory = fmt::format("{}M", master.memory_mb * executors);
    fs::path tmp = dir / "tmp";
    fs::create_directories(tmp);

    // The oracles and baselines, once per op (their time does not depend on the layout).
    std::string sorted = (dir / "gnu-sorted.txt").string();
    double sort_baseline = 0, reduce_baseline = 0;
    std::uint64_t sort_rss = 0, reduce_rss = 0;
    shuffle_jobs::LinesDigest expected_groups;
    bool want_sort = std::find(o.ops.begin(), o.ops.end(), "sort") != o.ops.end();
    bool want_reduce = std::find(o.ops.begin(), o.ops.end(), "reduce_by_key") != o.ops.end();
    if (want_sort) {
        auto t = Clock::now();
        sort_rss = shuffle_jobs::gnu_sort(input, sorted, sort_memory, cores, tmp.string());
        sort_baseline = std::chrono::duration<double>(Clock::now() - t).count();
    }
    if (want_reduce) {
        auto t = Clock::now();
        expected_groups = shuffle_jobs::gnu_sort_group_by(input, o.prefix_chars, sort_memory, cores, tmp.string(), reduce_rss);
        reduce_baseline = std::chrono::duration<double>(Clock::now() - t).count();
    }
    fmt::print(stderr, "shuffle: GNU sort {:.1f} s (peak {} MiB), sort + group-by {:.1f} s\n", sort_baseline,
               sort_rss >> 20, reduce_baseline);

    int status = 0;
    for (auto& op : o.ops) {
        if (op != "sort" && op != "reduce_by_key") throw std::invalid_argument("unknown op '" + op + "'");
        for (auto& ls : o.layouts) {
            Layout l = parse_layout(ls);
            ember::Conf conf = o.conf;
            conf.set("ember.master", o.master);
            conf.set("ember.app.name", "ember-bench-shuffle");
            shuffle_jobs::set_map_partitions(conf, bytes, l.maps);
            auto health = std::make_shared<shuffle_jobs::JobHealth>();
            std::string out = (dir / fmt::format("out-{}-{}", op, ls)).string();
            fs::remove_all(out);
            double seconds = 0;
            std::uint64_t peak = 0;
            bool exact = false;
            {
                ember::SparkContext sc(conf, {health});
                auto t = Clock::now();
                if (op == "sort") {
                    shuffle_jobs::sort_job(sc, input, l.maps, l.reduces, out);
                } else {
                    shuffle_jobs::reduce_job(sc, input, l.maps, l.reduces, o.prefix_chars, out);
                }
                seconds = std::chrono::duration<double>(Clock::now() - t).count();
                for (int pid : sc.executor_pids()) peak = std::max(peak, shuffle_jobs::peak_rss_bytes(pid));
                if (sc.executor_pids().empty()) peak = shuffle_jobs::peak_rss_bytes(0);  // local[N]: the driver
            }
            auto parts = shuffle_jobs::part_files(out);
            if (op == "sort") {
                auto diff = shuffle_jobs::compare_concatenation(parts, sorted);
                exact = diff.empty();
                if (!exact) fmt::print(stderr, "shuffle: sort {}: {}\n", ls, diff);
            } else {
                exact = shuffle_jobs::digest_files(parts) == expected_groups;
                if (!exact) fmt::print(stderr, "shuffle: reduce_by_key {}: output differs from GNU sort + group-by\n", ls);
            }
            fs::remove_all(out);
            if (!exact || health->fetch_failed > 0) status = 1;
            print_line(fmt::format("{}-{}", op, ls), seconds, op == "sort" ? sort_baseline : reduce_baseline, "s",
                       *health, exact);
            print_line(fmt::format("{}-{}-executor-peak-rss", op, ls), static_cast<double>(peak) / (1 << 20),
                       static_cast<double>(declared) / (1 << 20), "MiB", *health, exact);
        }
    }
    fs::remove(sorted);
    if (o.dir.empty()) fs::remove_all(dir);
    return status;
}

}  // namespace bench
