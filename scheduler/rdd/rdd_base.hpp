// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RddBase / RddNode<T>: the nodes of an RDD lineage, with their dependencies (Spark's RDD,
/// NarrowDependency, ShuffleDependency), and ResultFunctionBase, what a ResultTask runs.

#include "scheduler/function_ref.hpp"
#include "scheduler/rdd/key_index.hpp"
#include "scheduler/task_context.hpp"
#include "shuffle/map_status.hpp"
#include "shuffle/partitioner.hpp"
#include "storage/block_manager.hpp"
#include "storage/serializer.hpp"
#include "storage/size_estimator.hpp"
#include "storage/storage_level.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <functional>
#include <limits>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace ember::scheduler {

class RddBase;
class ResultFunctionBase;

/// Partition p of the child reads partition(s) parents(p) of `rdd`: one-to-one (length < 0), or
/// a range [out_start, out_start + length) mapped to [in_start, ...) (Spark's RangeDependency),
/// or, when `groups` is set, the listed partitions groups[p] (CoalescedRDD's and CartesianRDD's
/// dependencies, Spark's NarrowDependency.getParents).
struct NarrowDependency {
    std::shared_ptr<RddBase> rdd;
    int in_start = 0;
    int out_start = 0;
    int length = -1;
    std::shared_ptr<const std::vector<std::vector<int>>> groups = nullptr;

    std::vector<int> parents(int p) const {
        if (groups) {
            auto i = static_cast<std::size_t>(p);
            return i < groups->size() ? (*groups)[i] : std::vector<int>{};
        }
        if (length < 0) return {p};
        if (p >= out_start && p < out_start + length) return {p - out_start + in_start};
        return {};
    }
};

/// The map side of a shuffle: how to turn partition p of rdd() into a map output. Typed
/// subclasses (ShuffleDependency<K, V, C, Agg>) also carry the partitioner and aggregator.
/// Threading: immutable after construction; run_map_task may run concurrently for different partitions.
class ShuffleDependencyBase {
public:
    virtual ~ShuffleDependencyBase() = default;
    int shuffle_id() const noexcept { return shuffle_id_; }
    int num_reduce_partitions() const noexcept { return num_reduce_; }
    const std::shared_ptr<RddBase>& rdd() const noexcept { return rdd_; }

    /// Computes partition `partition` of rdd() and writes its map output (executor side).
    virtual shuffle::MapStatus run_map_task(int partition, TaskContext& tc) = 0;
    virtual const char* type_key() const = 0;
    virtual void encode_params(Encoder& e) const = 0;

    /// Driver side: the ContextCleaner's token (SparkContext::track_shuffle), released with this
    /// dependency, which queues the shuffle for cleaning. Executors' copies have none.
    void set_cleanup_token(std::shared_ptr<void> token) noexcept { cleanup_token_ = std::move(token); }

protected:
    ShuffleDependencyBase(int shuffle_id, int num_reduce, std::shared_ptr<RddBase> rdd)
        : shuffle_id_(shuffle_id), num_reduce_(num_reduce), rdd_(std::move(rdd)) {}

private:
    int shuffle_id_;
    int num_reduce_;
    std::shared_ptr<RddBase> rdd_;
    std::shared_ptr<void> cleanup_token_;
};

/// A node of the lineage. `id` is unique in the application; nodes are rebuilt on executors
/// from the stage binary with the same ids.
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
class RddBase : public std::enable_shared_from_this<RddBase> {
public:
    virtual ~RddBase() = default;
    int id() const noexcept { return id_; }
    int num_partitions() const noexcept { return num_partitions_; }
    /// Spark's class name for this kind of node, e.g. "MapPartitionsRDD", "ShuffledRDD".
    virtual std::string_view kind() const = 0;
    /// The parents read without a shuffle; once checkpointed, only the ReliableCheckpointRDD.
    const std::vector<NarrowDependency>& narrow_dependencies() const noexcept {
        return checkpointed_.load(std::memory_order_acquire) ? checkpoint_deps_ : narrow_;
    }
    /// The shuffles this node reads; none once checkpointed (its lineage is truncated).
    const std::vector<std::shared_ptr<ShuffleDependencyBase>>& shuffle_dependencies() const noexcept {
        static const std::vector<std::shared_ptr<ShuffleDependencyBase>> none;
        return checkpointed_.load(std::memory_order_acquire) ? none : shuffles_;
    }
    /// Hosts where partition p is cheapest to compute (input splits). Default: none.
    virtual std::vector<std::string> preferred_locations(int p) const {
        (void)p;
        return {};
    }
    virtual const char* type_key() const = 0;
    /// Writes what an executor needs to rebuild this node (not its parents).
    virtual void encode_params(Encoder& e) const = 0;
    /// Writes partition p's own records, which travel with each task that computes it
    /// (TaskDescription::partition_data) instead of in the stage binary, and returns true; or
    /// returns false (the default: every node but ParallelCollectionRdd).
    virtual bool write_partition_data(int p, Encoder& e) const {
        (void)p;
        (void)e;
        return false;
    }

