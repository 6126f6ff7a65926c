// SPDX-License-Identifier: Apache-2.0
#include "scheduler/cluster/cluster_codec.hpp"

namespace ember::scheduler {

void to_wire(wire::TaskDescription::Builder b, const TaskDescription& d) {
    b.setTaskId(d.task_id);
    b.setAttemptNumber(d.attempt_number);
    b.setExecutorId(d.executor_id);
    b.setName(d.name);
    b.setIndex(d.index);
    b.setPartitionId(d.partition_id);
    b.setStageId(d.stage_id);
    b.setStageAttempt(d.stage_attempt);
    b.setJobId(d.job_id);
    b.setEpoch(d.epoch);
    b.setCpus(d.cpus);
}

TaskDescription from_wire(wire::TaskDescription::Reader r) {
    TaskDescription d;
    d.task_id = r.getTaskId();
    d.attempt_number = r.getAttemptNumber();
    d.executor_id = r.getExecutorId();
    d.name = r.getName();
    d.index = r.getIndex();
    d.partition_id = r.getPartitionId();
    d.stage_id = r.getStageId();
    d.stage_attempt = r.getStageAttempt();
    d.job_id = r.getJobId();
    d.epoch = r.getEpoch();
    d.cpus = r.getCpus();
    return d;
}

}  // namespace ember::scheduler
