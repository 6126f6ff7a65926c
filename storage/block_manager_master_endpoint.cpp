// SPDX-License-Identifier: Apache-2.0
#include "storage/block_manager_master_endpoint.hpp"

#include "rpc/log.hpp"
#include "rpc/message.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/rpc_env.hpp"
#include "storage/storage_codec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <random>

namespace ember::storage {
namespace {

std::optional<BlockId> parse_or_fail(std::string_view text, rpc::RpcCallContext& ctx) {
    auto id = parse_block_id(text);
    if (!id) ctx.send_failure(fmt::format("Failed to parse {} into a block ID", text));
    return id;
}

// A BlockManagerId from a peer, its host normalised (RpcAddress::normalize_host), so that the
// locations the master hands out compare with executors' hosts however the peer spelled it.
BlockManagerId read_id(wire::BlockManagerId::Reader r) {
    auto id = detail::from_wire(r);
    id.host = rpc::RpcAddress::normalize_host(std::move(id.host));
    return id;
}

void fill_locations(wire::Locations::Builder b, const std::vector<BlockManagerId>& locs) {
    auto list = b.initLocations(static_cast<unsigned>(locs.size()));
    for (unsigned i = 0; i < locs.size(); ++i) detail::to_wire(list[i], locs[i]);
}

/// Asks every one of `holders` to remove something (`make()` builds each request; the reply is
/// a RemovedCount) and calls `done(total)` once all answered, at once if there are none. A
/// BlockManager that is gone holds nothing any more (SPARK-32091): its failure counts 0 and is
/// logged at debug level as "Failed to remove <what> from a block manager".
void ask_removed_counts(const std::vector<rpc::RpcEndpointRef>& holders,
                        const std::function<rpc::OutgoingMessage()>& make, std::string what,
                        std::function<void(int)> done) {
    if (holders.empty()) {
        if (done) done(0);
        return;
    }
    auto pending = std::make_shared<std::atomic<int>>(static_cast<int>(holders.size()));
    auto count = std::make_shared<std::atomic<int>>(0);
    auto shared_done = std::make_shared<std::function<void(int)>>(std::move(done));
    auto shared_what = std::make_shared<const std::string>(std::move(what));
    for (const auto& h : holders) {
        h.ask(make(), [pending, count, shared_done, shared_what](rpc::RpcResult<rpc::Message> r) {
            if (r) {
                if (auto c = r->try_get<wire::RemovedCount>()) count->fetch_add(c->getCount());
            } else {
                log::get("storage")->debug("Failed to remove {} from a block manager: {}", *shared_what,
                                           r.error().message);
            }
            if (pending->fetch_sub(1) == 1 && *shared_done) (*shared_done)(count->load());
        });
    }
}

}  // namespace

void BlockManagerMasterEndpoint::receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) {
    if (auto reg = msg.try_get<wire::RegisterBlockManager>()) {
        auto id = read_id(reg->getBlockManagerId());
        {
            std::lock_guard lk(mu_);
            if (managers_.count(id.executor_id) || removed_.count(id.executor_id)) {
                // Never taken over: a second process claiming a live executor's id, or a lost
                // one's, is refused before anything of it is registered (executors register
                // their BlockManager before RegisterExecutor, where the driver says the same).
                ctx.send_failure("Duplicate executor ID: " + id.executor_id);
                return;
            }
        }
        // Removals go over the connection the BlockManager registered on: the only one its
        // storage endpoint obeys.
        register_block_manager(id, reg->getMaxOnHeapMemory(), msg.connection_ref(reg->getStorageEndpoint()));
        ctx.reply<wire::RegisteredBlockManager>(
            [&](wire::RegisteredBlockManager::Builder b) { detail::to_wire(b.initBlockManagerId(), id); });
        return;
    }
    if (auto up = msg.try_get<wire::UpdateBlockInfo>()) {
        auto block = parse_or_fail(std::string_view(up->getBlockId().cStr()), ctx);
        if (!block) return;
        if (!from_block_manager(up->getBlockManagerId().getExecutorId().cStr(), msg)) {
            ctx.send_failure("UpdateBlockInfo is accepted from that executor's BlockManager only");
            return;
        }
        bool ok = update_block_info(read_id(up->getBlockManagerId()), *block,
                                    detail::from_wire(up->getStorageLevel()), up->getMemSize(), up->getDiskSize());
        ctx.reply<wire::BooleanReply>([&](wire::BooleanReply::Builder b) { b.setValue(ok); });
        return;
    }
    if (auto gl = msg.try_get<wire::GetLocations>()) {
        auto block = parse_or_fail(std::string_view(gl->getBlockId().cStr()), ctx);
        if (!block) return;
        auto locs = get_locations(*block);
        ctx.reply<wire::Locations>([&](wire::Locations::Builder b) { fill_locations(b, locs); });
        return;
    }
    if (auto gp = msg.try_get<wire::GetPeers>()) {
        auto peers = get_peers(detail::from_wire(gp->getBlockManagerId()));
        ctx.reply<wire::Locations>([&](wire::Locations::Builder b) { fill_locations(b, peers); });
        return;
    }
    if (auto gm = msg.try_get<wire::GetLocationsMultipleBlockIds>()) {
        std::vector<BlockId> blocks;
        for (auto t : gm->getBlockIds()) {
            auto block = parse_or_fail(std::string_view(t.cStr()), ctx);
            if (!block) return;
            blocks.push_back(*block);
        }
        auto locs = get_locations(blocks);
        ctx.reply<wire::LocationsMultiple>([&](wire::LocationsMultiple::Builder b) {
            auto list = b.initLocations(static_cast<unsigned>(locs.size()));
            for (unsigned i = 0; i < locs.size(); ++i) fill_locations(list[i], locs[i]);
        });
        return;
    }
    if (auto rb = msg.try_get<wire::RemoveBlock>()) {
        auto block = parse_or_fail(std::string_view(rb->getBlockId().cStr()), ctx);
        if (!block) return;
        if (rb->getExecutorId().size() > 0) {
            remove_block_at(rb->getExecutorId(), *block, [ctx](bool ok) mutable {
                ctx.reply<wire::BooleanReply>([&](wire::BooleanReply::Builder b) { b.setValue(ok); });
            });
            return;
        }
        remove_block(*block, [ctx](bool ok) mutable {
            ctx.reply<wire::BooleanReply>([&](wire::BooleanReply::Builder b) { b.setValue(ok); });
        });
        return;
    }
    if (auto rr = msg.try_get<wire::RemoveRdd>()) {
        remove_rdd(rr->getRddId(), [ctx](int count) mutable {
            ctx.reply<wire::RemovedCount>([&](wire::RemovedCount::Builder b) { b.setCount(count); });
        });
        return;
    }
    if (auto rs = msg.try_get<wire::RemoveShuffle>()) {
        if (msg.is_remote()) {
            // Only the driver's ContextCleaner knows that no reference to a shuffle is left.
            ctx.send_failure("RemoveShuffle is accepted from the driver only");
            return;
        }
        remove_shuffle(rs->getShuffleId(), [ctx](int count) mutable {
            ctx.reply<wire::RemovedCount>([&](wire::RemovedCount::Builder b) { b.setCount(count); });
        });
        return;
    }
    if (auto rb = msg.try_get<wire::RemoveBroadcast>()) {
        if (msg.is_remote()) {
            // Only the driver's own code unpersists or destroys broadcasts.
            ctx.send_failure("RemoveBroadcast is accepted from the driver only");
            return;
        }
        remove_broadcast(rb->getBroadcastId(), rb->getRemoveFromDriver(), [ctx](int count) mutable {
            ctx.reply<wire::RemovedCount>([&](wire::RemovedCount::Builder b) { b.setCount(count); });
        });
        return;
    }
    RpcEndpoint::receive_and_reply(msg, std::move(ctx));
}

