// SPDX-License-Identifier: Apache-2.0
// The wordcount app on local-cluster[2,1,1024] over real text, checked word by word against an
// independent single-process count; and its bad-input behaviour.
//
// Binary: $EMBER_WORDCOUNT. Corpus: $EMBER_TEST_CORPUS (colon-separated), else the C++ standard
// library headers and the licence texts that every Debian machine with g++ has.
#include "apps/wordcount/words.hpp"
#include "test/support/process.hpp"
#include "test/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <unordered_map>

namespace fs = std::filesystem;
using ember::test::run_process;

namespace {

std::string wordcount_binary() {
    const char* p = std::getenv("EMBER_WORDCOUNT");
    REQUIRE(p != nullptr);
    return p;
}

std::vector<std::string> corpus() {
    std::vector<std::string> out;
    if (const char* c = std::getenv("EMBER_TEST_CORPUS"); c && *c) {
        std::stringstream ss(c);
        std::string item;
        while (std::getline(ss, item, ':')) out.push_back(item);
        return out;
    }
    for (const char* d : {"/usr/include/c++/12", "/usr/share/common-licenses"}) {
        if (fs::exists(d)) out.push_back(d);
    }
    return out;
}

// The oracle: a plain single-process count, written independently of ember's code. Words are
// maximal runs of bytes other than space, \t, \n, \v, \f, \r; every regular file counts once
// (symlinks inside directories are not followed, as find -type f).
std::unordered_map<std::string, std::uint64_t> count_words(const std::vector<std::string>& roots) {
    std::vector<fs::path> files;
    for (auto& r : roots) {
        if (fs::is_regular_file(r)) {
            files.emplace_back(r);
            continue;
        }
        for (auto& e : fs::recursive_directory_iterator(r)) {
            if (e.is_regular_file() && !e.is_symlink()) files.push_back(e.path());
        }
    }
    std::unordered_map<std::string, std::uint64_t> counts;
    for (auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::string word;
        for (char c : text) {
            if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r') {
                if (!word.empty()) ++counts[word];
                word.clear();
            } else {
                word += c;
            }
        }
        if (!word.empty()) ++counts[word];
    }
    return counts;
}

std::uint64_t last_number(const std::string& s) {
    std::smatch m;
    std::regex re("\\((\\d+) B\\)|(\\d+) B");
    std::uint64_t v = 0;
    for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it) {
        v = std::stoull((*it)[1].matched ? (*it)[1].str() : (*it)[2].str());
    }
    return v;
}

}  // namespace

TEST_CASE("The wordcount app's splitter finds the words a byte-by-byte scan finds", "[integration][wordcount]") {
    // Random texts over whitespace, bytes next to it (\b, \x0e, \x1f, '!') and high bytes, of
    // every length around the splitter's 16-byte steps.
    std::mt19937 rng(20261202);
    const std::string alphabet = std::string(" \t\n\v\f\r\b\x0e\x1f!ab\x80\xff") + '\0';
    for (int i = 0; i < 20000; ++i) {
        std::string text(rng() % 80, 'x');
        for (auto& c : text) c = alphabet[rng() % alphabet.size()];
        std::vector<std::string> expected;
        std::string word;
        for (char c : text) {
            if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r') {
                if (!word.empty()) expected.push_back(word);
                word.clear();
            } else {
                word += c;
            }
        }
        if (!word.empty()) expected.push_back(word);
        std::vector<std::string> got;
        for (std::string_view w : wordcount::Words(text)) got.emplace_back(w);
        INFO("text #" << i << " of " << text.size() << " bytes");
        REQUIRE(got == expected);
    }
}

TEST_CASE("wordcount on local-cluster agrees with a single-process count, word by word", "[integration][wordcount]") {
    auto roots = corpus();
    REQUIRE_FALSE(roots.empty());
    auto out_dir = fs::temp_directory_path() / ("ember-wc-" + std::to_string(::getpid()));
    fs::remove_all(out_dir);

    std::vector<std::string> argv{wordcount_binary(), "--master", "local-cluster[2,1,1024]", "--partitions", "6",
                                  "--output", out_dir.string()};
    // As is, and with every connection authenticated and encrypted (the driver makes the secret).
    bool secure = GENERATE(false, true);
    CAPTURE(secure);
    if (secure) {
        for (const char* kv : {"ember.authenticate=true", "ember.network.crypto.enabled=true"}) {
            argv.insert(argv.begin() + 1, {"--conf", kv});
        }
    }
    argv.insert(argv.end(), roots.begin(), roots.end());
    auto r = run_process(argv);
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.max_children == 2);  // two executor processes, children of the driver

    // Every count equals the oracle's.
    auto expected = count_words(roots);
    std::unordered_map<std::string, std::uint64_t> got;
    for (auto& e : fs::directory_iterator(out_dir)) {
        if (e.path().filename().string().rfind("part-", 0) != 0) continue;
        std::ifstream in(e.path(), std::ios::binary);
        std::string line;
        while (std::getline(in, line)) {
            auto tab = line.rfind('\t');
            REQUIRE(tab != std::string::npos);
            auto [it, fresh] = got.emplace(line.substr(0, tab), std::stoull(line.substr(tab + 1)));
            CHECK(fresh);  // each word in exactly one part file
        }
    }
    CHECK(fs::exists(out_dir / "_SUCCESS"));
    REQUIRE(got.size() == expected.size());
    std::size_t mismatches = 0;
    for (auto& [w, n] : expected) {
        auto it = got.find(w);
        if (it == got.end() || it->second != n) ++mismatches;
    }
    CHECK(mismatches == 0);
    std::uint64_t total = 0;
    for (auto& [_, n] : expected) total += n;
    CHECK_THAT(r.out, Catch::Contains("Total words:    " + std::to_string(total)));
    CHECK_THAT(r.out, Catch::Contains("Distinct words: " + std::to_string(expected.size())));

    // The reduce stages fetched shuffle blocks from the other executor over TCP.
    std::uint64_t remote = 0;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        auto pos = line.find("remote ");
        if (pos != std::string::npos) remote = std::max(remote, last_number(line.substr(pos)));
    }
    CHECK(remote > 0);

    // No executor outlives the driver.
    for (int pid : r.children) CHECK_FALSE(ember::test::process_alive(pid));
    fs::remove_all(out_dir);
}

