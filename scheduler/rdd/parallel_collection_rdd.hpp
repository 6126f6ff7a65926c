// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ParallelCollectionRdd: a driver-side vector cut into slices (Spark's ParallelCollectionRDD).

#include "scheduler/closure.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/registry.hpp"

#include <string>
#include <vector>

namespace ember::scheduler {

/// Partition i holds slice i; slices are cut as Spark does ([i*n/s, (i+1)*n/s)). The data
/// travel with the stage binary, so keep them small.
template <class T>
class ParallelCollectionRdd final : public RddNode<T> {
    static_assert(Serializable<T>, "ember: parallelize() needs a record type with a Serde (see storage/serializer.hpp)");

public:
    ParallelCollectionRdd(int id, std::vector<std::vector<T>> slices)
        : RddNode<T>(id, static_cast<int>(slices.size())), slices_(std::move(slices)) {}

    std::string_view kind() const override { return "ParallelCollectionRDD"; }
    const char* type_key() const override { return rdd_type_key<ParallelCollectionRdd>(); }
    void encode_params(Encoder& e) const override {
        if (ember::detail::closure_scan_active()) return;  // records only: no closure to check
        e.write(slices_);
    }
    static std::shared_ptr<RddBase> decode(LineageDecoder&, Decoder& d, int id, int) {
        return std::make_shared<ParallelCollectionRdd>(id, d.read<std::vector<std::vector<T>>>());
    }

    void compute(int p, TaskContext& tc, FunctionRef<void(T&&)> out) override {
        for (const T& v : slices_.at(static_cast<std::size_t>(p))) {
            tc.kill_if_interrupted();
            ++tc.metrics().input_records_read;
            T copy = v;
            out(std::move(copy));
        }
    }

    /// Preferred locations per slice (SparkContext::make_rdd). Driver-side only: they are not
    /// part of the stage binary.
    void set_locations(std::vector<std::vector<std::string>> locations) { locations_ = std::move(locations); }
    std::vector<std::string> preferred_locations(int p) const override {
        auto i = static_cast<std::size_t>(p);
        return i < locations_.size() ? locations_[i] : std::vector<std::string>{};
    }

    /// Cuts `data` into `n` slices.
    static std::vector<std::vector<T>> slice(std::vector<T> data, int n) {
        std::vector<std::vector<T>> out(static_cast<std::size_t>(std::max(n, 1)));
        std::size_t len = data.size();
        for (std::size_t i = 0; i < out.size(); ++i) {
            std::size_t start = i * len / out.size(), end = (i + 1) * len / out.size();
            out[i].assign(std::make_move_iterator(data.begin() + static_cast<std::ptrdiff_t>(start)),
                          std::make_move_iterator(data.begin() + static_cast<std::ptrdiff_t>(end)));
        }
        return out;
    }

private:
    std::vector<std::vector<T>> slices_;
    std::vector<std::vector<std::string>> locations_;
};

}  // namespace ember::scheduler
