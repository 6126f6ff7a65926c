// SPDX-License-Identifier: Apache-2.0
// ember-test-app: a small ember application for process-level tests.
//
//   ember-test-app sleep [--master M] [--tasks N] [--ms X]
//       runs N tasks that each sleep X ms, then prints "done <N>".
#include "scheduler/ember.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <thread>

int main(int argc, char** argv) {
    return ember::run(argc, argv, [](int argc, char** argv) {
        CLI::App cli{"ember test application"};
        cli.require_subcommand(1);
        std::string master = "local-cluster[2,1,512]";
        int tasks = 4;
        int ms = 100;
        std::vector<std::string> confs;
        auto* sleep = cli.add_subcommand("sleep", "tasks that sleep");
        sleep->add_option("--master", master);
        sleep->add_option("--tasks", tasks);
        sleep->add_option("--ms", ms);
        sleep->add_option("--conf", confs);
        CLI11_PARSE(cli, argc, argv);
        ember::Conf conf;
        for (auto& kv : confs) conf.set(kv.substr(0, kv.find('=')), kv.substr(kv.find('=') + 1));
        ember::SparkContext sc(master, "ember-test-app", conf);
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
