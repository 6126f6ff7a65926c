// SPDX-License-Identifier: Apache-2.0
#include "scheduler/broadcast/broadcast_manager.hpp"

#include "rpc/log.hpp"
#include "rpc/rpc_env.hpp"
#include "rpc/sim/simulation.hpp"
#include "scheduler/broadcast/broadcast.hpp"
#include "scheduler/job_waiter.hpp"
#include "scheduler/task_context.hpp"
#include "storage/block_manager.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

namespace ember::broadcast {
namespace {

std::atomic<BroadcastManager*> current_manager{nullptr};

std::string whole_name(std::int64_t id) { return storage::name(storage::BroadcastBlockId{id, ""}); }

/// What the tasks of this thread hold (see release_task_pins): the values a task used, so a
/// removal during the task does not free them under it, and a per-record value() is a lookup.
struct TaskPins {
    std::int64_t task_attempt_id = -1;
    std::vector<std::pair<std::int64_t, std::shared_ptr<const void>>> values;
};
thread_local TaskPins task_pins;

std::string bytes_string(std::uint64_t n) {
    if (n >= (1ull << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1 << 20));
    if (n >= (1ull << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(n) / (1 << 10));
    return fmt::format("{} B", n);
}

/// The random order of piece reads and holders: from the seed in a simulation (a run replays
/// exactly), else per thread from the system.
std::mt19937_64& random_engine() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    thread_local std::mt19937_64 seeded;
    if (auto* sim = sim::Simulation::current()) {
        seeded.seed(sim->random().next());
        return seeded;
    }
    return rng;
}

/// Fetches one block from `from` (blocking).
rpc::RpcResult<storage::ManagedBuffer> fetch_one(storage::BlockManager& bm, const storage::BlockManagerId& from,
                                                 const storage::BlockId& id) {
    // Shared: the I/O thread may still be inside set_value when this thread wakes and returns.
    auto p = std::make_shared<std::promise<rpc::RpcResult<std::vector<storage::ManagedBuffer>>>>();
    auto f = p->get_future();
    bm.fetch_blocks(from, {id}, [p](rpc::RpcResult<std::vector<storage::ManagedBuffer>> r) { p->set_value(std::move(r)); });
    if (auto* sim = sim::Simulation::current(); sim && sim->can_block()) {
        // A task in a simulation: the wait runs it (the fetch is its events; its ask times out).
        sim->wait_until([&] { return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready; },
                        std::chrono::microseconds::max() / 2);
        if (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
            return rpc::RpcError{rpc::RpcErrc::aborted, sim->current_process_killed()
                                                            ? "the simulated process was killed while fetching a broadcast block"
                                                            : "the simulation ran out of events while fetching a broadcast block"};
        }
    } else {
        // An executor's task thread that drives its env's loop between tasks reads the reply
        // itself first (rpc::RpcEnv::IoWaitScope): the loop may be free, its I/O thread napping.
        rpc::RpcEnv::IoWaitScope::drive_while_waiting(
            [&f] { return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready; });
    }
    auto r = f.get();
    if (!r) return r.error();
    if (r->size() != 1) return rpc::RpcError{rpc::RpcErrc::protocol_error, "malformed FetchBlocks reply"};
    return std::move(r->front());
}

}  // namespace

BroadcastManager::BroadcastManager(storage::BlockManager& block_manager, const Conf& conf, bool is_driver)
    : bm_(block_manager),
      is_driver_(is_driver),
      // Spark's spark.broadcast.blockSize: KiB when bare.
      block_size_(static_cast<std::uint64_t>(std::max<std::int64_t>(1, conf.get_size_bytes("ember.broadcast.blockSize", "4m", "k")))),
      compress_(conf.get_bool("ember.broadcast.compress", true)),
      checksum_(conf.get_bool("ember.broadcast.checksum", true)) {}

BroadcastManager::~BroadcastManager() { stop(); }

BroadcastManager* BroadcastManager::current() noexcept { return current_manager.load(std::memory_order_acquire); }

void BroadcastManager::make_current() noexcept { current_manager.store(this, std::memory_order_release); }

namespace {
std::mutex executor_managers_mu;
std::map<std::string, BroadcastManager*> executor_managers;  // guarded by executor_managers_mu
}  // namespace

void BroadcastManager::serve_executor(const std::string& executor_id) {
    std::lock_guard lk(executor_managers_mu);
    executor_managers[executor_id] = this;
}

BroadcastManager* BroadcastManager::for_executor(const std::string& executor_id) {
    std::lock_guard lk(executor_managers_mu);
    auto it = executor_managers.find(executor_id);
    return it == executor_managers.end() ? nullptr : it->second;
}

void BroadcastManager::stop() {
    BroadcastManager* self = this;
    current_manager.compare_exchange_strong(self, nullptr);
    {
        std::lock_guard lk(executor_managers_mu);
        std::erase_if(executor_managers, [this](auto& kv) { return kv.second == this; });
    }
    std::map<std::int64_t, Entry> values;
    {
        std::lock_guard lk(mu_);
        values.swap(values_);
    }
}

std::int64_t BroadcastManager::new_broadcast(std::string serialized, std::shared_ptr<const void> value,
                                             const std::type_info& type) {
    EMBER_REQUIRE(is_driver_, "broadcast variables are created on the driver");
    std::int64_t id = next_id_.fetch_add(1);
    auto t0 = std::chrono::steady_clock::now();
    std::uint64_t value_size = serialized.size();
    {
        // The driver's own copy first: its tasks (local[N]) never read the pieces.
        std::lock_guard lk(mu_);
        values_[id] = Entry{std::move(value), &type};
    }
    auto blocks = blockify(id, std::move(serialized), block_size_, compress_, checksum_);
    auto level = storage::StorageLevel::memory_and_disk_ser();
    try {
        for (std::uint32_t i = 0; i < blocks.meta.num_pieces; ++i) {
            if (!bm_.put_bytes(piece_block_id(id, i), blocks.pieces[i], level, true)) {
                throw std::runtime_error(fmt::format("Failed to store {} of {} in the driver's BlockManager",
                                                     storage::name(piece_block_id(id, i)), whole_name(id)));
            }
        }
        auto meta_buf = storage::ManagedBuffer::of(encode(blocks.meta));
        if (!bm_.put_bytes(meta_block_id(id), std::move(meta_buf), level, true)) {
            throw std::runtime_error(fmt::format("Failed to store {} in the driver's BlockManager",
                                                 storage::name(meta_block_id(id))));
        }
    } catch (...) {
        {
            std::lock_guard lk(mu_);
            values_.erase(id);
        }
        bm_.remove_broadcast(id, true);
        throw;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    log::get("scheduler")->info("Created broadcast {}: {} value in {} pieces of {} ({}{}) in {} ms", id,
                                bytes_string(value_size), blocks.meta.num_pieces, bytes_string(block_size_),
                                blocks.meta.compressed ? "lz4 " + bytes_string(blocks.meta.stored_size) : "uncompressed",
                                checksum_ ? ", checksummed" : "", ms);
    return id;
}

void BroadcastManager::unbroadcast(std::int64_t id, bool remove_from_driver, bool blocking,
                                   const std::string& destroy_site) {
    EMBER_REQUIRE(is_driver_, "Broadcast({}) can be unpersisted or destroyed on the driver only", id);
    if (remove_from_driver) {
        std::lock_guard lk(mu_);
        destroyed_[id] = destroy_site;
        values_.erase(id);
    }
    log::get("scheduler")->info("{} broadcast {}", remove_from_driver ? "Destroying" : "Unpersisting", id);
    auto* master = bm_.master();
    if (!master) {
        bm_.remove_broadcast(id, false);
        return;
    }
    master->remove_broadcast(id, remove_from_driver, blocking);
}

void BroadcastManager::forget(std::int64_t id) {
    std::lock_guard lk(mu_);
    if (is_driver_ && !destroyed_.count(id)) return;  // unpersist keeps the driver's copy
    values_.erase(id);
    if (auto p = pending_.find(id); p != pending_.end()) p->second->removed = true;
}

std::string BroadcastManager::destroyed_message(std::int64_t id) const {
    std::string msg = fmt::format("Attempted to use Broadcast({}) after it was destroyed", id);
    if (auto it = destroyed_.find(id); it != destroyed_.end() && !it->second.empty()) {
        msg += " (" + it->second + ")";
    }
    return msg;
}

BroadcastManager::Stats BroadcastManager::stats() const {
    std::lock_guard lk(mu_);
    return stats_;
}

std::shared_ptr<const void> BroadcastManager::get_value(std::int64_t id, const std::type_info& type, DecodeFn decode) {
    auto check_type = [&](const Entry& e) {
        EMBER_REQUIRE(*e.type == type, "Broadcast({}) holds a value of another type ({}), not {}", id, e.type->name(),
                      type.name());
        return e.value;
    };
    std::shared_ptr<Pending> pending;
    bool reader = false;
    {
        std::unique_lock lk(mu_);
        if (destroyed_.count(id)) throw SparkException(destroyed_message(id));
        if (auto it = values_.find(id); it != values_.end()) return check_type(it->second);
        if (is_driver_ && id >= next_id_.load()) {
            throw SparkException(fmt::format("Broadcast({}) does not exist: this driver made {} broadcasts", id,
                                             next_id_.load()));
        }
        auto [it, inserted] = pending_.try_emplace(id, nullptr);
        if (inserted) {
            it->second = std::make_shared<Pending>();
            reader = true;
        }
        pending = it->second;
        if (!reader && sim::Simulation::current()) {
            // In a simulation the other reader is a task suspended under this one on the same
            // thread (its wait runs ours): waiting for it would never end. Read it again.
            lk.unlock();
            Entry own = read(id, type, decode);
            std::lock_guard g(mu_);
            values_.try_emplace(id, own);
            return check_type(own);
        }
        if (!reader) {
            // Another task of this process reads it: wait for that read (Spark: one fetch per
            // executor).
            read_done_.wait(lk, [&] { return pending->done; });
            if (pending->error) std::rethrow_exception(pending->error);
            return check_type(pending->entry);
        }
    }
    Entry entry;
    std::exception_ptr error;
    try {
        entry = read(id, type, decode);
    } catch (...) {
        error = std::current_exception();
    }
    bool removed = false;
    {
        std::lock_guard lk(mu_);
        pending->done = true;
        pending->entry = entry;
        pending->error = error;
        removed = pending->removed;
        if (!error && !removed) values_[id] = entry;
        pending_.erase(id);
    }
    read_done_.notify_all();
    // Unpersisted or destroyed while this read stored pieces: drop them (and their locations).
    if (removed && !is_driver_) bm_.remove_broadcast(id, true);
    if (error) std::rethrow_exception(error);
    return entry.value;
}

BroadcastMeta BroadcastManager::read_meta(std::int64_t id) {
    auto meta_id = meta_block_id(id);
    std::optional<storage::ManagedBuffer> bytes = bm_.get_local_block(meta_id);
    if (!bytes) {
        auto* master = bm_.master();
        auto locations = master ? master->get_locations(meta_id) : std::vector<storage::BlockManagerId>{};
        // Only the driver holds the metadata, from broadcast() until destroy().
        if (locations.empty()) {
            throw SparkException(fmt::format("Attempted to use Broadcast({}) after it was destroyed (no copy of {} "
                                             "is left)",
                                             id, storage::name(meta_id)));
        }
        std::string last_error;
        for (auto& loc : locations) {
            if (loc == bm_.id()) continue;
            auto r = fetch_one(bm_, loc, meta_id);
            if (r) {
                bytes = std::move(*r);
                break;
            }
            last_error = fmt::format("{}: {}", loc.to_string(), r.error().message);
        }
        if (!bytes) {
            throw SparkException(fmt::format("Failed to get {} of {}: {}", storage::name(meta_id), whole_name(id),
                                             last_error));
        }
    }
    try {
        auto meta = decode<BroadcastMeta>(bytes->view());
        if (meta.broadcast_id != id) throw DecodeError(fmt::format("it is the metadata of broadcast {}", meta.broadcast_id));
        return meta;
    } catch (const DecodeError& e) {
        throw SparkException(fmt::format("Corrupt {}: {}", storage::name(meta_id), e.what()));
    }
}

storage::ManagedBuffer BroadcastManager::read_piece(const BroadcastMeta& meta, std::uint32_t i) {
    auto piece = piece_block_id(meta.broadcast_id, i);
    if (auto local = bm_.get_local_block(piece)) {
        std::lock_guard lk(mu_);
        ++stats_.pieces_local;
        return *local;
    }
    auto* master = bm_.master();
    if (!master) {
        throw SparkException(fmt::format("Failed to get {} of {}: no BlockManagerMaster", storage::name(piece),
                                         whole_name(meta.broadcast_id)));
    }
    // Spark's getRemoteBytes: every holder the master knows, in random order (on one host
    // Spark's sortLocations is a shuffle), so executors spread the load over the holders.
    auto locations = master->get_locations(piece);
    std::erase(locations, bm_.id());
    std::shuffle(locations.begin(), locations.end(), random_engine());
    std::string last_error = "no BlockManager holds it";
    for (auto& loc : locations) {
        auto r = fetch_one(bm_, loc, piece);
        if (!r) {
            last_error = fmt::format("{}: {}", loc.to_string(), r.error().message);
            log::get("scheduler")->warn("Failed to fetch {} from {}", storage::name(piece), last_error);
            continue;
        }
        if (auto bad = verify_piece(meta, i, r->bytes)) {
            last_error = fmt::format("{} (from {})", *bad, loc.to_string());
            log::get("scheduler")->warn("{}", last_error);
            std::lock_guard lk(mu_);
            ++stats_.corrupt_pieces;
            continue;
        }
        // Kept and reported, so that other executors can fetch it from here.
        if (!bm_.put_bytes(piece, *r, storage::StorageLevel::memory_and_disk_ser(), true)) {
            throw SparkException(fmt::format("Failed to store {} of {} in local BlockManager", storage::name(piece),
                                             whole_name(meta.broadcast_id)));
        }
        std::lock_guard lk(mu_);
        ++stats_.pieces_fetched;
        stats_.bytes_fetched += r->size();
        return std::move(*r);
    }
    throw SparkException(fmt::format("Failed to get {} of {}: {}", storage::name(piece), whole_name(meta.broadcast_id),
                                     last_error));
}

BroadcastManager::Entry BroadcastManager::read(std::int64_t id, const std::type_info& type, DecodeFn decode) {
    auto t0 = std::chrono::steady_clock::now();
    BroadcastMeta meta = read_meta(id);
    log::get("scheduler")->info("Started reading broadcast variable {} with {} pieces (estimated total size {})", id,
                                meta.num_pieces, bytes_string(meta.stored_size));
    std::vector<std::uint32_t> order(meta.num_pieces);
    std::iota(order.begin(), order.end(), 0u);
    std::shuffle(order.begin(), order.end(), random_engine());
    std::vector<storage::ManagedBuffer> pieces(meta.num_pieces);
    for (std::uint32_t i : order) pieces[i] = read_piece(meta, i);
    auto t1 = std::chrono::steady_clock::now();
    Entry entry;
    try {
        storage::ManagedBuffer serialized = unblockify(meta, pieces);
        pieces.clear();
        entry = Entry{decode(serialized.view()), &type};
    } catch (const DecodeError& e) {
        throw SparkException(fmt::format("Cannot read {}: {}", whole_name(id), e.what()));
    }
    auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
    log::get("scheduler")->info("Reading broadcast variable {} took {} ms ({} ms fetching)", id,
                                ms(std::chrono::steady_clock::now() - t0), ms(t1 - t0));
    std::lock_guard lk(mu_);
    ++stats_.values_read;
    return entry;
}

void release_task_pins() noexcept {
    task_pins.values.clear();
    task_pins.task_attempt_id = -1;
}

namespace detail {

const void* value(std::int64_t id, const std::type_info& type, DecodeFn decode) {
    auto* tc = scheduler::TaskContext::get();
    if (tc) {
        if (task_pins.task_attempt_id != tc->task_attempt_id()) {
            task_pins.values.clear();
            task_pins.task_attempt_id = tc->task_attempt_id();
        }
        for (auto& [pid, v] : task_pins.values) {
            if (pid == id) return v.get();
        }
    }
    if (id < 0) throw SparkException("Attempted to use an invalid Broadcast (a default-constructed handle)");
    auto* manager = tc ? BroadcastManager::for_executor(tc->services().executor_id) : nullptr;
    if (!manager) manager = BroadcastManager::current();
    if (!manager) {
        throw SparkException(fmt::format("Broadcast({}).value() needs a running SparkContext or executor in this "
                                         "process",
                                         id));
    }
    auto v = manager->get_value(id, type, decode);
    const void* p = v.get();
    if (tc) task_pins.values.emplace_back(id, std::move(v));
    return p;
}

void unpersist(std::int64_t id, bool blocking) {
    auto* manager = BroadcastManager::current();
    if (!manager || !manager->is_driver()) {
        throw SparkException(fmt::format("Broadcast({}).unpersist() works on the driver only, with its SparkContext "
                                         "running",
                                         id));
    }
    try {
        manager->unbroadcast(id, false, blocking);
    } catch (const std::runtime_error& e) {
        throw SparkException(e.what());
    }
}

void destroy(std::int64_t id, bool blocking, const SourceLocation& loc) {
    auto* manager = BroadcastManager::current();
    if (!manager || !manager->is_driver()) {
        throw SparkException(fmt::format("Broadcast({}).destroy() works on the driver only, with its SparkContext "
                                         "running",
                                         id));
    }
    try {
        manager->unbroadcast(id, true, blocking, SparkContext::call_site("destroy", loc));
    } catch (const std::runtime_error& e) {
        throw SparkException(e.what());
    }
}

}  // namespace detail
}  // namespace ember::broadcast
