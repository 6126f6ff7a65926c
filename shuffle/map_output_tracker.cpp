// SPDX-License-Identifier: Apache-2.0
#include "shuffle/map_output_tracker.hpp"

#include <algorithm>
#include <map>

#include "rpc/log.hpp"

#include <fmt/format.h>
#include <kj/exception.h>

namespace ember::shuffle {
namespace {

/// Serves GetMapOutputStatuses from the master's state.
class MapOutputTrackerMasterEndpoint final : public rpc::RpcEndpoint {
public:
    explicit MapOutputTrackerMasterEndpoint(MapOutputTrackerMaster& master) : master_(master) {}

    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override {
        auto req = msg.get<wire::GetMapOutputStatuses>();
        int shuffle_id = req.getShuffleId();
        if (!master_.contains_shuffle(shuffle_id)) {
            ctx.send_failure(fmt::format("Shuffle {} is not registered with the MapOutputTracker", shuffle_id));
            return;
        }
        ShuffleStatuses s = master_.statuses(shuffle_id, -1);
        auto reply = rpc::OutgoingMessage::make<wire::MapOutputStatuses>();
        auto b = reply.payload<wire::MapOutputStatuses>();
        b.setShuffleId(shuffle_id);
        b.setNumMaps(s.num_maps);
        b.setEpoch(s.epoch);
        unsigned present = 0;
        for (auto& m : s.by_map_index) present += m.has_value();
        auto list = b.initStatuses(present);
        unsigned i = 0;
        for (auto& m : s.by_map_index) {
            if (m) to_wire(list[i++], *m);
        }
        ctx.reply(std::move(reply));
    }

private:
    MapOutputTrackerMaster& master_;
};

}  // namespace

ShuffleStatuses read_map_output_statuses(wire::MapOutputStatuses::Reader r, int shuffle_id, int reduce_id) {
    ShuffleStatuses s;
    try {
        s.num_maps = r.getNumMaps();
        if (s.num_maps < 0) {
            throw MetadataFetchFailedException(shuffle_id, reduce_id,
                                               fmt::format("Malformed map output statuses for shuffle {}: {} maps",
                                                           shuffle_id, s.num_maps));
        }
        s.epoch = r.getEpoch();
        auto list = r.getStatuses();
        // Slots up to the highest map index among the statuses, for no more outputs than the
        // reply carries: not for what numMaps claims (a reply of a few bytes could claim 2^31
        // maps), nor for a list of zero-sized structs (which capnp lets a few bytes claim by the
        // million, up to the traversal limit; each has map index 0).
        int top = -1;
        for (auto st : list) {
            int i = st.getMapIndex();
            if (i >= 0 && i < s.num_maps) top = std::max(top, i);
        }
        std::size_t slots = std::min<std::size_t>(list.size(), static_cast<std::size_t>(top + 1));
        s.by_map_index.resize(slots);
        for (auto st : list) {
            auto m = from_wire(st);
            if (m.map_index >= 0 && static_cast<std::size_t>(m.map_index) < slots) {
                s.by_map_index[static_cast<std::size_t>(m.map_index)] = std::move(m);
            }
        }
    } catch (const kj::Exception& e) {
        throw MetadataFetchFailedException(shuffle_id, reduce_id,
                                           fmt::format("Malformed map output statuses for shuffle {}: {}", shuffle_id,
                                                       e.getDescription().cStr()));
    }
    return s;
}

BlocksByAddress MapOutputTracker::get_map_sizes_by_executor_id(int shuffle_id, int start_partition,
                                                               int end_partition) {
    ShuffleStatuses s = statuses(shuffle_id, start_partition);
    std::map<storage::BlockManagerId, std::vector<BlockInfo>> grouped;
    for (int m = 0; m < s.num_maps; ++m) {
        auto i = static_cast<std::size_t>(m);
        const MapStatus* st = i < s.by_map_index.size() && s.by_map_index[i] ? &*s.by_map_index[i] : nullptr;
        if (!st) {
            throw MetadataFetchFailedException(
                shuffle_id, start_partition,
                fmt::format("Missing an output location for shuffle {} partition {}", shuffle_id, start_partition));
        }
        for (int r = start_partition; r < end_partition; ++r) {
            std::uint64_t size = r < static_cast<int>(st->sizes.size()) ? st->sizes[static_cast<std::size_t>(r)] : 0;
            if (size == 0) continue;
            grouped[st->location].push_back(BlockInfo{{shuffle_id, st->map_id, r}, size, m});
        }
    }
    return BlocksByAddress(grouped.begin(), grouped.end());
}

void MapOutputTrackerMaster::register_shuffle(int shuffle_id, int num_maps) {
    std::lock_guard lk(mu_);
    shuffles_.try_emplace(shuffle_id, static_cast<std::size_t>(num_maps));
}

bool MapOutputTrackerMaster::contains_shuffle(int shuffle_id) const {
    std::lock_guard lk(mu_);
    return shuffles_.count(shuffle_id) > 0;
}

void MapOutputTrackerMaster::register_map_output(int shuffle_id, int map_index, MapStatus status) {
    std::lock_guard lk(mu_);
    auto& v = shuffles_.at(shuffle_id);
    v.at(static_cast<std::size_t>(map_index)) = std::move(status);
}

void MapOutputTrackerMaster::unregister_map_output(int shuffle_id, int map_index,
                                                   const storage::BlockManagerId& location) {
    std::lock_guard lk(mu_);
    auto it = shuffles_.find(shuffle_id);
    if (it == shuffles_.end() || map_index < 0 || map_index >= static_cast<int>(it->second.size())) return;
    auto& slot = it->second[static_cast<std::size_t>(map_index)];
    if (slot && slot->location == location) {
        slot.reset();
        ++epoch_;
    }
}

int MapOutputTrackerMaster::remove_outputs_on_executor(const std::string& executor_id) {
    std::lock_guard lk(mu_);
    int n = 0;
    for (auto& [_, v] : shuffles_) {
        for (auto& slot : v) {
            if (slot && slot->location.executor_id == executor_id) {
                slot.reset();
                ++n;
            }
        }
    }
    if (n) ++epoch_;
    return n;
}

void MapOutputTrackerMaster::unregister_shuffle(int shuffle_id) {
    std::lock_guard lk(mu_);
    shuffles_.erase(shuffle_id);
}

std::vector<int> MapOutputTrackerMaster::find_missing_partitions(int shuffle_id) const {
    std::lock_guard lk(mu_);
    std::vector<int> out;
    auto it = shuffles_.find(shuffle_id);
    if (it == shuffles_.end()) return out;
    for (std::size_t i = 0; i < it->second.size(); ++i) {
        if (!it->second[i]) out.push_back(static_cast<int>(i));
    }
    return out;
}

int MapOutputTrackerMaster::num_available_outputs(int shuffle_id) const {
    std::lock_guard lk(mu_);
    auto it = shuffles_.find(shuffle_id);
    if (it == shuffles_.end()) return 0;
    int n = 0;
    for (auto& s : it->second) n += s.has_value();
    return n;
}

std::vector<std::string> MapOutputTrackerMaster::hosts_with_largest_outputs(int shuffle_id, int reduce_id,
                                                                          double fraction) const {
    std::lock_guard lk(mu_);
    auto it = shuffles_.find(shuffle_id);
    if (it == shuffles_.end() || it->second.size() >= 1000) return {};
    std::map<std::string, std::uint64_t> by_host;
    std::uint64_t total = 0;
    for (const auto& s : it->second) {
        if (!s) return {};
        auto r = static_cast<std::size_t>(reduce_id);
        std::uint64_t size = r < s->sizes.size() ? s->sizes[r] : 0;
        if (size == 0) continue;
        by_host[s->location.host] += size;
        total += size;
    }
    std::vector<std::pair<std::uint64_t, std::string>> large;
    for (auto& [host, bytes] : by_host) {
        if (total > 0 && static_cast<double>(bytes) / static_cast<double>(total) >= fraction) large.emplace_back(bytes, host);
    }
    std::sort(large.begin(), large.end(), [](auto& a, auto& b) { return a.first > b.first; });
    std::vector<std::string> out;
    for (auto& [_, host] : large) out.push_back(host);
    return out;
}

std::vector<std::uint64_t> MapOutputTrackerMaster::bytes_by_partition(int shuffle_id) const {
    std::lock_guard lk(mu_);
    std::vector<std::uint64_t> out;
    auto it = shuffles_.find(shuffle_id);
    if (it == shuffles_.end()) return out;
    for (auto& s : it->second) {
        if (!s) continue;
        if (out.size() < s->sizes.size()) out.resize(s->sizes.size(), 0);
        for (std::size_t r = 0; r < s->sizes.size(); ++r) out[r] += s->sizes[r];
    }
    return out;
}

std::int64_t MapOutputTrackerMaster::epoch() const {
    std::lock_guard lk(mu_);
    return epoch_;
}

void MapOutputTrackerMaster::increment_epoch() {
    std::lock_guard lk(mu_);
    ++epoch_;
}

ShuffleStatuses MapOutputTrackerMaster::statuses(int shuffle_id, int reduce_id) {
    std::lock_guard lk(mu_);
    auto it = shuffles_.find(shuffle_id);
    if (it == shuffles_.end()) {
        throw MetadataFetchFailedException(shuffle_id, reduce_id,
                                           fmt::format("Shuffle {} is not registered", shuffle_id));
    }
    return ShuffleStatuses{static_cast<int>(it->second.size()), epoch_, it->second};
}

void MapOutputTrackerMaster::start_endpoint(rpc::RpcEnv& env) {
    env.setup_endpoint(std::string(kEndpointName), std::make_unique<MapOutputTrackerMasterEndpoint>(*this)).value();
}

ShuffleStatuses MapOutputTrackerWorker::statuses(int shuffle_id, int reduce_id) {
    {
        std::lock_guard lk(mu_);
        auto it = cache_.find(shuffle_id);
        if (it != cache_.end()) return it->second;
    }
    // Concurrent tasks of one executor may both ask; the answers are identical.
    auto msg = rpc::OutgoingMessage::make<wire::GetMapOutputStatuses>(
        [&](wire::GetMapOutputStatuses::Builder b) { b.setShuffleId(shuffle_id); });
    auto reply = master_.ask_sync<wire::MapOutputStatuses>(std::move(msg), timeout_);
    if (!reply) {
        throw MetadataFetchFailedException(
            shuffle_id, reduce_id,
            fmt::format("Cannot get map output locations for shuffle {}: {}", shuffle_id, reply.error().message));
    }
    ShuffleStatuses s = read_map_output_statuses(reply->get<wire::MapOutputStatuses>(), shuffle_id, reduce_id);
    std::lock_guard lk(mu_);
    cache_[shuffle_id] = s;
    return s;
}

void MapOutputTrackerWorker::unregister_shuffle(int shuffle_id) {
    std::lock_guard lk(mu_);
    cache_.erase(shuffle_id);
}

void MapOutputTrackerWorker::update_epoch(std::int64_t epoch) {
    std::lock_guard lk(mu_);
    if (epoch > epoch_) {
        epoch_ = epoch;
        cache_.clear();
    }
}

}  // namespace ember::shuffle
