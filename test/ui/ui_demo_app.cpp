// SPDX-License-Identifier: Apache-2.0
// ember-ui-demo: an ember application that keeps multi-stage jobs running, to look at the web UI
// (the driver prints "ember: web UI at http://host:port") and for test/ui/browser_test.
//
//   ember-ui-demo [--master M] [--jobs J] [--partitions P] [--ms X] [--numbers N] [--keys K]
//                 [--conf key=value]...
//
// Each of the J jobs: parallelize 0..N-1 over P partitions -> map_partitions that sleeps X ms and
// keys n by n % K (value n + job) -> reduce_by_key(+) over P partitions (a shuffle: a second
// stage) -> map_partitions that sleeps X ms -> collect. Every result is checked against the
// driver's own sums; each job prints "job <i> done <sum of values>", a wrong result exits 1.
#include "scheduler/ember.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <numeric>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Pair = std::pair<int, std::int64_t>;

/// The sums per key that job `job` must produce, computed on the driver alone.
std::vector<Pair> expected_sums(int numbers, int keys, int job) {
    std::map<int, std::int64_t> sums;
    for (int n = 0; n < numbers; ++n) sums[n % keys] += n + job;
    return {sums.begin(), sums.end()};
}

}  // namespace

int main(int argc, char** argv) {
    return ember::run(argc, argv, [](int argc, char** argv) {
        CLI::App cli{"ember-ui-demo: multi-stage jobs that keep the web UI busy"};
        std::string master = "local-cluster[2,1,512]";
        int jobs = 3;
        int partitions = 4;
        int ms = 500;
        int numbers = 1000;
        int keys = 10;
        std::vector<std::string> confs;
        cli.add_option("--master", master, "master URL")->capture_default_str();
        cli.add_option("--jobs", jobs, "jobs to run, one after another")->capture_default_str()->check(CLI::PositiveNumber);
        cli.add_option("--partitions", partitions, "partitions of each stage")->capture_default_str()->check(CLI::PositiveNumber);
        cli.add_option("--ms", ms, "milliseconds each task sleeps")->capture_default_str()->check(CLI::NonNegativeNumber);
        cli.add_option("--numbers", numbers, "numbers 0..N-1 per job")->capture_default_str()->check(CLI::PositiveNumber);
        cli.add_option("--keys", keys, "distinct keys of the shuffle")->capture_default_str()->check(CLI::PositiveNumber);
        cli.add_option("--conf", confs, "key=value configuration (repeatable)");
        CLI11_PARSE(cli, argc, argv);

        ember::Conf conf;
        for (const auto& kv : confs) {
            auto eq = kv.find('=');
            if (eq == std::string::npos) throw std::invalid_argument("--conf needs key=value, got: " + kv);
            conf.set(kv.substr(0, eq), kv.substr(eq + 1));
        }
        ember::SparkContext sc(master, "ember-ui-demo", conf);

        std::vector<int> data(static_cast<std::size_t>(numbers));
        std::iota(data.begin(), data.end(), 0);
        for (int job = 0; job < jobs; ++job) {
            auto sums = sc.parallelize(data, partitions)
                            .map_partitions([ms, keys, job](std::vector<int>&& part) {
                                std::this_thread::sleep_for(std::chrono::milliseconds(ms));
                                std::vector<Pair> out;
                                out.reserve(part.size());
                                for (int n : part) out.emplace_back(n % keys, std::int64_t{n} + job);
                                return out;
                            })
                            .reduce_by_key([](std::int64_t a, std::int64_t b) { return a + b; }, partitions)
                            .map_partitions([ms](std::vector<Pair>&& part) {
                                std::this_thread::sleep_for(std::chrono::milliseconds(ms));
                                return std::move(part);
                            });
            auto got = sums.collect();
            std::sort(got.begin(), got.end());
            if (got != expected_sums(numbers, keys, job)) {
                fmt::print(stderr, "job {} wrong result: {} keys\n", job, got.size());
                return 1;
            }
            std::int64_t total = 0;
            for (const auto& [k, v] : got) total += v;
            fmt::print("job {} done {}\n", job, total);
            std::fflush(stdout);
        }
        return 0;
    });
}