    const std::string& name() const noexcept { return name_; }
    void set_name(std::string n) { name_ = std::move(n); }

    /// How this RDD's (K, V) records are placed by key, if they are: the HashPartitioner of the
    /// shuffle that produced them, kept by transformations that do not move keys (Spark's
    /// RDD.partitioner, restricted to hash partitioning: a sort_by_key result reports none).
    /// cogroup and join use it to read a parent that is already partitioned like their output
    /// through a narrow dependency instead of a shuffle. Set on the driver only; nodes rebuilt on
    /// executors do not need it.
    const std::optional<shuffle::HashPartitioner>& partitioner() const noexcept { return partitioner_; }

    /// How this RDD's partitions are kept once computed (Spark's getStorageLevel): none() unless
    /// persist() was called. It travels with the node in stage binaries.
    /// Threading: thread-safe (the one field of a node that may change after construction).
    storage::StorageLevel storage_level() const noexcept {
        auto bits = storage_level_bits_.load(std::memory_order_relaxed);
        return storage::StorageLevel::from_int(static_cast<std::uint8_t>(bits & 0xff), static_cast<int>(bits >> 8));
    }
    /// Threading: thread-safe.
    void set_storage_level(const storage::StorageLevel& level) noexcept {
        storage_level_bits_.store(level.to_int() | (static_cast<std::uint32_t>(level.replication) << 8),
                                  std::memory_order_relaxed);
    }

    /// Driver side: the ContextCleaner's token for a persisted RDD (set by
    /// SparkContext::register_persistent_rdd under its lock), released with this node, which
    /// queues the RDD's cached blocks for removal. Nodes rebuilt on executors have none.
    bool has_cleanup_token() const noexcept { return cleanup_token_ != nullptr; }
    void set_cleanup_token(std::shared_ptr<void> token) noexcept { cleanup_token_ = std::move(token); }

    // -- reliable checkpointing (Spark's RDD.checkpoint / ReliableRDDCheckpointData) ----------

