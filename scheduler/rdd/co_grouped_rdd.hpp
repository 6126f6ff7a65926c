// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// CoGroupedRdd: for each key of two (K, _) RDDs, the values of both (Spark's CoGroupedRDD), the
/// base of cogroup and the joins.

#include "scheduler/rdd/external_spill.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/rdd/shuffled_rdd.hpp"
#include "scheduler/registry.hpp"
#include "shuffle/partitioner.hpp"

#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ember::scheduler {

/// How a CoGroupedRdd reads one parent: either through a narrow OneToOne dependency (`narrow`
/// set: the parent is already hash-partitioned like the output) or from the shuffle
/// `shuffle_id` (`dep` is the ShuffleDependency on the driver; executors know only the id).
/// Threading: immutable after construction.
template <class K, class X>
struct CoGroupSide {
    std::shared_ptr<RddNode<std::pair<K, X>>> narrow;
    int shuffle_id = -1;
    std::shared_ptr<ShuffleDependencyBase> dep;
};

/// Partition p holds, for every key k with HashPartitioner::partition(k) == p that occurs in
/// either parent, (k, (values of k in the left parent, values of k in the right parent)); a key
/// present on one side only has an empty vector on the other. Value order within a vector is
/// unspecified.
///
/// Stage structure (as Spark): one ShuffleDependency, without map-side combine, per parent
/// that is not partitioned like the output, and a narrow OneToOne dependency for each parent
/// that is, so cogrouping two unpartitioned RDDs adds two ShuffleMapStages, and cogrouping a
/// reduce_by_key result with the same partitioner adds one.
///
/// The groups of a partition are built in an ExternalAppendOnlyMap, which spills past the task's
/// execution memory (as Spark's CoGroupedRDD).
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class K, class V, class W>
class CoGroupedRdd final : public RddNode<std::pair<K, std::pair<std::vector<V>, std::vector<W>>>> {
public:
    using Groups = std::pair<std::vector<V>, std::vector<W>>;
    using Out = std::pair<K, Groups>;

    CoGroupedRdd(int id, shuffle::HashPartitioner partitioner, CoGroupSide<K, V> left, CoGroupSide<K, W> right)
        : RddNode<Out>(id, partitioner.num_partitions), left_(std::move(left)), right_(std::move(right)) {
        // Narrow parents in side order: decode() takes them back in this order.
        if (left_.narrow) this->narrow_.push_back(NarrowDependency{left_.narrow});
        if (right_.narrow) this->narrow_.push_back(NarrowDependency{right_.narrow});
        if (left_.dep) this->shuffles_.push_back(left_.dep);
        if (right_.dep) this->shuffles_.push_back(right_.dep);
        this->partitioner_ = partitioner;
    }

    std::string_view kind() const override { return "CoGroupedRDD"; }
    const char* type_key() const override { return rdd_type_key<CoGroupedRdd>(); }
    void encode_params(Encoder& e) const override {
        e.write(left_.narrow ? -1 : left_.shuffle_id);
        e.write(right_.narrow ? -1 : right_.shuffle_id);
    }
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder& d, int id, int parts) {
        CoGroupSide<K, V> left;
        CoGroupSide<K, W> right;
        left.shuffle_id = d.read<int>();
        right.shuffle_id = d.read<int>();
        std::size_t next = 0;
        if (left.shuffle_id < 0) left.narrow = ctx.parent<std::pair<K, V>>(next++);
        if (right.shuffle_id < 0) right.narrow = ctx.parent<std::pair<K, W>>(next++);
        return std::make_shared<CoGroupedRdd>(id, shuffle::HashPartitioner{parts}, std::move(left), std::move(right));
    }

    void compute(int p, TaskContext& tc, FunctionRef<void(Out&&)> out) override {
        // Spills past the task's execution memory (Spark's CoGroupedRDD uses an
        // ExternalAppendOnlyMap too).
        ExternalAppendOnlyMap<K, Groups> groups(tc, SpillPolicy::from(tc));
        read_side(left_, p, tc, [&](K&& k, V&& v) { add_to_group<0>(groups, std::move(k), std::move(v)); });
        read_side(right_, p, tc, [&](K&& k, W&& w) { add_to_group<1>(groups, std::move(k), std::move(w)); });
        groups.drain(merge_groups, out);
    }

    /// Partition p of the inner join (JoinedRdd's path for JoinType::inner): every (k, (v, w))
    /// with (k, v) in the left parent and (k, w) in the right one. A hash join: the right side
    /// is grouped first, then the left side streams past it, so a large left side (PageRank's
    /// cached links) is never grouped; if the right side spilled, both go through the spilling
    /// cogroup as compute() does. Pair order is unspecified, as the cogroup's.
    void join_inner(int p, TaskContext& tc, FunctionRef<void(std::pair<K, std::pair<V, W>>&&)> out) {
        using Out2 = std::pair<K, std::pair<V, W>>;
        // A key's right values as (first, rest): a key with one value, the common case (the
        // right side of a join is often keyed, as PageRank's ranks are), costs no allocation.
        using Matches = std::pair<W, std::vector<W>>;
        ExternalAppendOnlyMap<K, Matches> right(tc, SpillPolicy::from(tc));
        // Sized for the right side's first records before they go in (SizedFill).
        auto fill = sized_fill<std::pair<K, W>>(
            [&](std::size_t n) { right.reserve(n); },
            [&](std::pair<K, W>&& kw) {
                right.upsert(
                    std::move(kw.first), [&] { return Matches(std::move(kw.second), std::vector<W>{}); },
                    [&](Matches& m) { m.second.push_back(std::move(kw.second)); });
            });
        read_side(right_, p, tc, [&](K&& k, W&& w) { fill.add(std::pair<K, W>(std::move(k), std::move(w))); });
        fill.finish();
        if (right.spill_count() == 0) {
            // Left records whose key has no match are stepped over where the left side is
            // encoded (a stored partition, a shuffle block) without building their values.
            Matches* ws = nullptr;  // the match of the record `keep` just passed
            auto keep = [&](const K& k) {
                ws = right.find_in_memory(k);
                return ws != nullptr;
            };
            // A cached left partition with a KeyIndex looks these keys up instead of streaming.
            auto walk_keys = [&](FunctionRef<void(const K&)> f) { right.for_each_key_in_memory(f); };
            const JoinKeys<K> keys{right.size_in_memory(), walk_keys};
            read_side_where(left_, p, tc, keep, &keys, [&](K&& k, V&& v) {
                for (const W& w : ws->second) out(Out2(k, std::pair<V, W>(v, w)));
                out(Out2(std::move(k), std::pair<V, W>(std::move(v), ws->first)));
            });
            right.observe_memory();  // the peak memory in the task's metrics, as compute()'s drain records it
            return;
        }
        auto merge_matches = [](Matches& have, Matches&& more) {
            have.second.push_back(std::move(more.first));
            append(have.second, std::move(more.second));
        };
        ExternalAppendOnlyMap<K, Groups> groups(tc, SpillPolicy::from(tc));
        right.drain(merge_matches, [&](std::pair<K, Matches>&& km) {
            std::vector<W> ws;
            ws.reserve(1 + km.second.second.size());
            ws.push_back(std::move(km.second.first));
            append(ws, std::move(km.second.second));
            groups.upsert(
                std::move(km.first), [&] { return Groups({}, std::move(ws)); },
                [&](Groups& g) { append(g.second, std::move(ws)); });
        });
        read_side(left_, p, tc, [&](K&& k, V&& v) { add_to_group<0>(groups, std::move(k), std::move(v)); });
        groups.drain(
            merge_groups,
            [&](Out&& group) {
                auto& [vs, ws] = group.second;
                for (const auto& v : vs) {
                    for (const auto& w : ws) out(Out2(group.first, std::pair<V, W>(v, w)));
                }
            });
    }

