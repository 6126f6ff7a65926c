// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// MasterUrl: the parsed `--master` / ember.master string.

#include <string>
#include <string_view>

namespace ember::scheduler {

/// - `local`: one task thread in the driver process; `local[N]`, `local[*]` (all cores),
///   `local[N,F]` (F task failures allowed);
/// - `local-cluster[E,C,M]`: E executor processes of this binary with C cores and M MiB each;
/// - `cluster[E]`: executors started by another launcher (Slurm, Kubernetes, ssh) connect to
///   the driver; the driver waits for E of them;
/// - `slurm`: the driver runs inside a Slurm allocation (sbatch or salloc) and starts its
///   executors there with srun (scheduler/cluster/slurm_launcher.hpp); their number, cores and
///   memory come from ember.executor.* and the allocation, not from the URL;
/// - `sim[E,C,M]`: the driver and E executors (C cores, M MiB each) are envs of the
///   ember::sim::Simulation current on the calling thread (scheduler/sim/, README "Simulating a
///   cluster"): one process, one thread, virtual time, faults from the simulation's seed.
struct MasterUrl {
    enum class Kind { local, local_cluster, cluster, slurm, sim } kind = Kind::local;
    int threads = 1;
    int max_failures = 1;
    int executors = 0;
    int cores = 1;
    int memory_mb = 1024;

    /// Throws std::invalid_argument("Could not parse Master URL: '<s>'") with the reason.
    static MasterUrl parse(std::string_view s);
};

}  // namespace ember::scheduler