bool BlockManagerMasterEndpoint::from_block_manager(std::string_view executor_id, const rpc::Message& msg) const {
    if (!msg.is_remote()) return true;  // the driver's own BlockManager
    rpc::RpcEndpointRef storage;
    {
        std::lock_guard lk(mu_);
        auto it = managers_.find(std::string(executor_id));
        if (it == managers_.end()) return false;
        storage = it->second.storage;
    }
    return msg.came_over(storage);
}

void BlockManagerMasterEndpoint::remove_block_at(const std::string& executor_id, const BlockId& block,
                                                 std::function<void(bool)> done) {
    rpc::RpcEndpointRef storage;
    {
        std::lock_guard lk(mu_);
        auto it = managers_.find(executor_id);
        if (it != managers_.end()) {
            storage = it->second.storage;
            it->second.blocks.erase(block);
            drop_location_locked(block, executor_id);
        }
    }
    if (!storage) {
        if (done) done(false);
        return;
    }
    std::string name = storage::name(block);
    storage.ask(rpc::OutgoingMessage::make<wire::RemoveBlock>([&](wire::RemoveBlock::Builder b) { b.setBlockId(name); }),
                [done](rpc::RpcResult<rpc::Message> r) {
                    bool ok = r && r->is<wire::BooleanReply>() && r->get<wire::BooleanReply>().getValue();
                    if (done) done(ok);
                });
}

