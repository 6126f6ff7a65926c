// SPDX-License-Identifier: Apache-2.0
// --conf on the command line of every ember app: ember::run takes it out of argv (take_conf_args),
// a SparkContext starts from it and values set in code win, unknown keys are warned about.
#include "scheduler/app.hpp"
#include "test/support/process.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <vector>

namespace {

/// argv for take_conf_args: the strings live in `words`.
struct Args {
    explicit Args(std::vector<std::string> w) : words(std::move(w)) {
        for (auto& s : words) ptrs.push_back(s.data());
        ptrs.push_back(nullptr);
        argc = static_cast<int>(words.size());
    }
    std::vector<std::string> rest() const { return {ptrs.begin(), ptrs.begin() + argc}; }
    std::vector<std::string> words;
    std::vector<char*> ptrs;
    int argc = 0;
};

std::string test_app() {
    const char* p = std::getenv("EMBER_TEST_APP");
    REQUIRE(p != nullptr);
    return p;
}

int count_lines_with(const std::string& text, const std::string& needle) {
    int n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("--conf is taken out of argv in both spellings, anywhere", "[scheduler][conf]") {
    Args a({"prog", "--conf", "ember.a=1", "sub", "--x", "--conf=ember.b=2=3", "in", "--conf", "ember.c=", "--conf",
            "ember.a=4"});
    ember::Conf conf{{"ember.z", "0"}};
    CHECK(ember::take_conf_args(a.argc, a.ptrs.data(), conf).empty());
    CHECK(a.rest() == std::vector<std::string>{"prog", "sub", "--x", "in"});
    CHECK(a.ptrs[static_cast<std::size_t>(a.argc)] == nullptr);
    CHECK(conf.get("ember.a") == "4");    // the later one wins
    CHECK(conf.get("ember.b") == "2=3");  // the value may hold '='
    CHECK(conf.get("ember.c") == "");     // and may be empty
    CHECK(conf.get("ember.z") == "0");
}

TEST_CASE("--conf after -- belongs to the program", "[scheduler][conf]") {
    Args a({"prog", "--conf=k=v", "--", "--conf", "x=y"});
    ember::Conf conf;
    CHECK(ember::take_conf_args(a.argc, a.ptrs.data(), conf).empty());
    CHECK(a.rest() == std::vector<std::string>{"prog", "--", "--conf", "x=y"});
    CHECK(conf.entries().size() == 1);
}

TEST_CASE("A malformed --conf is an error that changes nothing", "[scheduler][conf]") {
    for (auto bad : std::vector<std::vector<std::string>>{
             {"prog", "--conf", "ember.a=1", "--conf", "novalue"},
             {"prog", "--conf==v"},
             {"prog", "x", "--conf"},
         }) {
        INFO(bad.back());
        Args a(bad);
        ember::Conf conf;
        auto error = ember::take_conf_args(a.argc, a.ptrs.data(), conf);
        CHECK(error.starts_with("--conf expects KEY=VALUE"));
        CHECK(a.rest() == bad);
        CHECK(conf.entries().empty());
    }
    Args a({"prog", "--conf", "novalue"});
    ember::Conf conf;
    CHECK(ember::take_conf_args(a.argc, a.ptrs.data(), conf) == "--conf expects KEY=VALUE, got 'novalue'");
}

TEST_CASE("An app's SparkContext starts from --conf, and code wins", "[scheduler][conf][process]") {
    // ember-test-app sets ember.app.name in code; ember.task.maxFailures only comes from --conf.
    auto r = ember::test::run_process({test_app(), "--conf", "ember.task.maxFailures=7", "sleep", "--master",
                                       "local[1]", "--tasks", "1", "--ms", "1", "--conf=ember.app.name=other",
                                       "--print-conf", "ember.task.maxFailures", "--print-conf", "ember.app.name",
                                       "--print-conf", "ember.speculation", "--conf", "ember.ui.prot=1"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("conf ember.task.maxFailures=7\n") != std::string::npos);
    CHECK(r.out.find("conf ember.app.name=ember-test-app\n") != std::string::npos);
    CHECK(r.out.find("conf ember.speculation unset\n") != std::string::npos);
    CHECK(r.out.find("done 1\n") != std::string::npos);
    CHECK(count_lines_with(r.err, "Ignoring unknown configuration key") == 1);
    CHECK(r.err.find("Ignoring unknown configuration key ember.ui.prot (did you mean ember.ui.port?)") !=
          std::string::npos);
}

TEST_CASE("A malformed --conf ends an app with one error line", "[scheduler][conf][process]") {
    auto r = ember::test::run_process({test_app(), "sleep", "--conf", "ember.task.maxFailures"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(r.err == "ember-test-app: error: --conf expects KEY=VALUE, got 'ember.task.maxFailures'\n");
}
