// SPDX-License-Identifier: Apache-2.0
// ember-test-app: a small ember application for process-level tests.
//
//   ember-test-app sleep [--master M] [--tasks N] [--ms X] [--prefer-host H] [--print-conf KEY]...
//                        [--conf KEY=VALUE]...
//       runs N tasks that each sleep X ms, then prints "done <N>"; with --prefer-host every task
//       prefers host H (delay scheduling: they wait ember.locality.wait for a core there, then
//       run anywhere). Prints "started" once its SparkContext runs. --print-conf prints
//       "conf KEY=VALUE" (or "conf KEY unset") from the SparkContext's configuration, which
//       starts from the --conf entries ember::run took out of argv.
//       With ember.ui.showConsoleProgress=true, or stderr a terminal, shows the console
//       progress bar.
//
//   ember-test-app broadcast [--master M] [--mib N] [--tasks T] [--conf KEY=VALUE]...
//       broadcasts an N MiB string (pseudo-random bytes) and runs T tasks that each check it
//       (size and XXH3); prints "broadcast N MiB: put S s, first job S s" and "done <T>", or
//       exits 1 if a task saw another value. Measures TorrentBroadcast by hand.
//
//   ember-test-app capture-ref [--master M]
//       runs the issue's `[&offset]` lambda: prints "error: <message>" and exits 1 when the
//       driver refuses it (as it must), "done <sum>" and 0 otherwise.
//
//   ember-test-app crash [--master M] [--signal S | --exit-code C]
//       a task on partition 1 raises signal S (default 11) or calls _exit(C), on every attempt:
//       prints "error: <message>" and exits 1 when the job fails (as it must).
//
//   ember-test-app wordcount [--master M] [--partitions P] [--ms X] [--cache] --output DIR INPUT...
//       counts the words of INPUT as apps/wordcount does, into word<TAB>count part files in DIR,
//       with every map task sleeping X ms first (a job long enough to cut a host or kill the
//       driver under it). --cache caches the lines and counts them in a first job, so the word
//       count's map tasks read cached blocks. Prints "started" once the SparkContext is up and
//       "done" at the end.
//
//   ember-test-app locality [--master M] [--partitions P] --output DIR
//       a shuffle whose reduce task k reads map task k's output only: map task k of P (1000
//       records each) emits (key, (k, 1)) with a key that the reduce side's HashPartitioner puts
//       in partition k; writes "k<TAB>1000" per partition to DIR. Reduce task k prefers the host
//       of map task k (ember.shuffle.reduceLocality.enabled). Prints "done".
#include "apps/wordcount/word_count_job.hpp"
#include "scheduler/ember.hpp"
#include "scheduler/ui/console_progress_bar.hpp"
#include "shuffle/partitioner.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <xxhash.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <numeric>
#include <random>
#include <thread>

#include <unistd.h>

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int broadcast_job(const std::string& master, std::size_t bytes, int tasks) {
    ember::SparkContext sc(master, "ember-test-app");
    std::string value(bytes, '\0');
    std::mt19937_64 rng(11);
    for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
        std::uint64_t v = rng();
        std::memcpy(value.data() + i, &v, 8);
    }
    std::uint64_t hash = XXH3_64bits(value.data(), value.size());
    auto t0 = std::chrono::steady_clock::now();
    auto b = sc.broadcast(std::move(value));
    double put = seconds_since(t0);
    auto t1 = std::chrono::steady_clock::now();
    std::vector<int> xs(static_cast<std::size_t>(tasks), 0);
    auto bad = sc.parallelize(xs, tasks)
                   .filter([b, bytes, hash](int) {
                       const std::string& v = b.value();
                       return v.size() != bytes || XXH3_64bits(v.data(), v.size()) != hash;
                   })
                   .count();
    fmt::print("broadcast {} MiB: put {:.2f} s, first job {:.2f} s\n", bytes >> 20, put, seconds_since(t1));
    fmt::print("done {}\n", tasks);
    return bad == 0 ? 0 : 1;
}

int slow_word_count(const std::string& master, int partitions, int ms, bool cache, const std::string& output,
                    const std::vector<std::string>& inputs) {
    ember::SparkContext sc(master, "ember-test-app wordcount");
    fmt::print("started\n");
    std::fflush(stdout);
    auto lines = sc.text_file(inputs, partitions);
    if (cache) {
        lines = lines.cache();
        fmt::print("lines {}\n", lines.count());
    }
    auto slow = lines.map_partitions([ms](std::vector<std::string>&& part) {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return std::move(part);
    });
    auto counts = wordcount::count_words(slow, partitions);
    counts.map([](const wordcount::WordCount& c) { return c.first + "\t" + std::to_string(c.second); })
        .save_as_text_file(output);
    fmt::print("done\n");
    return 0;
}

/// Map task k's records, keyed so that reduce partition k receives them all.
struct KeyForPartition {
    int partitions = 1;
    std::vector<std::pair<long, std::pair<int, long>>> operator()(int k, std::vector<int>&& part) const {
        ember::shuffle::HashPartitioner hp{partitions};
        long key = 0;
        while (hp.partition(key) != k) ++key;
        std::vector<std::pair<long, std::pair<int, long>>> out;
        out.reserve(part.size());
        for (std::size_t i = 0; i < part.size(); ++i) out.emplace_back(key, std::pair<int, long>(k, 1));
        return out;
    }
    EMBER_SERDE(partitions)
};

