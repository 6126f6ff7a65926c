// SPDX-License-Identifier: Apache-2.0
#include "storage/block_manager_master.hpp"

#include "rpc/log.hpp"
#include "rpc/message.hpp"
#include "storage/storage_codec.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace ember::storage {
namespace {

rpc::OutgoingMessage update_message(const BlockManagerId& id, const BlockId& block, const StorageLevel& level,
                                    std::uint64_t mem_size, std::uint64_t disk_size) {
    return rpc::OutgoingMessage::make<wire::UpdateBlockInfo>([&](wire::UpdateBlockInfo::Builder b) {
        detail::to_wire(b.initBlockManagerId(), id);
        b.setBlockId(name(block));
        detail::to_wire(b.initStorageLevel(), level);
        b.setMemSize(mem_size);
        b.setDiskSize(disk_size);
    });
}

/// Sends a removal `msg` (replied to with a RemovedCount) to the master: when `blocking`, waits
/// and returns the count (std::runtime_error "Failed to remove <what>: ..." if it does not
/// answer); otherwise returns 0 at once and logs a failure.
int ask_removed_count(const rpc::RpcEndpointRef& master, const rpc::RpcTimeout& timeout, rpc::OutgoingMessage msg,
                      bool blocking, std::string what) {
    if (!blocking) {
        master.ask(std::move(msg), timeout, [what = std::move(what)](rpc::RpcResult<rpc::Message> r) {
            if (!r) log::get("storage")->warn("Failed to remove {}: {}", what, r.error().message);
        });
        return 0;
    }
    auto r = master.ask_sync<wire::RemovedCount>(std::move(msg), timeout);
    if (!r) throw std::runtime_error(fmt::format("Failed to remove {}: {}", what, r.error().message));
    return r->get<wire::RemovedCount>().getCount();
}

}  // namespace

BlockManagerId BlockManagerMaster::register_block_manager(const BlockManagerId& id, std::uint64_t max_memory,
                                                          const rpc::RpcEndpointRef& storage_endpoint,
                                                          const std::vector<std::string>& local_dirs) {
    auto msg = rpc::OutgoingMessage::make<wire::RegisterBlockManager>([&](wire::RegisterBlockManager::Builder b) {
        detail::to_wire(b.initBlockManagerId(), id);
        b.setMaxOnHeapMemory(max_memory);
        b.setMaxOffHeapMemory(0);
        rpc::write_ref(b.initStorageEndpoint(), storage_endpoint);
        auto dirs = b.initLocalDirs(static_cast<unsigned>(local_dirs.size()));
        for (unsigned i = 0; i < local_dirs.size(); ++i) dirs.set(i, local_dirs[i]);
    });
    auto r = master_.ask_sync<wire::RegisteredBlockManager>(std::move(msg), timeout_);
    if (!r) {
        throw std::runtime_error(fmt::format("Cannot register {} with the BlockManagerMaster: {}", id.to_string(),
                                             r.error().message));
    }
    return detail::from_wire(r->get<wire::RegisteredBlockManager>().getBlockManagerId());
}

bool BlockManagerMaster::update_block_info(const BlockManagerId& id, const BlockId& block, const StorageLevel& level,
                                           std::uint64_t mem_size, std::uint64_t disk_size) {
    auto r = master_.ask_sync<wire::BooleanReply>(update_message(id, block, level, mem_size, disk_size), timeout_);
    if (!r) {
        log::get("storage")->warn("UpdateBlockInfo of {} failed: {}", name(block), r.error().message);
        return false;
    }
    return r->get<wire::BooleanReply>().getValue();
}

void BlockManagerMaster::update_block_info_async(const BlockManagerId& id, const BlockId& block,
                                                 const StorageLevel& level, std::uint64_t mem_size,
                                                 std::uint64_t disk_size) {
    std::string block_name = name(block);
    master_.ask(update_message(id, block, level, mem_size, disk_size), timeout_,
                [block_name](rpc::RpcResult<rpc::Message> r) {
                    if (!r) log::get("storage")->warn("UpdateBlockInfo of {} failed: {}", block_name, r.error().message);
                });
}

std::vector<BlockManagerId> BlockManagerMaster::get_locations(const BlockId& block) {
    auto msg = rpc::OutgoingMessage::make<wire::GetLocations>(
        [&](wire::GetLocations::Builder b) { b.setBlockId(name(block)); });
    auto r = master_.ask_sync<wire::Locations>(std::move(msg), timeout_);
    std::vector<BlockManagerId> out;
    if (!r) {
        log::get("storage")->warn("GetLocations of {} failed: {}", name(block), r.error().message);
        return out;
    }
    for (auto l : r->get<wire::Locations>().getLocations()) out.push_back(detail::from_wire(l));
    return out;
}

std::vector<BlockManagerId> BlockManagerMaster::get_peers(const BlockManagerId& id) {
    auto msg = rpc::OutgoingMessage::make<wire::GetPeers>(
        [&](wire::GetPeers::Builder b) { detail::to_wire(b.initBlockManagerId(), id); });
    auto r = master_.ask_sync<wire::Locations>(std::move(msg), timeout_);
    std::vector<BlockManagerId> out;
    if (!r) {
        log::get("storage")->warn("GetPeers of {} failed: {}", id.to_string(), r.error().message);
        return out;
    }
    for (auto l : r->get<wire::Locations>().getLocations()) out.push_back(detail::from_wire(l));
    return out;
}

int BlockManagerMaster::remove_rdd(int rdd_id, bool blocking) {
    return ask_removed_count(
        master_, timeout_,
        rpc::OutgoingMessage::make<wire::RemoveRdd>([&](wire::RemoveRdd::Builder b) { b.setRddId(rdd_id); }), blocking,
        fmt::format("RDD {}", rdd_id));
}

int BlockManagerMaster::remove_shuffle(int shuffle_id, bool blocking) {
    return ask_removed_count(master_, timeout_,
                             rpc::OutgoingMessage::make<wire::RemoveShuffle>(
                                 [&](wire::RemoveShuffle::Builder b) { b.setShuffleId(shuffle_id); }),
                             blocking, fmt::format("shuffle {}", shuffle_id));
}

int BlockManagerMaster::remove_broadcast(std::int64_t broadcast_id, bool remove_from_driver, bool blocking) {
    return ask_removed_count(master_, timeout_,
                             rpc::OutgoingMessage::make<wire::RemoveBroadcast>([&](wire::RemoveBroadcast::Builder b) {
                                 b.setBroadcastId(broadcast_id);
                                 b.setRemoveFromDriver(remove_from_driver);
                             }),
                             blocking, fmt::format("broadcast {}", broadcast_id));
}

}  // namespace ember::storage
