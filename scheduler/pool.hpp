// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Scheduling pools: the order in which task sets get offers, FIFO or FAIR (Spark's Pool,
/// FIFOSchedulingAlgorithm, FairSchedulingAlgorithm and FairSchedulableBuilder).

#include <map>
#include <string>
#include <vector>

namespace ember::scheduler {

class TaskSetManager;

enum class SchedulingMode { fifo, fair };

/// Parses "FIFO" or "FAIR" (case-insensitive); throws std::invalid_argument naming `what`.
SchedulingMode parse_scheduling_mode(const std::string& text, const std::string& what);

/// One pool of the FAIR tree (Spark's <pool> element): how its task sets are ordered, the cores
/// it gets before others (minShare) and its share of the rest (weight).
struct PoolConfig {
    std::string name;
    SchedulingMode mode = SchedulingMode::fifo;
    int min_share = 0;
    int weight = 1;
};

/// Reads a fairscheduler.xml:
///
///     <allocations>
///       <pool name="production">
///         <schedulingMode>FAIR</schedulingMode> <weight>2</weight> <minShare>1</minShare>
///       </pool>
///     </allocations>
///
/// Missing elements take Spark's defaults (FIFO, weight 1, minShare 0). Throws
/// std::runtime_error naming the file and the problem (unreadable, not XML, a pool without a
/// name, a bad mode, a negative or non-numeric weight or minShare).
std::vector<PoolConfig> parse_allocation_file(const std::string& path);

/// Orders task sets for resource offers.
///
/// FIFO (ember.scheduler.mode=FIFO, the default): lower job id first, then lower stage id.
/// FAIR: task sets go to the pool named by their job's ember.scheduler.pool property ("default"
/// if unset; an unknown name gets a pool with default settings). Pools are ordered by Spark's
/// fair comparator (a pool running fewer tasks than its minShare first, then the lower
/// running-tasks/minShare, else the lower running-tasks/weight, ties by name); inside a pool,
/// by that pool's own mode.
///
/// Threading: confined to the scheduler loop.
class Pools {
public:
    /// `configs`: pools from the allocation file (FAIR only).
    Pools(SchedulingMode mode, std::vector<PoolConfig> configs);

    SchedulingMode mode() const noexcept { return mode_; }
    /// The non-zombie task sets of `all`, in offer order. `all` includes zombies: their running
    /// tasks count towards their pool's share.
    std::vector<TaskSetManager*> sort(const std::vector<TaskSetManager*>& all);
    /// The settings of pool `name` (created with defaults if unknown).
    const PoolConfig& pool(const std::string& name);

private:
    SchedulingMode mode_;
    std::map<std::string, PoolConfig> pools_;
};

}  // namespace ember::scheduler
