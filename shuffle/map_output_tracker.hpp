// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// MapOutputTracker: where each shuffle's map outputs live. The master on the driver records
/// them and serves them through the "MapOutputTracker" endpoint; workers on executors fetch and
/// cache them (Spark's MapOutputTracker{,Master,Worker}).

#include "rpc/rpc_env.hpp"
#include "shuffle/map_status.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ember::shuffle {

/// One block a reducer reads.
struct BlockInfo {
    storage::ShuffleBlockId id;
    std::uint64_t size = 0;
    int map_index = 0;
};

/// Blocks grouped by the BlockManager that holds them.
using BlocksByAddress = std::vector<std::pair<storage::BlockManagerId, std::vector<BlockInfo>>>;

/// The outputs of one shuffle as a reducer sees them.
struct ShuffleStatuses {
    int num_maps = 0;
    std::int64_t epoch = 0;
    std::vector<std::optional<MapStatus>> by_map_index;  ///< nullopt, or past the end: missing
};

/// Reads the master's MapOutputStatuses reply as a worker does. Memory follows the reply's
/// statuses, not its numMaps: `by_map_index` has a slot for at most as many map outputs as the
/// reply carries, up to the highest map index among them (when it carries fewer than numMaps,
/// some output is missing and a reducer fails on it whichever it is), and statuses outside the
/// slots are dropped. Throws
/// MetadataFetchFailedException for `shuffle_id` and `reduce_id` (the requesting task's) if the
/// reply is malformed or its numMaps negative.
ShuffleStatuses read_map_output_statuses(wire::MapOutputStatuses::Reader r, int shuffle_id, int reduce_id);

/// What reducers need from a tracker.
/// Threading: thread-safe.
class MapOutputTracker {
public:
    virtual ~MapOutputTracker() = default;
    static constexpr std::string_view kEndpointName = "MapOutputTracker";

    /// The statuses of `shuffle_id`; throws MetadataFetchFailedException if unknown/unreachable.
    virtual ShuffleStatuses statuses(int shuffle_id, int reduce_id) = 0;

    /// Non-empty blocks of reduce partitions [start, end) grouped by location. Zero-size blocks
    /// are left out. Throws MetadataFetchFailedException("Missing an output location for shuffle
    /// X partition Y") if a map output is missing.
    BlocksByAddress get_map_sizes_by_executor_id(int shuffle_id, int start_partition, int end_partition);
};

/// The driver's tracker. Thread-safe (the DAGScheduler and the endpoint both use it).
class MapOutputTrackerMaster final : public MapOutputTracker {
public:
    void register_shuffle(int shuffle_id, int num_maps);
    bool contains_shuffle(int shuffle_id) const;
    void register_map_output(int shuffle_id, int map_index, MapStatus status);
    /// Removes an output if it is still at `location`.
    void unregister_map_output(int shuffle_id, int map_index, const storage::BlockManagerId& location);
    /// Removes every output held by an executor (it was lost). Returns how many.
    int remove_outputs_on_executor(const std::string& executor_id);
    void unregister_shuffle(int shuffle_id);
    std::vector<int> find_missing_partitions(int shuffle_id) const;
    int num_available_outputs(int shuffle_id) const;
    /// Hosts holding at least `fraction` of reduce partition `reduce_id`'s bytes, largest share
    /// first (Spark's getLocationsWithLargestOutputs); empty if the shuffle has more than
    /// 1000 map outputs, a map output is missing, or the partition is empty.
    std::vector<std::string> hosts_with_largest_outputs(int shuffle_id, int reduce_id, double fraction) const;
    /// Total bytes per reduce partition (Spark's MapOutputStatistics).
    std::vector<std::uint64_t> bytes_by_partition(int shuffle_id) const;
    std::int64_t epoch() const;
    void increment_epoch();

    ShuffleStatuses statuses(int shuffle_id, int reduce_id) override;

    /// Registers the endpoint that serves GetMapOutputStatuses.
    void start_endpoint(rpc::RpcEnv& env);

private:
    mutable std::mutex mu_;
    std::map<int, std::vector<std::optional<MapStatus>>> shuffles_;  // guarded by mu_
    std::int64_t epoch_ = 0;                                          // guarded by mu_
};

/// An executor's tracker: asks the master once per shuffle and caches the answer until a task
/// with a newer epoch arrives (update_epoch).
class MapOutputTrackerWorker final : public MapOutputTracker {
public:
    MapOutputTrackerWorker(rpc::RpcEndpointRef master, rpc::RpcTimeout timeout)
        : master_(std::move(master)), timeout_(std::move(timeout)) {}

    ShuffleStatuses statuses(int shuffle_id, int reduce_id) override;
    /// A task carries the epoch of its stage; a newer epoch drops the cache (outputs moved).
    void update_epoch(std::int64_t epoch);
    /// Drops the cached statuses of `shuffle_id` (Spark's MapOutputTrackerWorker.unregisterShuffle,
    /// when the driver's ContextCleaner removes the shuffle). Thread-safe.
    void unregister_shuffle(int shuffle_id);

private:
    rpc::RpcEndpointRef master_;
    rpc::RpcTimeout timeout_;
    std::mutex mu_;
    std::unordered_map<int, ShuffleStatuses> cache_;  // guarded by mu_
    std::int64_t epoch_ = 0;                          // guarded by mu_
};

}  // namespace ember::shuffle
