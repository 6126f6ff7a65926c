// SPDX-License-Identifier: Apache-2.0
// ember-bench: ember against a baseline measured in the same run; one JSON line per figure:
//   {"name": ..., "ember": value, "baseline": value, "ratio": ember/baseline, "unit": ...}
//
//   ember-bench wordcount [--master M] [--partitions P] INPUT...
//       word count on local-cluster[2,1,1024] vs a plain single-threaded C++ count.
#include "apps/wordcount/word_count_job.hpp"
#include "scheduler/ember.hpp"
#include "scheduler/rdd/text_file_rdd.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <unordered_map>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void print_figure(const std::string& name, double ember, double baseline, const std::string& unit) {
    fmt::print("{{\"name\": \"{}\", \"ember\": {:.6g}, \"baseline\": {:.6g}, \"ratio\": {:.4g}, \"unit\": \"{}\"}}\n",
               name, ember, baseline, baseline > 0 ? ember / baseline : 0.0, unit);
    std::fflush(stdout);
}

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

/// The baseline: one thread reads every file and counts words in a hash map.
wordcount::WordStats count_single_threaded(const std::vector<std::pair<std::string, std::uint64_t>>& files,
                                           std::uint64_t top) {
    std::unordered_map<std::string, std::uint64_t, StringHash, std::equal_to<>> counts;
    std::string buf;
    for (const auto& [path, size] : files) {
        std::ifstream in(path, std::ios::binary);
        buf.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        for (std::string_view w : wordcount::Words(buf)) {
            auto it = counts.find(w);
            if (it == counts.end()) {
                counts.emplace(std::string(w), 1);
            } else {
                ++it->second;
            }
        }
    }
    wordcount::WordStats s;
    wordcount::AddToStats add{top};
    for (auto& [w, n] : counts) s = add(std::move(s), wordcount::WordCount(w, n));
    std::sort(s.top.begin(), s.top.end(), wordcount::more_frequent);
    return s;
}

int bench_wordcount(const std::string& master, int partitions, const std::vector<std::string>& inputs) {
    auto files = ember::scheduler::TextFileRdd::list_files(inputs);
    std::uint64_t bytes = 0;
    {
        // Warm the page cache so both sides read from memory.
        std::string buf;
        for (const auto& [path, size] : files) {
            std::ifstream in(path, std::ios::binary);
            buf.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
            bytes += size;
        }
    }
    auto t0 = Clock::now();
    auto expected = count_single_threaded(files, 20);
    double baseline = seconds_since(t0);

    ember::SparkContext sc(master, "ember-bench-wordcount");
    int parts = partitions > 0 ? partitions : 4 * sc.default_parallelism();
    auto t1 = Clock::now();
    auto stats = wordcount::word_stats(wordcount::count_words(sc.text_file(inputs, parts), parts), 20);
    double ember_s = seconds_since(t1);
    if (stats.total != expected.total || stats.distinct != expected.distinct || stats.top != expected.top) {
        fmt::print(stderr, "ember-bench wordcount: ember and the baseline disagree (total {} vs {}, distinct {} vs {})\n",
                   stats.total, expected.total, stats.distinct, expected.distinct);
        return 1;
    }
    fmt::print(stderr, "wordcount: {} files, {:.1f} MiB, {} words, {} distinct; master {}, {} partitions\n", files.size(),
               static_cast<double>(bytes) / (1 << 20), stats.total, stats.distinct, master, parts);
    print_figure("wordcount", ember_s, baseline, "s");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return ember::run(argc, argv, [](int argc, char** argv) {
        CLI::App cli{"ember benchmarks: each prints JSON lines with a baseline measured in the same run."};
        cli.require_subcommand(1);
        std::string master = "local-cluster[2,1,1024]";
        int partitions = 0;
        std::vector<std::string> inputs;
        auto* wc = cli.add_subcommand("wordcount", "word count vs a single-threaded C++ count of the same input");
        wc->add_option("--master", master)->capture_default_str();
        wc->add_option("--partitions", partitions)->check(CLI::PositiveNumber);
        wc->add_option("INPUT", inputs)->required();
        CLI11_PARSE(cli, argc, argv);
        if (wc->parsed()) return bench_wordcount(master, partitions, inputs);
        return 2;
    });
}
