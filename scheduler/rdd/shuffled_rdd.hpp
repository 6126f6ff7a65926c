// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Key-value shuffles: aggregators, ShuffleDependency (the map side) and ShuffledRdd (the reduce
/// side) (Spark's Aggregator, ShuffleDependency, SortShuffleWriter and BlockStoreShuffleReader).

#include "scheduler/closure.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/rdd/size_estimator.hpp"
#include "scheduler/registry.hpp"
#include "shuffle/compression.hpp"
#include "shuffle/map_output_writer.hpp"
#include "shuffle/partitioner.hpp"
#include "shuffle/shuffle_block_fetcher_iterator.hpp"

#include <fmt/format.h>

#include <functional>
#include <unordered_map>
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
        c.push_back(std::move(v));
        return c;
    }
    void merge_value(std::vector<V>& c, V&& v) const { c.push_back(std::move(v)); }
    void merge_combiners(std::vector<V>& c, std::vector<V>&& o) const {
        c.insert(c.end(), std::make_move_iterator(o.begin()), std::make_move_iterator(o.end()));
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
}  // namespace ember

namespace ember::scheduler {

/// Shuffle write options from the configuration (ember.shuffle.compress,
/// ember.shuffle.checksum.enabled).
inline shuffle::ShuffleWriteOptions shuffle_write_options(const Conf& conf) {
    return shuffle::ShuffleWriteOptions{conf.get_bool("ember.shuffle.compress", true),
                                        conf.get_bool("ember.shuffle.checksum.enabled", true)};
}

/// The map side of a shuffle of (K, V) records, partitioned by a HashPartitioner and, with map
/// side combine, aggregated per key before writing. Records are buffered per reduce partition
/// and spilled when the task's execution memory (ember.executor.memory x ember.memory.fraction /
/// cores) is used up; the map output is one data and one index file (see
/// IndexShuffleBlockResolver).
template <class K, class V, class Agg>
class ShuffleDependency final : public ShuffleDependencyBase {
public:
    using C = typename Agg::Combiner;

    ShuffleDependency(int shuffle_id, std::shared_ptr<RddNode<std::pair<K, V>>> parent,
                      shuffle::HashPartitioner partitioner, Agg agg)
        : ShuffleDependencyBase(shuffle_id, partitioner.num_partitions, parent),
          parent_(std::move(parent)),
          partitioner_(partitioner),
          agg_(std::move(agg)) {}

    const Agg& aggregator() const noexcept { return agg_; }
    const char* type_key() const override { return shuffle_dep_type_key<ShuffleDependency>(); }
    void encode_params(Encoder& e) const override {
        e.write(shuffle_id());
        e.write(partitioner_);
        ClosureCodec<Agg>::encode(e, agg_);
    }
    static std::shared_ptr<ShuffleDependencyBase> decode(LineageDecoder& ctx, Decoder& d) {
        int id = d.read<int>();
        auto part = d.read<shuffle::HashPartitioner>();
        auto agg = ClosureCodec<Agg>::decode(d);
        return std::make_shared<ShuffleDependency>(id, ctx.parent<std::pair<K, V>>(0), part, std::move(agg));
    }

