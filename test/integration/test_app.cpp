// SPDX-License-Identifier: Apache-2.0
// ember-test-app: a small ember application for process-level tests.
//
//   ember-test-app sleep [--master M] [--tasks N] [--ms X] [--print-conf KEY]... [--conf KEY=VALUE]...
//       runs N tasks that each sleep X ms, then prints "done <N>". --print-conf prints
//       "conf KEY=VALUE" (or "conf KEY unset") from the SparkContext's configuration, which
//       starts from the --conf entries ember::run took out of argv.
//       With ember.ui.showConsoleProgress=true, or stderr a terminal, shows the console
//       progress bar.
//
//   ember-test-app broadcast [--master M] [--mib N] [--tasks T] [--conf KEY=VALUE]...
//       broadcasts an N MiB string (pseudo-random bytes) and runs T tasks that each check it
//       (size and XXH3); prints "broadcast N MiB: put S s, first job S s" and "done <T>", or
//       exits 1 if a task saw another value. Measures TorrentBroadcast by hand.
#include "scheduler/ember.hpp"
#include "scheduler/ui/console_progress_bar.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <xxhash.h>

#include <chrono>
#include <cstring>
#include <random>
#include <thread>

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
        int mib = 200;
        auto* bcast = cli.add_subcommand("broadcast", "broadcast a large value and check it in tasks");
        bcast->add_option("--master", master);
        bcast->add_option("--mib", mib);
        bcast->add_option("--tasks", tasks);
        CLI11_PARSE(cli, argc, argv);
        if (bcast->parsed()) return broadcast_job(master, static_cast<std::size_t>(mib) << 20, tasks);
        ember::SparkContext sc(master, "ember-test-app");
        for (const auto& key : print_conf) {
            auto v = sc.conf().get(key);
            fmt::print("conf {}\n", v ? key + "=" + *v : key + " unset");
        }
        fmt::print("started\n");
        std::fflush(stdout);
        std::vector<int> xs(static_cast<std::size_t>(tasks), ms);
        auto n = sc.parallelize(xs, tasks)
                     .map([](int delay) {
                         std::this_thread::sleep_for(std::chrono::milliseconds(delay));
                         return delay;
                     })
                     .count();
        fmt::print("done {}\n", n);
        return 0;
    });
}