    /// What Rdd::checkpoint() leaves on the node for SparkContext to act on after the next job
    /// that computes it: where to write (`dir` = <checkpoint dir>/rdd-<id>), the ResultFunction
    /// writing one partition file, and how to make the ReliableCheckpointRDD reading them.
    /// Driver-side only.
    struct CheckpointPlan {
        std::string dir;
        std::shared_ptr<ResultFunctionBase> writer;
        std::function<std::shared_ptr<RddBase>(int id)> make_reader;
    };
    /// Threading: thread-safe.
    void set_checkpoint_plan(CheckpointPlan plan) {
        std::lock_guard lk(checkpoint_mu_);
        if (!checkpointed_.load(std::memory_order_acquire)) checkpoint_plan_ = std::move(plan);
    }
    /// Forgets the plan (the driver is writing the files). Threading: thread-safe.
    void clear_checkpoint_plan() {
        std::lock_guard lk(checkpoint_mu_);
        checkpoint_plan_.reset();
    }
    /// The plan if checkpoint() was called and the files are not written yet. Threading: thread-safe.
    std::optional<CheckpointPlan> checkpoint_plan() const {
        std::lock_guard lk(checkpoint_mu_);
        return checkpoint_plan_;
    }
    /// Truncates the lineage: from now on the node's only dependency is `reader` (a
    /// ReliableCheckpointRDD over the written files), and stage binaries carry the reader in
    /// this node's place. Threading: thread-safe; jobs already running keep the old lineage.
    void mark_checkpointed(std::shared_ptr<RddBase> reader, std::string dir) {
        std::lock_guard lk(checkpoint_mu_);
        if (checkpointed_.load(std::memory_order_acquire)) return;
        checkpoint_rdd_ = reader;
        checkpoint_deps_ = {NarrowDependency{std::move(reader)}};
        checkpoint_dir_ = std::move(dir);
        checkpoint_plan_.reset();
        checkpointed_.store(true, std::memory_order_release);
    }
    /// Whether the partitions were written and the lineage truncated (Spark's isCheckpointed).
    bool is_checkpointed() const noexcept { return checkpointed_.load(std::memory_order_acquire); }
    /// The ReliableCheckpointRDD standing in for this node, or null. Threading: thread-safe
    /// (set once, before is_checkpointed() turns true).
    const RddBase* checkpoint_rdd() const noexcept {
        return checkpointed_.load(std::memory_order_acquire) ? checkpoint_rdd_.get() : nullptr;
    }
    /// The directory of the written partition files (Spark's getCheckpointFile).
    std::optional<std::string> checkpoint_dir() const {
        if (!checkpointed_.load(std::memory_order_acquire)) return std::nullopt;
        std::lock_guard lk(checkpoint_mu_);
        return checkpoint_dir_;
    }

protected:
    RddBase(int id, int num_partitions) : id_(id), num_partitions_(num_partitions) {}
    std::vector<NarrowDependency> narrow_;
    std::vector<std::shared_ptr<ShuffleDependencyBase>> shuffles_;
    std::optional<shuffle::HashPartitioner> partitioner_;

private:
    int id_;
    int num_partitions_;
    std::string name_;
    std::atomic<std::uint32_t> storage_level_bits_{1u << 8};  // flags | replication << 8: none()
    std::shared_ptr<void> cleanup_token_;  // set once, under SparkContext's storage lock
    mutable std::mutex checkpoint_mu_;
    std::optional<CheckpointPlan> checkpoint_plan_;  // guarded by checkpoint_mu_
    std::string checkpoint_dir_;                     // guarded by checkpoint_mu_
    std::shared_ptr<RddBase> checkpoint_rdd_;        // written once, before checkpointed_
    std::vector<NarrowDependency> checkpoint_deps_;  // written once, before checkpointed_
    std::atomic<bool> checkpointed_{false};
};

/// A record as a reader may borrow it (RddNode::iterator_borrowed): a (std::string, V) pair as
/// (std::string_view, V), its key valid only during the call it is passed to; other types as
/// themselves.
template <class T>
struct Borrowed {
    using type = T;
    static T&& lend(T&& v) noexcept { return std::move(v); }
};
template <class V>
struct Borrowed<std::pair<std::string, V>> {
    using type = std::pair<std::string_view, V>;
    static type lend(std::pair<std::string, V>&& v) { return type(v.first, std::move(v.second)); }
};
template <class T>
using borrowed_t = typename Borrowed<T>::type;

/// A (key, value) record type: std::pair<K, V>.
template <class T>
concept PairRecord = requires {
    typename T::first_type;
    typename T::second_type;
};

/// A node producing records of type T: compute() pushes partition p's records into `out`.
/// Readers of a node call iterator(), never compute() directly (Spark's RDD.iterator vs compute).
template <class T>
class RddNode : public RddBase {
public:
    using value_type = T;
    virtual void compute(int partition, TaskContext& tc, FunctionRef<void(T&&)> out) = 0;

    /// Partition p's records as borrowed_t<T>: for (std::string, V) records the key is a view
    /// valid only while `out` runs, so a reader that copies what it keeps (the map-side combine
    /// of a shuffle with string keys) needs no string per record from a node that makes its keys
    /// as views of its input (flat_map to (std::string_view, V) pairs, see compute_borrowed).
    /// Other nodes, and stored or checkpointed ones, go through iterator() and lend each record.
    void iterator_borrowed(int p, TaskContext& tc, FunctionRef<void(borrowed_t<T>&&)> out) {
        if constexpr (!std::is_same_v<borrowed_t<T>, T>) {
            if (!storage_level().is_valid() && !is_checkpointed() && compute_borrowed(p, tc, out)) return;
            iterator(p, tc, [&](T&& v) { out(Borrowed<T>::lend(std::move(v))); });
        } else {
            iterator(p, tc, out);
        }
    }

