// SPDX-License-Identifier: Apache-2.0
// wordcount: counts the words of text files on an ember cluster.
//
//   wordcount [--master M] [--partitions P] [--output DIR] [--top N] [--conf KEY=VALUE]... INPUT...
//
// A word is a maximal run of bytes that are not ASCII whitespace; counts equal
// `LC_ALL=C tr -s ' \t\n\v\f\r' '\n' | sort | uniq -c` over the files. Prints the top N words,
// the total and distinct word counts, and per stage the tasks, wall time and shuffle bytes.
#include "apps/wordcount/stage_report.hpp"
#include "apps/wordcount/word_count_job.hpp"
#include "scheduler/ember.hpp"
#include "scheduler/rdd/text_file_rdd.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>

int main(int argc, char** argv) {
    return ember::run(argc, argv, [](int argc, char** argv) {
        CLI::App cli{"Counts the words of text files on an ember cluster."};
        // ember-submit's --master and --name (ember::submitted_conf()) unless given here.
        std::string master = ember::submitted_conf().get("ember.master", "local-cluster[2,1,1024]");
        std::string name = ember::submitted_conf().get("ember.app.name", "wordcount");
        int partitions = 0;
        std::string output;
        std::uint64_t top = 20;
        std::vector<std::string> inputs;
        cli.add_option("--master", master, "local[N], local-cluster[E,C,M], cluster[E] or slurm")->capture_default_str();
        cli.add_option("--partitions", partitions, "input and reduce partitions (default: 4 x total cores)")
            ->check(CLI::PositiveNumber);
        cli.add_option("--output", output, "write word<TAB>count part files to this new directory");
        cli.add_option("--top", top, "how many of the most frequent words to print")->capture_default_str();
        cli.add_option("INPUT", inputs, "files or directories (read recursively)")->required();
        cli.footer("--conf KEY=VALUE (repeatable): an ember.* configuration entry (taken by ember::run)");
        CLI11_PARSE(cli, argc, argv);

        auto t0 = std::chrono::steady_clock::now();
        ember::Conf conf;  // over the --conf entries (ember::submitted_conf())
        conf.set("ember.master", master).set("ember.app.name", name);
        // Fail on a bad input before starting executors (text_file checks again, and plans).
        try {
            ember::scheduler::TextFileRdd::list_files(inputs);
        } catch (const std::runtime_error& e) {
            throw ember::SparkException(e.what());
        }
        ember::SparkContext sc(conf);
        auto report = std::make_shared<wordcount::StageReport>();
        sc.add_spark_listener(report);
        auto pids = sc.executor_pids();
        if (!pids.empty()) {
            fmt::print("Started {} executor processes (pids {}) for {}\n", pids.size(), fmt::join(pids, ", "), master);
        }
        if (auto url = sc.ui_web_url()) fmt::print("Web UI: {} (REST API: {}/api/v1/applications)\n", *url, *url);
        if (auto log = sc.event_log_path()) fmt::print("Event log: {} (when the job ends)\n", *log);
        std::fflush(stdout);
        int parts = partitions > 0 ? partitions : 4 * sc.default_parallelism();
        auto lines = sc.text_file(inputs, parts);
        auto counts = wordcount::count_words(lines, parts);

        std::vector<std::string> labels;
        if (!output.empty()) {
            counts
                .map([](const wordcount::WordCount& wc) { return wc.first + "\t" + std::to_string(wc.second); })
                .save_as_text_file(output);
            labels.push_back("save word counts to " + output);
        }
        auto stats = wordcount::word_stats(counts, top);
        labels.push_back("total, distinct and top words");
        auto t1 = std::chrono::steady_clock::now();

        fmt::print("\nTop {} words:\n", stats.top.size());
        for (const auto& [word, n] : stats.top) fmt::print("{:>12}  {}\n", n, word);
        fmt::print("\nTotal words:    {}\nDistinct words: {}\n\n", stats.total, stats.distinct);
        auto jobs = report->jobs();
        for (std::size_t i = 0; i < jobs.size(); ++i) {
            wordcount::StageReport::print(stdout, jobs[i], i < labels.size() ? labels[i] : "job");
        }
        fmt::print("\nInput: {} partitions; wall time {:.2f} s including executor start-up\n", lines.num_partitions(),
                   std::chrono::duration<double>(t1 - t0).count());
        if (!output.empty()) fmt::print("Counts written to {}\n", output);
        return 0;
    });
}