TEST_CASE("Log levels given as an argument reach the executors, which log where the driver says",
          "[integration][log]") {
    // SPDLOG_LEVEL=off in the environment, scheduler=info as an argument (taken by ember::run and
    // passed on to the executors): only the scheduler logs, in the driver and in each executor.
    auto local_dir = fs::temp_directory_path() / ("ember-wc-logs-" + std::to_string(::getpid()));
    fs::remove_all(local_dir);
    fs::create_directories(local_dir);
    std::vector<std::string> argv{"/usr/bin/env", "-u", "EMBER_LOG_LEVEL", "SPDLOG_LEVEL=off", wordcount_binary(),
                                  "SPDLOG_LEVEL=scheduler=info", "--master", "local-cluster[2,1,1024]",
                                  "--partitions", "2", "--conf", "ember.local.dir=" + local_dir.string(),
                                  "--conf", "ember.executor.logs.keep=true", "/usr/share/common-licenses/Apache-2.0"};
    auto r = run_process(argv);
    INFO("stdout:\n" << r.out << "\nstderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("] [rpc] ") == std::string::npos);
    CHECK(r.err.find("] [storage] ") == std::string::npos);

    // The driver names each executor's log directory; the executor's own first line, read from
    // that directory's stderr file, names the same file.
    std::regex started(R"(Started executor (\d+) \(pid (\d+)\); its stdout and stderr are in (\S+)/)");
    int executors = 0;
    for (auto it = std::sregex_iterator(r.err.begin(), r.err.end(), started); it != std::sregex_iterator(); ++it) {
        ++executors;
        std::string id = (*it)[1], pid = (*it)[2], dir = (*it)[3];
        CAPTURE(id, dir);
        CHECK(fs::path(dir).parent_path().parent_path() == local_dir);
        CHECK(fs::path(dir).filename() == "executor-" + id);
        std::string log = ember::test::read_file_or_empty(dir + "/stderr");
        CHECK_THAT(log, Catch::Contains("Executor " + id + " (pid " + pid + ") started; its log: " + dir + "/stderr"));
        CHECK(log.find("] [rpc] ") == std::string::npos);
    }
    CHECK(executors == 2);
    CHECK_THAT(r.err, Catch::Contains("Executor logs kept in " + local_dir.string() + "/ember-"));
    fs::remove_all(local_dir);
}

TEST_CASE("wordcount reports bad input in one line, exits non-zero and leaves no process", "[integration][errors]") {
    struct Case {
        std::vector<std::string> args;
        std::string error;
    };
    auto self = fs::temp_directory_path() / ("ember-die-" + std::to_string(::getpid()) + ".sh");
    {
        std::ofstream s(self);
        s << "#!/bin/sh\nexit 3\n";
    }
    fs::permissions(self, fs::perms::owner_all);
    std::vector<Case> cases{
        {{"/nonexistent/ember/input"}, "Input path does not exist: /nonexistent/ember/input"},
        {{"--master", "local-cluster[2,x,1024]", "/usr/share/common-licenses"},
         "Could not parse Master URL: 'local-cluster[2,x,1024]'"},
        {{"--master", "mesos://x", "/usr/share/common-licenses"}, "Could not parse Master URL: 'mesos://x'"},
        {{"--conf", "ember.executor.command=/nonexistent/ember-exe", "/usr/share/common-licenses"},
         "cannot start executor 0: /nonexistent/ember-exe: No such file or directory"},
        {{"--conf", "ember.executor.command=" + self.string(), "/usr/share/common-licenses"},
         "exited with code 3 during start-up"},
    };
    for (auto& c : cases) {
        // Without the UI: a concurrent test holding port 4040 would add a "could not bind" line.
        // Executors that fail to start keep their logs in ember.local.dir: a directory removed at exit.
        std::vector<std::string> argv{wordcount_binary(), "--conf", "ember.ui.enabled=false", "--conf",
                                      "ember.local.dir=" + ember::test::fresh_temp_dir("wordcount-errors")};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        auto r = run_process(argv, "--ember-executor", 60);
        INFO("args: " << argv.back() << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.err, Catch::Contains(c.error));
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);  // one line
        for (int pid : r.children) CHECK_FALSE(ember::test::process_alive(pid));
    }
    fs::remove(self);
}
