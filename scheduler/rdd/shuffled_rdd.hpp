// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Key-value shuffles: aggregators, ShuffleDependency (the map side), read_shuffle_partition and
/// the reduce sides ShuffledRdd (aggregating by key) and SortedShuffledRdd (sorting by key)
/// (Spark's Aggregator, ShuffleDependency, SortShuffleWriter, BlockStoreShuffleReader and
/// ShuffledRDD).

#include "scheduler/closure.hpp"
#include "scheduler/rdd/external_spill.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/rdd/size_estimator.hpp"
#include "scheduler/rdd/string_combine_map.hpp"
#include "scheduler/registry.hpp"
#include "shuffle/compression.hpp"
#include "shuffle/map_output_writer.hpp"
#include "shuffle/partitioner.hpp"
#include "shuffle/shuffle_block_fetcher_iterator.hpp"
#include "shuffle/shuffle_block_stream.hpp"

#include <boost/unordered/unordered_flat_map.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <functional>
#include <utility>
#include <vector>

namespace ember::scheduler {

/// reduce_by_key's aggregator: the combiner is a V, merged with f (associative, commutative).
template <class V, class F>
struct ReduceAggregator {
    using Combiner = V;
    static constexpr bool kMapSideCombine = true;
    F f;
    V create(V&& v) const { return std::move(v); }
    void merge_value(V& c, V&& v) const { c = std::invoke(f, std::move(c), std::move(v)); }
    void merge_combiners(V& c, V&& o) const { c = std::invoke(f, std::move(c), std::move(o)); }
};

/// group_by_key's aggregator: the combiner is a vector of the values; no map-side combine
/// (it would not shrink the data), as in Spark.
template <class V>
struct GroupAggregator {
    using Combiner = std::vector<V>;
    static constexpr bool kMapSideCombine = false;
    std::vector<V> create(V&& v) const {
        std::vector<V> c;
        if constexpr (std::is_trivially_copyable_v<V> && sizeof(V) <= 4) c.reserve(8 / sizeof(V));
        c.push_back(std::move(v));
        return c;
    }
    void merge_value(std::vector<V>& c, V&& v) const { c.push_back(std::move(v)); }
    void merge_combiners(std::vector<V>& c, std::vector<V>&& o) const {
        c.insert(c.end(), std::make_move_iterator(o.begin()), std::make_move_iterator(o.end()));
    }
};

/// combine_by_key's aggregator (Spark's Aggregator(createCombiner, mergeValue, mergeCombiners)):
/// user functions create(V) -> C, merge_value(C, V) -> C and merge_combiners(C, C) -> C, with
/// map-side combine, as Spark's combineByKey defaults to.
template <class V, class C, class Create, class MergeValue, class MergeCombiners>
struct CombineByKeyAggregator {
    using Combiner = C;
    static constexpr bool kMapSideCombine = true;
    Create create_fn;
    MergeValue merge_value_fn;
    MergeCombiners merge_combiners_fn;
    C create(V&& v) const { return C(std::invoke(create_fn, std::move(v))); }
    void merge_value(C& c, V&& v) const { c = std::invoke(merge_value_fn, std::move(c), std::move(v)); }
    void merge_combiners(C& c, C&& o) const { c = std::invoke(merge_combiners_fn, std::move(c), std::move(o)); }
};

/// aggregate_by_key's createCombiner: seq(copy of zero, v). `zero` travels with its Serde.
template <class U, class Seq>
struct SeqFromZero {
    U zero;
    Seq seq;
    template <class V>
    U operator()(V&& v) const {
        return std::invoke(seq, U(zero), std::forward<V>(v));
    }
};

/// The aggregator of shuffles that move records without combining them (cogroup's and
/// sort_by_key's, as Spark's CoGroupedRDD and sortByKey use no Aggregator): the map side writes
/// every (K, V) as it comes; the reader decides what to do with them.
/// Threading: immutable.
template <class V>
struct NoAggregator {
    using Combiner = V;
    static constexpr bool kMapSideCombine = false;
};

/// Number of reduce partitions of a partitioner (RangePartitioner has its own overload).
inline int partition_count(const shuffle::HashPartitioner& p) { return p.num_partitions; }

/// Aggregates one partition by key in place, for an RDD already partitioned as the aggregation
/// asks (Spark's combineByKey when self.partitioner == partitioner: mapPartitions, no shuffle).
/// Threading: immutable; may run concurrently for different partitions.
template <class K, class V, class Agg>
struct CombineValuesByKey {
    using C = typename Agg::Combiner;
    Agg agg;