    /// Partition p's records: computed, or, for a persisted node, read from the block
    /// `rdd_<id>_<p>` (Spark's getOrElseUpdate): from this executor's BlockManager, else from
    /// another one the BlockManagerMaster knows, else computed and stored at the node's level
    /// (if it fits; a memory-only partition larger than the MemoryStore is computed and passed
    /// on without being cached, as in Spark) and reported to the master. At a deserialized
    /// level (MEMORY_ONLY, what cache() sets; MEMORY_AND_DISK) the partition is kept here as
    /// objects, a std::vector<T>, and each read passes on copies of them; at a serialized
    /// level (the _SER ones, DISK_ONLY) as encoded bytes, decoded by each read.
    void iterator(int p, TaskContext& tc, FunctionRef<void(T&&)> out) {
        const auto level = storage_level();
        if constexpr (Serializable<T>) {
            if (level.is_valid()) {
                if (auto values = stored_values(p, tc)) {
                    for (const T& v : *values) out(T(v));
                    return;
                }
                if (auto cached = stored_block(p, tc)) {
                    Decoder d(cached->view());
                    while (!d.done()) out(d.read<T>());
                    return;
                }
                compute_and_store(p, tc, out, level);
                return;
            }
        }
        compute(p, tc, out);
    }

    /// Partition p's records (T a std::pair<K, V>) whose key passes `keep`, in iterator()'s
    /// order. For a persisted partition already in a BlockManager, a record whose key fails is
    /// not copied (kept as objects) or stepped over in the stored bytes (Decoder::skip): its
    /// value is never built, so a hash join streaming a large cached side past a small one
    /// (PageRank's cached links against its ranks) allocates only the values it joins.
    /// Otherwise the records come from iterator(), computed and stored as there, and are
    /// filtered after. `keep` runs once per record, before `out` for the same record.
    ///
    /// `keys`, if given, walks every key `keep` can pass (a join's other side, held in memory).
    /// When a partition kept as objects has a KeyIndex and at most half as many keys as records,
    /// the records are found through the index instead of streamed: `keep` then runs only for
    /// those records, still in iterator()'s order (the positions found are sorted, or marked in a
    /// bitmap when they are many).
    template <class P = T>
        requires PairRecord<P> && std::is_same_v<P, T>
    void iterator_where_key(int p, TaskContext& tc, FunctionRef<bool(const typename P::first_type&)> keep,
                            FunctionRef<void(T&&)> out,
                            const JoinKeys<std::remove_const_t<typename P::first_type>>* keys = nullptr) {
        using K = std::remove_const_t<typename P::first_type>;
        using V = typename P::second_type;
        if constexpr (Serializable<T>) {
            const auto level = storage_level();
            if (level.is_valid()) {
                if (auto sv = stored_object_block(p, tc)) {
                    const std::vector<T>& values = *sv->template as<T>();
                    if constexpr (IndexableKey<K>) {
                        const KeyIndex<K>* index = sv->template index_as<KeyIndex<K>>();
                        if (keys && index && keys->count * 2 <= values.size()) {
                            std::vector<std::uint32_t> found;
                            found.reserve(keys->count);
                            keys->for_each([&](const K& k) {
                                index->for_each_position(k, [&](std::uint32_t i) { found.push_back(i); });
                            });
                            auto pass = [&](std::uint32_t i) {
                                const T& r = values[i];
                                if (keep(r.first)) out(T(r));
                            };
                            if (found.size() < values.size() / 64) {
                                std::sort(found.begin(), found.end());
                                for (std::uint32_t i : found) pass(i);
                                return;
                            }
                            // Many found (each position once): marked in a bitmap and read back
                            // in order, a word of 64 positions at a time, instead of sorted.
                            std::vector<std::uint64_t> marked((values.size() + 63) / 64, 0);
                            for (std::uint32_t i : found) marked[i / 64] |= std::uint64_t{1} << (i % 64);
                            for (std::size_t w = 0; w < marked.size(); ++w) {
                                const auto base = static_cast<std::uint32_t>(w * 64);
                                for (std::uint64_t bits = marked[w]; bits != 0; bits &= bits - 1) {
                                    pass(base + static_cast<std::uint32_t>(std::countr_zero(bits)));
                                }
                            }
                            return;
                        }
                    }
                    for (const T& r : values) {
                        if (keep(r.first)) out(T(r));
                    }
                    return;
                }
                if (auto cached = stored_block(p, tc)) {
                    Decoder d(cached->view());
                    while (!d.done()) {
                        K k = d.read<K>();
                        if (!keep(std::as_const(k))) {
                            d.skip<V>();
                            continue;
                        }
                        V v = d.read<V>();
                        out(T(std::move(k), std::move(v)));
                    }
                    return;
                }
                compute_and_store(
                    p, tc,
                    [&](T&& r) {
                        if (keep(std::as_const(r.first))) out(std::move(r));
                    },
                    level);
                return;
            }
        }
        compute(p, tc, [&](T&& r) {
            if (keep(std::as_const(r.first))) out(std::move(r));
        });
    }

protected:
    using RddBase::RddBase;

