// SPDX-License-Identifier: Apache-2.0
// ember-submit as a user runs it (real processes): the configuration's precedence as the driver
// and the tasks of an application see it (ember-defaults.conf < --conf < the dedicated options <
// code), --properties-file, --verbose with secrets redacted, one exact error line and exit code 1
// for each kind of bad input, and a word count submitted to local-cluster checked against
// `tr | sort | uniq -c`.
//
// Binaries: $EMBER_SUBMIT, $EMBER_SUBMIT_TEST_APP (test/integration/submit_test_app.cpp),
// $EMBER_WORDCOUNT.
#include "scheduler/app.hpp"
#include "test/support/process.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using ember::test::run_process;

namespace {

std::string env_path(const char* name) {
    const char* p = std::getenv(name);
    REQUIRE(p != nullptr);
    return p;
}

std::string submit() { return env_path("EMBER_SUBMIT"); }
std::string app() { return env_path("EMBER_SUBMIT_TEST_APP"); }

/// A fresh directory under the temp dir, removed with the object.
struct TempDir {
    TempDir() {
        static int n = 0;
        path = fs::temp_directory_path() / ("ember-submit-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    fs::path write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name, std::ios::binary) << text;
        return path / name;
    }
    fs::path path;
};

/// ember-submit with $EMBER_CONF_DIR set to `conf_dir` (env execs it: same process).
ember::test::ProcessResult submit_with(const fs::path& conf_dir, std::vector<std::string> args) {
    std::vector<std::string> argv{"/usr/bin/env", "EMBER_CONF_DIR=" + conf_dir.string(), submit()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv);
}

bool has_line(const std::string& text, const std::string& line) {
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        if (l == line) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("The submitted configuration travels through the environment and back", "[submit]") {
    ember::Conf conf{{"ember.a", "x=y"}, {"ember.b", ""}, {"ember.c", "line1\nline2\\n\\"}, {"d", " spaced "}};
    ember::Conf back;
    REQUIRE(ember::decode_submitted_conf(ember::encode_submitted_conf(conf), back).empty());
    CHECK(back.entries() == conf.entries());
    ember::Conf untouched{{"k", "v"}};
    CHECK(ember::decode_submitted_conf("ember.a=1\nnovalue\n", untouched) == "malformed EMBER_SUBMIT_CONF entry 'novalue'");
    CHECK(ember::decode_submitted_conf("ember.a=bad\\escape\n", untouched) ==
          "malformed EMBER_SUBMIT_CONF entry 'ember.a=bad\\escape'");
    CHECK(untouched.entries().size() == 1);
    CHECK_THROWS_AS(ember::encode_submitted_conf(ember::Conf{{"a=b", "c"}}), std::invalid_argument);
}

TEST_CASE("ember-defaults.conf < --conf < options < code, on the driver and in executor tasks", "[submit][process]") {
    TempDir conf_dir;
    conf_dir.write("ember-defaults.conf",
                   "# ember-defaults.conf as Spark's spark-defaults.conf\n"
                   "\n"
                   "ember.master                     local[1]\n"
                   "  ember.speculation.multiplier   2.5\n"
                   "ember.speculation.quantile=0.5\n"
                   "ember.speculation.minTaskRuntime : 1s\n"
                   "! also a comment\n"
                   "ember.app.name from-file\n"
                   "ember.scheduler.mode  FA\\\n"
                   "                      IR  \n");
    auto r = submit_with(conf_dir.path,
                         {"--conf", "ember.speculation.quantile=0.6", "--conf=ember.speculation.minTaskRuntime=2s",
                          "--conf", "ember.app.name=from-conf", "--name", "from-flag", "--master",
                          "local-cluster[2,1,512]", app(), "--set", "ember.speculation.minTaskRuntime=3s", "--print",
                          "ember.speculation.multiplier", "--print", "ember.speculation.quantile", "--print",
                          "ember.speculation.minTaskRuntime", "--print", "ember.app.name", "--print",
                          "ember.scheduler.mode", "--print", "ember.submit.deployMode", "one", "--two", "3"});
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(has_line(r.out, "args one --two 3"));
    CHECK(has_line(r.out, "EMBER_SUBMIT_CONF unset"));
    CHECK(has_line(r.out, "master local-cluster[2,1,512]"));  // --master over the file
    CHECK(has_line(r.out, "executor processes 2"));
    CHECK(r.max_children == 2);
    for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{
             {"ember.speculation.multiplier", "2.5"},      // the file only
             {"ember.speculation.quantile", "0.6"},        // --conf over the file
             {"ember.speculation.minTaskRuntime", "3s"},   // code over --conf and the file
             {"ember.app.name", "from-flag"},              // --name over --conf and the file
             {"ember.scheduler.mode", "FAIR"},             // a continued line
             {"ember.submit.deployMode", "client"}}) {
        CHECK(has_line(r.out, "driver " + key + "=" + value));
        CHECK(has_line(r.out, "tasks " + key + "=" + value));  // executors received the same
    }
}

TEST_CASE("--properties-file replaces ember-defaults.conf, and the app's own --conf goes over ember-submit's",
          "[submit][process]") {
    TempDir conf_dir;
    conf_dir.write("ember-defaults.conf", "ember.speculation.multiplier 2.5\nember.master local[1]\n");
    auto props = conf_dir.write("other.conf", "ember.speculation.quantile 0.9\nember.master local[2]\n");
    auto r = submit_with(conf_dir.path, {"--properties-file", props.string(), "--conf", "ember.locality.wait=7s", app(),
                                         "--conf", "ember.locality.wait=8s", "--print", "ember.speculation.multiplier",
                                         "--print", "ember.speculation.quantile", "--print", "ember.locality.wait"});
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(has_line(r.out, "master local[2]"));
    CHECK(r.err.find("ember.master") == std::string::npos);
    CHECK(has_line(r.out, "driver ember.speculation.multiplier unset"));
    CHECK(has_line(r.out, "driver ember.speculation.quantile=0.9"));
    CHECK(has_line(r.out, "driver ember.locality.wait=8s"));
    CHECK(has_line(r.out, "executor processes 0"));

    // A master set in code wins over the submitted one (Spark's SparkConf.setMaster), with a warning.
    r = submit_with(conf_dir.path, {"--master", "local-cluster[1,1,512]", app(), "--set", "ember.master=local[2]"});
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(has_line(r.out, "master local[2]"));
    CHECK(has_line(r.out, "executor processes 0"));
    CHECK(r.err.find("The application sets ember.master=local[2] in code, over the submitted local-cluster[1,1,512]") !=
          std::string::npos);
}

TEST_CASE("--verbose prints each key's value and source, secrets redacted", "[submit][process]") {
    TempDir conf_dir;
    auto defaults = conf_dir.write("ember-defaults.conf", "ember.ui.enabled false\nmy.service.token from-file-tok\n");
    auto r = submit_with(conf_dir.path,
                         {"--verbose", "--master", "local[1]", "--conf", "ember.authenticate.secret=s3cr3t-value",
                          "--conf", "my.db.Password=pw-value", "--conf", "ember.redaction.regex=(?i)apikey",
                          "--conf", "my.ApiKey=ak-value", "--conf", "my.visible=v-value", "--executor-memory", "2g",
                          app(), "a1", "--print", "my.db.Password"});
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(has_line(r.err, "Using properties file: " + defaults.string()));
    CHECK(has_line(r.err, "Application: " + app()));
    CHECK(has_line(r.err, "Application arguments: [a1 --print my.db.Password]"));
    for (const std::string& line : std::vector<std::string>{"  ember.authenticate.secret=*********(redacted)  (--conf)",
                      "  my.db.Password=*********(redacted)  (--conf)",
                      "  my.ApiKey=*********(redacted)  (--conf)",
                      "  my.service.token=*********(redacted)  (" + defaults.string() + ")",
                      std::string("  my.visible=v-value  (--conf)"),
                      std::string("  ember.redaction.regex=(?i)apikey  (--conf)"),
                      "  ember.ui.enabled=false  (" + defaults.string() + ")",
                      std::string("  ember.master=local[1]  (--master)"),
                      std::string("  ember.executor.memory=2g  (--executor-memory)"),
                      std::string("  ember.submit.deployMode=client  (default)")}) {
        CHECK(has_line(r.err, line));
    }
    for (auto secret : {"s3cr3t-value", "pw-value", "ak-value", "from-file-tok"}) {
        CHECK(r.err.find(secret) == std::string::npos);
    }
    CHECK(has_line(r.out, "driver my.db.Password=pw-value"));  // the app has the real value
}

TEST_CASE("Bad input: one error line, exit code 1, the app never runs", "[submit][process]") {
    TempDir conf_dir;
    auto not_exec = conf_dir.write("not-executable", "#!/bin/sh\necho ran\n");
    auto bad_props = conf_dir.write("bad.conf", "ember.master spark://x:7077\n");
    std::string a = app();
    struct Case {
        std::vector<std::string> args;
        std::string line;
    };
    std::vector<Case> cases{
        {{"--master", "yarn", a},
         "--master: Could not parse Master URL: 'yarn' (use local, local[N], local[*], local-cluster[E,C,M], "
         "cluster[E], slurm or sim[E,C,M])"},
        {{"--master", "local[x]", a},
         "--master: Could not parse Master URL: 'local[x]' (the number of threads must be a positive integer, got "
         "'x')"},
        {{"--properties-file", bad_props.string(), a},
         "ember.master (from " + bad_props.string() +
             "): Could not parse Master URL: 'spark://x:7077' (use local, local[N], local[*], local-cluster[E,C,M], "
             "cluster[E], slurm or sim[E,C,M])"},
        {{"--master", "local", "--executor-memory", "4x", a},
         "--executor-memory: '4x' has an unknown size unit 'x' (use b, k, m, g or t)"},
        {{"--master", "local", "--driver-memory=0", a}, "--driver-memory: '0' is not a positive size"},
        {{"--conf", "ember.driver.memory=lots", a},
         "ember.driver.memory (from --conf): 'lots' is not a number with an optional unit"},
        {{"--num-executors", "0", a}, "--num-executors: '0' is not a positive integer"},
        {{"--executor-cores", "two", a}, "--executor-cores: 'two' is not a positive integer"},
        {{"--deploy-mode", "cluster", a},
         "--deploy-mode: cluster deploy mode is not supported yet: the driver runs where ember-submit runs (use "
         "client)"},
        {{"--deploy-mode", "remote", a}, "--deploy-mode: 'remote' is not a deploy mode (use client)"},
        {{"--master", "local", "/nonexistent/ember-app"}, "application '/nonexistent/ember-app' not found"},
        {{"--master", "local", "ember-no-such-app-on-path"}, "application 'ember-no-such-app-on-path' not found on PATH"},
        {{"--master", "local", not_exec.string()}, "application '" + not_exec.string() + "' is not executable"},
        {{"--master", "local", conf_dir.path.string()}, "application '" + conf_dir.path.string() + "' is not a file"},
        {{"--master", "local"},
         "no application given: ember-submit [OPTION]... APP [APP ARGUMENT]... (--help lists the options)"},
        {{"--bogus", a}, "unknown option '--bogus' (ember-submit --help lists the options)"},
        {{"--class", "Main", a}, "unknown option '--class' (ember-submit --help lists the options)"},
        {{a, "--master"}, ""},  // not bad: everything after APP is the app's (checked below)
        {{"--master"}, "--master expects a value"},
        {{"--verbose=yes", a}, "--verbose takes no value"},
        {{"--conf", "novalue", a}, "--conf expects KEY=VALUE, got 'novalue'"},
        {{"--properties-file", "/nonexistent/x.conf", a},
         "cannot read properties file '/nonexistent/x.conf': No such file or directory"},
        {{"--conf", "ember.redaction.regex=(", a},
         "ember.redaction.regex is not a valid regular expression: '(' (from --conf)"},
    };
    for (auto& c : cases) {
        if (c.line.empty()) continue;
        auto r = submit_with(conf_dir.path, c.args);
        INFO("args: " << c.args.front() << " ...\nstdout:\n" << r.out << "\nstderr:\n" << r.err);
        CHECK(r.exit_code == 1);
        CHECK(r.err == "ember-submit: error: " + c.line + "\n");
        CHECK(r.out.empty());
    }
    // --help and --version succeed; options after APP belong to the app.
    auto help = submit_with(conf_dir.path, {"--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.starts_with("Usage: ember-submit [OPTION]... APP [APP ARGUMENT]...\n"));
    auto version = submit_with(conf_dir.path, {"--version"});
    CHECK(version.exit_code == 0);
    CHECK(version.out.starts_with("ember-submit "));
    auto r = submit_with(conf_dir.path, {"--master", "local[1]", a, "--master", "x"});
    CHECK(r.exit_code == 0);
    CHECK(has_line(r.out, "args --master x"));
}

TEST_CASE("A word count submitted to local-cluster[2,1,1024] equals tr | sort | uniq -c", "[submit][process]") {
    TempDir dir;
    // Zipf-like words over a vocabulary of 2000, separated by every kind of ASCII whitespace.
    std::mt19937 rng(12);
    std::string text;
    const char* seps[] = {" ", "  ", "\t", "\n", "\r\n", "\v", "\f", " \n\n"};
    for (int i = 0; i < 60000; ++i) {
        double u = std::uniform_real_distribution<double>(0, 1)(rng);
        int rank = static_cast<int>(std::pow(2000.0, u));
        text += "w" + std::to_string(rank) + (rank % 7 == 0 ? "-Ünï" : "");
        text += seps[rng() % std::size(seps)];
    }
    auto input = dir.write("input.txt", text);
    auto out = dir.path / "counts";
    auto r = submit_with(dir.path, {"--master", "local-cluster[2,1,1024]", "--name", "submitted-wc",
                                    env_path("EMBER_WORDCOUNT"), "--partitions", "5", "--output", out.string(),
                                    "--top", "3", input.string()});
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.max_children == 2);  // the executors, children of the driver ember-submit became
    CHECK(r.out.find("for local-cluster[2,1,1024]") != std::string::npos);

    auto oracle = run_process({"/bin/sh", "-c",
                               "LC_ALL=C tr -s ' \\t\\n\\v\\f\\r' '\\n' < '" + input.string() +
                                   "' | grep -v '^$' | LC_ALL=C sort | uniq -c"});
    REQUIRE(oracle.exit_code == 0);
    std::map<std::string, std::uint64_t> expected, got;
    std::istringstream oin(oracle.out);
    for (std::uint64_t n; oin >> n;) {
        std::string word;
        oin >> word;
        expected[word] = n;
    }
    for (auto& e : fs::directory_iterator(out)) {
        if (!e.path().filename().string().starts_with("part-")) continue;
        std::ifstream in(e.path(), std::ios::binary);
        for (std::string line; std::getline(in, line);) {
            auto tab = line.rfind('\t');
            REQUIRE(tab != std::string::npos);
            CHECK(got.emplace(line.substr(0, tab), std::stoull(line.substr(tab + 1))).second);
        }
    }
    CHECK(expected.size() > 1000);
    CHECK(got == expected);
}
