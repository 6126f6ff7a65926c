// SPDX-License-Identifier: Apache-2.0
#include "storage/block_manager.hpp"

#include "rpc/log.hpp"
#include "storage/block_manager_messages.capnp.h"
#include "storage/block_transfer_messages.capnp.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

namespace ember::storage {
namespace {

std::vector<std::string> split_dirs(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (!item.empty()) out.push_back(item);
    }
    if (out.empty()) out.push_back("/tmp");
    return out;
}

/// Serves FetchBlocks: replies with the sizes and sends the file segments as the raw body.
class BlockRpcServer final : public rpc::RpcEndpoint {
public:
    explicit BlockRpcServer(BlockManager& bm) : bm_(bm) {}

    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override {
        if (auto d = msg.try_get<wire::DiagnoseCorruption>()) {
            diagnose(*d, ctx);
            return;
        }
        auto req = read_fetch_blocks(msg.get<wire::FetchBlocks>());
        if (!req) {
            ctx.send_failure(req.error().message);
            return;
        }
        std::vector<std::variant<rpc::FileRegion, rpc::SharedBytes>> regions;
        regions.reserve(req->size());
        // The reason a block cannot be served, with its paths, stays in this executor's log: a
        // peer learns the block is unavailable, not where this executor keeps its files.
        auto unavailable = [&](const std::string& name, const std::string& why) {
            unavailable_.log(name, [&](std::uint64_t suppressed) {
                log::get("storage")->warn("Cannot serve block {} to {}: {}{}", name, msg.sender_address().host_port(),
                                          why, log::suppressed_suffix(suppressed));
            });
            ctx.send_failure(fmt::format("Block {} is not available at executor {} (its shuffle files are missing or "
                                         "unreadable)",
                                         name, bm_.id().executor_id));
        };
        for (const BlockRequest& b : *req) {
            const std::string& name = b.name;
            if (!std::holds_alternative<ShuffleBlockId>(b.id)) {
                // A memory block is sent from the MemoryStore's own buffer, which the frame keeps
                // alive even if the block is removed meanwhile; a disk block from its open file.
                if (auto bytes = bm_.memory_store().get_bytes(b.id)) {
                    regions.emplace_back(rpc::SharedBytes{bytes->owner, bytes->bytes});
                } else {
                    auto seg = bm_.disk_store().get_segment(b.id);
                    auto file = seg ? rpc::FileHandle::open_read(seg->path) : nullptr;
                    if (!file) {
                        ctx.send_failure(fmt::format("Block {} not found at executor {}", name, bm_.id().executor_id));
                        return;
                    }
                    regions.emplace_back(rpc::FileRegion{std::move(file), 0, seg->length});
                }
            } else {
                FileSegment seg;
                try {
                    seg = bm_.get_local_segment(b.id);
                } catch (const std::exception& e) {
                    unavailable(name, e.what());
                    return;
                }
                auto file = rpc::FileHandle::open_read(seg.path);
                if (!file) {
                    unavailable(name, fmt::format("cannot open {}: {}", seg.path, std::strerror(errno)));
                    return;
                }
                regions.push_back(rpc::FileRegion{std::move(file), seg.offset, seg.length});
            }
            // Only the asked range of each block (pieces of a large block).
            if (b.range && !narrow(regions.back(), *b.range, ctx, name)) return;
        }
        auto reply = rpc::OutgoingMessage::make<wire::BlocksFetched>();
        auto sizes = reply.payload<wire::BlocksFetched>().initSizes(static_cast<unsigned>(regions.size()));
        for (unsigned i = 0; i < regions.size(); ++i) {
            auto* f = std::get_if<rpc::FileRegion>(&regions[i]);
            sizes.set(i, f ? f->length : std::get<rpc::SharedBytes>(regions[i]).bytes.size());
        }
        for (auto& r : regions) std::visit([&](auto& part) { reply.add_body(std::move(part)); }, r);
        ctx.reply(std::move(reply));
    }

private:
    /// Recomputes the checksum of a shuffle block on this executor's disk for a reader that
    /// could not decode it (Spark's ExternalBlockHandler/NettyBlockRpcServer diagnoseCorruption).
    void diagnose(wire::DiagnoseCorruption::Reader d, rpc::RpcCallContext& ctx) {
        ShuffleBlockId id{d.getShuffleId(), d.getMapId(), d.getReduceId()};
        std::string algorithm(d.getAlgorithm().cStr());
        CorruptionCause cause = CorruptionCause::unknown_issue;
        if (auto* r = bm_.shuffle_block_resolver()) cause = r->diagnose_corruption(id, d.getChecksum(), algorithm);
        log::get("storage")->info("Diagnosed corrupt block {} for {}: {}", name(BlockId{id}),
                                  ctx.sender_address().host_port(), to_string(cause));
        ctx.reply<wire::CorruptionCause>([&](wire::CorruptionCause::Builder b) {
            b.setCause(static_cast<wire::CorruptionCause::Cause>(static_cast<std::uint16_t>(cause)));
        });
    }

