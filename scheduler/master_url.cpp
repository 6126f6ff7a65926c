// SPDX-License-Identifier: Apache-2.0
#include "scheduler/master_url.hpp"

#include <fmt/format.h>

#include <charconv>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace ember::scheduler {
namespace {

[[noreturn]] void bad(std::string_view s, std::string_view why) {
    throw std::invalid_argument(fmt::format("Could not parse Master URL: '{}' ({})", s, why));
}

// The comma-separated numbers in "name[a,b,c]".
std::vector<std::string_view> args_of(std::string_view s, std::string_view name) {
    std::string_view rest = s.substr(name.size());
    if (rest.size() < 2 || rest.front() != '[' || rest.back() != ']') bad(s, "expected " + std::string(name) + "[...]");
    rest = rest.substr(1, rest.size() - 2);
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= rest.size(); ++i) {
        if (i == rest.size() || rest[i] == ',') {
            out.push_back(rest.substr(start, i - start));
            start = i + 1;
        }
    }
    return out;
}

int positive(std::string_view whole, std::string_view v, std::string_view what) {
    int n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc{} || p != v.data() + v.size() || n <= 0) {
        bad(whole, fmt::format("{} must be a positive integer, got '{}'", what, v));
    }
    return n;
}

}  // namespace

MasterUrl MasterUrl::parse(std::string_view s) {
    MasterUrl m;
    if (s == "local") return m;
    if (s == "slurm") {
        m.kind = Kind::slurm;
        m.max_failures = 4;
        return m;
    }
    // name[executors,cores,memoryMiB]: local-cluster (processes) and sim (simulated envs).
    for (auto [name, kind] : {std::pair{std::string_view("local-cluster"), Kind::local_cluster},
                              std::pair{std::string_view("sim"), Kind::sim}}) {
        if (!s.starts_with(name)) continue;
        auto a = args_of(s, name);
        if (a.size() != 3) bad(s, fmt::format("expected {}[executors,cores,memoryMiB]", name));
        m.kind = kind;
        m.executors = positive(s, a[0], "the number of executors");
        m.cores = positive(s, a[1], "cores per executor");
        m.memory_mb = positive(s, a[2], "memory per executor (MiB)");
        m.max_failures = 4;
        return m;
    }
    if (s.starts_with("local")) {
        auto a = args_of(s, "local");
        if (a.empty() || a.size() > 2) bad(s, "expected local[threads] or local[threads,maxFailures]");
        m.threads = a[0] == "*" ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))
                                : positive(s, a[0], "the number of threads");
        if (a.size() == 2) m.max_failures = positive(s, a[1], "maxFailures");
        return m;
    }
    if (s.starts_with("cluster")) {
        m.kind = Kind::cluster;
        m.max_failures = 4;
        if (s == "cluster") {
            m.executors = 1;
            return m;
        }
        auto a = args_of(s, "cluster");
        if (a.size() != 1) bad(s, "expected cluster[executors]");
        m.executors = positive(s, a[0], "the number of executors");
        return m;
    }
    bad(s, "use local, local[N], local[*], local-cluster[E,C,M], cluster[E], slurm or sim[E,C,M]");
}

}  // namespace ember::scheduler