void BlockManagerMasterEndpoint::register_block_manager(const BlockManagerId& id, std::uint64_t max_memory,
                                                        rpc::RpcEndpointRef storage) {
    std::optional<BlockManagerId> replaced;
    {
        std::lock_guard lk(mu_);
        if (auto it = managers_.find(id.executor_id); it != managers_.end() && it->second.id != id) {
            log::get("storage")->error(
                "Got two different block manager registrations on same executor - will replace "
                "old one {} with new one {}",
                it->second.id.to_string(), id.to_string());
            replaced = it->second.id;
            forget_block_manager_locked(id.executor_id);
        }
        auto& info = managers_[id.executor_id];
        info.id = id;
        info.max_memory = max_memory;
        info.storage = std::move(storage);
        log::get("storage")->info("Registering block manager {} with {} bytes of storage memory", id.to_string(),
                                  max_memory);
    }
    if (replaced && observer_.block_manager_removed) observer_.block_manager_removed(*replaced);
    if (observer_.block_manager_added) observer_.block_manager_added(id, max_memory);
}

bool BlockManagerMasterEndpoint::update_block_info(const BlockManagerId& id, const BlockId& block,
                                                   const StorageLevel& level, std::uint64_t mem_size,
                                                   std::uint64_t disk_size) {
    {
        std::lock_guard lk(mu_);
        auto it = managers_.find(id.executor_id);
        if (it == managers_.end() || it->second.id != id) return false;
        auto& info = it->second;
        if (level.is_valid()) {
            info.blocks[block] = BlockStatus{level, mem_size, disk_size};
            block_locations_[block].insert(id.executor_id);
            int& r = replication_[block];
            r = std::max(r, level.replication);
        } else {
            info.blocks.erase(block);
            drop_location_locked(block, id.executor_id);
        }
    }
    if (observer_.block_updated) observer_.block_updated(id, block, level, mem_size, disk_size);
    return true;
}

std::vector<BlockManagerId> BlockManagerMasterEndpoint::get_locations(const BlockId& block) const {
    std::lock_guard lk(mu_);
    std::vector<BlockManagerId> out;
    auto it = block_locations_.find(block);
    if (it == block_locations_.end()) return out;
    for (auto& exec : it->second) {
        if (auto m = managers_.find(exec); m != managers_.end()) out.push_back(m->second.id);
    }
    return out;
}

std::vector<std::vector<BlockManagerId>> BlockManagerMasterEndpoint::get_locations(
    const std::vector<BlockId>& blocks) const {
    std::vector<std::vector<BlockManagerId>> out;
    out.reserve(blocks.size());
    for (auto& b : blocks) out.push_back(get_locations(b));
    return out;
}

void BlockManagerMasterEndpoint::forget_block_manager_locked(const std::string& executor_id) {
    auto it = managers_.find(executor_id);
    if (it == managers_.end()) return;
    for (auto& [block, _] : it->second.blocks) drop_location_locked(block, executor_id);
    managers_.erase(it);
}

void BlockManagerMasterEndpoint::drop_location_locked(const BlockId& block, const std::string& executor_id) {
    auto bl = block_locations_.find(block);
    if (bl == block_locations_.end()) return;
    bl->second.erase(executor_id);
    if (bl->second.empty()) {
        block_locations_.erase(bl);
        replication_.erase(block);
    }
}

std::vector<BlockManagerId> BlockManagerMasterEndpoint::get_peers(const BlockManagerId& asker) const {
    std::lock_guard lk(mu_);
    std::vector<BlockManagerId> out;
    for (auto& [exec, info] : managers_) {
        if (exec != asker.executor_id && exec != "driver") out.push_back(info.id);
    }
    return out;
}

void BlockManagerMasterEndpoint::on_start() {
    const auto& conf = env().conf();
    if (conf.contains("ember.storage.replication.proactive")) {
        proactive_ = conf.get_bool("ember.storage.replication.proactive", false);
    }
}

