// SPDX-License-Identifier: Apache-2.0
// Log levels the way spdlog users set them: SPDLOG_LEVEL / EMBER_LOG_LEVEL in the environment
// (per-logger entries), `SPDLOG_LEVEL=` arguments, and log::load_levels for a given spec.
#include "rpc/log.hpp"
#include "test/support/process.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

using namespace ember;
using spdlog::level::level_enum;

namespace {

/// Runs this test binary's hidden "[log_child]" case with `env` ("K=V" entries, or "-K" to unset
/// K) and returns its stderr.
std::string child_stderr(const std::vector<std::string>& env) {
    std::vector<std::string> argv{"/usr/bin/env"};
    for (const auto& e : env) {
        if (e.starts_with("-")) {
            argv.push_back("-u");
            argv.push_back(e.substr(1));
        } else {
            argv.push_back(e);
        }
    }
    argv.push_back(std::filesystem::read_symlink("/proc/self/exe").string());  // this test binary
    argv.push_back("[log_child]");
    auto r = test::run_process(argv, "-", 30);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.err;
}

bool has(const std::string& text, const std::string& line) { return text.find(line) != std::string::npos; }

}  // namespace

TEST_CASE("log child: logs one line per logger and level", "[.][log_child]") {
    log::get("rpc")->debug("child rpc debug");
    log::get("scheduler")->info("child scheduler info");
    log::get("storage")->info("child storage info");
    log::get("shuffle")->warn("child shuffle warn");
    log::get("shuffle")->flush();
}

TEST_CASE("SPDLOG_LEVEL and EMBER_LOG_LEVEL set per-logger levels in a new process", "[rpc][log]") {
    SECTION("without either, ember's loggers log warnings and worse") {
        auto err = child_stderr({"-SPDLOG_LEVEL", "-EMBER_LOG_LEVEL"});
        CHECK(has(err, "[shuffle] [warning] ") );
        CHECK(has(err, "child shuffle warn"));
        CHECK_FALSE(has(err, "child rpc debug"));
        CHECK_FALSE(has(err, "child scheduler info"));
    }
    SECTION("SPDLOG_LEVEL: a default and one logger's level") {
        auto err = child_stderr({"-EMBER_LOG_LEVEL", "SPDLOG_LEVEL=off,rpc=debug"});
        CHECK(has(err, "[rpc] [debug] "));
        CHECK(has(err, "child rpc debug"));
        CHECK_FALSE(has(err, "child shuffle warn"));
        CHECK_FALSE(has(err, "child scheduler info"));
    }
    SECTION("EMBER_LOG_LEVEL takes the same syntax; SPDLOG_LEVEL's entries win over it") {
        auto err = child_stderr({"EMBER_LOG_LEVEL=scheduler=info,storage=info",
                                 "SPDLOG_LEVEL=off,rpc=debug,storage=error"});
        CHECK(has(err, "child rpc debug"));
        CHECK(has(err, "child scheduler info"));
        CHECK_FALSE(has(err, "child storage info"));
        CHECK_FALSE(has(err, "child shuffle warn"));
    }
    SECTION("EMBER_LOG_LEVEL alone, as before: one level for every logger") {
        auto err = child_stderr({"-SPDLOG_LEVEL", "EMBER_LOG_LEVEL=info"});
        CHECK(has(err, "child scheduler info"));
        CHECK(has(err, "child storage info"));
        CHECK_FALSE(has(err, "child rpc debug"));
    }
    SECTION("an entry with an unknown level is ignored with a warning naming it") {
        auto err = child_stderr({"-EMBER_LOG_LEVEL", "SPDLOG_LEVEL=rpc=loud,scheduler=info"});
        CHECK(has(err, "SPDLOG_LEVEL: ignoring 'rpc=loud'"));
        CHECK(has(err, "child scheduler info"));
        CHECK_FALSE(has(err, "child rpc debug"));
    }
}

TEST_CASE("load_levels applies a spec to existing and later loggers; set_level resets all", "[rpc][log]") {
    log::set_level(level_enum::warn);
    auto rpc = log::get("rpc");
    auto scheduler = log::get("scheduler");
    CHECK(rpc->level() == level_enum::warn);

    CHECK(log::load_levels("info,rpc=debug").empty());
    CHECK(rpc->level() == level_enum::debug);
    CHECK(scheduler->level() == level_enum::info);
    CHECK(log::get("log-test-created-later")->level() == level_enum::info);

    // A later spec adds to the earlier one: rpc keeps debug.
    CHECK(log::load_levels("scheduler=trace").empty());
    CHECK(scheduler->level() == level_enum::trace);
    CHECK(rpc->level() == level_enum::debug);
    CHECK(log::get("log-test-created-last")->level() == level_enum::info);

    auto ignored = log::load_levels("rpc=loud, storage = ERROR");
    REQUIRE(ignored == std::vector<std::string>{"rpc=loud"});
    CHECK(rpc->level() == level_enum::debug);
    CHECK(log::get("storage")->level() == level_enum::err);

    log::set_level(level_enum::critical);
    CHECK(rpc->level() == level_enum::critical);
    CHECK(scheduler->level() == level_enum::critical);
    CHECK(log::get("log-test-after-reset")->level() == level_enum::critical);
    log::set_level(level_enum::warn);
}

TEST_CASE("get returns the registry's logger on every thread, and its levels follow the specs", "[rpc][log]") {
    log::set_level(level_enum::warn);
    auto first = log::get("log-test-cached");
    CHECK(log::get("log-test-cached") == first);  // the thread's cache
    CHECK(spdlog::get("log-test-cached") == first);
    std::shared_ptr<spdlog::logger> other;
    std::thread([&] { other = log::get("log-test-cached"); }).join();
    CHECK(other == first);
    // A spec given after the thread cached it still reaches the logger it uses.
    CHECK(log::load_levels("log-test-cached=debug").empty());
    CHECK(log::get("log-test-cached")->level() == level_enum::debug);
    log::set_level(level_enum::warn);
    CHECK(log::get("log-test-cached")->level() == level_enum::warn);
}

TEST_CASE("SPDLOG_LEVEL= arguments are taken out of argv, applied and exported", "[rpc][log]") {
    log::set_level(level_enum::warn);
    std::string a0 = "prog", a1 = "SPDLOG_LEVEL=rpc=trace", a2 = "input.txt", a3 = "SPDLOG_LEVEL=shuffle=info";
    std::vector<char*> argv{a0.data(), a1.data(), a2.data(), a3.data(), nullptr};
    int argc = 4;
    CHECK(log::take_argv_levels(argc, argv.data()).empty());
    REQUIRE(argc == 2);
    CHECK(std::string(argv[1]) == "input.txt");
    CHECK(argv[2] == nullptr);
    CHECK(log::get("rpc")->level() == level_enum::trace);
    CHECK(log::get("shuffle")->level() == level_enum::info);
    CHECK(log::get("scheduler")->level() == level_enum::warn);
    // Processes started from here (local-cluster executors) inherit the levels.
    const char* exported = std::getenv("SPDLOG_LEVEL");
    REQUIRE(exported);
    CHECK_THAT(exported, Catch::EndsWith("rpc=trace,shuffle=info"));
    log::set_level(level_enum::warn);
}