    /// Pushes partition p's records as borrowed_t<T> and returns true, or returns false (the
    /// default) if this node cannot make them more cheaply than compute().
    virtual bool compute_borrowed(int, TaskContext&, FunctionRef<void(borrowed_t<T>&&)>) { return false; }

private:
    /// The stored block `rdd_<id>_<p>`: from this executor's BlockManager, else from another one
    /// the BlockManagerMaster knows; nullopt if neither has it.
    std::optional<storage::ManagedBuffer> stored_block(int p, TaskContext& tc) const {
        const storage::RddBlockId block{id(), p};
        auto& bm = tc.services().block_manager;
        auto cached = bm.get_local_block(block);
        if (!cached) cached = bm.get_remote_bytes(block);
        return cached;
    }

    /// Partition p kept as objects in this executor's MemoryStore (a deserialized level), or
    /// null. The pointer keeps them alive, evicted or not.
    std::shared_ptr<const std::vector<T>> stored_values(int p, TaskContext& tc) const {
        auto sv = stored_object_block(p, tc);
        if (!sv) return nullptr;
        const std::vector<T>* values = sv->template as<T>();
        return std::shared_ptr<const std::vector<T>>(std::move(sv), values);
    }
    /// stored_values() with what was stored beside the records (their KeyIndex), or null.
    std::shared_ptr<const storage::StoredValues> stored_object_block(int p, TaskContext& tc) const {
        auto sv = tc.services().block_manager.get_local_values(storage::RddBlockId{id(), p});
        if (!sv || !sv->template as<T>()) return nullptr;
        return sv;
    }

