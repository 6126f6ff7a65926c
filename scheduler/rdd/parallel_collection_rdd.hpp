// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ParallelCollectionRdd: a driver-side vector cut into slices (Spark's ParallelCollectionRDD).

#include "scheduler/closure.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/registry.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace ember::scheduler {

namespace detail {
/// Records a slice carries as fixed-width native bytes instead of their Serde encoding:
/// integers and floating point (not bool, whose other byte values are not valid), and pairs of
/// these. Every byte pattern of such a record is a valid value, so a slice of them needs no
/// per-field validation beyond its length.
template <class T>
struct FixedWidthRecord : std::bool_constant<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>> {
    static constexpr std::size_t width = sizeof(T);
    static void put(Encoder& e, const T& v) { e.put_raw(v); }
    static T get(const char* from) noexcept {
        T v;
        std::memcpy(&v, from, sizeof(T));
        return v;
    }
};
template <class A, class B>
struct FixedWidthRecord<std::pair<A, B>>
    : std::bool_constant<FixedWidthRecord<A>::value && FixedWidthRecord<B>::value> {
    static constexpr std::size_t width = FixedWidthRecord<A>::width + FixedWidthRecord<B>::width;
    static void put(Encoder& e, const std::pair<A, B>& v) {
        FixedWidthRecord<A>::put(e, v.first);
        FixedWidthRecord<B>::put(e, v.second);
    }
    static std::pair<A, B> get(const char* from) noexcept {
        return {FixedWidthRecord<A>::get(from), FixedWidthRecord<B>::get(from + FixedWidthRecord<A>::width)};
    }
};
}  // namespace detail

/// Partition i holds slice i; slices are cut as Spark does ([i*n/s, (i+1)*n/s)). As in Spark
/// (ParallelCollectionPartition), slice i travels with each task that computes partition i
/// (TaskDescription::partition_data), not in the stage binary: an executor receives the slices
/// of the tasks it runs, and the largest task is about one slice, not the whole collection.
/// Threading: immutable after construction; compute() runs concurrently for different partitions.
template <class T>
class ParallelCollectionRdd final : public RddNode<T> {
    static_assert(Serializable<T>, "ember: parallelize() needs a record type with a Serde (see storage/serializer.hpp)");

public:
    ParallelCollectionRdd(int id, std::vector<std::vector<T>> slices)
        : RddNode<T>(id, static_cast<int>(slices.size())), slices_(std::move(slices)) {}

    std::string_view kind() const override { return "ParallelCollectionRDD"; }
    const char* type_key() const override { return rdd_type_key<ParallelCollectionRdd>(); }
    /// Nothing: the slices go with the tasks (write_partition_data).
    void encode_params(Encoder&) const override {}
    static std::shared_ptr<RddBase> decode(LineageDecoder&, Decoder&, int id, int parts) {
        return std::shared_ptr<ParallelCollectionRdd>(new ParallelCollectionRdd(id, parts));
    }
    /// A slice of fixed-width records (detail::FixedWidthRecord: numbers and pairs of numbers)
    /// goes as its count and then each record's native bytes, field by field, which the executor
    /// reads back with no per-byte decoding (callgrind: PageRank's (int, int) edges cost 60
    /// instructions a record to encode and 106 to decode as varints). Other records go with their
    /// Serde. Both ends are the same build, so the format is private to it.
    bool write_partition_data(int p, Encoder& e) const override {
        if (from_tasks_) return false;  // an executor's copy holds no slices
        const auto& slice = slices_.at(static_cast<std::size_t>(p));
        if constexpr (detail::FixedWidthRecord<T>::value) {
            using F = detail::FixedWidthRecord<T>;
            e.put_varint(slice.size());
            e.reserve(e.size() + slice.size() * F::width);
            for (const T& record : slice) F::put(e, record);
        } else {
            e.write(slice);
        }
        return true;
    }

    /// Slice p: the driver's own, or, on an executor, the one the task carries (a task that
    /// carries none fails with an error naming the RDD and partition; malformed bytes are a
    /// DecodeError).
    void compute(int p, TaskContext& tc, FunctionRef<void(T&&)> out) override {
        if (!from_tasks_) {
            for (const T& v : slices_.at(static_cast<std::size_t>(p))) {
                tc.kill_if_interrupted();
                ++tc.metrics().input_records_read;
                T copy = v;
                out(std::move(copy));
            }
            return;
        }
        auto bytes = tc.partition_data(this->id(), p);
        if (!bytes) {
            throw std::runtime_error(fmt::format("the task carries no slice for partition {} of ParallelCollectionRDD {}",
                                                 p, this->id()));
        }
        Decoder d(*bytes);
        const std::uint64_t n = d.get_varint();  // the count, then the records (write_partition_data)
        if constexpr (detail::FixedWidthRecord<T>::value) {
            using F = detail::FixedWidthRecord<T>;
            if (n > d.remaining() / F::width || n * F::width != d.remaining()) {
                throw DecodeError(fmt::format("a slice of {} records of {} bytes does not fit the task's {} bytes of "
                                              "partition data for ParallelCollectionRDD {}",
                                              n, F::width, d.remaining(), this->id()));
            }
            const char* at = bytes->data() + (bytes->size() - d.remaining());
            for (std::uint64_t i = 0; i < n; ++i, at += F::width) {
                tc.kill_if_interrupted();
                ++tc.metrics().input_records_read;
                out(F::get(at));
            }
            return;
        }
        if (n > d.remaining()) throw TruncatedInput("slice length exceeds the task's partition data");
        for (std::uint64_t i = 0; i < n; ++i) {
            tc.kill_if_interrupted();
            ++tc.metrics().input_records_read;
            out(d.read<T>());
        }
        if (!d.done()) throw DecodeError("trailing bytes after a slice in the task's partition data");
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
    /// An executor's copy, rebuilt from a stage binary: `parts` partitions, slices from tasks.
    ParallelCollectionRdd(int id, int parts) : RddNode<T>(id, parts), from_tasks_(true) {}

    std::vector<std::vector<T>> slices_;
    bool from_tasks_ = false;
    std::vector<std::vector<std::string>> locations_;
};

}  // namespace ember::scheduler
