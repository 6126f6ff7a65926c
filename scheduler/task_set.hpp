// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// TaskSet and TaskDescription: a stage attempt's tasks as handed to the TaskScheduler, and one
/// task as launched (Spark's TaskSet and TaskDescription).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ember::scheduler {

struct TaskSpec {
    int partition = 0;   ///< RDD partition computed
    int output_id = 0;   ///< result stages: index of the partition within the job
    /// Spark's TaskLocation strings: "<host>", "executor_<host>_<executorId>" (a cached block:
    /// PROCESS_LOCAL there) or "hdfs_cache_<host>" (treated as a host).
    std::vector<std::string> preferred_locations;
    /// Records that travel with the task instead of in the stage binary (see
    /// TaskDescription::partition_data); null if none.
    std::shared_ptr<const std::string> partition_data;
    /// If set, makes partition_data when the task first launches (Spark serializes a task in
    /// TaskSetManager.resourceOffer, so a stage's first tasks do not wait for its last tasks'
    /// records to be encoded); the TaskSetManager calls it once and keeps what it returns. If it
    /// throws, the task set is aborted with "Failed to serialize task <tid>, not attempting to
    /// retry it. Exception during serialization: <what>" (Spark's message). Runs on the
    /// scheduler's thread.
    std::function<std::shared_ptr<const std::string>()> encode_partition_data;
};

/// Threading: immutable once submitted, but for what TaskSpec::encode_partition_data makes.
struct TaskSet {
    int stage_id = 0;
    int stage_attempt = 0;
    int job_id = 0;      ///< priority: lower first (FIFO)
    bool shuffle_map = false;
    int num_reduce_partitions = 0;  ///< shuffle map task sets: the blocks each MapStatus must size
    std::vector<TaskSpec> tasks;
    std::shared_ptr<const std::string> binary;  ///< the stage binary
    std::int64_t epoch = 0;
    std::string pool = "default";  ///< FAIR pool, from the job's ember.scheduler.pool property
    std::string name() const { return std::to_string(stage_id) + "." + std::to_string(stage_attempt); }
};

/// One task attempt as sent to an executor.
struct TaskDescription {
    std::int64_t task_id = 0;
    int attempt_number = 0;
    std::string executor_id;
    std::string name;
    int index = 0;
    int partition_id = 0;
    int stage_id = 0;
    int stage_attempt = 0;
    int job_id = 0;
    std::int64_t epoch = 0;
    int cpus = 1;
    bool shuffle_map = false;
    /// The partitions' own records that this task's stage RDDs take from the task, not from the
    /// stage binary (parallelize's slices: Spark's tasks carry their ParallelCollectionPartition),
    /// so each executor receives the slices of the tasks it runs, not every slice. Encoded by
    /// encode_partition_data; read with TaskContext::partition_data. Null if none.
    std::shared_ptr<const std::string> partition_data;
};

/// One entry of TaskDescription::partition_data: partition `partition` of RDD `rdd_id`.
struct PartitionDatum {
    int rdd_id = 0;
    int partition = 0;
    std::string bytes;
};

/// Encodes TaskDescription::partition_data: a varint count, then per entry the RDD id and the
/// partition (zig-zag varints) and the bytes (length-prefixed). Threading: pure.
std::string encode_partition_data(const std::vector<PartitionDatum>& data);

/// The bytes of partition `partition` of RDD `rdd_id` in `data` (as encode_partition_data wrote
/// it): a view into `data`, or nullopt if it holds none for them. Throws DecodeError
/// (storage/serializer.hpp) if `data` is malformed. Threading: pure.
std::optional<std::string_view> find_partition_data(std::string_view data, int rdd_id, int partition);

/// A task to launch and the stage binary it needs.
struct TaskLaunch {
    TaskDescription desc;
    std::shared_ptr<const std::string> binary;
};

}  // namespace ember::scheduler
