// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The one-to-one narrow transformations map, flat_map and filter (Spark's MapPartitionsRDD).
/// Each pushes its parent's records through a user function; a chain of them runs in one task
/// without materialising anything in between.

#include "scheduler/closure.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/registry.hpp"

#include <functional>
#include <ranges>

namespace ember::scheduler {

/// U = f(T).
template <class T, class U, class F>
class MappedRdd final : public RddNode<U> {
public:
    MappedRdd(int id, std::shared_ptr<RddNode<T>> parent, F f)
        : RddNode<U>(id, parent->num_partitions()), parent_(std::move(parent)), f_(std::move(f)) {
        this->narrow_.push_back(NarrowDependency{parent_});
    }
    std::string_view kind() const override { return "MapPartitionsRDD"; }
    const char* type_key() const override { return rdd_type_key<MappedRdd>(); }
    void encode_params(Encoder& e) const override { ClosureCodec<F>::encode(e, f_); }
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder& d, int id, int) {
        return std::make_shared<MappedRdd>(id, ctx.parent<T>(0), ClosureCodec<F>::decode(d));
    }
    void compute(int p, TaskContext& tc, FunctionRef<void(U&&)> out) override {
        parent_->compute(p, tc, [&](T&& x) { out(U(std::invoke(f_, std::move(x)))); });
    }

private:
    std::shared_ptr<RddNode<T>> parent_;
    F f_;
};

/// Every element of the range f(T) (vector, string_view pieces, ...), converted to U.
template <class T, class U, class F>
class FlatMappedRdd final : public RddNode<U> {
public:
    FlatMappedRdd(int id, std::shared_ptr<RddNode<T>> parent, F f)
        : RddNode<U>(id, parent->num_partitions()), parent_(std::move(parent)), f_(std::move(f)) {
        this->narrow_.push_back(NarrowDependency{parent_});
    }
    std::string_view kind() const override { return "MapPartitionsRDD"; }
    const char* type_key() const override { return rdd_type_key<FlatMappedRdd>(); }
    void encode_params(Encoder& e) const override { ClosureCodec<F>::encode(e, f_); }
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder& d, int id, int) {
        return std::make_shared<FlatMappedRdd>(id, ctx.parent<T>(0), ClosureCodec<F>::decode(d));
    }
    void compute(int p, TaskContext& tc, FunctionRef<void(U&&)> out) override {
        parent_->compute(p, tc, [&](T&& x) {
            // x stays alive while its pieces are converted, so f may return views into it.
            for (auto&& y : std::invoke(f_, std::as_const(x))) out(U(std::forward<decltype(y)>(y)));
        });
    }

private:
    std::shared_ptr<RddNode<T>> parent_;
    F f_;
};

/// The records for which f(T) is true.
template <class T, class F>
class FilteredRdd final : public RddNode<T> {
public:
    FilteredRdd(int id, std::shared_ptr<RddNode<T>> parent, F f)
        : RddNode<T>(id, parent->num_partitions()), parent_(std::move(parent)), f_(std::move(f)) {
        this->narrow_.push_back(NarrowDependency{parent_});
    }
    std::string_view kind() const override { return "MapPartitionsRDD"; }
    const char* type_key() const override { return rdd_type_key<FilteredRdd>(); }
    void encode_params(Encoder& e) const override { ClosureCodec<F>::encode(e, f_); }
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder& d, int id, int) {
        return std::make_shared<FilteredRdd>(id, ctx.parent<T>(0), ClosureCodec<F>::decode(d));
    }
    void compute(int p, TaskContext& tc, FunctionRef<void(T&&)> out) override {
        parent_->compute(p, tc, [&](T&& x) {
            if (std::invoke(f_, std::as_const(x))) out(std::move(x));
        });
    }

private:
    std::shared_ptr<RddNode<T>> parent_;
    F f_;
};

}  // namespace ember::scheduler
