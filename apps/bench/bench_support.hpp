// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ember-bench helpers: figures as JSON lines, percentiles, child server processes, CPU pinning.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

/// Prints {"name", "ember", "baseline", "ratio", "unit"} as one JSON line.
void print_figure(const std::string& name, double ember, double baseline, const std::string& unit);

/// The same figure against a raw baseline measured two ways (raw_tcp.hpp): blocking, and
/// spinning for `spin`. Prints one line for each raw program,
///   {"name": NAME-raw-blocking | NAME-raw-spinning, "raw": value, "spin_us": N, "unit": ...},
/// then the figure against the better of the two (the lower if `lower_is_better`, else the
/// higher): the best hand-written program is the baseline that counts. Its line names which
/// program that was: "baseline_is": "blocking" | "spinning".
void print_figure_vs_raw(const std::string& name, double ember, double raw_blocking, double raw_spinning,
                         std::chrono::microseconds spin, const std::string& unit, bool lower_is_better);

/// The q-quantile (0..1) of `samples` (sorted in place).
double percentile(std::vector<double>& samples, double q);

/// A server process: this executable started again with `args`; it prints its port on its
/// first stdout line. Killed (SIGKILL) and reaped when destroyed.
class ChildServer {
public:
    explicit ChildServer(const std::vector<std::string>& args);
    ~ChildServer();
    ChildServer(const ChildServer&) = delete;
    ChildServer& operator=(const ChildServer&) = delete;
    std::uint16_t port() const noexcept { return port_; }
    int pid() const noexcept { return pid_; }

private:
    int pid_ = -1;
    std::uint16_t port_ = 0;
};

/// Pins the calling process (and the children it starts later) to `cpu`; -1 does nothing.
void pin_to_cpu(int cpu);

/// Sets the CPU affinity of every thread of process `pid` (0: this process) to `cpu`, or to
/// every CPU when `cpu` is -1. Threads started later inherit it from their creator.
void pin_process(int pid, int cpu);

/// Prints `port` as the first stdout line (ChildServer reads it).
void announce_port(std::uint16_t port);

}  // namespace bench
