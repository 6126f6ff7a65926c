// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// UnionRdd: the records of several RDDs of one type, without a shuffle (Spark's UnionRDD and
/// PartitionerAwareUnionRDD).

#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/registry.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ember::scheduler {

/// Two layouts, as Spark chooses in SparkContext.union:
/// - concatenated (UnionRDD): the parents' partitions one after another; partition p reads
///   partition p - offset(i) of parent i through a RangeDependency. Num partitions = the sum.
/// - partitioner-aware (PartitionerAwareUnionRDD), when every parent has the same partitioner:
///   partition p reads partition p of every parent (one OneToOne dependency per parent), so the
///   result keeps that partitioner and its partition count.
/// Neither moves records between processes: the union adds no stage.
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class T>
class UnionRdd final : public RddNode<T> {
public:
    UnionRdd(int id, std::vector<std::shared_ptr<RddNode<T>>> parents, bool partitioner_aware)
        : RddNode<T>(id, count(parents, partitioner_aware)),
          parents_(std::move(parents)),
          partitioner_aware_(partitioner_aware) {
        int offset = 0;
        for (auto& p : parents_) {
            if (partitioner_aware_) {
                this->narrow_.push_back(NarrowDependency{p});
            } else {
                this->narrow_.push_back(NarrowDependency{p, 0, offset, p->num_partitions()});
                offsets_.push_back(offset);
                offset += p->num_partitions();
            }
        }
        if (partitioner_aware_ && !parents_.empty()) this->partitioner_ = parents_.front()->partitioner();
    }

    std::string_view kind() const override {
        return partitioner_aware_ ? "PartitionerAwareUnionRDD" : "UnionRDD";
    }
    const char* type_key() const override { return rdd_type_key<UnionRdd>(); }
    void encode_params(Encoder& e) const override { e.write(partitioner_aware_); }
    static std::shared_ptr<RddBase> decode(LineageDecoder& ctx, Decoder& d, int id, int) {
        bool aware = d.read<bool>();
        std::vector<std::shared_ptr<RddNode<T>>> parents;
        for (std::size_t i = 0; i < ctx.parents().size(); ++i) parents.push_back(ctx.parent<T>(i));
        return std::make_shared<UnionRdd>(id, std::move(parents), aware);
    }

    /// Concatenated: the locations of the parent partition. Partitioner-aware: the locations
    /// most of the parents' partitions p prefer (Spark's PartitionerAwareUnionRDD).
    std::vector<std::string> preferred_locations(int p) const override {
        if (!partitioner_aware_) {
            auto [parent, q] = locate(p);
            return parents_[parent]->preferred_locations(q);
        }
        std::map<std::string, int> votes;
        for (auto& parent : parents_) {
            for (auto& host : parent->preferred_locations(p)) ++votes[host];
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
        if (partitioner_aware_) {
            for (auto& parent : parents_) parent->iterator(p, tc, out);
            return;
        }
        auto [parent, q] = locate(p);
        parents_[parent]->iterator(q, tc, out);
    }

private:
    static int count(const std::vector<std::shared_ptr<RddNode<T>>>& parents, bool aware) {
        if (aware) return parents.empty() ? 0 : parents.front()->num_partitions();
        int n = 0;
        for (auto& p : parents) n += p->num_partitions();
        return n;
    }

    /// (parent index, partition of that parent) of concatenated partition p.
    std::pair<std::size_t, int> locate(int p) const {
        // The last parent starting at or before p holds it (a parent without partitions shares
        // its offset with the next parent, which then comes later).
        auto it = std::upper_bound(offsets_.begin(), offsets_.end(), p);
        auto i = static_cast<std::size_t>(it - offsets_.begin()) - 1;
        return {i, p - offsets_[i]};
    }

    std::vector<std::shared_ptr<RddNode<T>>> parents_;
    std::vector<int> offsets_;  ///< first partition of each parent (concatenated layout)
    bool partitioner_aware_;
};

}  // namespace ember::scheduler
