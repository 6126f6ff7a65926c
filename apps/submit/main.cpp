// SPDX-License-Identifier: Apache-2.0
// ember-submit: runs an ember application with a configuration resolved as spark-submit does.
//
//   ember-submit --master M [--deploy-mode client] [--name N] [--num-executors E] [--executor-cores C]
//                [--executor-memory 4g] [--driver-memory 1g] [--conf KEY=VALUE]... [--properties-file F]
//                [--verbose] APP [APP ARGUMENT]...
//
// Resolves conf/ember-defaults.conf (or --properties-file) < --conf < the dedicated options, checks
// it, and execs APP (client deploy mode: the driver is this process from then on, with its pid,
// signals and exit code) with the configuration in ember::kSubmitConfEnvVar, which ember::run reads
// into ember::submitted_conf(); values the application sets in code win (Spark's SparkConf).
// Bad input prints one line "ember-submit: error: <problem>" and exits 1.
#include "apps/submit/submission.hpp"
#include "scheduler/app.hpp"
#include "scheduler/version.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

int fail(const std::string& message) {
    std::fprintf(stderr, "ember-submit: error: %s\n", message.c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace ember::submit;
    try {
        auto args = SubmitArguments::parse(std::vector<std::string>(argv + 1, argv + argc));
        if (args.help) {
            std::fputs(usage().c_str(), stdout);
            return 0;
        }
        if (args.version) {
            fmt::print("ember-submit {}\n", ember::kVersion);
            return 0;
        }
        std::string app = find_application(args.app);
        auto resolved = resolve(args, defaults_file_path());
        if (args.verbose) {
            for (auto& line : describe(resolved, args, app)) std::fprintf(stderr, "%s\n", line.c_str());
            std::fflush(stderr);
        }
        if (::setenv(ember::kSubmitConfEnvVar, ember::encode_submitted_conf(resolved.conf()).c_str(), 1) != 0) {
            return fail(fmt::format("cannot set {}: {}", ember::kSubmitConfEnvVar, std::strerror(errno)));
        }
        std::vector<char*> child;
        child.push_back(args.app.data());  // argv[0] as typed, as a shell passes it
        for (auto& a : args.app_args) child.push_back(a.data());
        child.push_back(nullptr);
        std::fflush(stdout);
        ::execv(app.c_str(), child.data());
        return fail(fmt::format("cannot run '{}': {}", app, std::strerror(errno)));
    } catch (const SubmitError& e) {
        return fail(e.what());
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}
