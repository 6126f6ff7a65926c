// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// MappedValuesRdd and FlatMappedValuesRdd: map_values and flat_map_values on (K, V) records
/// (Spark's mapValues and flatMapValues, MapPartitionsRDD with preservesPartitioning).

#include "scheduler/closure.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/registry.hpp"

#include <functional>
#include <utility>

namespace ember::scheduler {

/// (k, v) -> (k, f(v)). Keys do not move, so the parent's partitioner is kept.
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class K, class V, class U, class F>
class MappedValuesRdd final : public RddNode<std::pair<K, U>> {
public:
    MappedValuesRdd(int id, std::shared_ptr<RddNode<std::pair<K, V>>> parent, F f)
        : RddNode<std::pair<K, U>>(id, parent->num_partitions()), parent_(std::move(parent)), f_(std::move(f)) {
        this->narrow_.push_back(NarrowDependency{parent_});
        this->partitioner_ = parent_->partitioner();
    }
    std::string_view kind() const override { return "MapPartitionsRDD"; }
    const char* type_key() const override { return rdd_type_key<MappedValuesRdd>(); }
    void encode_params(Encoder& e) const override { ClosureCodec<F>::encode(e, f_); }
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder& d, int id, int) {
        return std::make_shared<MappedValuesRdd>(id, ctx.parent<std::pair<K, V>>(0), ClosureCodec<F>::decode(d));
    }
    void compute(int p, TaskContext& tc, FunctionRef<void(std::pair<K, U>&&)> out) override {
        parent_->iterator(p, tc, [&](std::pair<K, V>&& kv) {
            out(std::pair<K, U>(std::move(kv.first), U(std::invoke(f_, std::move(kv.second)))));
        });
    }

private:
    std::shared_ptr<RddNode<std::pair<K, V>>> parent_;
    F f_;
};

/// (k, v) -> (k, u) for every u in the range f(v). Keeps the parent's partitioner.
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class K, class V, class U, class F>
class FlatMappedValuesRdd final : public RddNode<std::pair<K, U>> {
public:
    FlatMappedValuesRdd(int id, std::shared_ptr<RddNode<std::pair<K, V>>> parent, F f)
        : RddNode<std::pair<K, U>>(id, parent->num_partitions()), parent_(std::move(parent)), f_(std::move(f)) {
        this->narrow_.push_back(NarrowDependency{parent_});
        this->partitioner_ = parent_->partitioner();
    }
    std::string_view kind() const override { return "MapPartitionsRDD"; }
    const char* type_key() const override { return rdd_type_key<FlatMappedValuesRdd>(); }
    void encode_params(Encoder& e) const override { ClosureCodec<F>::encode(e, f_); }
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder& d, int id, int) {
        return std::make_shared<FlatMappedValuesRdd>(id, ctx.parent<std::pair<K, V>>(0), ClosureCodec<F>::decode(d));
    }
    void compute(int p, TaskContext& tc, FunctionRef<void(std::pair<K, U>&&)> out) override {
        parent_->iterator(p, tc, [&](std::pair<K, V>&& kv) {
            // kv stays alive while its pieces are converted, so f may return views into the value.
            for (auto&& u : std::invoke(f_, std::as_const(kv.second))) {
                out(std::pair<K, U>(kv.first, U(std::forward<decltype(u)>(u))));
            }
        });
    }

private:
    std::shared_ptr<RddNode<std::pair<K, V>>> parent_;
    F f_;
};

}  // namespace ember::scheduler
