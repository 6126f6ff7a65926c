// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// EmptyRdd: an RDD with no partitions (Spark's EmptyRDD, SparkContext.emptyRDD).

#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/registry.hpp"

namespace ember::scheduler {

/// No partitions, so an action on it submits a job with no tasks, which ends at once.
/// Threading: immutable.
template <class T>
class EmptyRdd final : public RddNode<T> {
public:
    explicit EmptyRdd(int id) : RddNode<T>(id, 0) {}
    std::string_view kind() const override { return "EmptyRDD"; }
    const char* type_key() const override { return rdd_type_key<EmptyRdd>(); }
    void encode_params(Encoder&) const override {}
    static std::shared_ptr<RddBase> decode(LineageDecoder&, Decoder&, int id, int) {
        return std::make_shared<EmptyRdd>(id);
    }
    void compute(int, TaskContext&, FunctionRef<void(T&&)>) override {}
};

}  // namespace ember::scheduler