int locality_job(const std::string& master, int partitions, const std::string& output) {
    ember::SparkContext sc(master, "ember-test-app locality");
    std::vector<int> xs(static_cast<std::size_t>(partitions) * 1000);
    std::iota(xs.begin(), xs.end(), 0);
    sc.parallelize(xs, partitions)
        .map_partitions_with_index(KeyForPartition{partitions})
        .reduce_by_key(
            [](std::pair<int, long> a, std::pair<int, long> b) {
                return std::pair<int, long>(a.first, a.second + b.second);
            },
            partitions)
        .map([](const std::pair<long, std::pair<int, long>>& kv) {
            return std::to_string(kv.second.first) + "\t" + std::to_string(kv.second.second);
        })
        .save_as_text_file(output);
    fmt::print("done\n");
    return 0;
}

/// A task on partition 1 dies: raise(sig), or _exit(code) when code > 0.
struct Die {
    int sig = SIGSEGV;
    int code = 0;
    long operator()(long x) const {
        auto* tc = ember::scheduler::TaskContext::get();
        if (tc && tc->partition_id() == 1) {
            if (code > 0) ::_exit(code);
            std::raise(sig);
        }
        return x;
    }
    EMBER_SERDE(sig, code)
};

}  // namespace

int main(int argc, char** argv) {
    return ember::run(argc, argv, [](int argc, char** argv) {
        CLI::App cli{"ember test application"};
        cli.require_subcommand(1);
        cli.footer("--conf KEY=VALUE (repeatable, anywhere): configuration, taken by ember::run");
        std::string master = "local-cluster[2,1,512]";
        int tasks = 4;
        int ms = 100;
        std::vector<std::string> print_conf;
        auto* sleep = cli.add_subcommand("sleep", "tasks that sleep");
        sleep->add_option("--master", master);
        sleep->add_option("--tasks", tasks);
        sleep->add_option("--ms", ms);
        sleep->add_option("--print-conf", print_conf, "print this key of the SparkContext's configuration");
        std::string prefer_host;
        sleep->add_option("--prefer-host", prefer_host, "every task prefers this host (makeRDD with locations)");
        int mib = 200;
        auto* bcast = cli.add_subcommand("broadcast", "broadcast a large value and check it in tasks");
        bcast->add_option("--master", master);
        bcast->add_option("--mib", mib);
        bcast->add_option("--tasks", tasks);
        auto* capture = cli.add_subcommand("capture-ref", "a lambda capturing a local by reference");
        capture->add_option("--master", master);
        Die die;
        auto* crash = cli.add_subcommand("crash", "a task that kills its executor");
        crash->add_option("--master", master);
        crash->add_option("--signal", die.sig);
        crash->add_option("--exit-code", die.code);
        int partitions = 6;
        bool cache = false;
        std::string output;
        std::vector<std::string> inputs;
        auto* wc = cli.add_subcommand("wordcount", "a word count with slow map tasks");
        wc->add_option("--master", master);
        wc->add_option("--partitions", partitions)->check(CLI::PositiveNumber);
        wc->add_option("--ms", ms, "each map task sleeps this long first");
        wc->add_flag("--cache", cache, "cache the lines and count them in a first job");
        wc->add_option("--output", output)->required();
        wc->add_option("INPUT", inputs)->required();
        auto* loc = cli.add_subcommand("locality", "reduce tasks whose input is on one host");
        loc->add_option("--master", master);
        loc->add_option("--partitions", partitions)->check(CLI::PositiveNumber);
        loc->add_option("--output", output)->required();
        CLI11_PARSE(cli, argc, argv);
        if (loc->parsed()) return locality_job(master, partitions, output);
        if (wc->parsed()) return slow_word_count(master, partitions, ms, cache, output, inputs);
        if (bcast->parsed()) return broadcast_job(master, static_cast<std::size_t>(mib) << 20, tasks);
        if (capture->parsed() || crash->parsed()) {
            ember::SparkContext sc(master, "ember-test-app");
            std::vector<long> xs(100);
            std::iota(xs.begin(), xs.end(), 1L);
            try {
                long total = 0;
                if (capture->parsed()) {
                    long offset = 1000;
                    for (long v : sc.parallelize(xs, 4).map([&offset](long x) { return x + offset; }).collect()) {
                        total += v;
                    }
                } else {
                    for (long v : sc.parallelize(xs, 4).map(die).collect()) total += v;
                }
                fmt::print("done {}\n", total);
                return 0;
            } catch (const ember::SparkException& e) {
                fmt::print("error: {}\n", e.what());
                return 1;
            }
        }
        ember::SparkContext sc(master, "ember-test-app");
        for (const auto& key : print_conf) {
            auto v = sc.conf().get(key);
            fmt::print("conf {}\n", v ? key + "=" + *v : key + " unset");
        }
        fmt::print("started\n");
        std::fflush(stdout);
        std::vector<int> xs(static_cast<std::size_t>(tasks), ms);
        std::vector<std::pair<int, std::vector<std::string>>> placed;
        for (int x : xs) placed.emplace_back(x, std::vector<std::string>{prefer_host});
        auto n = (prefer_host.empty() ? sc.parallelize(xs, tasks) : sc.make_rdd(std::move(placed)))
                     .map([](int delay) {
                         std::this_thread::sleep_for(std::chrono::milliseconds(delay));
                         return delay;
                     })
                     .count();
        fmt::print("done {}\n", n);
        return 0;
    });
}