    std::vector<std::pair<K, C>> operator()(std::vector<std::pair<K, V>>&& part) const {
        boost::unordered_flat_map<K, C, shuffle::StableHash, std::equal_to<>> combined;
        for (auto& kv : part) {
            auto it = combined.find(kv.first);
            if (it == combined.end()) {
                combined.emplace(std::move(kv.first), agg.create(std::move(kv.second)));
            } else {
                agg.merge_value(it->second, std::move(kv.second));
            }
        }
        std::vector<std::pair<K, C>> out;
        out.reserve(combined.size());
        // The keys are moved out as the table itself moves them when it rehashes; the table is
        // only destroyed afterwards.
        for (auto& kc : combined) out.emplace_back(std::move(const_cast<K&>(kc.first)), std::move(kc.second));
        return out;
    }
};

}  // namespace ember::scheduler

namespace ember {
template <class V, class F>
struct ClosureCodec<scheduler::ReduceAggregator<V, F>> {
    static void encode(Encoder& e, const scheduler::ReduceAggregator<V, F>& a) { ClosureCodec<F>::encode(e, a.f); }
    static scheduler::ReduceAggregator<V, F> decode(Decoder& d) { return {ClosureCodec<F>::decode(d)}; }
};
template <class V>
struct ClosureCodec<scheduler::GroupAggregator<V>> {
    static void encode(Encoder&, const scheduler::GroupAggregator<V>&) {}
    static scheduler::GroupAggregator<V> decode(Decoder&) { return {}; }
};
template <class V, class C, class Create, class MergeValue, class MergeCombiners>
struct ClosureCodec<scheduler::CombineByKeyAggregator<V, C, Create, MergeValue, MergeCombiners>> {
    using A = scheduler::CombineByKeyAggregator<V, C, Create, MergeValue, MergeCombiners>;
    static void encode(Encoder& e, const A& a) {
        ClosureCodec<Create>::encode(e, a.create_fn);
        ClosureCodec<MergeValue>::encode(e, a.merge_value_fn);
        ClosureCodec<MergeCombiners>::encode(e, a.merge_combiners_fn);
    }
    static A decode(Decoder& d) {
        auto create = ClosureCodec<Create>::decode(d);
        auto merge_value = ClosureCodec<MergeValue>::decode(d);
        return A{std::move(create), std::move(merge_value), ClosureCodec<MergeCombiners>::decode(d)};
    }
};
template <class U, class Seq>
struct ClosureCodec<scheduler::SeqFromZero<U, Seq>> {
    static void encode(Encoder& e, const scheduler::SeqFromZero<U, Seq>& s) {
        e.write(s.zero);
        ClosureCodec<Seq>::encode(e, s.seq);
    }
    static scheduler::SeqFromZero<U, Seq> decode(Decoder& d) {
        U zero = d.read<U>();
        return {std::move(zero), ClosureCodec<Seq>::decode(d)};
    }
};
template <class K, class V, class Agg>
struct ClosureCodec<scheduler::CombineValuesByKey<K, V, Agg>> {
    static void encode(Encoder& e, const scheduler::CombineValuesByKey<K, V, Agg>& c) {
        ClosureCodec<Agg>::encode(e, c.agg);
    }
    static scheduler::CombineValuesByKey<K, V, Agg> decode(Decoder& d) { return {ClosureCodec<Agg>::decode(d)}; }
};
}  // namespace ember

