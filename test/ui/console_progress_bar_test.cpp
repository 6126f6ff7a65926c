// SPDX-License-Identifier: Apache-2.0
// ConsoleProgressBar: Spark's exact rendering, the 500 ms delays, at most three stages, the clear
// at job end, and quiet failure on a broken fd; output read from a pipe, widths injected.
#include "scheduler/ui/console_progress_bar.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace ember::scheduler;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Progress = ConsoleProgressBar::StageProgress;

namespace {

/// A pipe whose read end the test drains.
class Pipe {
public:
    Pipe() {
        REQUIRE(::pipe(fds_) == 0);
        ::fcntl(fds_[0], F_SETFL, O_NONBLOCK);
    }
    ~Pipe() {
        close_read();
        if (fds_[1] >= 0) ::close(fds_[1]);
    }
    int write_fd() const { return fds_[1]; }
    void close_read() {
        if (fds_[0] >= 0) ::close(fds_[0]);
        fds_[0] = -1;
    }
    /// Everything written so far (waits up to `wait` for the first byte).
    std::string read(std::chrono::milliseconds wait = 0ms) {
        std::string out;
        pollfd pfd{fds_[0], POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(wait.count())) <= 0) return out;
        char buf[4096];
        for (ssize_t n; (n = ::read(fds_[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
        return out;
    }
    /// Reads until `out` (accumulated) contains `needle`, or `timeout` passes.
    bool read_until(std::string& out, const std::string& needle, std::chrono::milliseconds timeout = 5s) {
        auto until = Clock::now() + timeout;
        while (out.find(needle) == std::string::npos) {
            if (Clock::now() >= until) return false;
            out += read(20ms);
        }
        return true;
    }

private:
    int fds_[2] = {-1, -1};
};

ConsoleProgressBar::Options pipe_options(const Pipe& p, int width, std::chrono::milliseconds interval = 20ms) {
    ConsoleProgressBar::Options o;
    o.fd = p.write_fd();
    o.update_interval = interval;
    o.width = [width](int) { return width; };
    return o;
}

SparkListenerStageSubmitted submitted(int stage, int tasks, int attempt = 0) {
    SparkListenerStageSubmitted e;
    e.stage_info.stage_id = stage;
    e.stage_info.attempt_id = attempt;
    e.stage_info.num_tasks = tasks;
    return e;
}
SparkListenerStageCompleted completed(int stage, int attempt = 0) {
    SparkListenerStageCompleted e;
    e.stage_info.stage_id = stage;
    e.stage_info.attempt_id = attempt;
    return e;
}
SparkListenerTaskStart task_start(int stage) { return {stage, 0, {}}; }
SparkListenerTaskEnd task_end(int stage, std::string reason = "Success") {
    return {stage, 0, "ResultTask", std::move(reason), {}, {}};
}
SparkListenerJobEnd job_end() { return {0, 0, true, {}}; }

/// The last complete frame ("\r<bar>\r") of `out`.
std::string last_frame(const std::string& out) {
    auto end = out.rfind('\r');
    if (end == std::string::npos || end == 0) return {};
    auto begin = out.rfind('\r', end - 1);
    return begin == std::string::npos ? std::string{} : out.substr(begin + 1, end - begin - 1);
}

}  // namespace

TEST_CASE("A stage renders as Spark's header, bar and counts", "[ui][progress]") {
    CHECK(ConsoleProgressBar::render_stage({0, 4, 2, 1}, 40) == "[Stage 0:====>              (1 + 2) / 4]");
    CHECK(ConsoleProgressBar::render_stage({0, 4, 2, 1}, 40).size() == 40);
    // Nothing done: the arrow at the first column.
    CHECK(ConsoleProgressBar::render_stage({7, 10, 3, 0}, 36) == "[Stage 7:>             (0 + 3) / 10]");
    // All done: '=' over the whole width, no arrow.
    CHECK(ConsoleProgressBar::render_stage({1, 2, 0, 2}, 30) == "[Stage 1:=========(2 + 0) / 2]");
    // Spark's example line, 80 columns.
    CHECK(ConsoleProgressBar::render_stage({3, 100, 8, 34}, 80) ==
          "[Stage 3:===================>                                    (34 + 8) / 100]");
}

TEST_CASE("A stage without room for a bar renders header and counts only", "[ui][progress]") {
    const std::string bare = "[Stage 12:(3 + 1) / 9]";  // 22 characters
    for (int width : {22, 21, 5, 0, -3}) {
        INFO("width " << width);
        CHECK(ConsoleProgressBar::render_stage({12, 9, 1, 3}, width) == bare);
    }
    CHECK(ConsoleProgressBar::render_stage({12, 9, 1, 3}, 23) == "[Stage 12:>(3 + 1) / 9]");
    // A stage with no tasks (never divided by).
    CHECK(ConsoleProgressBar::render_stage({2, 0, 0, 0}, 24) == "[Stage 2:>  (0 + 0) / 0]");
}

TEST_CASE("Stages share the terminal width equally, left to right", "[ui][progress]") {
    std::vector<Progress> three{{0, 4, 1, 1}, {1, 8, 0, 0}, {2, 2, 1, 1}};
    auto line = ConsoleProgressBar::render(three, 100);
    CHECK(line == ConsoleProgressBar::render_stage(three[0], 33) + ConsoleProgressBar::render_stage(three[1], 33) +
                      ConsoleProgressBar::render_stage(three[2], 33));
    CHECK(line.size() == 99);
    CHECK(ConsoleProgressBar::render({{5, 10, 2, 5}}, 57).size() == 57);
    CHECK(ConsoleProgressBar::render({}, 80).empty());
}

TEST_CASE("The terminal width comes from the terminal, then COLUMNS, then 80", "[ui][progress]") {
    Pipe p;
    ::setenv("COLUMNS", "123", 1);
    CHECK(ConsoleProgressBar::terminal_width(p.write_fd()) == 123);
    ::setenv("COLUMNS", "12x", 1);
    CHECK(ConsoleProgressBar::terminal_width(p.write_fd()) == 80);
    ::setenv("COLUMNS", "0", 1);
    CHECK(ConsoleProgressBar::terminal_width(p.write_fd()) == 80);
    ::unsetenv("COLUMNS");
    CHECK(ConsoleProgressBar::terminal_width(p.write_fd()) == 80);

    int master = -1, slave = -1;
    winsize ws{};
    ws.ws_col = 77;
    ws.ws_row = 20;
    REQUIRE(::openpty(&master, &slave, nullptr, nullptr, &ws) == 0);
    ::setenv("COLUMNS", "123", 1);
    CHECK(ConsoleProgressBar::terminal_width(slave) == 77);
    ws.ws_col = 131;  // a resize is seen at the next call
    REQUIRE(::ioctl(master, TIOCSWINSZ, &ws) == 0);
    CHECK(ConsoleProgressBar::terminal_width(slave) == 131);
    ::unsetenv("COLUMNS");
    ember::Conf none;
    CHECK(ConsoleProgressBar::enabled_by_conf(none, slave));
    CHECK_FALSE(ConsoleProgressBar::enabled_by_conf(none, p.write_fd()));
    CHECK_FALSE(ConsoleProgressBar::enabled_by_conf(ember::Conf{{"ember.ui.showConsoleProgress", "false"}}, slave));
    CHECK(ConsoleProgressBar::enabled_by_conf(ember::Conf{{"ember.ui.showConsoleProgress", "true"}}, p.write_fd()));
    ::close(slave);
    ::close(master);
}

TEST_CASE("The refresh interval comes from ember.ui.consoleProgress.update.interval", "[ui][progress]") {
    CHECK(ConsoleProgressBar::options_from_conf({}).update_interval == 200ms);
    CHECK(ConsoleProgressBar::options_from_conf({{"ember.ui.consoleProgress.update.interval", "1s"}}).update_interval ==
          1000ms);
    CHECK(ConsoleProgressBar::options_from_conf({{"ember.ui.consoleProgress.update.interval", "50"}}).update_interval ==
          50ms);
    CHECK(ConsoleProgressBar::options_from_conf({}).fd == 2);
}

TEST_CASE("A stage shows only once it is older than 500 ms", "[ui][progress]") {
    Pipe p;
    ConsoleProgressBar bar(pipe_options(p, 60));
    auto t0 = Clock::now();
    bar.on_stage_submitted(submitted(0, 4));
    bar.on_task_start(task_start(0));
    std::this_thread::sleep_for(350ms);
    CHECK(p.read().empty());
    std::string out;
    REQUIRE(p.read_until(out, "]\r"));
    CHECK(Clock::now() - t0 >= 500ms);
    CHECK(out.starts_with("\r[Stage 0:"));
    CHECK(last_frame(out) == "[Stage 0:>                                      (0 + 1) / 4]");
    CHECK(last_frame(out).size() == 60);
}

TEST_CASE("The line is rewritten when it changes, not at every tick", "[ui][progress]") {
    Pipe p;
    ConsoleProgressBar bar(pipe_options(p, 50));
    bar.on_stage_submitted(submitted(4, 2));
    bar.on_task_start(task_start(4));
    bar.on_task_start(task_start(4));
    std::string out;
    REQUIRE(p.read_until(out, "]\r"));
    CHECK(last_frame(out) == "[Stage 4:>                            (0 + 2) / 2]");
    std::this_thread::sleep_for(200ms);  // ten ticks, nothing changed
    CHECK(p.read().empty());
    bar.on_task_end(task_end(4));
    out.clear();
    REQUIRE(p.read_until(out, "(1 + 1) / 2]\r"));
    CHECK(last_frame(out) == "[Stage 4:==============>              (1 + 1) / 2]");
    // A failed task leaves the running count, not the done count.
    bar.on_task_end(task_end(4, "ExceptionFailure"));
    out.clear();
    REQUIRE(p.read_until(out, "(1 + 0) / 2]\r"));
}

TEST_CASE("At most three stages show, the lowest ids first", "[ui][progress]") {
    Pipe p;
    ConsoleProgressBar bar(pipe_options(p, 90));
    for (int id : {4, 2, 0, 3, 1}) bar.on_stage_submitted(submitted(id, 10));
    std::string out;
    REQUIRE(p.read_until(out, "]\r"));
    auto line = last_frame(out);
    CHECK(line == ConsoleProgressBar::render({{0, 10, 0, 0}, {1, 10, 0, 0}, {2, 10, 0, 0}}, 90));
    CHECK(line.size() == 90);
    CHECK(line.find("[Stage 3:") == std::string::npos);
    // Once stage 1 completes, stage 3 moves up.
    bar.on_stage_completed(completed(1));
    out.clear();
    REQUIRE(p.read_until(out, "]\r"));
    CHECK(last_frame(out) == ConsoleProgressBar::render({{0, 10, 0, 0}, {2, 10, 0, 0}, {3, 10, 0, 0}}, 90));
}

TEST_CASE("A job end with no active stage clears the line", "[ui][progress]") {
    Pipe p;
    ConsoleProgressBar bar(pipe_options(p, 40));
    bar.on_stage_submitted(submitted(0, 1));
    bar.on_stage_submitted(submitted(1, 1));
    std::string out;
    REQUIRE(p.read_until(out, "]\r"));
    // A job end while a stage is still active (another job's) leaves the line alone.
    bar.on_stage_completed(completed(0));
    bar.on_job_end(job_end());
    out.clear();
    REQUIRE(p.read_until(out, "]\r"));
    CHECK(last_frame(out) == ConsoleProgressBar::render_stage({1, 1, 0, 0}, 40));
    bar.on_stage_completed(completed(1));
    bar.on_job_end(job_end());
    out.clear();
    REQUIRE(p.read_until(out, "\r" + std::string(40, ' ') + "\r", 2s));
    CHECK(out == "\r" + std::string(40, ' ') + "\r");
    // Nothing more: no stage, and a second finish_all has nothing to clear.
    bar.finish_all();
    CHECK(p.read(300ms).empty());
}

TEST_CASE("Nothing shows within 500 ms of finish_all", "[ui][progress]") {
    Pipe p;
    ConsoleProgressBar bar(pipe_options(p, 40));
    bar.on_stage_submitted(submitted(0, 3));
    std::string out;
    REQUIRE(p.read_until(out, "]\r"));
    auto finished = Clock::now();
    bar.finish_all();  // as after a job of a concurrent caller: the stage stays active
    out.clear();
    REQUIRE(p.read_until(out, std::string(40, ' ') + "\r"));
    out.clear();
    REQUIRE(p.read_until(out, "]\r", 3s));
    CHECK(Clock::now() - finished >= 500ms);
    CHECK(last_frame(out) == ConsoleProgressBar::render_stage({0, 3, 0, 0}, 40));
}

TEST_CASE("stop() clears a shown line and is idempotent", "[ui][progress]") {
    Pipe p;
    auto bar = std::make_unique<ConsoleProgressBar>(pipe_options(p, 30));
    bar->on_stage_submitted(submitted(0, 3));
    std::string out;
    REQUIRE(p.read_until(out, "]\r"));
    bar->stop();
    CHECK(p.read(100ms) == "\r" + std::string(30, ' ') + "\r");
    bar->stop();
    bar.reset();
    CHECK(p.read(50ms).empty());
}

TEST_CASE("A stderr pipe or socket without a reader neither kills the process nor blocks", "[ui][progress]") {
    REQUIRE(std::signal(SIGPIPE, SIG_DFL) != SIG_ERR);  // the default: a SIGPIPE would end the test
    int fds[2] = {-1, -1};
    SECTION("a pipe (poll reports POLLERR)") { REQUIRE(::pipe(fds) == 0); }
    SECTION("a socket, as journald's stderr (write fails with EPIPE and raises SIGPIPE)") {
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    }
    ::close(fds[0]);
    ConsoleProgressBar::Options o;
    o.fd = fds[1];
    o.update_interval = 20ms;
    o.width = [](int) { return 30; };
    auto bar = std::make_unique<ConsoleProgressBar>(o);
    bar->on_stage_submitted(submitted(0, 3));
    std::this_thread::sleep_for(700ms);  // a write is attempted and fails
    bar->on_task_start(task_start(0));
    std::this_thread::sleep_for(100ms);
    auto t0 = Clock::now();
    bar.reset();
    CHECK(Clock::now() - t0 < 3s);  // no write blocks (a hang would never get here)
    ::close(fds[1]);
}

TEST_CASE("A full pipe skips redraws instead of blocking stop()", "[ui][progress]") {
    Pipe p;
    // Fill the pipe so that no write fits.
    ::fcntl(p.write_fd(), F_SETFL, O_NONBLOCK);
    std::string junk(65536, 'x');
    while (::write(p.write_fd(), junk.data(), junk.size()) > 0) {
    }
    ::fcntl(p.write_fd(), F_SETFL, 0);
    auto bar = std::make_unique<ConsoleProgressBar>(pipe_options(p, 30, 50ms));
    bar->on_stage_submitted(submitted(0, 3));
    std::this_thread::sleep_for(800ms);
    auto t0 = Clock::now();
    bar.reset();
    CHECK(Clock::now() - t0 < 3s);  // no write blocks (a hang would never get here)
}

TEST_CASE("A closed fd is ignored", "[ui][progress]") {
    int fd = 1000;
    while (::fcntl(fd, F_GETFD) != -1) ++fd;  // an fd number nothing uses
    ConsoleProgressBar::Options o;
    o.fd = fd;
    o.update_interval = 20ms;
    o.width = [](int) { return 30; };
    ConsoleProgressBar bar(o);
    bar.on_stage_submitted(submitted(0, 3));
    std::this_thread::sleep_for(700ms);
    bar.on_job_end(job_end());
    bar.stop();
    SUCCEED("no crash, no hang");
}
