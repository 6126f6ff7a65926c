// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The one-to-one narrow transformations map, flat_map, filter and map_partitions (Spark's
/// MapPartitionsRDD). map, flat_map and filter push their parent's records through a user
/// function one at a time, so a chain of them runs in one task without materialising anything
/// in between; map_partitions hands its function the whole partition.

#include "scheduler/closure.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/registry.hpp"

#include <functional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

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
        parent_->iterator(p, tc, [&](T&& x) { out(U(std::invoke(f_, std::move(x)))); });
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
    void compute(int p, TaskContext& tc, FunctionRef<void(U&&)> out) override { push_pieces<U>(p, tc, out); }

protected:
    /// A range of (std::string_view, V) pieces goes to a borrowing reader as it is: no string
    /// per piece (see RddNode::iterator_borrowed).
    bool compute_borrowed(int p, TaskContext& tc, FunctionRef<void(borrowed_t<U>&&)> out) override {
        using Piece = std::ranges::range_reference_t<std::invoke_result_t<F&, const T&>>;
        if constexpr (!std::is_same_v<borrowed_t<U>, U> && !std::is_same_v<std::remove_cvref_t<Piece>, U> &&
                      std::is_constructible_v<borrowed_t<U>, Piece>) {
            push_pieces<borrowed_t<U>>(p, tc, out);
            return true;
        } else {
            return false;
        }
    }

private:
    /// Pushes every piece of f(x), for each record x of the parent's partition p, as an R.
    template <class R>
    void push_pieces(int p, TaskContext& tc, FunctionRef<void(R&&)> out) {
        parent_->iterator(p, tc, [&](T&& x) {
            // x stays alive while its pieces are converted, so f may return views into it.
            for (auto&& y : std::invoke(f_, std::as_const(x))) out(R(std::forward<decltype(y)>(y)));
        });
    }

    std::shared_ptr<RddNode<T>> parent_;
    F f_;
};

/// The records for which f(T) is true. Keeps the parent's partitioner (records do not move).
template <class T, class F>
class FilteredRdd final : public RddNode<T> {
public:
    FilteredRdd(int id, std::shared_ptr<RddNode<T>> parent, F f)
        : RddNode<T>(id, parent->num_partitions()), parent_(std::move(parent)), f_(std::move(f)) {
        this->narrow_.push_back(NarrowDependency{parent_});
        this->partitioner_ = parent_->partitioner();
    }
    std::string_view kind() const override { return "MapPartitionsRDD"; }
    const char* type_key() const override { return rdd_type_key<FilteredRdd>(); }
    void encode_params(Encoder& e) const override { ClosureCodec<F>::encode(e, f_); }
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder& d, int id, int) {
        return std::make_shared<FilteredRdd>(id, ctx.parent<T>(0), ClosureCodec<F>::decode(d));
    }
    void compute(int p, TaskContext& tc, FunctionRef<void(T&&)> out) override {
        parent_->iterator(p, tc, [&](T&& x) {
            if (std::invoke(f_, std::as_const(x))) out(std::move(x));
        });
    }

private:
    std::shared_ptr<RddNode<T>> parent_;
    F f_;
};

/// Every element of the range f(partition) or, with kWithIndex, f(partition index, partition),
/// converted to U; the partition is a std::vector<T>&& of the parent's records of partition p,
/// in order (empty for an empty partition, and f is still called).
///
/// Spark hands mapPartitions an iterator that streams the partition. Records here are pushed
/// from parent to child (RddNode::compute), so the partition is collected into a vector first;
/// f's result may be a view into that vector, which lives until the result has been iterated.
/// The elements of a container f returns by value are moved out of it; a view's are copied (or
/// converted). `preserves_partitioning` (Spark's preservesPartitioning) keeps the parent's
/// partitioner: f must then not change keys.
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class T, class U, class F, bool kWithIndex>
class MapPartitionsRdd final : public RddNode<U> {
public:
    MapPartitionsRdd(int id, std::shared_ptr<RddNode<T>> parent, F f, bool preserves_partitioning)
        : RddNode<U>(id, parent->num_partitions()), parent_(std::move(parent)), f_(std::move(f)) {
        this->narrow_.push_back(NarrowDependency{parent_});
        if (preserves_partitioning) this->partitioner_ = parent_->partitioner();
    }
    std::string_view kind() const override { return "MapPartitionsRDD"; }
    const char* type_key() const override { return rdd_type_key<MapPartitionsRdd>(); }
    void encode_params(Encoder& e) const override { ClosureCodec<F>::encode(e, f_); }
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder& d, int id, int) {
        return std::make_shared<MapPartitionsRdd>(id, ctx.parent<T>(0), ClosureCodec<F>::decode(d), false);
    }
    void compute(int p, TaskContext& tc, FunctionRef<void(U&&)> out) override {
        std::vector<T> part;
        parent_->iterator(p, tc, [&](T&& x) { part.push_back(std::move(x)); });
        decltype(auto) result = call(p, std::move(part));
        using R = decltype(result);
        if constexpr (!std::is_reference_v<R> && !std::ranges::view<R>) {
            // f returned a container of its own: its elements are ours to move.
            for (auto&& y : result) out(U(std::move(y)));
        } else {
            for (auto&& y : result) out(U(std::forward<decltype(y)>(y)));
        }
    }

private:
    decltype(auto) call(int p, std::vector<T>&& part) {
        if constexpr (kWithIndex) {
            return std::invoke(f_, p, std::move(part));
        } else {
            return std::invoke(f_, std::move(part));
        }
    }

    std::shared_ptr<RddNode<T>> parent_;
    F f_;
};

}  // namespace ember::scheduler
