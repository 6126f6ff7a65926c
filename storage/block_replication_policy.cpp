// SPDX-License-Identifier: Apache-2.0
#include "storage/block_replication_policy.hpp"

#include "rpc/log.hpp"

#include <algorithm>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <tuple>

namespace ember::storage {

std::vector<BlockManagerId> RandomBlockReplicationPolicy::prioritize(const BlockManagerId& self,
                                                                     std::vector<BlockManagerId> peers,
                                                                     const std::vector<BlockManagerId>& replicated_to,
                                                                     const BlockId& block, int num_replicas) const {
    if (static_cast<int>(peers.size()) < num_replicas) {
        log::get("storage")->warn("Expecting {} replicas of {} with only {} peer/s.", num_replicas, name(block),
                                  peers.size());
    }
    // Sorted first, so the order depends on the block and the set of peers only.
    std::sort(peers.begin(), peers.end());
    std::mt19937_64 random(std::hash<std::string>{}(name(block)));
    std::shuffle(peers.begin(), peers.end(), random);
    std::set<std::string> used_hosts{self.host};
    for (auto& r : replicated_to) used_hosts.insert(r.host);
    std::stable_partition(peers.begin(), peers.end(),
                          [&](const BlockManagerId& p) { return !used_hosts.count(p.host); });
    return peers;
}

}  // namespace ember::storage
