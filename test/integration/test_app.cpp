// SPDX-License-Identifier: Apache-2.0
// ember-test-app: a small ember application for process-level tests.
//
//   ember-test-app sleep [--master M] [--tasks N] [--ms X] [--print-conf KEY]... [--conf KEY=VALUE]...
//       runs N tasks that each sleep X ms, then prints "done <N>". --print-conf prints
//       "conf KEY=VALUE" (or "conf KEY unset") from the SparkContext's configuration, which
//       starts from the --conf entries ember::run took out of argv.
//       With ember.ui.showConsoleProgress=true, or stderr a terminal, shows the console
//       progress bar.
#include "scheduler/ember.hpp"
#include "scheduler/ui/console_progress_bar.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <thread>

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
        CLI11_PARSE(cli, argc, argv);
        ember::SparkContext sc(master, "ember-test-app");
        for (const auto& key : print_conf) {
            auto v = sc.conf().get(key);
            fmt::print("conf {}\n", v ? key + "=" + *v : key + " unset");
        }
        // TODO(now): SparkContext should own the bar (the lead wires it); then drop these lines.
        if (ember::scheduler::ConsoleProgressBar::enabled_by_conf(sc.conf(), 2)) {
            sc.add_spark_listener(std::make_shared<ember::scheduler::ConsoleProgressBar>(
                ember::scheduler::ConsoleProgressBar::options_from_conf(sc.conf())));
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