    /// Cuts the served bytes of block `name` down to `range`; false (and the ask failed) if the
    /// range goes beyond the block.
    static bool narrow(std::variant<rpc::FileRegion, rpc::SharedBytes>& region, const ByteRange& range,
                       rpc::RpcCallContext& ctx, std::string_view name) {
        std::uint64_t size = std::visit(
            [](auto& r) -> std::uint64_t {
                if constexpr (std::is_same_v<std::decay_t<decltype(r)>, rpc::FileRegion>) {
                    return r.length;
                } else {
                    return r.bytes.size();
                }
            },
            region);
        if (!range.within(size)) {
            ctx.send_failure(fmt::format("Range of {} bytes at {} is beyond block {} of {} bytes", range.length,
                                         range.offset, name, size));
            return false;
        }
        if (auto* f = std::get_if<rpc::FileRegion>(&region)) {
            f->offset += range.offset;
            f->length = range.length;
        } else {
            auto& b = std::get<rpc::SharedBytes>(region);
            b.bytes = b.bytes.subspan(static_cast<std::size_t>(range.offset), static_cast<std::size_t>(range.length));
        }
        return true;
    }

    BlockManager& bm_;
    log::RateLimitedLog unavailable_;
};

/// Answers RemoveBlock and RemoveRdd from the master or the driver (Spark's
/// BlockManagerStorageEndpoint). Removal unlinks files: quick enough for the I/O thread.
class BlockManagerStorageEndpoint final : public rpc::RpcEndpoint {
public:
    explicit BlockManagerStorageEndpoint(BlockManager& bm) : bm_(bm) {}

    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override {
        if ((msg.is<wire::RemoveBlock>() || msg.is<wire::RemoveRdd>()) && !from_master(msg)) {
            ctx.send_failure("removals are accepted from the driver's BlockManagerMaster only");
            return;
        }
        if (auto rb = msg.try_get<wire::RemoveBlock>()) {
            auto id = parse_block_id(std::string_view(rb->getBlockId().cStr()));
            // The master already forgot the block: no report back.
            bool removed = id && bm_.remove_block(*id, false);
            ctx.reply<wire::BooleanReply>([&](wire::BooleanReply::Builder b) { b.setValue(removed); });
            return;
        }
        if (auto rr = msg.try_get<wire::RemoveRdd>()) {
            int n = bm_.remove_rdd(rr->getRddId());
            ctx.reply<wire::RemovedCount>([&](wire::RemovedCount::Builder b) { b.setCount(n); });
            return;
        }
        RpcEndpoint::receive_and_reply(msg, std::move(ctx));
    }

private:
    /// Local (the driver's own BlockManager) or over the connection to the master.
    bool from_master(const rpc::Message& msg) {
        if (!msg.is_remote()) return true;
        auto* master = bm_.master();
        if (master && msg.came_over(master->ref())) return true;
        refused_.log(msg.sender_address().host, [&](std::uint64_t suppressed) {
            log::get("storage")->warn("Ignoring {} from {}: only the driver's BlockManagerMaster may remove blocks{}",
                                      msg.type_name(), msg.sender_address().host_port(),
                                      log::suppressed_suffix(suppressed));
        });
        return false;
    }

    BlockManager& bm_;
    log::RateLimitedLog refused_;
};

}  // namespace

std::uint64_t unified_memory_bytes(const Conf& conf, std::uint64_t process_memory) {
    std::uint64_t reserved = std::min<std::uint64_t>(kReservedSystemMemoryBytes, process_memory / 3);
    return static_cast<std::uint64_t>(static_cast<double>(process_memory - reserved) *
                                      conf.get_double("ember.memory.fraction", 0.6));
}

