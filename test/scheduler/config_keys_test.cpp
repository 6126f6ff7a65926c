// SPDX-License-Identifier: Apache-2.0
// The configuration key table: every "ember.<...>" literal in the sources is in it, and unknown
// keys get one warning each with a suggestion when a known key is close.
#include "scheduler/deploy/config_keys.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

using namespace ember::scheduler;
namespace fs = std::filesystem;

namespace {

/// `"ember.<...>"` literals of one file: a lowercase letter after "ember." (so exception class
/// names such as "ember.UnknownReason" are not keys), then letters, digits, '.', '_' or '-', up
/// to the closing quote. A literal ending in '.' is a prefix (keys built by concatenation or
/// matched with starts_with).
std::set<std::string> key_literals(const std::string& text) {
    static const std::regex literal(R"re("(ember\.[a-z][A-Za-z0-9_.\-]*)")re");
    std::set<std::string> keys;
    for (std::sregex_iterator it(text.begin(), text.end(), literal), end; it != end; ++it) keys.insert((*it)[1]);
    return keys;
}

bool covered(const std::string& literal) {
    if (literal.ends_with('.')) {
        return std::any_of(config_keys().begin(), config_keys().end(),
                           [&](const ConfigKey& k) { return k.key.starts_with(literal); });
    }
    return find_config_key(literal) != nullptr;
}

}  // namespace

TEST_CASE("The scanner finds key literals and skips class names", "[scheduler][config]") {
    auto keys = key_literals(R"(conf.get("ember.ui.port", "4040"); "ember.UnknownReason"; k.starts_with("ember.rpc.");
        // ember.not.a.literal
        "ember.eventLog.compression.codec")");
    CHECK(keys == std::set<std::string>{"ember.ui.port", "ember.rpc.", "ember.eventLog.compression.codec"});
    CHECK(covered("ember.ui.port"));
    CHECK(covered("ember.rpc."));
    CHECK(covered("ember.metrics.conf.*.sink.prometheusServlet.class"));
    CHECK_FALSE(covered("ember.ui.prot"));
    CHECK_FALSE(covered("ember.nothing."));
}

TEST_CASE("Every ember.* key used in the sources is in the table", "[scheduler][config]") {
    const char* root = std::getenv("EMBER_SOURCE_ROOT");
    REQUIRE(root != nullptr);
    const std::set<std::string> source_ext{".cpp", ".hpp", ".h", ".cc", ".capnp", ".py", ".sh"};
    std::map<std::string, std::string> missing;  // key -> first file using it
    int files = 0;
    std::set<std::string> seen;
    for (const char* dir : {"rpc", "storage", "shuffle", "scheduler", "apps"}) {
        REQUIRE(fs::is_directory(fs::path(root) / dir));
        for (const auto& entry : fs::recursive_directory_iterator(fs::path(root) / dir)) {
            if (!entry.is_regular_file() || !source_ext.contains(entry.path().extension().string())) continue;
            std::ifstream in(entry.path(), std::ios::binary);
            std::stringstream text;
            text << in.rdbuf();
            ++files;
            for (const auto& key : key_literals(text.str())) {
                seen.insert(key);
                if (!covered(key)) missing.emplace(key, fs::relative(entry.path(), root).string());
            }
        }
    }
    INFO(files << " files, " << seen.size() << " distinct keys");
    CHECK(files > 100);
    CHECK(seen.size() > 50);
    for (const auto& [key, file] : missing) {
        FAIL_CHECK(key << " (used in " << file << ") is not in scheduler/deploy/config_keys.cpp");
    }
}

TEST_CASE("The table is sorted, without duplicates, with a doc for every key", "[scheduler][config]") {
    auto keys = config_keys();
    REQUIRE(keys.size() > 50);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        INFO(keys[i].key);
        CHECK(keys[i].key.starts_with("ember."));
        CHECK(!keys[i].doc.empty());
        if (i > 0) CHECK(keys[i - 1].key < keys[i].key);
    }
    // The observability keys, present before every one of them is read.
    for (const char* k : {"ember.ui.enabled", "ember.ui.port", "ember.ui.retainedJobs", "ember.ui.retainedStages",
                          "ember.ui.retainedTasks", "ember.ui.retainedDeadExecutors", "ember.ui.showConsoleProgress",
                          "ember.ui.consoleProgress.update.interval", "ember.eventLog.enabled", "ember.eventLog.dir",
                          "ember.eventLog.compress", "ember.eventLog.compression.codec", "ember.eventLog.overwrite",
                          "ember.eventLog.logBlockUpdates.enabled", "ember.history.fs.logDirectory",
                          "ember.history.ui.port"}) {
        INFO(k);
        CHECK(find_config_key(k) != nullptr);
    }
    CHECK(find_config_key("ember.ui.port")->default_value == "4040");
    CHECK(find_config_key("ember.ui.retainedTasks")->default_value == "100000");
    CHECK(find_config_key("ember.ui.consoleProgress.update.interval")->default_value == "200ms");
}

TEST_CASE("An unknown key gets the closest known key as a suggestion", "[scheduler][config]") {
    CHECK(unknown_config_key_message("ember.ui.prot") ==
          "Ignoring unknown configuration key ember.ui.prot (did you mean ember.ui.port?)");
    CHECK(unknown_config_key_message("ember.task.maxFailure") ==
          "Ignoring unknown configuration key ember.task.maxFailure (did you mean ember.task.maxFailures?)");
    CHECK(closest_config_key("ember.ui.showconsoleprogress") == "ember.ui.showConsoleProgress");  // case only
    CHECK(closest_config_key("ember.eventlog.enable") == "ember.eventLog.enabled");
    CHECK(unknown_config_key_message("ember.foo") == "Ignoring unknown configuration key ember.foo");
    CHECK_FALSE(closest_config_key("ember.completely.different.thing"));
}

TEST_CASE("Only unknown ember.* keys are warned about, once each", "[scheduler][config]") {
    ember::Conf conf{{"ember.ui.port", "4041"},
                     {"ember.ui.prot", "4041"},
                     {"ember.metrics.conf.driver.source.jvm.class", "x"},  // under a prefix
                     {"ember.bogus", "1"},
                     {"myapp.setting", "1"}};                              // the application's own
    auto lines = warn_unknown_config_keys(conf);
    CHECK(lines == std::vector<std::string>{"Ignoring unknown configuration key ember.bogus",
                                            "Ignoring unknown configuration key ember.ui.prot (did you mean "
                                            "ember.ui.port?)"});
    CHECK(conf.get("ember.ui.prot") == "4041");  // the value stays
}
