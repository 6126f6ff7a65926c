// SPDX-License-Identifier: Apache-2.0
#include "apps/bench/bench_support.hpp"

#include <fmt/format.h>

#include <cstdlib>

#include <thread>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bench {

void print_figure(const std::string& name, double ember, double baseline, const std::string& unit) {
    fmt::print("{{\"name\": \"{}\", \"ember\": {:.6g}, \"baseline\": {:.6g}, \"ratio\": {:.4g}, \"unit\": \"{}\"}}\n",
               name, ember, baseline, baseline > 0 ? ember / baseline : 0.0, unit);
    std::fflush(stdout);
}

void print_figure_vs_raw(const std::string& name, double ember, double raw_blocking, double raw_spinning,
                         std::chrono::microseconds spin, const std::string& unit, bool lower_is_better) {
    fmt::print("{{\"name\": \"{}-raw-blocking\", \"raw\": {:.6g}, \"spin_us\": 0, \"unit\": \"{}\"}}\n", name,
               raw_blocking, unit);
    fmt::print("{{\"name\": \"{}-raw-spinning\", \"raw\": {:.6g}, \"spin_us\": {}, \"unit\": \"{}\"}}\n", name,
               raw_spinning, spin.count(), unit);
    bool spinning_better = lower_is_better ? raw_spinning < raw_blocking : raw_spinning > raw_blocking;
    double baseline = spinning_better ? raw_spinning : raw_blocking;
    fmt::print("{{\"name\": \"{}\", \"ember\": {:.6g}, \"baseline\": {:.6g}, \"ratio\": {:.4g}, \"unit\": \"{}\", "
               "\"baseline_is\": \"{}\"}}\n",
               name, ember, baseline, baseline > 0 ? ember / baseline : 0.0, unit,
               spinning_better ? "spinning" : "blocking");
    std::fflush(stdout);
}

double percentile(std::vector<double>& samples, double q) {
    if (samples.empty()) return 0;
    std::sort(samples.begin(), samples.end());
    auto i = static_cast<std::size_t>(std::min<double>(samples.size() - 1, std::floor(q * samples.size())));
    return samples[i];
}

ChildServer::ChildServer(const std::vector<std::string>& args) {
    int pipefd[2];
    if (::pipe(pipefd) != 0) throw std::runtime_error("pipe failed");
    std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
    std::vector<std::string> all{exe};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
        ::dup2(pipefd[1], 1);
        ::close(pipefd[0]);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(pipefd[1]);
    char buf[32] = {};
    ssize_t n = ::read(pipefd[0], buf, sizeof buf - 1);
    ::close(pipefd[0]);
    if (n <= 0) throw std::runtime_error("benchmark server did not start");
    port_ = static_cast<std::uint16_t>(std::atoi(buf));
}

ChildServer::~ChildServer() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

void pin_to_cpu(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (::sched_setaffinity(0, sizeof set, &set) != 0) throw std::runtime_error("sched_setaffinity failed");
}

void pin_process(int pid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu >= 0) {
        CPU_SET(cpu, &set);
    } else {
        for (unsigned c = 0; c < std::max(1u, std::thread::hardware_concurrency()); ++c) CPU_SET(c, &set);
    }
    std::string dir = pid == 0 ? "/proc/self/task" : "/proc/" + std::to_string(pid) + "/task";
    std::error_code ec;
    for (auto& task : std::filesystem::directory_iterator(dir, ec)) {
        int tid = std::atoi(task.path().filename().c_str());
        if (tid > 0) (void)::sched_setaffinity(tid, sizeof set, &set);  // a thread may have ended
    }
}

void announce_port(std::uint16_t port) {
    fmt::print("{}\n", port);
    std::fflush(stdout);
}

}  // namespace bench