std::uint64_t storage_memory_bytes(const Conf& conf, std::optional<std::uint64_t> executor_memory) {
    if (conf.contains("ember.storage.memoryCapacity")) {
        return static_cast<std::uint64_t>(std::max<std::int64_t>(0, conf.get_size_bytes("ember.storage.memoryCapacity", "0")));
    }
    std::uint64_t memory = executor_memory ? *executor_memory
                                           : static_cast<std::uint64_t>(conf.get_size_bytes("ember.executor.memory", "1g", "m"));
    return static_cast<std::uint64_t>(static_cast<double>(unified_memory_bytes(conf, memory)) *
                                      conf.get_double("ember.memory.storageFraction", 0.5));
}

std::string BlockManagerId::to_string() const {
    return fmt::format("BlockManagerId({}, {}, {})", executor_id, host, port);
}

BlockManager::BlockManager(std::string executor_id, rpc::RpcEnv& env, const Conf& conf,
                           std::optional<std::uint64_t> executor_memory)
    : env_(env),
      id_{std::move(executor_id), env.address().host, env.address().port},
      disk_(split_dirs(conf.get("ember.local.dir", "/tmp")),
            static_cast<int>(conf.get_int("ember.diskStore.subDirectories", 64))),
      fetch_timeout_(rpc::RpcTimeout::from(conf, {"ember.shuffle.io.connectionTimeout", "ember.network.timeout"},
                                           "120s")),
      memory_(storage_memory_bytes(conf, executor_memory)),
      disk_store_(disk_) {}

BlockManager::~BlockManager() { stop(); }

void BlockManager::initialize() {
    if (initialized_) return;
    initialized_ = true;
    env_.setup_endpoint(std::string(kEndpointName), std::make_unique<BlockRpcServer>(*this)).value();
    env_.setup_endpoint(std::string(kStorageEndpointName), std::make_unique<BlockManagerStorageEndpoint>(*this)).value();
}

void BlockManager::register_with_master(rpc::RpcEndpointRef master) {
    auto client = std::make_unique<BlockManagerMaster>(std::move(master), fetch_timeout_);
    auto storage = env_.endpoint_ref(env_.address(), std::string(kStorageEndpointName));
    client->register_block_manager(id_, memory_.max_memory(), storage, disk_.local_dirs());
    master_ = std::move(client);
}

void BlockManager::report(const BlockId& id, bool wait) {
    if (!master_) return;
    StorageLevel level;
    {
        std::lock_guard lk(mu_);
        if (auto it = levels_.find(id); it != levels_.end()) level = it->second;
    }
    std::uint64_t mem = memory_.size(id);
    std::uint64_t disk = disk_store_.size(id);
    // The level the block has now (Spark's effective level): the flags of where it is.
    StorageLevel effective{disk > 0 || disk_store_.contains(id), mem > 0 || memory_.contains(id), false,
                           level.deserialized, level.replication};
    if (!effective.use_disk && !effective.use_memory) effective = StorageLevel::none();
    if (wait) {
        master_->update_block_info(id_, id, effective, mem, disk);
    } else {
        master_->update_block_info_async(id_, id, effective, mem, disk);
    }
}

bool BlockManager::put_bytes(const BlockId& id, ManagedBuffer bytes, const StorageLevel& level, bool tell_master) {
    EMBER_REQUIRE(!std::holds_alternative<ShuffleBlockId>(id), "put_bytes: shuffle blocks live in shuffle files");
    EMBER_REQUIRE(level.is_valid(), "put_bytes: invalid storage level {}", level.to_string());
    {
        std::lock_guard lk(mu_);
        if (levels_.count(id) || !writing_.insert(id).second) return true;  // first writer wins
    }
    bool stored = false;
    std::vector<MemoryStore::Evicted> evicted;
    try {
        if (level.use_memory || level.use_off_heap) {
            if (auto ev = memory_.put_bytes(id, bytes)) {
                stored = true;
                evicted = std::move(*ev);
            }
        }
        if (!stored && level.use_disk) {
            disk_store_.put_bytes(id, bytes.bytes);
            stored = true;
        }
    } catch (...) {
        std::lock_guard lk(mu_);
        writing_.erase(id);
        throw;
    }
    {
        std::lock_guard lk(mu_);
        writing_.erase(id);
        if (stored) levels_[id] = level;
    }
    handle_evicted(std::move(evicted));
    if (stored && tell_master) report(id, true);
    return stored;
}

