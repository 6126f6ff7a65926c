// SPDX-License-Identifier: Apache-2.0
// Master `slurm` without Slurm: the URL, the allocation read from the environment sbatch gives a
// driver, the executor plan's defaults and overrides, and the srun arguments of one step.
#include "scheduler/cluster/slurm_launcher.hpp"
#include "scheduler/master_url.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ember;
using namespace ember::scheduler;

namespace {

const char* const kVars[] = {"SLURM_JOB_ID", "SLURMD_NODENAME", "SLURM_JOB_NUM_NODES", "SLURM_NNODES", "SLURM_NTASKS",
                             "SLURM_CPUS_PER_TASK", "SLURM_MEM_PER_NODE", "SLURM_MEM_PER_CPU"};

void clear_slurm_env() {
    for (auto* v : kVars) ::unsetenv(v);
}

}  // namespace

TEST_CASE("slurm is a master URL, with its sizes left to the allocation", "[scheduler][slurm]") {
    auto m = MasterUrl::parse("slurm");
    CHECK(m.kind == MasterUrl::Kind::slurm);
    CHECK(m.max_failures == 4);
    CHECK_THROWS_WITH(MasterUrl::parse("slurm[3]"), Catch::Contains("cluster[E], slurm or sim[E,C,M]"));
}

TEST_CASE("Outside an allocation master slurm names what is missing", "[scheduler][slurm]") {
    clear_slurm_env();
    CHECK_THROWS_WITH(SlurmAllocation::from_environment(),
                      "master slurm needs a Slurm allocation: run the driver with sbatch or salloc");
}

TEST_CASE("The allocation's tasks, CPUs and memory are the executors' defaults", "[scheduler][slurm]") {
    clear_slurm_env();
    ::setenv("SLURM_JOB_ID", "42", 1);
    ::setenv("SLURMD_NODENAME", "node7", 1);
    ::setenv("SLURM_JOB_NUM_NODES", "3", 1);
    ::setenv("SLURM_NTASKS", "6", 1);
    ::setenv("SLURM_CPUS_PER_TASK", "2", 1);
    ::setenv("SLURM_MEM_PER_NODE", "4096", 1);
    auto a = SlurmAllocation::from_environment();
    CHECK(a.job_id == "42");
    CHECK(a.node_name == "node7");
    CHECK(a.num_nodes == 3);

    Conf conf;
    auto p = SlurmExecutorPlan::make(conf, a);
    CHECK(p.executors == 6);
    CHECK(p.cores == 2);
    CHECK(p.memory_mb == 2048);  // 4096 MiB per node, two executors a node
    CHECK(p.request_memory);

    ::setenv("SLURM_MEM_PER_CPU", "700", 1);
    CHECK(SlurmExecutorPlan::make(conf, SlurmAllocation::from_environment()).memory_mb == 1400);

    conf.set("ember.executor.instances", "2").set("ember.executor.cores", "1").set("ember.executor.memory", "1g");
    p = SlurmExecutorPlan::make(conf, a);
    CHECK(p.executors == 2);
    CHECK(p.cores == 1);
    CHECK(p.memory_mb == 1024);

    conf.set("ember.executor.instances", "0");
    CHECK_THROWS_WITH(SlurmExecutorPlan::make(conf, a), Catch::Contains("ember.executor.instances must be a positive integer"));
    clear_slurm_env();
}

TEST_CASE("Without tasks or memory in the allocation: two executors of one core, no --mem", "[scheduler][slurm]") {
    SlurmAllocation a;
    a.job_id = "1";
    auto p = SlurmExecutorPlan::make(Conf{}, a);
    CHECK(p.executors == 2);
    CHECK(p.cores == 1);
    CHECK_FALSE(p.request_memory);
    CHECK(p.srun_args(3, "s") == std::vector<std::string>{"--exact", "--kill-on-bad-exit=0", "--nodes=1", "--ntasks=1",
                                                          "--cpus-per-task=1", "--relative=0", "--job-name=s",
                                                          "--quiet"});
}

TEST_CASE("One step per executor, placed round-robin over the nodes", "[scheduler][slurm]") {
    SlurmAllocation a;
    a.job_id = "1";
    a.num_nodes = 3;
    a.ntasks = 3;
    a.cpus_per_task = 2;
    a.mem_per_cpu_mb = 512;
    auto p = SlurmExecutorPlan::make(Conf{}, a);
    CHECK(p.srun_args(4, "ember-app-executor-4") ==
          std::vector<std::string>{"--exact", "--kill-on-bad-exit=0", "--nodes=1", "--ntasks=1", "--cpus-per-task=2",
                                   "--mem=1024", "--relative=1", "--job-name=ember-app-executor-4", "--quiet"});
}