namespace ember::scheduler {

/// Shuffle write options from the configuration (ember.shuffle.compress,
/// ember.shuffle.checksum.enabled, ember.shuffle.checksum.algorithm).
inline shuffle::ShuffleWriteOptions shuffle_write_options(const Conf& conf) {
    return shuffle::ShuffleWriteOptions{conf.get_bool("ember.shuffle.compress", true),
                                        conf.get_bool("ember.shuffle.checksum.enabled", true),
                                        conf.get("ember.shuffle.checksum.algorithm", "ADLER32")};
}

/// When a map-side combine (ShuffleDependency::run_map_task) writes its table out and spills,
/// given the task's execution memory `budget` in bytes. The table is kept within three quarters
/// of the budget: it cannot shrink while it is written out, and the output needs the rest before
/// it is spilled, or a full table would go out in a spill file per thousand records.
struct CombineSpillRule {
    std::size_t budget;
    /// The table alone (its keys, combiners and slots) has passed three quarters of the budget:
    /// write it out, then spill.
    bool table_full(std::size_t table_bytes) const noexcept { return table_bytes > budget / 4 * 3; }
    /// While the table is written out: table and buffered output together have passed the budget.
    bool output_full(std::size_t table_bytes, std::size_t buffered_bytes) const noexcept {
        return table_bytes + buffered_bytes > budget;
    }
};

/// The map side of a shuffle of (K, V) records, partitioned by `Part` (a HashPartitioner, or a
/// RangePartitioner for sort_by_key) and, with map side combine, aggregated per key before
/// writing. Records are buffered per reduce partition and spilled when the task's execution
/// memory (ember.executor.memory x ember.memory.fraction / cores) is used up; the map output is
/// one data and one index file (see IndexShuffleBlockResolver).
template <class K, class V, class Agg, class Part = shuffle::HashPartitioner>
class ShuffleDependency final : public ShuffleDependencyBase {
public:
    using C = typename Agg::Combiner;

    ShuffleDependency(int shuffle_id, std::shared_ptr<RddNode<std::pair<K, V>>> parent, Part partitioner, Agg agg)
        : ShuffleDependencyBase(shuffle_id, partition_count(partitioner), parent),
          parent_(std::move(parent)),
          partitioner_(std::move(partitioner)),
          agg_(std::move(agg)) {}

    const Agg& aggregator() const noexcept { return agg_; }
    const Part& partitioner() const noexcept { return partitioner_; }
    const char* type_key() const override { return shuffle_dep_type_key<ShuffleDependency>(); }
    void encode_params(Encoder& e) const override {
        e.write(shuffle_id());
        ClosureCodec<Part>::encode(e, partitioner_);
        ClosureCodec<Agg>::encode(e, agg_);
    }
    static std::shared_ptr<ShuffleDependencyBase> decode(LineageDecoder& ctx, Decoder& d) {
        int id = d.read<int>();
        auto part = ClosureCodec<Part>::decode(d);
        auto agg = ClosureCodec<Agg>::decode(d);
        return std::make_shared<ShuffleDependency>(id, ctx.parent<std::pair<K, V>>(0), std::move(part),
                                                   std::move(agg));
    }

