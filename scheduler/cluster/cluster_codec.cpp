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
    if (d.partition_data && !d.partition_data->empty()) {
        b.setPartitionData(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(d.partition_data->data()),
                                        d.partition_data->size()));
    }
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
    if (auto data = r.getPartitionData(); data.size() > 0) {
        d.partition_data = std::make_shared<const std::string>(reinterpret_cast<const char*>(data.begin()), data.size());
    }
    return d;
}

TaskStatusUpdate from_wire(wire::TaskStatus::Reader r) {
    TaskStatusUpdate u;
    u.task_id = r.getTaskId();
    u.state = from_wire(r.getState());
    if (u.state == TaskState::failed || u.state == TaskState::killed || u.state == TaskState::lost) {
        u.reason = from_wire(r.getFailure());
    }
    auto data = r.getResult();
    u.result.assign(reinterpret_cast<const char*>(data.begin()), data.size());
    u.metrics = TaskMetrics::from_wire(r.getMetrics());
    for (auto a : r.getAccumUpdates()) {
        auto type = a.getType();
        auto value = a.getValue();
        u.metrics.accumulator_updates.push_back(
            AccumulatorUpdate{a.getId(), std::string(type.begin(), type.size()),
                              std::string(reinterpret_cast<const char*>(value.begin()), value.size())});
    }
    if (u.state == TaskState::finished && r.getIndirect()) {
        u.indirect = true;
        u.result_size = r.getResultSize();
        auto text = r.getResultBlockId();
        auto block = storage::parse_block_id(std::string_view(text.begin(), text.size()));
        if (block && std::holds_alternative<storage::TaskResultBlockId>(*block)) {
            u.result_block = std::get<storage::TaskResultBlockId>(*block);
        }
    }
    return u;
}

}  // namespace ember::scheduler
