// SPDX-License-Identifier: Apache-2.0
#include "storage/block_manager.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_env.hpp"
#include "storage/block_manager_messages.capnp.h"
#include "storage/block_transfer_messages.capnp.h"
#include "storage/storage_codec.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <limits>
#include <algorithm>
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
        if (msg.is<wire::UploadBlock>()) {
            upload(msg, std::move(ctx));
            return;
        }
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
        std::uint64_t total = 0;
        for (unsigned i = 0; i < regions.size(); ++i) {
            auto* f = std::get_if<rpc::FileRegion>(&regions[i]);
            std::uint64_t size = f ? f->length : std::get<rpc::SharedBytes>(regions[i]).bytes.size();
            sizes.set(i, size);
            total += size;
        }
        bm_.count_served(total, regions.size());
        for (auto& r : regions) std::visit([&](auto& part) { reply.add_body(std::move(part)); }, r);
        ctx.reply(std::move(reply));
    }

private:
    /// Validates an UploadBlock here (cheap), then stores it on the block-upload thread.
    void upload(const rpc::Message& msg, rpc::RpcCallContext ctx) {
        const std::uint64_t memory = bm_.memory_store().max_memory();
        auto req = read_upload_block(msg, [memory](const StorageLevel& level) {
            // A block that may go to disk is bounded by the transport (ember.rpc.io.maxBodySize);
            // a memory-only one by what the MemoryStore could ever hold.
            return level.use_disk ? std::numeric_limits<std::uint64_t>::max() : memory;
        });
        if (!req) {
            refused_.log(msg.sender_address().host, [&](std::uint64_t suppressed) {
                log::get("storage")->warn("Refused an upload from {}: {}{}", msg.sender_address().host_port(),
                                          req.error().message, log::suppressed_suffix(suppressed));
            });
            ctx.send_failure(req.error());
            return;
        }
        bm_.store_upload(std::move(*req), std::move(ctx));
    }

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
    log::RateLimitedLog refused_;
};