    shuffle::MapStatus run_map_task(int p, TaskContext& tc) override {
        auto& svc = tc.services();
        auto& metrics = tc.metrics().shuffle_write;
        const std::size_t budget = std::max<std::uint64_t>(svc.task_memory_bytes, 1 << 20);
        const CombineSpillRule rule{budget};
        auto options = shuffle_write_options(tc.conf());
        options.chunk_bytes = shuffle::map_output_chunk_bytes(budget, num_reduce_partitions());
        shuffle::MapOutputWriter out(svc.shuffle_resolver, svc.block_manager.disk_block_manager(), shuffle_id(),
                                     tc.task_attempt_id(), num_reduce_partitions(), options);
        std::uint64_t records = 0;
        if constexpr (Agg::kMapSideCombine && std::is_same_v<K, std::string> &&
                      std::is_same_v<Part, shuffle::HashPartitioner>) {
            // String keys: an arena-backed open-addressing table; one XXH3 per record serves the
            // lookup and the partition, and keys are encoded from the arena (as Serde<std::string>).
            StringCombineMap<C> combined;
            combined.reserve(combine_reserve_keys(distinct_hint_.load(std::memory_order_relaxed), budget));
            std::size_t most = 0;  // the most keys the table held, for the next task's reserve
            std::size_t inserted = 0;
            std::size_t heap = 0;  // combiners' own heap bytes, when created
            auto dump = [&] {
                tc.metrics().observe_execution_memory(combined.memory_bytes() + out.buffered_bytes() +
                                                      tc.fetch_memory_bytes());
                std::size_t n = 0;
                combined.for_each([&](std::string_view k, std::uint64_t h, C& c) {
                    auto& enc = out.partition(partitioner_.partition_of_hash(h));
                    enc.put_bytes(k);
                    enc.write(c);
                    if ((++n & 1023) == 0 && rule.output_full(combined.memory_bytes() + heap, out.buffered_bytes())) {
                        out.spill(metrics);
                    }
                });
                records += n;
                most = std::max(most, combined.size());
                combined.clear();
                inserted = heap = 0;
            };
            auto add = [&](std::string_view key, std::uint64_t h, V&& v) {
                if (C* c = combined.find(key, h)) {
                    agg_.merge_value(*c, std::move(v));
                    return;
                }
                C created = agg_.create(std::move(v));
                heap += estimate_size(created) - std::min(estimate_size(created), sizeof(C));
                combined.insert(key, h, std::move(created));
                if ((++inserted & 255) == 0 && rule.table_full(combined.memory_bytes() + heap)) {
                    dump();
                    out.spill(metrics);
                }
            };
            // Keys are borrowed (views, when the parent makes them so): the table copies new ones.
            if constexpr (kStringCombineRecordLayout<C>) {
                // In batches: each record's slot is prefetched when it is hashed and looked up
                // once the batch is full, so the cache misses of a batch overlap instead of
                // stalling one after another. The batch copies the borrowed keys (they live only
                // for the call) into an array of its own; a key longer than the array is looked
                // up at once.
                constexpr std::size_t kBatch = kPrefetchBatch;
                constexpr std::size_t kKeyBytes = 32 * kBatch;
                std::uint64_t hashes[kBatch];
                std::size_t ends[kBatch];
                char keys[kKeyBytes];
                std::size_t used = 0;  // bytes of keys[]
                std::vector<V> values;
                values.reserve(kBatch);
                auto flush = [&] {
                    std::size_t at = 0;
                    for (std::size_t i = 0; i < values.size(); ++i) {
                        add(std::string_view(keys + at, ends[i] - at), hashes[i], std::move(values[i]));
                        at = ends[i];
                    }
                    used = 0;
                    values.clear();
                };
                parent_->iterator_borrowed(p, tc, [&](borrowed_t<std::pair<K, V>>&& kv) {
                    std::string_view key = kv.first;
                    std::uint64_t h = shuffle::stable_hash(key);
                    if (key.size() > kKeyBytes - used) [[unlikely]] {
                        flush();
                        if (key.size() > kKeyBytes) {
                            add(key, h, std::move(kv.second));
                            return;
                        }
                    }
                    combined.prefetch(h);
                    hashes[values.size()] = h;
                    copy_bytes(keys + used, key.data(), key.size());
                    used += key.size();
                    ends[values.size()] = used;
                    values.push_back(std::move(kv.second));
                    if (values.size() == kBatch) flush();
                });
                flush();
            } else {
                parent_->iterator_borrowed(p, tc, [&](borrowed_t<std::pair<K, V>>&& kv) {
                    add(kv.first, shuffle::stable_hash(kv.first), std::move(kv.second));
                });
            }
            dump();
            distinct_hint_.store(most, std::memory_order_relaxed);
        } else if constexpr (Agg::kMapSideCombine) {
            // Other keys: an open-addressing table (no allocation per distinct key).
            boost::unordered_flat_map<K, C, shuffle::StableHash, std::equal_to<>> combined;
            combined.reserve(reserve_keys<std::pair<K, C>>(distinct_hint_.load(std::memory_order_relaxed), budget));
            std::size_t most = 0;  // the most keys the table held, for the next task's reserve
            std::size_t approx = 0;  // the keys' and combiners' bytes, as estimated when inserted
            auto table_bytes = [&] { return approx + combined.bucket_count() * (sizeof(std::pair<K, C>) + 1); };
            auto dump = [&] {
                tc.metrics().observe_execution_memory(table_bytes() + out.buffered_bytes() + tc.fetch_memory_bytes());
                std::size_t n = 0;
                for (auto& [k, c] : combined) {
                    auto& enc = out.partition(partitioner_.partition(k));
                    enc.write(k);
                    enc.write(c);
                    if ((++n & 1023) == 0 && rule.output_full(table_bytes(), out.buffered_bytes())) out.spill(metrics);
                }
                records += n;
                most = std::max(most, combined.size());
                combined = decltype(combined){};  // freed: a kept table would count against the next one
                approx = 0;
            };
            parent_->iterator(p, tc, [&](std::pair<K, V>&& kv) {
                auto it = combined.find(kv.first);
                if (it != combined.end()) {
                    agg_.merge_value(it->second, std::move(kv.second));
                    return;
                }
                approx += estimate_size(kv.first) + estimate_size(kv.second);
                combined.emplace(std::move(kv.first), agg_.create(std::move(kv.second)));
                if (rule.table_full(table_bytes())) {
                    dump();
                    out.spill(metrics);
                }
            });
            dump();
            distinct_hint_.store(most, std::memory_order_relaxed);
        } else {
            parent_->iterator(p, tc, [&](std::pair<K, V>&& kv) {
                auto& enc = out.partition(partitioner_.partition(kv.first));
                enc.write(kv.first);
                enc.write(kv.second);
                if ((++records & 1023) == 0 && out.buffered_bytes() > budget) {
                    tc.metrics().observe_execution_memory(out.buffered_bytes() + tc.fetch_memory_bytes());
                    out.spill(metrics);
                }
            });
        }
        tc.metrics().observe_execution_memory(out.buffered_bytes() + tc.fetch_memory_bytes());
        auto lengths = out.commit(metrics);
        metrics.records_written += records;
        tc.metrics().memory_bytes_spilled += out.memory_bytes_spilled();
        tc.metrics().disk_bytes_spilled += out.disk_bytes_spilled();
        return shuffle::MapStatus{svc.block_manager.id(), tc.task_attempt_id(), p, std::move(lengths)};
    }

private:
    std::shared_ptr<RddNode<std::pair<K, V>>> parent_;
    Part partitioner_;
    Agg agg_;
    /// With map-side combine: the most distinct keys a map task of this process held, which the
    /// next one reserves (combine_reserve_keys, reserve_keys).
    std::atomic<std::size_t> distinct_hint_{0};
};

/// Fetch limits of a reduce task from its configuration: ember.reducer.maxSizeInFlight (48m),
/// ember.network.maxRemoteBlockSizeFetchToMem (64m, Spark's is 200m: ember keeps large
/// blocks out of memory sooner, since their bytes count against the task's memory),
/// ember.reducer.maxReqsInFlight and maxBlocksInFlightPerAddress (Int.MaxValue),
/// ember.shuffle.io.maxRetries (3) and retryWait (5s), ember.shuffle.checksum.enabled (true) and
/// algorithm (ADLER32).
inline shuffle::FetchOptions fetch_options(const Conf& conf) {
    shuffle::FetchOptions o;
    o.max_bytes_in_flight = static_cast<std::uint64_t>(conf.get_size_bytes("ember.reducer.maxSizeInFlight", "48m", "m"));
    o.max_block_size_to_mem =
        static_cast<std::uint64_t>(conf.get_size_bytes("ember.network.maxRemoteBlockSizeFetchToMem", "64m"));
    auto int_conf = [&](std::string_view key) {
        return static_cast<int>(std::clamp<std::int64_t>(conf.get_int(key, INT_MAX), 1, INT_MAX));
    };
    o.max_reqs_in_flight = int_conf("ember.reducer.maxReqsInFlight");
    o.max_blocks_in_flight_per_address = int_conf("ember.reducer.maxBlocksInFlightPerAddress");
    o.max_retries = static_cast<int>(std::clamp<std::int64_t>(conf.get_int("ember.shuffle.io.maxRetries", 3), 0, INT_MAX));
    o.retry_wait = conf.get_time_ms("ember.shuffle.io.retryWait", "5s");
    o.checksum_enabled = conf.get_bool("ember.shuffle.checksum.enabled", true);
    o.checksum_algorithm = conf.get("ember.shuffle.checksum.algorithm", "ADLER32");
    return o;
}

/// Reads reduce partition `p` of shuffle `shuffle_id`: fetches block p of every map output
/// (local ones from disk, remote ones over TCP, see fetch_options), decompresses it
/// (ember.shuffle.compress) a piece at a time and calls `read_record(Decoder&)` once per record
/// (see shuffle::read_records: it reads one record and acts on it only once read whole). The
/// fetched bytes held in memory are counted in tc.fetch_memory_bytes(). A block that cannot be
/// fetched (after the transport retries), read or decoded raises FetchFailedException, so the
/// DAGScheduler regenerates the map output (a block that does not decode is diagnosed with the
/// shuffle checksums: "Block shuffle_0_1_2 is corrupted due to DISK_ISSUE"); a killed task stops before its next block (TaskKilledException, as Spark's
/// InterruptibleIterator). `piece_end()` is called after the last record of each decoded piece:
/// views into the record bytes (Decoder::get_bytes) stay valid until then.
template <class ReadRecord, class PieceEnd = shuffle::NoPieceEnd>
void read_shuffle_partition(int shuffle_id, int p, TaskContext& tc, ReadRecord&& read_record,
                            PieceEnd&& piece_end = PieceEnd{}) {
    auto& svc = tc.services();
    auto blocks = svc.map_output_tracker.get_map_sizes_by_executor_id(shuffle_id, p, p + 1);
    shuffle::ShuffleBlockFetcherIterator fetcher(svc.block_manager, std::move(blocks), fetch_options(tc.conf()),
                                                 tc.metrics().shuffle_read, &tc.fetch_memory_bytes());
    const bool compressed = tc.conf().get_bool("ember.shuffle.compress", true);
    while (auto block = fetcher.next()) {
        tc.kill_if_interrupted();
        shuffle::read_block_records(fetcher, std::move(*block), compressed, read_record, piece_end);
    }
}

/// The reduce side: partition r fetches block r of every map output (local ones from disk,
/// remote ones over TCP) and aggregates them by key into (K, Combiner) records. A block that
/// cannot be fetched or does not decode raises FetchFailedException, so the map output is
/// regenerated. Its records are hash-partitioned by key (partitioner()). Keys beyond the task's
/// execution memory spill to disk and are merged back (ExternalAppendOnlyMap).
template <class K, class V, class Agg>
class ShuffledRdd final : public RddNode<std::pair<K, typename Agg::Combiner>> {
public:
    using C = typename Agg::Combiner;
    using Out = std::pair<K, C>;

