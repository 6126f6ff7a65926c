// SPDX-License-Identifier: Apache-2.0
// ember-submit-test-app: an application that shows the configuration it was submitted with, as
// its driver and its tasks see it (for test/integration/submit_test.cpp).
//
//   ember-submit-test-app [--set KEY=VALUE]... [--print KEY]... [ARG]...
//
// --set: a value set in code (ember::Conf given to the SparkContext). The app parses nothing
// else: its master and everything else come from ember::submitted_conf(). Prints
//   args ARG...                      the arguments left after the options above
//   EMBER_SUBMIT_CONF unset          (or set: the variable ember::run should have removed)
//   master M                         the SparkContext's ember.master
//   driver KEY=VALUE | driver KEY unset     per --print, from SparkContext::conf()
//   tasks KEY=V1[,V2...]             per --print: the distinct values 4 tasks read from
//                                    TaskContext::conf() (sorted; "unset" if not set)
//   executor processes N             processes the master started
#include "scheduler/ember.hpp"
#include "scheduler/task_context.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

int main(int argc, char** argv) {
    return ember::run(argc, argv, [](int argc, char** argv) {
        ember::Conf conf;
        std::vector<std::string> keys, rest;
        for (int i = 1; i < argc; ++i) {
            std::string_view a = argv[i];
            if ((a == "--set" || a == "--print") && i + 1 < argc) {
                std::string v = argv[++i];
                if (a == "--print") {
                    keys.push_back(v);
                    continue;
                }
                auto eq = v.find('=');
                if (eq == std::string::npos) throw std::invalid_argument("--set expects KEY=VALUE, got " + v);
                conf.set(v.substr(0, eq), v.substr(eq + 1));
                continue;
            }
            rest.emplace_back(a);
        }
        fmt::print("args {}\n", fmt::join(rest, " "));
        // ember::run took ember-submit's configuration out of the environment.
        fmt::print("{} {}\n", ember::kSubmitConfEnvVar, std::getenv(ember::kSubmitConfEnvVar) ? "set" : "unset");
        ember::SparkContext sc(conf);
        fmt::print("master {}\n", sc.conf().get("ember.master", "unset"));
        for (auto& key : keys) {
            if (auto v = sc.conf().get(key)) {
                fmt::print("driver {}={}\n", key, *v);
            } else {
                fmt::print("driver {} unset\n", key);
            }
            auto seen = sc.parallelize(std::vector<int>{0, 1, 2, 3}, 4)
                            .map(ember::bind(
                                [](const std::string& k, int) {
                                    return ember::scheduler::TaskContext::get()->conf().get(k, "unset");
                                },
                                key))
                            .collect();
            std::set<std::string> distinct(seen.begin(), seen.end());
            fmt::print("tasks {}={}\n", key, fmt::join(distinct, ","));
        }
        fmt::print("executor processes {}\n", sc.executor_pids().size());
        return 0;
    });
}