void BlockManagerMasterEndpoint::remove_executor(const std::string& executor_id) {
    BlockManagerId removed;
    struct Replication {
        BlockId block;
        rpc::RpcEndpointRef holder;
        std::vector<BlockManagerId> others;
        int wanted;
    };
    std::vector<Replication> replications;
    {
        std::lock_guard lk(mu_);
        auto it = managers_.find(executor_id);
        if (it == managers_.end()) return;
        removed = it->second.id;
        removed_.insert(executor_id);
        log::get("storage")->info("Trying to remove executor {} from BlockManagerMaster.", executor_id);
        for (auto& [block, _] : it->second.blocks) {
            auto bl = block_locations_.find(block);
            if (bl == block_locations_.end()) continue;
            std::vector<std::string> rest;
            for (auto& e : bl->second) {
                if (e != executor_id) rest.push_back(e);
            }
            if (rest.empty()) {
                log::get("storage")->warn("No more replicas available for {} !", name(block));
                continue;
            }
            int wanted = replication_.count(block) ? replication_.at(block) : 1;
            if (!proactive_ || !std::holds_alternative<RddBlockId>(block) || static_cast<int>(rest.size()) >= wanted) {
                continue;
            }
            // One surviving holder, chosen at random, copies it (Spark's proactive replication).
            std::mt19937 random(static_cast<unsigned>(std::hash<std::string>{}(name(block))));
            std::size_t pick = std::uniform_int_distribution<std::size_t>(0, rest.size() - 1)(random);
            Replication r{block, managers_.at(rest[pick]).storage, {}, wanted};
            for (std::size_t i = 0; i < rest.size(); ++i) {
                if (i != pick) r.others.push_back(managers_.at(rest[i]).id);
            }
            replications.push_back(std::move(r));
        }
        forget_block_manager_locked(executor_id);
    }
    for (auto& r : replications) {
        std::string block_name = name(r.block);
        log::get("storage")->info("Asking {} to replicate {} to {} copies after executor {} was lost",
                                  r.holder.address().host_port(), block_name, r.wanted, executor_id);
        r.holder.ask(rpc::OutgoingMessage::make<wire::ReplicateBlock>([&](wire::ReplicateBlock::Builder b) {
                         b.setBlockId(block_name);
                         auto list = b.initReplicas(static_cast<unsigned>(r.others.size()));
                         for (unsigned i = 0; i < r.others.size(); ++i) detail::to_wire(list[i], r.others[i]);
                         b.setMaxReplicas(static_cast<std::uint8_t>(r.wanted));
                     }),
                     [block_name](rpc::RpcResult<rpc::Message> res) {
                         if (!res) {
                             // Also every executor's fate when the application stops: not a warning.
                             log::get("storage")->info("Proactive replication of {} failed: {}", block_name,
                                                       res.error().message);
                         } else if (auto b = res->try_get<wire::BooleanReply>(); b && !b->getValue()) {
                             log::get("storage")->warn("Proactive replication of {} made fewer copies than wanted",
                                                       block_name);
                         }
                     });
    }
    if (observer_.block_manager_removed) observer_.block_manager_removed(removed);
}

void BlockManagerMasterEndpoint::remove_block(const BlockId& block, std::function<void(bool)> done) {
    std::vector<rpc::RpcEndpointRef> holders;
    {
        std::lock_guard lk(mu_);
        if (auto bl = block_locations_.find(block); bl != block_locations_.end()) {
            for (auto& exec : bl->second) {
                auto& info = managers_.at(exec);
                info.blocks.erase(block);
                holders.push_back(info.storage);
            }
            block_locations_.erase(bl);
            replication_.erase(block);
        }
    }
    if (holders.empty()) {
        if (done) done(true);
        return;
    }
    auto pending = std::make_shared<std::atomic<int>>(static_cast<int>(holders.size()));
    auto shared_done = std::make_shared<std::function<void(bool)>>(std::move(done));
    std::string block_name = name(block);
    for (auto& h : holders) {
        h.ask(rpc::OutgoingMessage::make<wire::RemoveBlock>([&](wire::RemoveBlock::Builder b) { b.setBlockId(block_name); }),
              [pending, shared_done, block_name](rpc::RpcResult<rpc::Message> r) {
                  if (!r) log::get("storage")->warn("Failed to remove block {}: {}", block_name, r.error().message);
                  if (pending->fetch_sub(1) == 1 && *shared_done) (*shared_done)(true);
              });
    }
}

