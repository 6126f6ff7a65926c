// SPDX-License-Identifier: Apache-2.0
#include "scheduler/app.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_endpoint.hpp"
#include "scheduler/executor/coarse_grained_executor_backend.hpp"
#include "scheduler/util/shutdown_hook_manager.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
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

std::string encode_submitted_conf(const Conf& conf) {
    std::string out;
    auto put = [&out](std::string_view s) {
        for (char c : s) {
            if (c == '\\') {
                out += "\\\\";
            } else if (c == '\n') {
                out += "\\n";
            } else {
                out += c;
            }
        }
    };
    for (auto& [k, v] : conf.entries()) {
        if (k.empty() || k.find('=') != std::string::npos) {
            throw std::invalid_argument(fmt::format("configuration key '{}' cannot be submitted", k));
        }
        put(k);
        out += '=';
        put(v);
        out += '\n';
    }
    return out;
}

std::string decode_submitted_conf(std::string_view text, Conf& conf) {
    auto unescape = [](std::string_view s, std::string& out) {
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] != '\\') {
                out += s[i];
            } else if (i + 1 < s.size() && (s[i + 1] == '\\' || s[i + 1] == 'n')) {
                out += s[++i] == 'n' ? '\n' : '\\';
            } else {
                return false;
            }
        }
        return true;
    };
    std::vector<std::pair<std::string, std::string>> entries;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (line.empty()) continue;
        auto eq = line.find('=');
        std::string key, value;
        if (eq == std::string_view::npos || eq == 0 || !unescape(line.substr(0, eq), key) ||
            !unescape(line.substr(eq + 1), value)) {
            return fmt::format("malformed {} entry '{}'", kSubmitConfEnvVar, line);
        }
        entries.emplace_back(std::move(key), std::move(value));
    }
    for (auto& [k, v] : entries) conf.set(std::move(k), std::move(v));
    return {};
}

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
    if (const char* text = std::getenv(kSubmitConfEnvVar)) {
        auto error = decode_submitted_conf(text, submitted());
        ::unsetenv(kSubmitConfEnvVar);  // not for executors or programs the app starts
        if (!error.empty()) {
            std::fprintf(stderr, "%s: error: %s\n", program_name(argc, argv).c_str(), error.c_str());
            return 1;
        }
    }
    if (auto error = take_conf_args(argc, argv, submitted()); !error.empty()) {
        std::fprintf(stderr, "%s: error: %s\n", program_name(argc, argv).c_str(), error.c_str());
        return 1;
    }
    // A job failed by a SIGTERM's shutdown hooks (the SparkContext stopped) ends driver_main
    // while they run: the process then leaves from the hooks' thread, with 128 + the signal.
    try {
        int code = driver_main(argc, argv);
        scheduler::util::ShutdownHookManager::await_shutdown_if_started();
        return code;
    } catch (...) {
        scheduler::util::ShutdownHookManager::await_shutdown_if_started();
        std::fprintf(stderr, "%s: error: %s\n", program_name(argc, argv).c_str(),
                     rpc::describe(std::current_exception()).c_str());
        return 1;
    }
}

}  // namespace ember