void BlockManager::handle_evicted(std::vector<MemoryStore::Evicted> evicted) {
    for (auto& e : evicted) {
        StorageLevel level;
        {
            std::lock_guard lk(mu_);
            auto it = levels_.find(e.id);
            if (it == levels_.end()) continue;
            level = it->second;
            if (!level.use_disk) levels_.erase(it);
        }
        // Spark's dropFromMemory: to disk if the level has disk, else dropped.
        if (level.use_disk && !disk_store_.contains(e.id)) {
            try {
                disk_store_.put_bytes(e.id, e.bytes.bytes);
            } catch (const std::exception& ex) {
                log::get("storage")->warn("Cannot move evicted block {} to disk: {}", name(e.id), ex.what());
                std::lock_guard lk(mu_);
                levels_.erase(e.id);
            }
        }
        log::get("storage")->info("Block {} evicted from memory ({} bytes){}", name(e.id), e.bytes.size(),
                                  level.use_disk ? ", kept on disk" : "");
        report(e.id, false);
    }
}

std::optional<ManagedBuffer> BlockManager::get_local_block(const BlockId& id) {
    if (auto b = memory_.get_bytes(id)) return b;
    try {
        return disk_store_.get_bytes(id);
    } catch (const std::exception& e) {
        // Spark (SPARK-15736): a registered block whose file is unreadable is removed; the
        // caller recomputes it.
        log::get("storage")->warn("{}; removing the block", e.what());
        remove_block(id, true);
        return std::nullopt;
    }
}

std::optional<ManagedBuffer> BlockManager::get_remote_bytes(const BlockId& id) {
    if (!master_) return std::nullopt;
    for (auto& loc : master_->get_locations(id)) {
        if (loc == id_) continue;
        auto promise = std::make_shared<std::promise<rpc::RpcResult<std::vector<ManagedBuffer>>>>();
        auto future = promise->get_future();
        fetch_blocks(loc, {id}, [promise](rpc::RpcResult<std::vector<ManagedBuffer>> r) { promise->set_value(std::move(r)); });
        auto r = future.get();
        if (r && r->size() == 1) return std::move(r->front());
        log::get("storage")->warn("Failed to fetch block {} from {}: {}", name(id), loc.to_string(),
                                  r ? std::string("malformed reply") : r.error().message);
    }
    return std::nullopt;
}

bool BlockManager::remove_block(const BlockId& id, bool tell_master) {
    bool in_memory = memory_.remove(id);
    bool on_disk = disk_store_.remove(id);
    {
        std::lock_guard lk(mu_);
        levels_.erase(id);
    }
    if ((in_memory || on_disk) && tell_master) report(id, false);
    return in_memory || on_disk;
}

int BlockManager::remove_rdd(int rdd_id) {
    std::vector<BlockId> ids;
    {
        std::lock_guard lk(mu_);
        for (auto& [id, _] : levels_) {
            if (auto* r = std::get_if<RddBlockId>(&id); r && r->rdd_id == rdd_id) ids.push_back(id);
        }
    }
    int n = 0;
    for (auto& id : ids) n += remove_block(id, false) ? 1 : 0;
    if (n > 0) log::get("storage")->info("Removed {} blocks of RDD {}", n, rdd_id);
    return n;
}

void BlockManager::remove_block_at(const BlockManagerId& where, const BlockId& id) {
    if (where == id_) {
        remove_block(id, false);
        return;
    }
    if (master_) {
        // Through the master, which reaches that BlockManager over the connection it registered
        // on: the only one its storage endpoint obeys.
        std::string block = name(id);
        master_->ref().ask(rpc::OutgoingMessage::make<wire::RemoveBlock>([&](wire::RemoveBlock::Builder b) {
                               b.setBlockId(block);
                               b.setExecutorId(where.executor_id);
                           }),
                           fetch_timeout_, [block, where](rpc::RpcResult<rpc::Message> r) {
                               if (!r) {
                                   log::get("storage")->debug("Removing {} at {} failed: {}", block, where.to_string(),
                                                              r.error().message);
                               }
                           });
        return;
    }
    auto ref = env_.endpoint_ref(rpc::RpcAddress{where.host, where.port}, std::string(kStorageEndpointName));
    std::string block = name(id);
    ref.ask(rpc::OutgoingMessage::make<wire::RemoveBlock>([&](wire::RemoveBlock::Builder b) { b.setBlockId(block); }),
            fetch_timeout_, [block, where](rpc::RpcResult<rpc::Message> r) {
                if (!r) log::get("storage")->debug("Removing {} at {} failed: {}", block, where.to_string(), r.error().message);
            });
}