    /// `dep` is set on the driver; executors rebuild the node without it.
    ShuffledRdd(int id, int shuffle_id, int num_partitions, Agg agg,
                std::shared_ptr<ShuffleDependency<K, V, Agg>> dep = nullptr)
        : RddNode<Out>(id, num_partitions), shuffle_id_(shuffle_id), agg_(std::move(agg)) {
        if (dep) {
            this->partitioner_ = dep->partitioner();
            this->shuffles_.push_back(std::move(dep));
        }
    }

    std::string_view kind() const override { return "ShuffledRDD"; }
    const char* type_key() const override { return rdd_type_key<ShuffledRdd>(); }
    void encode_params(Encoder& e) const override {
        e.write(shuffle_id_);
        ClosureCodec<Agg>::encode(e, agg_);
    }
    static std::shared_ptr<RddBase> decode(LineageDecoder&, Decoder& d, int id, int parts) {
        int shuffle_id = d.read<int>();
        return std::make_shared<ShuffledRdd>(id, shuffle_id, parts, ClosureCodec<Agg>::decode(d));
    }

    void compute(int p, TaskContext& tc, FunctionRef<void(Out&&)> out) override {
        // Aggregates in memory up to the task's execution memory, then spills (Spark's
        // ExternalAppendOnlyMap in BlockStoreShuffleReader).
        ExternalAppendOnlyMap<K, C> combined(tc, SpillPolicy::from(tc));
        std::uint64_t records = 0;
        if constexpr (Agg::kMapSideCombine && std::is_same_v<K, std::string> && kStringCombineRecordLayout<C>) {
            // In batches, as the map side looks its keys up: each record's slot is prefetched
            // when its key is hashed, and the batch is looked up when full or when the piece its
            // key views point into ends.
            struct Pending {
                std::string_view key;
                std::uint64_t hash;
                C c;
            };
            std::vector<Pending> batch;
            batch.reserve(kPrefetchBatch);
            auto policy = SpillPolicy::from(tc);
            combined.reserve(combine_reserve_keys(distinct_hint_.load(std::memory_order_relaxed), policy.budget_bytes));
            auto flush = [&] {
                for (Pending& r : batch) {
                    combined.upsert_hashed(
                        r.key, r.hash, [&] { return std::move(r.c); },
                        [&](C& have) { agg_.merge_combiners(have, std::move(r.c)); });
                }
                batch.clear();
            };
            read_shuffle_partition(
                shuffle_id_, p, tc,
                [&](Decoder& d) {
                    std::string_view k = d.get_bytes();
                    C c = d.read<C>();
                    std::uint64_t h = shuffle::stable_hash(k);
                    combined.prefetch(h);
                    batch.push_back(Pending{k, h, std::move(c)});
                    if (batch.size() == kPrefetchBatch) flush();
                    ++records;
                },
                flush);  // after every piece, the last one included: nothing is left in the batch
            distinct_hint_.store(combined.size_in_memory(), std::memory_order_relaxed);
        } else {
            constexpr bool kReserve = !std::is_same_v<K, std::string>;  // string keys here: no hint kept
            if constexpr (kReserve) {
                combined.reserve(reserve_keys<std::pair<K, C>>(distinct_hint_.load(std::memory_order_relaxed),
                                                               SpillPolicy::from(tc).budget_bytes));
            }
            read_records_into(p, tc, combined, records);
            if constexpr (kReserve) distinct_hint_.store(combined.size_in_memory(), std::memory_order_relaxed);
        }
        tc.metrics().shuffle_read.records_read += records;
        combined.drain([this](C& have, C&& more) { agg_.merge_combiners(have, std::move(more)); }, out);
    }

private:
    // One upsert per record, as it is read.
    void read_records_into(int p, TaskContext& tc, ExternalAppendOnlyMap<K, C>& combined, std::uint64_t& records) {
        read_shuffle_partition(shuffle_id_, p, tc, [&](Decoder& d) {
            if constexpr (Agg::kMapSideCombine && std::is_same_v<K, std::string>) {
                // The key as a view into the fetched bytes: a std::string only for a new key.
                std::string_view k = d.get_bytes();
                C c = d.read<C>();
                combined.upsert(
                    k, [&] { return std::move(c); }, [&](C& have) { agg_.merge_combiners(have, std::move(c)); });
            } else if constexpr (Agg::kMapSideCombine) {
                K k = d.read<K>();
                C c = d.read<C>();
                combined.upsert(
                    std::move(k), [&] { return std::move(c); },
                    [&](C& have) { agg_.merge_combiners(have, std::move(c)); });
            } else {
                K k = d.read<K>();
                V v = d.read<V>();
                combined.upsert(
                    std::move(k), [&] { return agg_.create(std::move(v)); },
                    [&](C& have) { agg_.merge_value(have, std::move(v)); });
            }
            ++records;
        });
    }