    /// Computes partition p, passing each record to `out`, and stores the partition at `level`
    /// (Spark's getOrElseUpdate after a miss).
    void compute_and_store(int p, TaskContext& tc, FunctionRef<void(T&&)> out, const storage::StorageLevel& level) {
        const storage::RddBlockId block{id(), p};
        auto& bm = tc.services().block_manager;
        if (level.deserialized && level.use_memory) {
            // Spark's putIteratorAsValues: the records are copied as they pass, while their
            // estimated size fits the MemoryStore; past it, a memory-only partition is not
            // cached, and a partition that may go to disk is encoded from there on instead.
            auto values = std::make_shared<std::vector<T>>();
            storage::SizeTracker<T> size;
            const std::uint64_t memory = bm.memory_store().max_memory();
            std::optional<Encoder> spilled;  // set once the objects outgrew the memory
            bool caching = true;
            compute(p, tc, [&](T&& v) {
                if (spilled) {
                    spilled->write(v);
                } else if (caching) {
                    size.add(v);
                    values->push_back(v);
                    if (size.bytes(values->capacity()) > memory) {
                        if (level.use_disk) {
                            spilled.emplace();
                            for (const T& x : *values) spilled->write(x);
                        } else {
                            caching = false;
                        }
                        values = std::make_shared<std::vector<T>>();
                    }
                }
                out(std::move(v));
            });
            if (spilled) {
                bm.put_bytes(block, storage::ManagedBuffer::of(spilled->take()), level, true);
            } else if (caching) {
                values->shrink_to_fit();  // moves the records once; the growth slack is memory
                storage::StoredValues sv;
                sv.size = size.bytes(values->capacity());
                if constexpr (PairRecord<T>) {
                    // Where each key sits, for joins against a few keys (iterator_where_key).
                    using K = std::remove_const_t<typename T::first_type>;
                    if constexpr (IndexableKey<K>) {
                        if (auto index = KeyIndex<K>::make(*values)) {
                            sv.size += index->memory_bytes();
                            sv.index_type = &typeid(KeyIndex<K>);
                            sv.index = std::move(index);
                        }
                    }
                }
                sv.type = &typeid(std::vector<T>);
                sv.serialize = [values] {
                    Encoder e;
                    for (const T& x : *values) e.write(x);
                    return storage::ManagedBuffer::of(e.take());
                };
                sv.values = std::move(values);
                bm.put_values(block, std::move(sv), level, true);
            }
            return;
        }
        // Records are encoded as they pass; past what the store could ever hold, caching stops.
        const std::uint64_t limit = level.use_disk ? std::numeric_limits<std::uint64_t>::max() : bm.memory_store().max_memory();
        Encoder e;
        bool caching = true;
        compute(p, tc, [&](T&& v) {
            if (caching) {
                e.write(v);
                if (e.size() > limit) {
                    caching = false;
                    e.clear();
                }
            }
            out(std::move(v));
        });
        if (!caching) return;
        bm.put_bytes(block, storage::ManagedBuffer::of(e.take()), level, true);
    }
};

/// What a ResultTask does with its partition (collect it, count it, save it, ...): returns the
/// bytes sent to the driver.
class ResultFunctionBase {
public:
    virtual ~ResultFunctionBase() = default;
    virtual std::string run(RddBase& rdd, int partition, TaskContext& tc) = 0;
    virtual const char* type_key() const = 0;
    virtual void encode_params(Encoder& e) const = 0;
};

/// Rebuilds a stage's nodes on an executor; hands each node's factory its parents.
/// Threading: single-threaded.
class LineageDecoder {
public:
    std::shared_ptr<RddBase> get(int rdd_id) const;
    template <class T>
    std::shared_ptr<RddNode<T>> get_typed(int rdd_id) const {
        auto node = std::dynamic_pointer_cast<RddNode<T>>(get(rdd_id));
        if (!node) throw DecodeError("RDD " + std::to_string(rdd_id) + " has another record type than expected");
        return node;
    }
    /// Parent ids of the node being decoded, in dependency order.
    const std::vector<int>& parents() const noexcept { return parents_; }
    template <class T>
    std::shared_ptr<RddNode<T>> parent(std::size_t i) const {
        if (i >= parents_.size()) throw DecodeError("RDD lineage is missing a parent");
        return get_typed<T>(parents_[i]);
    }

private:
    friend struct StageCodec;
    std::vector<std::pair<int, std::shared_ptr<RddBase>>> nodes_;
    std::vector<int> parents_;
};

/// A stage as an executor runs it.
struct DecodedStage {
    std::shared_ptr<RddBase> rdd;                    ///< the stage's last RDD
    std::shared_ptr<ShuffleDependencyBase> shuffle;  ///< set for a ShuffleMapStage
    std::shared_ptr<ResultFunctionBase> func;        ///< set for a ResultStage
};

/// Encodes and decodes stage binaries: the stage's RDD nodes up to its shuffle boundaries
/// (parents first), then its shuffle dependency or result function.
struct StageCodec {
    static std::string encode_shuffle_map_stage(const ShuffleDependencyBase& dep);
    static std::string encode_result_stage(const RddBase& rdd, const ResultFunctionBase& fn);
    /// Throws DecodeError or std::runtime_error (unknown type) with a message naming the problem.
    static DecodedStage decode(std::string_view bytes);
};

}  // namespace ember::scheduler
