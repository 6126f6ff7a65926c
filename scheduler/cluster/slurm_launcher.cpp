// SPDX-License-Identifier: Apache-2.0
#include "scheduler/cluster/slurm_launcher.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include <unistd.h>

namespace ember::scheduler {
namespace {

// A positive integer environment variable, or 0 when it is unset or not one. Slurm writes
// SLURM_MEM_PER_NODE as a plain number of MiB.
std::int64_t env_int(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) return 0;
    std::string_view s(v);
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    return ec == std::errc{} && p == s.data() + s.size() && n > 0 ? n : 0;
}

}  // namespace

SlurmAllocation SlurmAllocation::from_environment() {
    SlurmAllocation a;
    const char* job = std::getenv("SLURM_JOB_ID");
    if (!job || !*job) throw std::runtime_error("master slurm needs a Slurm allocation: run the driver with sbatch or salloc");
    a.job_id = job;
    if (const char* n = std::getenv("SLURMD_NODENAME"); n && *n) {
        a.node_name = n;
    } else {
        char host[256] = {};
        ::gethostname(host, sizeof host - 1);
        a.node_name = host;
    }
    auto nodes = env_int("SLURM_JOB_NUM_NODES");
    if (nodes == 0) nodes = env_int("SLURM_NNODES");
    a.num_nodes = static_cast<int>(std::max<std::int64_t>(1, nodes));
    a.ntasks = static_cast<int>(env_int("SLURM_NTASKS"));
    a.cpus_per_task = static_cast<int>(env_int("SLURM_CPUS_PER_TASK"));
    a.mem_per_node_mb = env_int("SLURM_MEM_PER_NODE");
    a.mem_per_cpu_mb = env_int("SLURM_MEM_PER_CPU");
    return a;
}

std::string find_srun() {
    const char* path = std::getenv("PATH");
    std::string_view rest = path ? path : "/usr/bin:/bin";
    while (true) {
        auto colon = rest.find(':');
        std::string dir(rest.substr(0, colon));
        std::string candidate = (dir.empty() ? std::string(".") : dir) + "/srun";
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
    }
    throw std::runtime_error(fmt::format("master slurm: srun is not in PATH ({})", path ? path : ""));
}

SlurmExecutorPlan SlurmExecutorPlan::make(const Conf& conf, const SlurmAllocation& a) {
    SlurmExecutorPlan p;
    p.nodes = a.num_nodes;
    auto positive = [&](std::string_view key, std::int64_t fallback) {
        auto v = conf.get_int(key, fallback);
        if (v <= 0) throw std::invalid_argument(fmt::format("{} must be a positive integer, got {}", key, v));
        return static_cast<int>(v);
    };
    p.executors = positive("ember.executor.instances", a.ntasks > 0 ? a.ntasks : 2);
    p.cores = positive("ember.executor.cores", a.cpus_per_task > 0 ? a.cpus_per_task : 1);
    if (conf.contains("ember.executor.memory")) {
        auto mb = conf.get_size_bytes("ember.executor.memory", "1g", "m") >> 20;
        if (mb <= 0) {
            throw std::invalid_argument(fmt::format("ember.executor.memory must be at least 1m, got '{}'",
                                                    conf.get("ember.executor.memory", "")));
        }
        p.memory_mb = static_cast<int>(mb);
    } else if (a.mem_per_cpu_mb > 0) {
        p.memory_mb = static_cast<int>(a.mem_per_cpu_mb * p.cores);
    } else if (a.mem_per_node_mb > 0) {
        int per_node = (p.executors + p.nodes - 1) / p.nodes;
        p.memory_mb = static_cast<int>(a.mem_per_node_mb / std::max(1, per_node));
    } else {
        p.request_memory = false;  // the allocation tracks no memory: srun is not asked for any
    }
    return p;
}

std::vector<std::string> SlurmExecutorPlan::srun_args(int node_index, const std::string& step_name) const {
    std::vector<std::string> args{"--exact", "--kill-on-bad-exit=0", "--nodes=1", "--ntasks=1",
                                  fmt::format("--cpus-per-task={}", cores)};
    if (request_memory) args.push_back(fmt::format("--mem={}", memory_mb));
    args.push_back(fmt::format("--relative={}", node_index % std::max(1, nodes)));
    args.push_back("--job-name=" + step_name);
    args.push_back("--quiet");
    return args;
}

}  // namespace ember::scheduler