    /// The keys the table of this process's last reduce task held at its end, which the next one
    /// reserves (combine_reserve_keys, reserve_keys).
    std::atomic<std::size_t> distinct_hint_{0};
    int shuffle_id_;
    Agg agg_;
};

/// The reduce side of sort_by_key (Spark's ShuffledRDD with a key ordering): partition r fetches
/// block r of every map output, written by a ShuffleDependency with a RangePartitioner and no
/// aggregation, and emits its (K, V) records sorted by key under `cmp` (reversed when
/// descending), so that partitions in order hold globally sorted keys. The order of records with
/// equal keys is unspecified. A partition larger than the task's execution memory is sorted in
/// runs spilled to disk and merged (ExternalSorter).
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class K, class V, class Cmp>
class SortedShuffledRdd final : public RddNode<std::pair<K, V>> {
public:
    using Out = std::pair<K, V>;

    /// `dep` is set on the driver; executors rebuild the node without it.
    SortedShuffledRdd(int id, int shuffle_id, int num_partitions, bool ascending, Cmp cmp,
                      std::shared_ptr<ShuffleDependencyBase> dep = nullptr)
        : RddNode<Out>(id, num_partitions), shuffle_id_(shuffle_id), ascending_(ascending), cmp_(std::move(cmp)) {
        if (dep) this->shuffles_.push_back(std::move(dep));
    }

