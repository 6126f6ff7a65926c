// SPDX-License-Identifier: Apache-2.0
#include "scheduler/task_metrics.hpp"

namespace ember::scheduler {

void TaskMetrics::merge(const TaskMetrics& o) {
    executor_deserialize_time_ns += o.executor_deserialize_time_ns;
    executor_deserialize_cpu_time_ns += o.executor_deserialize_cpu_time_ns;
    executor_run_time_ns += o.executor_run_time_ns;
    executor_cpu_time_ns += o.executor_cpu_time_ns;
    result_serialization_time_ns += o.result_serialization_time_ns;
    result_size += o.result_size;
    memory_bytes_spilled += o.memory_bytes_spilled;
    disk_bytes_spilled += o.disk_bytes_spilled;
    peak_execution_memory += o.peak_execution_memory;
    input_bytes_read += o.input_bytes_read;
    input_records_read += o.input_records_read;
    output_bytes_written += o.output_bytes_written;
    output_records_written += o.output_records_written;
    shuffle_write.bytes_written += o.shuffle_write.bytes_written;
    shuffle_write.records_written += o.shuffle_write.records_written;
    shuffle_write.write_time_ns += o.shuffle_write.write_time_ns;
    shuffle_read.remote_blocks_fetched += o.shuffle_read.remote_blocks_fetched;
    shuffle_read.local_blocks_fetched += o.shuffle_read.local_blocks_fetched;
    shuffle_read.remote_bytes_read += o.shuffle_read.remote_bytes_read;
    shuffle_read.local_bytes_read += o.shuffle_read.local_bytes_read;
    shuffle_read.fetch_wait_time_ns += o.shuffle_read.fetch_wait_time_ns;
    shuffle_read.records_read += o.shuffle_read.records_read;
    shuffle_read.remote_bytes_read_to_disk += o.shuffle_read.remote_bytes_read_to_disk;
    shuffle_read.remote_reqs_duration_ns += o.shuffle_read.remote_reqs_duration_ns;
    shuffle_read.peak_bytes_in_flight += o.shuffle_read.peak_bytes_in_flight;
    shuffle_read.peak_reqs_in_flight += o.shuffle_read.peak_reqs_in_flight;
    shuffle_read.peak_blocks_in_flight += o.shuffle_read.peak_blocks_in_flight;
}

void TaskMetrics::to_wire(wire::TaskMetrics::Builder b) const {
    b.setExecutorDeserializeTimeNs(executor_deserialize_time_ns);
    b.setExecutorRunTimeNs(executor_run_time_ns);
    b.setResultSize(result_size);
    b.setInputBytesRead(input_bytes_read);
    b.setInputRecordsRead(input_records_read);
    b.setOutputBytesWritten(output_bytes_written);
    b.setOutputRecordsWritten(output_records_written);
    b.setShuffleBytesWritten(shuffle_write.bytes_written);
    b.setShuffleRecordsWritten(shuffle_write.records_written);
    b.setShuffleWriteTimeNs(shuffle_write.write_time_ns);
    b.setShuffleRemoteBlocksFetched(shuffle_read.remote_blocks_fetched);
    b.setShuffleLocalBlocksFetched(shuffle_read.local_blocks_fetched);
    b.setShuffleRemoteBytesRead(shuffle_read.remote_bytes_read);
    b.setShuffleLocalBytesRead(shuffle_read.local_bytes_read);
    b.setShuffleFetchWaitTimeNs(shuffle_read.fetch_wait_time_ns);
    b.setShuffleRecordsRead(shuffle_read.records_read);
    b.setShuffleRemoteBytesReadToDisk(shuffle_read.remote_bytes_read_to_disk);
    b.setMemoryBytesSpilled(memory_bytes_spilled);
    b.setDiskBytesSpilled(disk_bytes_spilled);
    b.setExecutorDeserializeCpuTimeNs(executor_deserialize_cpu_time_ns);
    b.setExecutorCpuTimeNs(executor_cpu_time_ns);
    b.setResultSerializationTimeNs(result_serialization_time_ns);
    b.setPeakExecutionMemory(peak_execution_memory);
    b.setShuffleRemoteReqsDurationNs(shuffle_read.remote_reqs_duration_ns);
    b.setShufflePeakBytesInFlight(shuffle_read.peak_bytes_in_flight);
    b.setShufflePeakReqsInFlight(shuffle_read.peak_reqs_in_flight);
    b.setShufflePeakBlocksInFlight(shuffle_read.peak_blocks_in_flight);
}

TaskMetrics TaskMetrics::from_wire(wire::TaskMetrics::Reader r) {
    TaskMetrics m;
    m.executor_deserialize_time_ns = r.getExecutorDeserializeTimeNs();
    m.executor_run_time_ns = r.getExecutorRunTimeNs();
    m.result_size = r.getResultSize();
    m.input_bytes_read = r.getInputBytesRead();
    m.input_records_read = r.getInputRecordsRead();
    m.output_bytes_written = r.getOutputBytesWritten();
    m.output_records_written = r.getOutputRecordsWritten();
    m.shuffle_write.bytes_written = r.getShuffleBytesWritten();
    m.shuffle_write.records_written = r.getShuffleRecordsWritten();
    m.shuffle_write.write_time_ns = r.getShuffleWriteTimeNs();
    m.memory_bytes_spilled = r.getMemoryBytesSpilled();
    m.disk_bytes_spilled = r.getDiskBytesSpilled();
    m.executor_deserialize_cpu_time_ns = r.getExecutorDeserializeCpuTimeNs();
    m.executor_cpu_time_ns = r.getExecutorCpuTimeNs();
    m.result_serialization_time_ns = r.getResultSerializationTimeNs();
    m.peak_execution_memory = r.getPeakExecutionMemory();
    m.shuffle_read.remote_blocks_fetched = r.getShuffleRemoteBlocksFetched();
    m.shuffle_read.local_blocks_fetched = r.getShuffleLocalBlocksFetched();
    m.shuffle_read.remote_bytes_read = r.getShuffleRemoteBytesRead();
    m.shuffle_read.local_bytes_read = r.getShuffleLocalBytesRead();
    m.shuffle_read.fetch_wait_time_ns = r.getShuffleFetchWaitTimeNs();
    m.shuffle_read.records_read = r.getShuffleRecordsRead();
    m.shuffle_read.remote_bytes_read_to_disk = r.getShuffleRemoteBytesReadToDisk();
    m.shuffle_read.remote_reqs_duration_ns = r.getShuffleRemoteReqsDurationNs();
    m.shuffle_read.peak_bytes_in_flight = r.getShufflePeakBytesInFlight();
    m.shuffle_read.peak_reqs_in_flight = r.getShufflePeakReqsInFlight();
    m.shuffle_read.peak_blocks_in_flight = r.getShufflePeakBlocksInFlight();
    return m;
}

}  // namespace ember::scheduler
