// SPDX-License-Identifier: Apache-2.0
#include "scheduler/app.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_endpoint.hpp"
#include "scheduler/executor/coarse_grained_executor_backend.hpp"

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember {

namespace {

Conf& submitted() noexcept {
    static Conf conf;
    return conf;
}

std::string program_name(int argc, char** argv) {
    std::string prog = argc > 0 && argv[0] ? argv[0] : "ember";
    if (auto slash = prog.rfind('/'); slash != std::string::npos) prog = prog.substr(slash + 1);
    return prog;
}

}  // namespace

const Conf& submitted_conf() noexcept { return submitted(); }

std::string take_conf_args(int& argc, char** argv, Conf& conf) {
    std::vector<std::pair<std::string, std::string>> entries;
    std::vector<char*> kept;
    int i = 1;
    for (; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--") break;
        std::string_view kv;
        if (arg == "--conf") {
            if (i + 1 >= argc) return "--conf expects KEY=VALUE after it";
            kv = argv[++i];
        } else if (arg.starts_with("--conf=")) {
            kv = arg.substr(7);
        } else {
            kept.push_back(argv[i]);
            continue;
        }
        auto eq = kv.find('=');
        if (eq == std::string_view::npos || eq == 0) return "--conf expects KEY=VALUE, got '" + std::string(kv) + "'";
        entries.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    for (; i < argc; ++i) kept.push_back(argv[i]);
    for (auto& [k, v] : entries) conf.set(std::move(k), std::move(v));
    for (std::size_t j = 0; j < kept.size(); ++j) argv[j + 1] = kept[j];
    argc = static_cast<int>(kept.size()) + (argc > 0 ? 1 : 0);
    argv[argc] = nullptr;
    return {};
}

int run(int argc, char** argv, const std::function<int(int, char**)>& driver_main) {
    if (argc > 1 && std::strcmp(argv[1], "--ember-executor") == 0) return scheduler::run_executor(argc, argv);
    log::take_argv_levels(argc, argv);
    if (auto error = take_conf_args(argc, argv, submitted()); !error.empty()) {
        std::fprintf(stderr, "%s: error: %s\n", program_name(argc, argv).c_str(), error.c_str());
        return 1;
    }
    try {
        return driver_main(argc, argv);
    } catch (...) {
        std::fprintf(stderr, "%s: error: %s\n", program_name(argc, argv).c_str(),
                     rpc::describe(std::current_exception()).c_str());
        return 1;
    }
}

}  // namespace ember
