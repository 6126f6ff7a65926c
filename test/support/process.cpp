// SPDX-License-Identifier: Apache-2.0
#include "test/support/process.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ember::test {

std::string read_file_or_empty(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // EOF, or an error such as ESRCH from a process that just exited
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

namespace {

// Children of `parent` whose command line contains `marker`.
std::vector<int> children_of(int parent, const std::string& marker) {
    std::vector<int> out;
    for (auto& e : std::filesystem::directory_iterator("/proc")) {
        std::string name = e.path().filename();
        if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
        std::string stat = read_file_or_empty(e.path() / "stat");
        auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(stat.substr(close + 2));
        char state;
        int ppid = 0;
        rest >> state >> ppid;
        if (ppid != parent || state == 'Z') continue;
        std::string cmd = read_file_or_empty(e.path() / "cmdline");
        for (auto& c : cmd) {
            if (c == '\0') c = ' ';
        }
        if (cmd.find(marker) != std::string::npos) out.push_back(std::stoi(name));
    }
    return out;
}

}  // namespace

std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("free_port: socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("free_port: bind failed");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

bool process_alive(int pid) {
    std::string stat = read_file_or_empty("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return false;
    auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& child_marker, int timeout_s) {
    char out_path[] = "/tmp/ember-proc-out-XXXXXX";
    char err_path[] = "/tmp/ember-proc-err-XXXXXX";
    int out_fd = ::mkstemp(out_path);
    int err_fd = ::mkstemp(err_path);
    if (out_fd < 0 || err_fd < 0) throw std::runtime_error("mkstemp failed");
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out_fd, 1);
        ::dup2(err_fd, 2);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(out_fd);
    ::close(err_fd);
    ProcessResult r;
    std::set<int> seen;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    int status = 0;
    for (;;) {
        pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        auto kids = children_of(pid, child_marker);
        r.max_children = std::max(r.max_children, static_cast<int>(kids.size()));
        seen.insert(kids.begin(), kids.end());
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_file_or_empty(out_path);
    r.err = read_file_or_empty(err_path);
    r.children.assign(seen.begin(), seen.end());
    ::unlink(out_path);
    ::unlink(err_path);
    return r;
}

}  // namespace ember::test