private:
    /// Adds `x` to k's left (Side 0) or right (Side 1) values.
    template <int Side, class X>
    static void add_to_group(ExternalAppendOnlyMap<K, Groups>& groups, K&& k, X&& x) {
        auto values = [](Groups& g) -> auto& {
            if constexpr (Side == 0) {
                return g.first;
            } else {
                return g.second;
            }
        };
        groups.upsert(
            std::move(k),
            [&] {
                Groups g;
                values(g).push_back(std::move(x));
                return g;
            },
            [&](Groups& g) { values(g).push_back(std::move(x)); });
    }
    template <class X>
    static void append(std::vector<X>& have, std::vector<X>&& more) {
        have.insert(have.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    /// Appends one key's groups from a spill to the groups it already has.
    static void merge_groups(Groups& have, Groups&& more) {
        append(have.first, std::move(more.first));
        append(have.second, std::move(more.second));
    }

    /// read_side for the records whose key passes `keep` (called once per record, right before
    /// `add` for the same record): the values of the others are skipped, not decoded. `keys`
    /// walks the keys `keep` passes (RddNode::iterator_where_key).
    template <class X, class Keep, class Add>
    static void read_side_where(CoGroupSide<K, X>& side, int p, TaskContext& tc, Keep& keep, const JoinKeys<K>* keys,
                                Add&& add) {
        if (side.narrow) {
            side.narrow->iterator_where_key(
                p, tc, keep, [&](std::pair<K, X>&& kx) { add(std::move(kx.first), std::move(kx.second)); }, keys);
            return;
        }
        std::uint64_t records = 0;
        read_shuffle_partition(side.shuffle_id, p, tc, [&](Decoder& d) {
            K k = d.read<K>();
            ++records;
            if (!keep(std::as_const(k))) {
                d.skip<X>();
                return;
            }
            X x = d.read<X>();
            add(std::move(k), std::move(x));
        });
        tc.metrics().shuffle_read.records_read += records;
    }

    template <class X, class Add>
    static void read_side(CoGroupSide<K, X>& side, int p, TaskContext& tc, Add&& add) {
        if (side.narrow) {
            side.narrow->iterator(p, tc, [&](std::pair<K, X>&& kx) { add(std::move(kx.first), std::move(kx.second)); });
            return;
        }
        std::uint64_t records = 0;
        read_shuffle_partition(side.shuffle_id, p, tc, [&](Decoder& d) {
            K k = d.read<K>();
            X x = d.read<X>();
            add(std::move(k), std::move(x));
            ++records;
        });
        tc.metrics().shuffle_read.records_read += records;
    }

    CoGroupSide<K, V> left_;
    CoGroupSide<K, W> right_;
};

}  // namespace ember::scheduler
