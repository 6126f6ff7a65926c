// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// CoalescedRdd (Spark's CoalescedRDD: fewer partitions without a shuffle) and the pieces of
/// repartition, coalesce with a shuffle: DistributePartition, PositionPartitioner and
/// ShuffledValuesRdd (Spark's distributePartition, HashPartitioner on the position, and
/// ShuffledRDD(...).values).

#include "scheduler/closure.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/rdd/shuffled_rdd.hpp"
#include "scheduler/registry.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ember::scheduler {

/// Partition i reads the parent's partitions groups[i], one after another: a narrow dependency
/// on several parent partitions, so no stage is added. Groups are contiguous ranges of about
/// equal counts (Spark's DefaultPartitionCoalescer without locality information); a group
/// prefers the hosts most of its parent partitions prefer.
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class T>
class CoalescedRdd final : public RddNode<T> {
public:
    CoalescedRdd(int id, std::shared_ptr<RddNode<T>> parent, std::vector<std::vector<int>> groups)
        : RddNode<T>(id, static_cast<int>(groups.size())),
          parent_(std::move(parent)),
          groups_(std::make_shared<const std::vector<std::vector<int>>>(std::move(groups))) {
        NarrowDependency dep{parent_};
        dep.groups = groups_;
        this->narrow_.push_back(std::move(dep));
    }
    /// At most `max_partitions` contiguous groups of `parent_partitions` partitions.
    static std::vector<std::vector<int>> contiguous_groups(int parent_partitions, int max_partitions) {
        int n = std::min(parent_partitions, std::max(max_partitions, 1));
        std::vector<std::vector<int>> out(static_cast<std::size_t>(std::max(n, 0)));
        for (int i = 0; i < n; ++i) {
            auto lo = static_cast<std::int64_t>(i) * parent_partitions / n;
            auto hi = static_cast<std::int64_t>(i + 1) * parent_partitions / n;
            for (auto q = lo; q < hi; ++q) out[static_cast<std::size_t>(i)].push_back(static_cast<int>(q));
        }
        return out;
    }

    std::string_view kind() const override { return "CoalescedRDD"; }
    const char* type_key() const override { return rdd_type_key<CoalescedRdd>(); }
    void encode_params(Encoder& e) const override { e.write(*groups_); }
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder& d, int id, int) {
        auto groups = d.read<std::vector<std::vector<int>>>();
        return std::make_shared<CoalescedRdd>(id, ctx.parent<T>(0), std::move(groups));
    }
    std::vector<std::string> preferred_locations(int p) const override {
        std::map<std::string, int> votes;
        for (int q : (*groups_)[static_cast<std::size_t>(p)]) {
            for (auto& host : parent_->preferred_locations(q)) ++votes[host];
        }
        int best = 0;
        for (auto& [_, n] : votes) best = std::max(best, n);
        std::vector<std::string> out;
        for (auto& [host, n] : votes) {
            if (n == best) out.push_back(host);
        }
        return out;
    }
    void compute(int p, TaskContext& tc, FunctionRef<void(T&&)> out) override {
        for (int q : (*groups_)[static_cast<std::size_t>(p)]) parent_->iterator(q, tc, out);
    }

private:
    std::shared_ptr<RddNode<T>> parent_;
    std::shared_ptr<const std::vector<std::vector<int>>> groups_;
};

/// repartition's map side: gives the records of partition `index` consecutive positions from a
/// start drawn from the partition index, so each partition's records go round-robin to the
/// output partitions, the partitions starting at different outputs (Spark's distributePartition).
template <class T>
struct DistributePartition {
    int num_partitions = 1;
    std::vector<std::pair<int, T>> operator()(int index, std::vector<T>&& part) const {
        std::uint64_t z = static_cast<std::uint64_t>(index) + 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        int position = static_cast<int>((z ^ (z >> 31)) % static_cast<std::uint64_t>(num_partitions));
        std::vector<std::pair<int, T>> out;
        out.reserve(part.size());
        for (auto& x : part) {
            position = (position + 1) % num_partitions;
            out.emplace_back(position, std::move(x));
        }
        return out;
    }
    EMBER_SERDE(num_partitions)
};

/// Sends position k to partition k mod n (what Spark's HashPartitioner does with an Int key).
struct PositionPartitioner {
    int num_partitions = 1;
    int partition(int key) const { return ((key % num_partitions) + num_partitions) % num_partitions; }
    bool operator==(const PositionPartitioner&) const = default;
    EMBER_SERDE(num_partitions)
};
inline int partition_count(const PositionPartitioner& p) { return p.num_partitions; }

/// The reduce side of repartition: partition r's records, keys dropped (Spark's
/// ShuffledRDD(...).values), with no aggregation and no order.
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class K, class V>
class ShuffledValuesRdd final : public RddNode<V> {
public:
    /// `dep` is set on the driver; executors rebuild the node without it.
    ShuffledValuesRdd(int id, int shuffle_id, int num_partitions, std::shared_ptr<ShuffleDependencyBase> dep = nullptr)
        : RddNode<V>(id, num_partitions), shuffle_id_(shuffle_id) {
        if (dep) this->shuffles_.push_back(std::move(dep));
    }
    std::string_view kind() const override { return "ShuffledRDD"; }
    const char* type_key() const override { return rdd_type_key<ShuffledValuesRdd>(); }
    void encode_params(Encoder& e) const override { e.write(shuffle_id_); }
    static std::shared_ptr<RddBase> decode(LineageDecoder&, Decoder& d, int id, int parts) {
        return std::make_shared<ShuffledValuesRdd>(id, d.read<int>(), parts);
    }
    void compute(int p, TaskContext& tc, FunctionRef<void(V&&)> out) override {
        std::uint64_t records = 0;
        read_shuffle_partition(shuffle_id_, p, tc, [&](Decoder& d) {
            (void)d.read<K>();
            out(d.read<V>());
            ++records;
        });
        tc.metrics().shuffle_read.records_read += records;
    }

private:
    int shuffle_id_;
};

}  // namespace ember::scheduler