    std::string_view kind() const override { return "ShuffledRDD"; }
    const char* type_key() const override { return rdd_type_key<SortedShuffledRdd>(); }
    void encode_params(Encoder& e) const override {
        e.write(shuffle_id_);
        e.write(ascending_);
        ClosureCodec<Cmp>::encode(e, cmp_);
    }
    static std::shared_ptr<RddBase> decode(LineageDecoder&, Decoder& d, int id, int parts) {
        int shuffle_id = d.read<int>();
        bool ascending = d.read<bool>();
        return std::make_shared<SortedShuffledRdd>(id, shuffle_id, parts, ascending, ClosureCodec<Cmp>::decode(d));
    }

    void compute(int p, TaskContext& tc, FunctionRef<void(Out&&)> out) override {
        auto less = [this](const K& a, const K& b) {
            return ascending_ ? std::invoke(cmp_, a, b) : std::invoke(cmp_, b, a);
        };
        ExternalSorter<K, V, decltype(less)> sorter(tc, SpillPolicy::from(tc), less);
        read_shuffle_partition(shuffle_id_, p, tc, [&](Decoder& d) {
            K k = d.read<K>();
            sorter.insert(Out(std::move(k), d.read<V>()));
        });
        tc.metrics().shuffle_read.records_read += sorter.size();
        sorter.drain(out);
    }

private:
    int shuffle_id_;
    bool ascending_;
    Cmp cmp_;
};

}  // namespace ember::scheduler