FileSegment BlockManager::get_local_segment(const BlockId& id) {
    if (auto* s = std::get_if<ShuffleBlockId>(&id)) {
        auto* r = resolver_.load();
        if (!r) throw std::runtime_error("Block " + name(id) + ": no shuffle block resolver");
        return r->get_block_data(*s);
    }
    if (auto seg = disk_store_.get_segment(id)) return *seg;
    throw std::runtime_error("Block " + name(id) + " not found");
}

ManagedBuffer BlockManager::get_local_bytes(const BlockId& id) {
    if (!std::holds_alternative<ShuffleBlockId>(id)) {
        if (auto b = get_local_block(id)) return *b;
        throw std::runtime_error("Block " + name(id) + " not found");
    }
    return *read_segment(id, get_local_segment(id));
}

void BlockManager::fetch_blocks(const BlockManagerId& from, const std::vector<BlockId>& ids, FetchCallback done,
                                std::vector<ByteRange> ranges) {
    EMBER_REQUIRE(ranges.empty() || ranges.size() == ids.size(), "fetch_blocks: {} ranges for {} blocks",
                  ranges.size(), ids.size());
    auto ref = env_.endpoint_ref(rpc::RpcAddress{from.host, from.port}, std::string(kEndpointName));
    auto msg = rpc::OutgoingMessage::make<wire::FetchBlocks>();
    auto req = msg.payload<wire::FetchBlocks>();
    auto list = req.initBlockIds(static_cast<unsigned>(ids.size()));
    for (unsigned i = 0; i < ids.size(); ++i) list.set(i, name(ids[i]));
    if (!ranges.empty()) {
        auto wr = req.initRanges(static_cast<unsigned>(ranges.size()));
        for (unsigned i = 0; i < ranges.size(); ++i) {
            wr[i].setOffset(ranges[i].offset);
            wr[i].setLength(ranges[i].length);
        }
    }
    std::size_t expected = ids.size();
    ref.ask(std::move(msg), fetch_timeout_, [done = std::move(done), expected](rpc::RpcResult<rpc::Message> r) {
        if (!r) {
            done(r.error());
            return;
        }
        auto blocks = read_blocks_fetched(*r, expected);
        if (!blocks) {
            done(blocks.error());
            return;
        }
        done(std::move(*blocks));
    });
}

CorruptionCause BlockManager::diagnose_shuffle_corruption(const BlockManagerId& where, const ShuffleBlockId& id,
                                                          std::uint64_t checksum_by_reader,
                                                          std::string_view algorithm) {
    if (where == id_) {
        auto* r = resolver_.load();
        return r ? r->diagnose_corruption(id, checksum_by_reader, algorithm) : CorruptionCause::unknown_issue;
    }
    auto ref = env_.endpoint_ref(rpc::RpcAddress{where.host, where.port}, std::string(kEndpointName));
    std::string algo(algorithm);
    auto reply = ref.ask_sync(rpc::OutgoingMessage::make<wire::DiagnoseCorruption>([&](wire::DiagnoseCorruption::Builder b) {
                                  b.setShuffleId(id.shuffle_id);
                                  b.setMapId(id.map_id);
                                  b.setReduceId(id.reduce_id);
                                  b.setChecksum(checksum_by_reader);
                                  b.setAlgorithm(algo);
                              }),
                              fetch_timeout_);
    if (!reply) {
        log::get("storage")->warn("Unable to diagnose the corruption cause of block {} at {}: {}", name(BlockId{id}),
                                  where.to_string(), reply.error().message);
        return CorruptionCause::unknown_issue;
    }
    auto cause = reply->try_get<wire::CorruptionCause>();
    if (!cause || static_cast<std::uint16_t>(cause->getCause()) > static_cast<std::uint16_t>(
                                                                       CorruptionCause::unsupported_checksum_algorithm)) {
        return CorruptionCause::unknown_issue;
    }
    return static_cast<CorruptionCause>(static_cast<std::uint16_t>(cause->getCause()));
}

void BlockManager::stop() { disk_.stop(); }

}  // namespace ember::storage
