// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// SlurmLauncher: what master `slurm` needs from the driver's Slurm allocation, and the `srun`
/// steps that start its executors (client deploy mode: the driver runs in an sbatch or salloc
/// allocation and starts the executors itself, as Spark's YARN client mode asks YARN for them).

#include "rpc/conf.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ember::scheduler {

/// The driver's Slurm allocation, from the environment sbatch and salloc give the driver.
struct SlurmAllocation {
    std::string job_id;            ///< SLURM_JOB_ID
    std::string node_name;         ///< SLURMD_NODENAME, else this host's name
    int num_nodes = 1;             ///< SLURM_JOB_NUM_NODES (SLURM_NNODES)
    int ntasks = 0;                ///< SLURM_NTASKS (0: not set)
    int cpus_per_task = 0;         ///< SLURM_CPUS_PER_TASK (0: not set)
    std::int64_t mem_per_node_mb = 0;  ///< SLURM_MEM_PER_NODE (0: not set)
    std::int64_t mem_per_cpu_mb = 0;   ///< SLURM_MEM_PER_CPU (0: not set)

    /// Reads `getenv`. Throws std::runtime_error("master slurm needs a Slurm allocation: run the
    /// driver with sbatch or salloc") without SLURM_JOB_ID.
    static SlurmAllocation from_environment();
};

/// The path of `srun` in $PATH. Throws std::runtime_error("master slurm: srun is not in PATH ...").
std::string find_srun();

/// The executors master `slurm` starts: E = ember.executor.instances (default SLURM_NTASKS, else
/// 2), C = ember.executor.cores (default SLURM_CPUS_PER_TASK, else 1), memory = ember.executor.memory
/// in MiB (default: the allocation's memory per CPU times C, else its memory per node divided
/// among the executors on a node, else 1024). Throws std::invalid_argument naming a bad key.
struct SlurmExecutorPlan {
    int executors = 2;
    int cores = 1;
    int memory_mb = 1024;
    bool request_memory = true;  ///< pass --mem to srun (false: the allocation sets no memory)
    int nodes = 1;               ///< nodes of the allocation, for placing executors round-robin

    static SlurmExecutorPlan make(const Conf& conf, const SlurmAllocation& allocation);

    /// srun's arguments (after the `srun` program) for one executor step on the allocation's
    /// node `node_index` (0-based, --relative), up to and without the executor's command:
    /// `--exact --kill-on-bad-exit=0 -N1 -n1 -c C [--mem=M] --relative=I -J NAME --quiet`.
    std::vector<std::string> srun_args(int node_index, const std::string& step_name) const;
};

}  // namespace ember::scheduler
