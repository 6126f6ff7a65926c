// SPDX-License-Identifier: Apache-2.0
// ShutdownHookManager (Spark's ShutdownHookManager, run on SIGTERM/SIGINT/SIGHUP): each case
// forks a child that registers hooks and gets a signal; the parent checks what the hooks wrote to
// a pipe (their order) and how the child exited. The end-to-end case (a driver with executors and
// local dirs) is in process_lifecycle_test.
#include "scheduler/util/shutdown_hook_manager.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

using ember::scheduler::util::ShutdownHookManager;

namespace {

struct Outcome {
    int exit_code = -1;  // -1: killed by a signal (see signal)
    int signal = 0;
    std::string written;  // what the hooks wrote, in order
    double seconds = 0;   // from the signal to the child's exit
};

/// Forks; the child runs `child(write_fd)` and then waits (up to 10 s) to be signalled; the
/// parent sends `sig` once the child wrote '!' (ready), and `second` (if non-zero) 200 ms later.
template <class Child>
Outcome run_child(Child child, int sig, int second = 0) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        for (int s : {SIGTERM, SIGINT, SIGHUP}) std::signal(s, SIG_DFL);  // Catch2 handles them
        child(fds[1]);
        ssize_t ignored = ::write(fds[1], "!", 1);
        (void)ignored;
        for (int i = 0; i < 1000; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        ::_exit(99);  // never signalled
    }
    ::close(fds[1]);
    Outcome out;
    char c = 0;
    while (::read(fds[0], &c, 1) == 1 && c != '!') out.written += c;
    auto sent = std::chrono::steady_clock::now();
    ::kill(pid, sig);
    if (second != 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        ::kill(pid, second);
    }
    while (::read(fds[0], &c, 1) == 1) out.written += c;
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
    if (WIFEXITED(status)) {
        out.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        out.signal = WTERMSIG(status);
    }
    return out;
}

void put(int fd, char c) {
    ssize_t ignored = ::write(fd, &c, 1);
    (void)ignored;
}

}  // namespace

TEST_CASE("Hooks run on SIGTERM, higher priority first, then the process exits with 143", "[shutdown]") {
    auto out = run_child(
        [](int fd) {
            ShutdownHookManager::add(10, [fd] { put(fd, 'a'); });
            ShutdownHookManager::add(ShutdownHookManager::kSparkContextPriority, [fd] { put(fd, 'b'); });
            ShutdownHookManager::add(10, [fd] { put(fd, 'c'); });  // same priority: newest first
            auto gone = ShutdownHookManager::add(99, [fd] { put(fd, 'x'); });
            ShutdownHookManager::add(20, [] { throw std::runtime_error("a failing hook"); });
            ShutdownHookManager::remove(gone);
        },
        SIGTERM);
    CHECK(out.exit_code == 143);
    CHECK(out.written == "bca");  // the failing hook did not stop the ones after it
}

TEST_CASE("SIGINT and SIGHUP run the hooks too, with exit codes 130 and 129", "[shutdown]") {
    for (int sig : {SIGINT, SIGHUP}) {
        auto out = run_child([](int fd) { ShutdownHookManager::add(1, [fd] { put(fd, 'h'); }); }, sig);
        CHECK(out.exit_code == 128 + sig);
        CHECK(out.written == "h");
    }
}

TEST_CASE("A signal the program handles or ignores itself is left to it", "[shutdown]") {
    auto out = run_child(
        [](int fd) {
            std::signal(SIGHUP, SIG_IGN);  // as nohup does
            ShutdownHookManager::add(1, [fd] { put(fd, 'h'); });
            ::raise(SIGHUP);  // ignored: nothing runs
            put(fd, 'i');
        },
        SIGTERM);
    CHECK(out.exit_code == 143);
    CHECK(out.written == "ih");
}

TEST_CASE("A second SIGINT while the hooks run leaves at once", "[shutdown]") {
    auto out = run_child(
        [](int fd) {
            ShutdownHookManager::add(1, [fd] {
                put(fd, 's');
                std::this_thread::sleep_for(std::chrono::seconds(8));
                put(fd, 'e');
            });
        },
        SIGINT, SIGINT);
    CHECK(out.exit_code == 130);
    CHECK(out.written == "s");
    CHECK(out.seconds < 4);
}

TEST_CASE("main returning while the hooks run waits for them (no static destruction under them)", "[shutdown]") {
    auto out = run_child(
        [](int fd) {
            ShutdownHookManager::add(1, [fd] {
                put(fd, 's');
                std::this_thread::sleep_for(std::chrono::milliseconds(500));
                put(fd, 'e');
            });
            put(fd, '!');
            while (!ShutdownHookManager::in_shutdown()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            std::exit(0);  // as a main that returns: the atexit handler waits for the hooks
        },
        SIGTERM);
    INFO("killed by signal " << out.signal);  // 0: it exited
    CHECK(out.exit_code == 143);
    CHECK(out.written == "se");
}
