// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// JoinedRdd: the pairs of values of a cogroup, per join type (Spark's join, leftOuterJoin,
/// rightOuterJoin and fullOuterJoin, which are cogroup followed by flatMapValues).

#include "scheduler/rdd/co_grouped_rdd.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/registry.hpp"

#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace ember::scheduler {

enum class JoinType { inner, left_outer, right_outer, full_outer };

namespace detail {
/// The joined value type: an outer side's values are optional.
template <JoinType J, class V, class W>
struct JoinedValue {
    using L = std::conditional_t<J == JoinType::right_outer || J == JoinType::full_outer, std::optional<V>, V>;
    using R = std::conditional_t<J == JoinType::left_outer || J == JoinType::full_outer, std::optional<W>, W>;
    using type = std::pair<L, R>;
};
}  // namespace detail

/// For each (k, (vs, ws)) of its parent (a CoGroupedRdd), every (k, (v, w)) of vs x ws; with an
/// outer join, a key whose values on the kept side have no partner on the other side yields
/// (k, (v, nullopt)) (left), (k, (nullopt, w)) (right), or either (full). Narrow: it runs in
/// the cogroup's task and keeps its partitioner, as flatMapValues does in Spark.
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class K, class V, class W, JoinType J>
class JoinedRdd final : public RddNode<std::pair<K, typename detail::JoinedValue<J, V, W>::type>> {
public:
    using Value = typename detail::JoinedValue<J, V, W>::type;
    using Out = std::pair<K, Value>;
    using In = std::pair<K, std::pair<std::vector<V>, std::vector<W>>>;

    JoinedRdd(int id, std::shared_ptr<RddNode<In>> parent)
        : RddNode<Out>(id, parent->num_partitions()), parent_(std::move(parent)) {
        this->narrow_.push_back(NarrowDependency{parent_});
        this->partitioner_ = parent_->partitioner();
    }

    std::string_view kind() const override { return "MapPartitionsRDD"; }
    const char* type_key() const override { return rdd_type_key<JoinedRdd>(); }
    void encode_params(Encoder&) const override {}
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder&, int id, int) {
        return std::make_shared<JoinedRdd>(id, ctx.parent<In>(0));
    }

    void compute(int p, TaskContext& tc, FunctionRef<void(Out&&)> out) override {
        if constexpr (J == JoinType::inner) {
            // A hash join straight from the cogroup's parents, unless the cogroup itself is
            // stored or checkpointed (then its iterator must run).
            auto* cogroup = dynamic_cast<CoGroupedRdd<K, V, W>*>(parent_.get());
            if (cogroup != nullptr && !parent_->storage_level().is_valid() && !parent_->is_checkpointed()) {
                cogroup->join_inner(p, tc, out);
                return;
            }
        }
        parent_->iterator(p, tc, [&](In&& group) {
            const K& k = group.first;
            auto& [vs, ws] = group.second;
            constexpr bool keep_left = J == JoinType::left_outer || J == JoinType::full_outer;
            constexpr bool keep_right = J == JoinType::right_outer || J == JoinType::full_outer;
            if (vs.empty() || ws.empty()) {
                if constexpr (keep_left) {
                    if (ws.empty()) {
                        for (auto& v : vs) out(Out(k, Value(std::move(v), std::nullopt)));
                    }
                }
                if constexpr (keep_right) {
                    if (vs.empty()) {
                        for (auto& w : ws) out(Out(k, Value(std::nullopt, std::move(w))));
                    }
                }
                return;
            }
            for (const auto& v : vs) {
                for (const auto& w : ws) out(Out(k, Value(v, w)));
            }
        });
    }

private:
    std::shared_ptr<RddNode<In>> parent_;
};

}  // namespace ember::scheduler