void BlockManagerMasterEndpoint::remove_rdd(int rdd_id, std::function<void(int)> done) {
    std::vector<rpc::RpcEndpointRef> holders;
    {
        std::lock_guard lk(mu_);
        for (auto bl = block_locations_.begin(); bl != block_locations_.end();) {
            auto* r = std::get_if<RddBlockId>(&bl->first);
            if (!r || r->rdd_id != rdd_id) {
                ++bl;
                continue;
            }
            for (auto& exec : bl->second) managers_.at(exec).blocks.erase(bl->first);
            replication_.erase(bl->first);
            bl = block_locations_.erase(bl);
        }
        // Every BlockManager is asked, as Spark does: one may hold blocks it has not reported yet.
        for (auto& [_, info] : managers_) holders.push_back(info.storage);
    }
    ask_removed_counts(
        holders,
        [rdd_id] {
            return rpc::OutgoingMessage::make<wire::RemoveRdd>([&](wire::RemoveRdd::Builder b) { b.setRddId(rdd_id); });
        },
        fmt::format("RDD {}", rdd_id), std::move(done));
}

void BlockManagerMasterEndpoint::remove_shuffle(int shuffle_id, std::function<void(int)> done) {
    std::vector<rpc::RpcEndpointRef> holders;
    {
        std::lock_guard lk(mu_);
        // Map outputs are not reported as blocks: every BlockManager is asked, as Spark does.
        for (auto& [_, info] : managers_) holders.push_back(info.storage);
    }
    ask_removed_counts(
        holders,
        [shuffle_id] {
            return rpc::OutgoingMessage::make<wire::RemoveShuffle>(
                [&](wire::RemoveShuffle::Builder b) { b.setShuffleId(shuffle_id); });
        },
        fmt::format("shuffle {}", shuffle_id), std::move(done));
}

void BlockManagerMasterEndpoint::remove_broadcast(std::int64_t broadcast_id, bool remove_from_driver,
                                                  std::function<void(int)> done) {
    std::vector<rpc::RpcEndpointRef> holders;
    {
        std::lock_guard lk(mu_);
        auto keep = [&](const std::string& exec) { return !remove_from_driver && exec == "driver"; };
        for (auto bl = block_locations_.begin(); bl != block_locations_.end();) {
            auto* b = std::get_if<BroadcastBlockId>(&bl->first);
            if (!b || b->broadcast_id != broadcast_id) {
                ++bl;
                continue;
            }
            for (auto it = bl->second.begin(); it != bl->second.end();) {
                if (keep(*it)) {
                    ++it;
                    continue;
                }
                managers_.at(*it).blocks.erase(bl->first);
                it = bl->second.erase(it);
            }
            bl = bl->second.empty() ? block_locations_.erase(bl) : std::next(bl);
        }
        // Every BlockManager is asked, as Spark does: each may hold the deserialized value, and
        // pieces it has not reported yet.
        for (auto& [exec, info] : managers_) {
            if (!keep(exec)) holders.push_back(info.storage);
        }
    }
    ask_removed_counts(
        holders,
        [broadcast_id, remove_from_driver] {
            return rpc::OutgoingMessage::make<wire::RemoveBroadcast>([&](wire::RemoveBroadcast::Builder b) {
                b.setBroadcastId(broadcast_id);
                b.setRemoveFromDriver(remove_from_driver);
            });
        },
        fmt::format("broadcast {}", broadcast_id), std::move(done));
}

std::vector<BlockManagerMasterEndpoint::MemoryStatus> BlockManagerMasterEndpoint::memory_status() const {
    std::lock_guard lk(mu_);
    std::vector<MemoryStatus> out;
    for (auto& [_, info] : managers_) {
        std::uint64_t used = 0;
        for (auto& [block, status] : info.blocks) used += status.mem_size;
        out.push_back(MemoryStatus{info.id, info.max_memory, used});
    }
    return out;
}

std::vector<BlockManagerId> BlockManagerMasterEndpoint::block_managers() const {
    std::lock_guard lk(mu_);
    std::vector<BlockManagerId> out;
    for (auto& [_, info] : managers_) out.push_back(info.id);
    return out;
}

}  // namespace ember::storage
