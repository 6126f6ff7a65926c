// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// CartesianRdd: every pair of a record of one RDD and a record of another (Spark's
/// CartesianRDD).

#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/registry.hpp"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

namespace ember::scheduler {

/// m * n partitions for parents of m and n: partition p pairs partition p / n of the first
/// with partition p % n of the second (narrow dependencies on both, so no stage is added).
/// The second partition's records are held in memory while the first's stream past (Spark
/// recomputes the second for every record of the first; ember computes it once per task).
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class T, class U>
class CartesianRdd final : public RddNode<std::pair<T, U>> {
public:
    using Out = std::pair<T, U>;
    CartesianRdd(int id, std::shared_ptr<RddNode<T>> left, std::shared_ptr<RddNode<U>> right)
        : RddNode<Out>(id, left->num_partitions() * right->num_partitions()),
          left_(std::move(left)),
          right_(std::move(right)) {
        const int m = left_->num_partitions(), n = right_->num_partitions();
        auto lg = std::make_shared<std::vector<std::vector<int>>>();
        auto rg = std::make_shared<std::vector<std::vector<int>>>();
        for (int p = 0; p < m * n; ++p) {
            lg->push_back({p / n});
            rg->push_back({p % n});
        }
        NarrowDependency l{left_}, r{right_};
        l.groups = std::move(lg);
        r.groups = std::move(rg);
        this->narrow_.push_back(std::move(l));
        this->narrow_.push_back(std::move(r));
    }
    std::string_view kind() const override { return "CartesianRDD"; }
    const char* type_key() const override { return rdd_type_key<CartesianRdd>(); }
    void encode_params(Encoder&) const override {}
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder&, int id, int) {
        return std::make_shared<CartesianRdd>(id, ctx.parent<T>(0), ctx.parent<U>(1));
    }
    /// The hosts both partitions prefer, else either's (Spark's CartesianRDD).
    std::vector<std::string> preferred_locations(int p) const override {
        const int n = right_->num_partitions();
        auto a = left_->preferred_locations(p / n), b = right_->preferred_locations(p % n);
        std::vector<std::string> both;
        for (auto& h : a) {
            if (std::find(b.begin(), b.end(), h) != b.end()) both.push_back(h);
        }
        if (!both.empty()) return both;
        a.insert(a.end(), b.begin(), b.end());
        return a;
    }
    void compute(int p, TaskContext& tc, FunctionRef<void(Out&&)> out) override {
        const int n = right_->num_partitions();
        std::vector<U> second;
        right_->iterator(p % n, tc, [&](U&& y) { second.push_back(std::move(y)); });
        left_->iterator(p / n, tc, [&](T&& x) {
            for (const U& y : second) out(Out(x, y));
        });
    }

private:
    std::shared_ptr<RddNode<T>> left_;
    std::shared_ptr<RddNode<U>> right_;
};

}  // namespace ember::scheduler
