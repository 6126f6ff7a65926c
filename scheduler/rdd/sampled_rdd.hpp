// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// SampledRdd: a random sample of each partition (Spark's PartitionwiseSampledRDD with a
/// BernoulliSampler or PoissonSampler, behind RDD.sample).

#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/registry.hpp"

#include <cmath>
#include <cstdint>
#include <random>

namespace ember::scheduler {

/// Partition p keeps each record of the parent's partition p with probability `fraction`
/// (Bernoulli, without replacement), or emits it k times with k ~ Poisson(fraction) (with
/// replacement). The generator of partition p is seeded from seed + p, as Spark's, so a sample
/// is the same every time it is computed (task retries, recomputation) for one seed.
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class T>
class SampledRdd final : public RddNode<T> {
public:
    SampledRdd(int id, std::shared_ptr<RddNode<T>> parent, bool with_replacement, double fraction,
               std::uint64_t seed)
        : RddNode<T>(id, parent->num_partitions()),
          parent_(std::move(parent)),
          with_replacement_(with_replacement),
          fraction_(fraction),
          seed_(seed) {
        this->narrow_.push_back(NarrowDependency{parent_});
    }
    std::string_view kind() const override { return "PartitionwiseSampledRDD"; }
    const char* type_key() const override { return rdd_type_key<SampledRdd>(); }
    void encode_params(Encoder& e) const override {
        e.write(with_replacement_);
        e.write(fraction_);
        e.write(seed_);
    }
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder& d, int id, int) {
        bool with_replacement = d.read<bool>();
        double fraction = d.read<double>();
        auto seed = d.read<std::uint64_t>();
        return std::make_shared<SampledRdd>(id, ctx.parent<T>(0), with_replacement, fraction, seed);
    }

    void compute(int p, TaskContext& tc, FunctionRef<void(T&&)> out) override {
        std::mt19937_64 rng(mix(seed_ + static_cast<std::uint64_t>(p)));
        if (with_replacement_) {
            std::poisson_distribution<int> poisson(fraction_);
            parent_->iterator(p, tc, [&](T&& x) {
                int k = fraction_ > 0 ? poisson(rng) : 0;
                for (int i = 1; i < k; ++i) out(T(x));
                if (k > 0) out(std::move(x));
            });
            return;
        }
        parent_->iterator(p, tc, [&](T&& x) {
            // 53 random bits as a double in [0, 1).
            double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
            if (u < fraction_) out(std::move(x));
        });
    }

private:
    /// splitmix64's finaliser: neighbouring seeds give unrelated generator states.
    static std::uint64_t mix(std::uint64_t z) {
        z += 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    std::shared_ptr<RddNode<T>> parent_;
    bool with_replacement_;
    double fraction_;
    std::uint64_t seed_;
};

}  // namespace ember::scheduler
