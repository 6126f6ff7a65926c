// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ZippedWithIndexRdd: each record with its index in the RDD's order (Spark's
/// ZippedWithIndexRDD, behind zipWithIndex).

#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/registry.hpp"

#include <cstdint>
#include <utility>
#include <vector>

namespace ember::scheduler {

/// Partition p emits (record, start[p] + i) for its i-th record; `starts` are the counts of the
/// partitions before p, which Rdd::zip_with_index computes with a job first, as Spark does.
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class T>
class ZippedWithIndexRdd final : public RddNode<std::pair<T, std::uint64_t>> {
public:
    using Out = std::pair<T, std::uint64_t>;
    ZippedWithIndexRdd(int id, std::shared_ptr<RddNode<T>> parent, std::vector<std::uint64_t> starts)
        : RddNode<Out>(id, parent->num_partitions()), parent_(std::move(parent)), starts_(std::move(starts)) {
        this->narrow_.push_back(NarrowDependency{parent_});
    }
    std::string_view kind() const override { return "ZippedWithIndexRDD"; }
    const char* type_key() const override { return rdd_type_key<ZippedWithIndexRdd>(); }
    void encode_params(Encoder& e) const override { e.write(starts_); }
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder& d, int id, int) {
        return std::make_shared<ZippedWithIndexRdd>(id, ctx.parent<T>(0), d.read<std::vector<std::uint64_t>>());
    }
    std::vector<std::string> preferred_locations(int p) const override { return parent_->preferred_locations(p); }
    void compute(int p, TaskContext& tc, FunctionRef<void(Out&&)> out) override {
        std::uint64_t i = starts_.at(static_cast<std::size_t>(p));
        parent_->iterator(p, tc, [&](T&& x) { out(Out(std::move(x), i++)); });
    }

private:
    std::shared_ptr<RddNode<T>> parent_;
    std::vector<std::uint64_t> starts_;
};

}  // namespace ember::scheduler