    shuffle::MapStatus run_map_task(int p, TaskContext& tc) override {
        auto& svc = tc.services();
        auto& metrics = tc.metrics().shuffle_write;
        shuffle::MapOutputWriter out(svc.shuffle_resolver, svc.block_manager.disk_block_manager(), shuffle_id(),
                                     tc.task_attempt_id(), partitioner_.num_partitions,
                                     shuffle_write_options(tc.conf()));
        const std::size_t budget = std::max<std::uint64_t>(svc.task_memory_bytes, 1 << 20);
        std::uint64_t records = 0;
        if constexpr (Agg::kMapSideCombine) {
            std::unordered_map<K, C, shuffle::StableHash> combined;
            std::size_t approx = 0;
            auto dump = [&] {
                for (auto& [k, c] : combined) {
                    auto& enc = out.partition(partitioner_.partition(k));
                    enc.write(k);
                    enc.write(c);
                    ++records;
                }
                combined.clear();
                approx = 0;
            };
            parent_->compute(p, tc, [&](std::pair<K, V>&& kv) {
                auto it = combined.find(kv.first);
                if (it != combined.end()) {
                    agg_.merge_value(it->second, std::move(kv.second));
                    return;
                }
                approx += estimate_size(kv.first) + estimate_size(kv.second) + 48;
                combined.emplace(std::move(kv.first), agg_.create(std::move(kv.second)));
                if (approx > budget) {
                    dump();
                    out.spill(metrics);
                }
            });
            dump();
        } else {
            parent_->compute(p, tc, [&](std::pair<K, V>&& kv) {
                auto& enc = out.partition(partitioner_.partition(kv.first));
                enc.write(kv.first);
                enc.write(kv.second);
                if ((++records & 1023) == 0 && out.buffered_bytes() > budget) out.spill(metrics);
            });
        }
        auto lengths = out.commit(metrics);
        metrics.records_written += records;
        return shuffle::MapStatus{svc.block_manager.id(), tc.task_attempt_id(), p, std::move(lengths)};
    }

private:
    std::shared_ptr<RddNode<std::pair<K, V>>> parent_;
    shuffle::HashPartitioner partitioner_;
    Agg agg_;
};

/// The reduce side: partition r fetches block r of every map output (local ones from disk,
/// remote ones over TCP) and aggregates them by key into (K, Combiner) records. A block that
/// cannot be fetched or does not decode raises FetchFailedException, so the map output is
/// regenerated.
template <class K, class V, class Agg>
class ShuffledRdd final : public RddNode<std::pair<K, typename Agg::Combiner>> {
public:
    using C = typename Agg::Combiner;
    using Out = std::pair<K, C>;

    /// `dep` is set on the driver; executors rebuild the node without it.
    ShuffledRdd(int id, int shuffle_id, int num_partitions, Agg agg,
                std::shared_ptr<ShuffleDependency<K, V, Agg>> dep = nullptr)
        : RddNode<Out>(id, num_partitions), shuffle_id_(shuffle_id), agg_(std::move(agg)) {
        if (dep) this->shuffles_.push_back(std::move(dep));
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
        auto& svc = tc.services();
        auto blocks = svc.map_output_tracker.get_map_sizes_by_executor_id(shuffle_id_, p, p + 1);
        auto max_in_flight =
            static_cast<std::uint64_t>(tc.conf().get_size_bytes("ember.reducer.maxSizeInFlight", "48m", "m"));
        shuffle::ShuffleBlockFetcherIterator fetcher(svc.block_manager, std::move(blocks), max_in_flight,
                                                     tc.metrics().shuffle_read);
        const bool compressed = tc.conf().get_bool("ember.shuffle.compress", true);
        std::unordered_map<K, C, shuffle::StableHash> combined;
        std::string raw;
        std::uint64_t records = 0;
        while (auto block = fetcher.next()) {
            try {
                std::string_view bytes = block->data.view();
                if (compressed) {
                    raw.clear();
                    shuffle::lz4_decompress_append(block->data.bytes, raw);
                    bytes = raw;
                }
                Decoder d(bytes);
                while (!d.done()) {
                    K k = d.read<K>();
                    if constexpr (Agg::kMapSideCombine) {
                        C c = d.read<C>();
                        auto it = combined.find(k);
                        if (it == combined.end()) {
                            combined.emplace(std::move(k), std::move(c));
                        } else {
                            agg_.merge_combiners(it->second, std::move(c));
                        }
                    } else {
                        V v = d.read<V>();
                        auto it = combined.find(k);
                        if (it == combined.end()) {
                            combined.emplace(std::move(k), agg_.create(std::move(v)));
                        } else {
                            agg_.merge_value(it->second, std::move(v));
                        }
                    }
                    ++records;
                }
            } catch (const DecodeError& e) {
                const auto& info = block->info;
                throw shuffle::FetchFailedException(
                    block->address, info.id.shuffle_id, info.id.map_id, info.map_index, info.id.reduce_id,
                    fmt::format("Block {} is corrupt: {}", storage::name(storage::BlockId{info.id}), e.what()));
            }
        }
        tc.metrics().shuffle_read.records_read += records;
        while (!combined.empty()) {
            auto node = combined.extract(combined.begin());
            out(Out(std::move(node.key()), std::move(node.mapped())));
        }
    }

private:
    int shuffle_id_;
    Agg agg_;
};

}  // namespace ember::scheduler
