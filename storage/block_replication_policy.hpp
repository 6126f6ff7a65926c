// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RandomBlockReplicationPolicy: the order in which a BlockManager tries peers when it
/// replicates a block (Spark's BlockReplicationPolicy / RandomBlockReplicationPolicy).

#include "storage/block_id.hpp"
#include "storage/block_manager_id.hpp"

#include <vector>

namespace ember::storage {

/// Spark's RandomBlockReplicationPolicy ("makes sure we put blocks on different hosts, if
/// possible"): the candidate peers in a random order seeded by the block id (the same block
/// gets the same order from the same peers, as Spark seeds with blockId.hashCode), then moved,
/// keeping that order, so that peers on a host that holds no copy yet (neither `self`'s host
/// nor one of `replicated_to`'s) come first. The caller tries them in order until it has made
/// enough copies; after a failure it asks again without the peers that failed.
///
/// Threading: immutable (stateless).
class RandomBlockReplicationPolicy {
public:
    /// Every peer of `peers` (none dropped: the caller needs spares when an upload fails), in the
    /// order to try them. `num_replicas` is how many copies are still wanted; a warning is
    /// logged when there are fewer peers than that.
    std::vector<BlockManagerId> prioritize(const BlockManagerId& self, std::vector<BlockManagerId> peers,
                                           const std::vector<BlockManagerId>& replicated_to, const BlockId& block,
                                           int num_replicas) const;
};

}  // namespace ember::storage
