// SPDX-License-Identifier: Apache-2.0
// The console progress bar of a real app on a pseudo-terminal: ember-test-app runs a stage of
// more than a second on a 100-column pty (COLUMNS says otherwise); the bar must show, be exactly
// 100 columns wide (the width comes from the terminal), and be cleared when the job ends.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

struct PtyRun {
    std::string output;  // everything the terminal received
    int exit_code = -1;
};

/// Runs `argv` on a new pty of `columns` columns, with COLUMNS=37 in its environment, until it
/// exits (killed after `timeout`).
PtyRun run_on_pty(const std::vector<std::string>& argv, unsigned short columns, std::chrono::seconds timeout) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    winsize ws{};
    ws.ws_col = columns;
    ws.ws_row = 24;
    int master = -1;
    pid_t pid = ::forkpty(&master, nullptr, nullptr, &ws);
    if (pid == 0) {  // the child: nothing of Catch2's here
        ::setenv("COLUMNS", "37", 1);  // wrong on purpose: the terminal's own size must win
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    REQUIRE(pid > 0);
    PtyRun r;
    auto until = std::chrono::steady_clock::now() + timeout;
    bool timed_out = false;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd pfd{master, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
        char buf[4096];
        ssize_t n = ::read(master, buf, sizeof buf);
        if (n <= 0) break;  // EIO: the child's side is closed
        r.output.append(buf, static_cast<std::size_t>(n));
    }
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(master);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string printable(std::string s) {
    std::string out;
    for (char c : s) out += c == '\r' ? std::string("\\r") : c == '\n' ? std::string("\\n\n") : std::string(1, c);
    return out;
}

}  // namespace

TEST_CASE("A real app shows a terminal-wide progress bar on its pty and clears it at job end",
          "[integration][progress]") {
    const char* app = std::getenv("EMBER_TEST_APP");
    REQUIRE(app != nullptr);
    // local[2]: 4 tasks of 800 ms in two waves, one stage of about 1.6 s.
    auto r = run_on_pty({app, "sleep", "--master", "local[2]", "--tasks", "4", "--ms", "800", "--conf",
                         "ember.ui.showConsoleProgress=true"},
                        100, std::chrono::seconds(60));
    INFO(printable(r.output));
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("done 4") != std::string::npos);

    // Frames are "\r<bar>\r"; the terminal turns "\n" into "\r\n".
    std::vector<std::string> bars;
    std::size_t last_bar_end = 0;
    for (std::size_t at = r.output.find("\r[Stage 0:"); at != std::string::npos;
         at = r.output.find("\r[Stage 0:", at + 1)) {
        auto end = r.output.find('\r', at + 1);
        REQUIRE(end != std::string::npos);
        bars.push_back(r.output.substr(at + 1, end - at - 1));
        last_bar_end = end;
    }
    REQUIRE(!bars.empty());
    for (const auto& bar : bars) {
        INFO(bar);
        CHECK(bar.size() == 100);
        CHECK(bar.ends_with(") / 4]"));
    }
    // Cleared with terminal-width spaces after the last bar.
    CHECK(r.output.find("\r" + std::string(100, ' ') + "\r", last_bar_end) != std::string::npos);
}