/// Answers RemoveBlock, RemoveRdd, RemoveBroadcast and RemoveShuffle from the master or the
/// driver (Spark's BlockManagerStorageEndpoint). Removal unlinks files: quick enough for the I/O
/// thread.
class BlockManagerStorageEndpoint final : public rpc::RpcEndpoint {
public:
    explicit BlockManagerStorageEndpoint(BlockManager& bm) : bm_(bm) {}

    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override {
        if ((msg.is<wire::RemoveBlock>() || msg.is<wire::RemoveRdd>() || msg.is<wire::RemoveBroadcast>() ||
             msg.is<wire::RemoveShuffle>() || msg.is<wire::ReplicateBlock>()) &&
            !from_master(msg)) {
            ctx.send_failure(fmt::format("{} is accepted from the driver's BlockManagerMaster only", msg.type_name()));
            return;
        }
        if (auto rb = msg.try_get<wire::ReplicateBlock>()) {
            auto id = parse_block_id(std::string_view(rb->getBlockId().cStr()));
            if (!id) {
                ctx.send_failure(fmt::format("Failed to parse {} into a block ID", rb->getBlockId().cStr()));
                return;
            }
            std::vector<BlockManagerId> existing;
            for (auto r : rb->getReplicas()) existing.push_back(detail::from_wire(r));
            bm_.replicate_block_async(std::move(*id), std::move(existing), rb->getMaxReplicas(), std::move(ctx));
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
        if (auto rs = msg.try_get<wire::RemoveShuffle>()) {
            int n = bm_.remove_shuffle(rs->getShuffleId());
            ctx.reply<wire::RemovedCount>([&](wire::RemovedCount::Builder b) { b.setCount(n); });
            return;
        }
        if (auto rb = msg.try_get<wire::RemoveBroadcast>()) {
            // The master forgot the blocks when it sent this: no reports back.
            int n = bm_.remove_broadcast(rb->getBroadcastId(), false);
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
            log::get("storage")->warn("Ignoring {} from {}: only the driver's BlockManagerMaster may send it{}",
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
      disk_store_(disk_),
      max_replication_failures_(static_cast<int>(conf.get_int("ember.storage.maxReplicationFailures", 1))),
      cached_peers_ttl_(conf.get_time_ms("ember.storage.cachedPeersTtl", "60s")),
      upload_pool_(std::make_unique<boost::asio::thread_pool>(1)),
      replicate_pool_(std::make_unique<boost::asio::thread_pool>(1)) {
    boost::asio::post(*upload_pool_, [] { log::set_thread_name("block-upload"); });
    boost::asio::post(*replicate_pool_, [] { log::set_thread_name("block-replicate"); });
}

BlockManager::~BlockManager() {
    stop();
    // Queued uploads and replications are dropped (their asks fail with no_reply); a running
    // one ends with its ask.
    upload_pool_->stop();
    replicate_pool_->stop();
    upload_pool_->join();
    replicate_pool_->join();
}

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
    return put_block(
        id, level, tell_master,
        [&]() -> std::optional<std::vector<MemoryStore::Evicted>> {
            if (!level.use_memory && !level.use_off_heap) return std::nullopt;
            return memory_.put_bytes(id, bytes);
        },
        [&] { return bytes; });
}

bool BlockManager::put_values(const BlockId& id, StoredValues values, const StorageLevel& level, bool tell_master) {
    EMBER_REQUIRE(!std::holds_alternative<ShuffleBlockId>(id), "put_values: shuffle blocks live in shuffle files");
    EMBER_REQUIRE(level.is_valid() && level.use_memory && level.deserialized,
                  "put_values: {} does not keep objects in memory", level.to_string());
    // Encoded at most once, and only if needed: for the disk, or for the replicas.
    std::optional<ManagedBuffer> encoded;
    return put_block(
        id, level, tell_master, [&] { return memory_.put_values(id, values); },
        [&] {
            if (!encoded) encoded = values.serialize();
            return *encoded;
        });
}

bool BlockManager::put_block(const BlockId& id, const StorageLevel& level, bool tell_master,
                             const std::function<std::optional<std::vector<MemoryStore::Evicted>>()>& to_memory,
                             const std::function<ManagedBuffer()>& bytes) {
    {
        std::lock_guard lk(mu_);
        if (levels_.count(id) || !writing_.insert(id).second) return true;  // first writer wins
    }
    bool stored = false;
    std::vector<MemoryStore::Evicted> evicted;
    try {
        if (auto ev = to_memory()) {
            stored = true;
            evicted = std::move(*ev);
        }
        if (!stored && level.use_disk) {
            disk_store_.put_bytes(id, bytes().bytes);
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
    // Replicas of cached RDD blocks only (Spark's proactive replication skips other kinds too);
    // a copy received from a peer has replication 1 and is not passed on.
    if (stored && level.replication > 1 && std::holds_alternative<RddBlockId>(id) && master_) {
        replicate(id, bytes(), level, {}, false);
    }
    return stored;
}

std::shared_ptr<const StoredValues> BlockManager::get_local_values(const BlockId& id) {
    return memory_.get_values(id);
}

std::vector<BlockManagerId> BlockManager::get_peers(bool force) {
    if (!master_) return {};
    {
        std::lock_guard lk(peers_mu_);
        if (!force && peers_valid_ && std::chrono::steady_clock::now() - peers_fetched_ < cached_peers_ttl_) {
            return cached_peers_;
        }
    }
    auto peers = master_->get_peers(id_);
    std::lock_guard lk(peers_mu_);
    cached_peers_ = peers;
    peers_fetched_ = std::chrono::steady_clock::now();
    peers_valid_ = true;
    return peers;
}

rpc::RpcResult<void> BlockManager::upload_block(const BlockManagerId& peer, const BlockId& id,
                                                const StorageLevel& level, const ManagedBuffer& bytes) {
    auto ref = env_.endpoint_ref(rpc::RpcAddress{peer.host, peer.port}, std::string(kEndpointName));
    auto r = ref.ask_sync<wire::BlockUploaded>(make_upload_block(id, level, bytes), fetch_timeout_);
    if (!r) return r.error();
    return {};
}

bool BlockManager::replicate(const BlockId& id, const ManagedBuffer& bytes, const StorageLevel& level,
                             std::vector<BlockManagerId> existing, bool force_peers) {
    const auto start = std::chrono::steady_clock::now();
    const std::size_t wanted = static_cast<std::size_t>(std::max(0, level.replication - 1));
    StorageLevel replica_level = level;
    replica_level.replication = 1;
    std::vector<BlockManagerId> done = std::move(existing);  // other BlockManagers holding it
    std::vector<BlockManagerId> failed;
    auto contains = [](const std::vector<BlockManagerId>& v, const BlockManagerId& b) {
        return std::find(v.begin(), v.end(), b) != v.end();
    };
    auto candidates = [&](bool force) {
        auto peers = get_peers(force);
        std::erase_if(peers, [&](const BlockManagerId& p) { return p == id_ || contains(done, p) || contains(failed, p); });
        int still = static_cast<int>(wanted) - static_cast<int>(done.size());
        return policy_.prioritize(id_, std::move(peers), done, id, std::max(0, still));
    };
    auto order = candidates(force_peers);
    std::size_t next = 0;
    int failures = 0;
    while (failures <= max_replication_failures_ && next < order.size() && done.size() < wanted) {
        const BlockManagerId peer = order[next];
        auto r = upload_block(peer, id, replica_level, bytes);
        if (r) {
            log::get("storage")->debug("Replicated {} of {} bytes to {}", name(id), bytes.size(), peer.to_string());
            done.push_back(peer);
            ++next;
            continue;
        }
        ++failures;
        log::get("storage")->warn("Failed to replicate {} to {}, failure #{}: {}", name(id), peer.to_string(), failures,
                                  r.error().message);
        failed.push_back(peer);
        // Spark refreshes the peers after a failure: the peer may be gone.
        order = candidates(true);
        next = 0;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    if (done.size() < wanted) {
        log::get("storage")->warn("Block {} replicated to only {} peer(s) instead of {} peers", name(id), done.size(),
                                  wanted);
        return false;
    }
    log::get("storage")->debug("Replicating {} of {} bytes to {} peer(s) took {} ms", name(id), bytes.size(), wanted, ms);
    return true;
}

bool BlockManager::replicate_block(const BlockId& id, const std::vector<BlockManagerId>& existing, int max_replicas) {
    log::get("storage")->info("Using {} to pro-actively replicate {}", id_.to_string(), name(id));
    StorageLevel level;
    {
        std::lock_guard lk(mu_);
        auto it = levels_.find(id);
        if (it == levels_.end()) return false;
        level = it->second;
    }
    auto bytes = get_local_block(id);
    if (!bytes) return false;
    level.replication = max_replicas;
    return replicate(id, *bytes, level, existing, true);
}

void BlockManager::store_upload(UploadRequest req, rpc::RpcCallContext ctx) {
    boost::asio::post(*upload_pool_, [this, req = std::move(req), ctx = std::move(ctx)]() mutable {
        try {
            // put_bytes reports the block to the master (and waits for it) before the reply.
            if (!put_bytes(req.id, req.bytes, req.level, true)) {
                ctx.send_failure(fmt::format("Block {} of {} bytes does not fit in executor {}'s storage", req.name,
                                             req.bytes.size(), id_.executor_id));
                return;
            }
            std::uint64_t mem = memory_.size(req.id);
            std::uint64_t disk = disk_store_.size(req.id);
            ctx.reply<wire::BlockUploaded>([&](wire::BlockUploaded::Builder b) {
                b.setMemSize(mem);
                b.setDiskSize(disk);
            });
        } catch (const std::exception& e) {
            log::get("storage")->warn("Cannot store uploaded block {}: {}", req.name, e.what());
            ctx.send_failure(fmt::format("Cannot store block {} at executor {}", req.name, id_.executor_id));
        }
    });
}

void BlockManager::replicate_block_async(BlockId id, std::vector<BlockManagerId> existing, int max_replicas,
                                         rpc::RpcCallContext ctx) {
    boost::asio::post(*replicate_pool_, [this, id = std::move(id), existing = std::move(existing), max_replicas,
                                         ctx = std::move(ctx)]() mutable {
        bool ok = false;
        try {
            ok = replicate_block(id, existing, max_replicas);
        } catch (const std::exception& e) {
            log::get("storage")->warn("Cannot replicate {}: {}", name(id), e.what());
        }
        ctx.reply<wire::BooleanReply>([&](wire::BooleanReply::Builder b) { b.setValue(ok); });
    });
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
        // Spark's dropFromMemory: to disk if the level has disk (an object block encoded now),
        // else dropped.
        if (level.use_disk && !disk_store_.contains(e.id)) {
            try {
                disk_store_.put_bytes(e.id, e.materialize().bytes);
            } catch (const std::exception& ex) {
                log::get("storage")->warn("Cannot move evicted block {} to disk: {}", name(e.id), ex.what());
                std::lock_guard lk(mu_);
                levels_.erase(e.id);
            }
        }
        log::get("storage")->info("Block {} evicted from memory ({} bytes){}", name(e.id), e.size,
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
        // A task thread that drives its env's loop between tasks reads the reply itself first
        // (rpc::RpcEnv::IoWaitScope); any other thread waits for the I/O thread.
        rpc::RpcEnv::IoWaitScope::drive_while_waiting(
            [&future] { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; });
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

int BlockManager::remove_shuffle(int shuffle_id) {
    auto* resolver = resolver_.load();
    int n = resolver ? resolver->remove_shuffle(shuffle_id) : 0;
    if (n > 0) log::get("storage")->debug("Removed the {} map outputs of shuffle {}", n, shuffle_id);
    if (shuffle_removed_) shuffle_removed_(shuffle_id);
    return n;
}

int BlockManager::remove_broadcast(std::int64_t broadcast_id, bool tell_master) {
    std::vector<BlockId> ids;
    {
        std::lock_guard lk(mu_);
        for (auto& [id, _] : levels_) {
            if (auto* b = std::get_if<BroadcastBlockId>(&id); b && b->broadcast_id == broadcast_id) ids.push_back(id);
        }
    }
    int n = 0;
    for (auto& id : ids) n += remove_block(id, tell_master) ? 1 : 0;
    if (broadcast_removed_) broadcast_removed_(broadcast_id);
    log::get("storage")->debug("Removed {} blocks of broadcast {}", n, broadcast_id);
    return n;
}

void BlockManager::set_broadcast_removed_listener(std::function<void(std::int64_t)> listener) {
    broadcast_removed_ = std::move(listener);
}

void BlockManager::set_shuffle_removed_listener(std::function<void(int)> listener) {
    shuffle_removed_ = std::move(listener);
}

void BlockManager::count_served(std::uint64_t bytes, std::size_t blocks) noexcept {
    counters_->bytes_served.fetch_add(bytes, std::memory_order_relaxed);
    counters_->blocks_served.fetch_add(blocks, std::memory_order_relaxed);
}

BlockManager::TransferCounters BlockManager::transfer_counters() const noexcept {
    return TransferCounters{counters_->bytes_served.load(std::memory_order_relaxed),
                            counters_->blocks_served.load(std::memory_order_relaxed),
                            counters_->bytes_fetched.load(std::memory_order_relaxed),
                            counters_->blocks_fetched.load(std::memory_order_relaxed)};
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
    ref.ask(std::move(msg), fetch_timeout_,
            [done = std::move(done), expected, counters = counters_](rpc::RpcResult<rpc::Message> r) {
        if (!r) {
            done(r.error());
            return;
        }
        auto blocks = read_blocks_fetched(*r, expected);
        if (!blocks) {
            done(blocks.error());
            return;
        }
        std::uint64_t total = 0;
        for (auto& b : *blocks) total += b.size();
        counters->bytes_fetched.fetch_add(total, std::memory_order_relaxed);
        counters->blocks_fetched.fetch_add(blocks->size(), std::memory_order_relaxed);
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
