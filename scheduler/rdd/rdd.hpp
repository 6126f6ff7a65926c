// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Rdd<T>: the user's handle on a distributed collection of T (Spark's RDD API, with
/// PairRDDFunctions for Rdd<std::pair<K, V>>).

#include "rpc/log.hpp"
#include "scheduler/closure.hpp"
#include "scheduler/rdd/actions.hpp"
#include "scheduler/rdd/cartesian_rdd.hpp"
#include "scheduler/rdd/co_grouped_rdd.hpp"
#include "scheduler/rdd/coalesced_rdd.hpp"
#include "scheduler/rdd/empty_rdd.hpp"
#include "scheduler/rdd/joined_rdd.hpp"
#include "scheduler/rdd/mapped_rdd.hpp"
#include "scheduler/rdd/mapped_values_rdd.hpp"
#include "scheduler/rdd/parallel_collection_rdd.hpp"
#include "scheduler/rdd/range_partitioner.hpp"
#include "scheduler/rdd/reliable_checkpoint_rdd.hpp"
#include "scheduler/rdd/sampled_rdd.hpp"
#include "scheduler/rdd/shuffled_rdd.hpp"
#include "scheduler/rdd/stat_counter.hpp"
#include "scheduler/rdd/union_rdd.hpp"
#include "scheduler/rdd/zipped_with_index_rdd.hpp"
#include "scheduler/spark_context.hpp"
#include "rpc/source_location.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

namespace ember {

namespace detail {

/// Records own their data: a function returning a view yields owning records.
template <class T>
struct Owned {
    using type = std::remove_cvref_t<T>;
};
template <>
struct Owned<std::string_view> {
    using type = std::string;
};
template <>
struct Owned<const char*> {
    using type = std::string;
};
template <class A, class B>
struct Owned<std::pair<A, B>> {
    using type = std::pair<typename Owned<std::remove_cvref_t<A>>::type, typename Owned<std::remove_cvref_t<B>>::type>;
};
template <class T>
using owned_t = typename Owned<std::remove_cvref_t<T>>::type;

template <class T>
struct IsPair : std::false_type {};
template <class A, class B>
struct IsPair<std::pair<A, B>> : std::true_type {};

/// `cmp` with its arguments swapped (top() is take_ordered() under the reverse order).
template <class Cmp>
struct Reversed {
    Cmp cmp;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
        return std::invoke(cmp, b, a);
    }
};

/// reduce()'s per-partition fold: an optional accumulator combined with f.
template <class T, class F>
struct ReduceSeq {
    F f;
    std::optional<T> operator()(std::optional<T> acc, T&& v) const {
        if (!acc) return std::optional<T>(std::move(v));
        return std::optional<T>(std::invoke(f, std::move(*acc), std::move(v)));
    }
};

/// distinct()'s value: nothing (Spark maps x to (x, null)); encodes to no bytes.
struct Null {
    bool operator==(const Null&) const = default;
};
/// x -> (x, Null).
template <class T>
struct PairWithNull {
    std::pair<T, Null> operator()(T&& x) const { return {std::move(x), Null{}}; }
};
/// (x, _) -> x.
struct FirstOf {
    template <class A, class B>
    A operator()(std::pair<A, B>&& p) const {
        return std::move(p.first);
    }
};
/// (_, x) -> x.
struct SecondOf {
    template <class A, class B>
    B operator()(std::pair<A, B>&& p) const {
        return std::move(p.second);
    }
};
/// v -> 1 (count_by_key).
struct One {
    template <class V>
    std::uint64_t operator()(V&&) const {
        return 1;
    }
};
/// a + b of counts.
struct AddCounts {
    std::uint64_t operator()(std::uint64_t a, std::uint64_t b) const { return a + b; }
};
/// acc + double(x) (sum's per-partition fold, Spark's fold(0.0)(_ + _)).
struct AddAsDouble {
    template <class X>
    double operator()(double acc, X&& x) const {
        return acc + static_cast<double>(x);
    }
};
/// A seed for sample() when none is given (Spark: Utils.random.nextLong).
inline std::uint64_t random_seed() {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}
/// reduce_by_key's function keeping the first value.
struct KeepFirst {
    template <class A>
    A operator()(A&& a, A&&) const {
        return std::move(a);
    }
};
/// The distinct records of one partition, in first-seen order.
template <class T>
struct DistinctInPartition {
    std::vector<T> operator()(std::vector<T>&& part) const {
        std::unordered_set<T, shuffle::StableHash> seen;
        std::vector<T> out;
        for (auto& x : part) {
            if (seen.insert(x).second) out.push_back(std::move(x));
        }
        return out;
    }
};

}  // namespace detail

template <>
struct Serde<detail::Null> {
    static void write(Encoder&, const detail::Null&) {}
    static detail::Null read(Decoder&) { return {}; }
};

template <class Cmp>
struct ClosureCodec<detail::Reversed<Cmp>> {
    static void encode(Encoder& e, const detail::Reversed<Cmp>& r) { ClosureCodec<Cmp>::encode(e, r.cmp); }
    static detail::Reversed<Cmp> decode(Decoder& d) { return {ClosureCodec<Cmp>::decode(d)}; }
};
template <class T, class F>
struct ClosureCodec<detail::ReduceSeq<T, F>> {
    static void encode(Encoder& e, const detail::ReduceSeq<T, F>& r) { ClosureCodec<F>::encode(e, r.f); }
    static detail::ReduceSeq<T, F> decode(Decoder& d) { return {ClosureCodec<F>::decode(d)}; }
};

/// An immutable, partitioned collection of T, computed lazily on executors.
///
/// Transformations build lineage and run nothing: narrow ones (map, flat_map, filter,
/// map_partitions, union_with, sample, coalesce, cartesian, map_values, flat_map_values, keys,
/// values) run in the task of their parent; shuffles (distinct, repartition, reduce_by_key,
/// group_by_key, combine_by_key, aggregate_by_key, fold_by_key, cogroup and the joins,
/// sort_by_key) start a new stage. The exceptions are sort_by_key and zip_with_index, which run
/// a job at once, as Spark's do. Actions (collect, count, save_as_text_file, aggregate, reduce,
/// take_ordered, top, take, first, foreach, foreach_partition, count_by_key, count_by_value,
/// lookup, sum, mean, stats) run jobs and block until they end, throwing SparkException if one
/// fails (SparkException::cause() says which task failure aborted it). checkpoint() writes the
/// RDD to SparkContext::set_checkpoint_dir after its next job and truncates its lineage.
/// Functions are ordinary
/// lambdas; see scheduler/closure.hpp for what they may capture. Records need a Serde
/// (serializer.hpp); shuffled keys also a stable_hash (shuffle/partitioner.hpp) and operator==.
///
/// Threading: a cheap, copyable handle; safe to use from several threads.
template <class T>
class Rdd {
public:
    using value_type = T;
    using Loc = SourceLocation;

    Rdd(SparkContext* sc, std::shared_ptr<scheduler::RddNode<T>> node) : sc_(sc), node_(std::move(node)) {}

    int id() const { return node_->id(); }
    int num_partitions() const { return node_->num_partitions(); }
    SparkContext& context() const { return *sc_; }
    const std::shared_ptr<scheduler::RddNode<T>>& node() const { return node_; }
    /// Names this RDD in stage names and logs.
    Rdd& set_name(std::string name) {
        node_->set_name(std::move(name));
        return *this;
    }

    // -- persistence (Spark's persist / cache / unpersist) -------------------------------------

    /// Keeps each partition, once a job computed it, in the BlockManager of the executor that
    /// computed it, as block `rdd_<id>_<partition>` at `level`; later jobs read it from there
    /// (from another executor over TCP if needed) instead of recomputing it, and skip the
    /// shuffle map stages only it depended on. ember stores every level *serialized* (the
    /// records' Serde encoding): `deserialized` is only reported. A memory-only partition larger
    /// than the executor's MemoryStore (ember.storage.memoryCapacity) is computed but not cached;
    /// a cached block lost with its executor, or evicted, is recomputed when next needed.
    /// Replicated levels (`MEMORY_ONLY_2`, `DISK_ONLY_2`, ..., replication N) also copy each block
    /// to N-1 other executors before the task ends, so the block survives the loss of all but one
    /// of them (see storage/block_manager.hpp; ember.storage.replication.proactive re-replicates).
    /// Returns this handle. Throws ContractViolation if a different level was already set
    /// (Spark: "Cannot change storage level of an RDD after it was already assigned a level").
    /// Threading: thread-safe; takes effect for jobs submitted afterwards.
    Rdd<T> persist(storage::StorageLevel level) const {
        static_assert(Serializable<T>, "ember: persist()/cache() need records with a Serde (serializer.hpp)");
        auto current = node_->storage_level();
        EMBER_REQUIRE(current.is_none() || current == level,
                      "Cannot change storage level of an RDD after it was already assigned a level");
        EMBER_REQUIRE(level.is_none() || level.is_valid(), "persist: invalid storage level {}", level.to_string());
        node_->set_storage_level(level);
        if (level.is_valid()) sc_->register_persistent_rdd(node_);
        return *this;
    }
    /// persist(StorageLevel::memory_only()) (Spark's cache(); stored serialized, see persist).
    Rdd<T> cache() const { return persist(storage::StorageLevel::memory_only()); }
    /// Marks the RDD as not persistent and removes its blocks from every executor; waits until
    /// they are removed when `blocking`. Later jobs recompute it. Throws SparkException if
    /// `blocking` and the removal cannot be confirmed. Threading: thread-safe.
    Rdd<T> unpersist(bool blocking = false) const {
        sc_->unpersist_rdd(node_->id(), blocking);
        node_->set_storage_level(storage::StorageLevel::none());
        return *this;
    }
    /// The level set by persist(), none() if not persisted (Spark's getStorageLevel).
    storage::StorageLevel storage_level() const { return node_->storage_level(); }

    // -- transformations -----------------------------------------------------------------------

    /// f(T) -> U for every record.
    template <class F>
    auto map(F f, Loc loc = Loc::current()) const {
        using U = detail::owned_t<std::invoke_result_t<F&, T&&>>;
        return make<scheduler::MappedRdd<T, U, F>>(SparkContext::call_site("map", loc), node_, std::move(f));
    }
    /// Every element of the range f(T) (a vector, or views into the record).
    template <class F>
    auto flat_map(F f, Loc loc = Loc::current()) const {
        using R = std::invoke_result_t<F&, const T&>;
        using U = detail::owned_t<std::ranges::range_value_t<std::remove_cvref_t<R>>>;
        return make<scheduler::FlatMappedRdd<T, U, F>>(SparkContext::call_site("flatMap", loc), node_, std::move(f));
    }
    /// The records for which f(T) is true.
    template <class F>
    Rdd<T> filter(F f, Loc loc = Loc::current()) const {
        return make<scheduler::FilteredRdd<T, F>>(SparkContext::call_site("filter", loc), node_, std::move(f));
    }

    /// f(std::vector<T>&& partition) -> a range of U, once per partition, empty ones included
    /// (Spark's mapPartitions): Rdd<U> with the same partitions, where U is the range's element
    /// type (views such as string_view become owning records, as in flat_map).
    ///
    /// Narrow: runs in the task of its parent, so it adds no stage. Spark streams a partition
    /// through an iterator; records here are pushed from node to node, so the partition is first
    /// collected into a vector, which f may consume (move from it, return it) or view: a result
    /// that refers into the vector is valid when f takes it by reference (`std::vector<T>&&`), not
    /// by value. f runs on executors (see closure.hpp for what it may capture); an exception it
    /// throws fails the task. `preserves_partitioning` (Spark's preservesPartitioning) keeps this
    /// RDD's partitioner, for f that does not change keys.
    /// Threading: thread-safe, as every transformation here (it only builds lineage; sort_by_key
    /// also runs jobs, which SparkContext serves from any thread).
    template <class F>
    auto map_partitions(F f, bool preserves_partitioning = false, Loc loc = Loc::current()) const {
        static_assert(std::is_invocable_v<F&, std::vector<T>&&>,
                      "ember: map_partitions(f) needs f(std::vector<T>&& partition) returning a range");
        using R = std::invoke_result_t<F&, std::vector<T>&&>;
        using U = detail::owned_t<std::ranges::range_value_t<std::remove_cvref_t<R>>>;
        return make<scheduler::MapPartitionsRdd<T, U, F, false>>(SparkContext::call_site("mapPartitions", loc), node_,
                                                                 std::move(f), preserves_partitioning);
    }
    /// As map_partitions, with f(int partition_index, std::vector<T>&& partition) (Spark's
    /// mapPartitionsWithIndex). Threading: thread-safe.
    template <class F>
    auto map_partitions_with_index(F f, bool preserves_partitioning = false, Loc loc = Loc::current()) const {
        static_assert(std::is_invocable_v<F&, int, std::vector<T>&&>,
                      "ember: map_partitions_with_index(f) needs f(int index, std::vector<T>&& partition) "
                      "returning a range");
        using R = std::invoke_result_t<F&, int, std::vector<T>&&>;
        using U = detail::owned_t<std::ranges::range_value_t<std::remove_cvref_t<R>>>;
        return make<scheduler::MapPartitionsRdd<T, U, F, true>>(SparkContext::call_site("mapPartitionsWithIndex", loc),
                                                                node_, std::move(f), preserves_partitioning);
    }

    /// The records of this RDD, then those of `other` (Spark's union; duplicates are kept).
    ///
    /// Narrow, no shuffle and no new stage: normally a UnionRDD whose partitions are this RDD's
    /// followed by other's (RangeDependencies), so num_partitions() is the sum and collect()
    /// returns this->collect() followed by other.collect(). When both are partitioned by equal
    /// partitioners (e.g. two reduce_by_key results with one partition count), Spark's
    /// PartitionerAwareUnionRDD: partition p is partition p of both, the partition count and the
    /// partitioner stay. Throws ContractViolation if `other` belongs to another SparkContext.
    /// Threading: thread-safe.
    Rdd<T> union_with(const Rdd<T>& other, Loc loc = Loc::current()) const {
        EMBER_REQUIRE(other.sc_ == sc_, "union_with: both RDDs must belong to the same SparkContext");
        bool aware = node_->partitioner() && node_->partitioner() == other.node_->partitioner();
        return make<scheduler::UnionRdd<T>>(SparkContext::call_site("union", loc),
                                            std::vector<std::shared_ptr<scheduler::RddNode<T>>>{node_, other.node_},
                                            aware);
    }

    /// Each distinct record once, in num_partitions partitions (default: this RDD's count) in no
    /// particular order (Spark's distinct). Records need a Serde, operator== and a hash
    /// (shuffle::stable_hash: strings, numbers, pairs, or any serialisable value).
    ///
    /// As Spark: map(x -> (x, null)).reduce_by_key(keep first).map(x -> x._1), so one shuffle
    /// (a ShuffleMapStage, with map-side combine) and records are hashed to partitions. If this
    /// RDD already has a partitioner and num_partitions is its partition count, equal records are
    /// in the same partition already: each partition drops its duplicates, no shuffle (as Spark
    /// does since SPARK-21436). Threading: thread-safe.
    Rdd<T> distinct(int num_partitions = 0, Loc loc = Loc::current()) const {
        std::string name = SparkContext::call_site("distinct", loc);
        int n = num_partitions > 0 ? num_partitions : this->num_partitions();
        if (node_->partitioner() && n == this->num_partitions()) {
            return make<scheduler::MapPartitionsRdd<T, T, detail::DistinctInPartition<T>, false>>(
                std::move(name), node_, detail::DistinctInPartition<T>{}, true);
        }
        auto pairs = make<scheduler::MappedRdd<T, std::pair<T, detail::Null>, detail::PairWithNull<T>>>(
            name, node_, detail::PairWithNull<T>{});
        auto reduced = pairs.template shuffled<T, detail::Null>(
            scheduler::ReduceAggregator<detail::Null, detail::KeepFirst>{}, shuffle::HashPartitioner{n}, name);
        using Reduced = typename decltype(reduced)::value_type;
        return reduced.template make<scheduler::MappedRdd<Reduced, T, detail::FirstOf>>(std::move(name), reduced.node_,
                                                                                         detail::FirstOf{});
    }

    /// For Rdd<pair<K, V>>: one (K, V) per key, merging values with f (associative and
    /// commutative), combined on the map side before the shuffle (Spark's reduceByKey).
    /// `num_partitions` defaults to Spark's defaultPartitioner: this RDD's partitioner if it has
    /// one, else ember.default.parallelism, else this RDD's partition count. One shuffle, unless
    /// this RDD is already hash-partitioned into that many partitions: then each partition is
    /// reduced where it is (narrow, no new stage), as Spark's combineByKey does.
    /// Threading: thread-safe.
    template <class F>
        requires detail::IsPair<T>::value
    auto reduce_by_key(F f, int num_partitions = 0, Loc loc = Loc::current()) const {
        using K = typename T::first_type;
        using V = typename T::second_type;
        return shuffled<K, V>(scheduler::ReduceAggregator<V, F>{std::move(f)}, partitioner_for(num_partitions, {}),
                              SparkContext::call_site("reduceByKey", loc));
    }
    /// For Rdd<pair<K, V>>: one (K, vector<V>) per key, values in no particular order (no map-side
    /// combine; Spark's groupByKey). Partitions and shuffle as reduce_by_key.
    /// Threading: thread-safe.
    auto group_by_key(int num_partitions = 0, Loc loc = Loc::current()) const
        requires detail::IsPair<T>::value
    {
        using K = typename T::first_type;
        using V = typename T::second_type;
        return shuffled<K, V>(scheduler::GroupAggregator<V>{}, partitioner_for(num_partitions, {}),
                              SparkContext::call_site("groupByKey", loc));
    }

    /// For Rdd<pair<K, V>> and Rdd<pair<K, W>>: for every key in either,
    /// (K, (values of K here, values of K in other)), a side without the key giving an empty
    /// vector (Spark's cogroup). Value order is unspecified. Keys need a Serde, operator== and
    /// a stable_hash; both RDDs must have the same key type.
    ///
    /// Partitioner: HashPartitioner(num_partitions) if given, else Spark's defaultPartitioner:
    /// the partitioner of the parent with the most partitions among those that have one (if its
    /// partition count is within 10x of the largest parent's, or at least the default), else
    /// HashPartitioner(ember.default.parallelism, else the largest parent's partition count).
    /// Stages, as Spark's CoGroupedRDD: a parent partitioned by an equal partitioner is read
    /// through a narrow OneToOne dependency; every other parent is shuffled (a ShuffleMapStage
    /// each), so cogrouping two unpartitioned RDDs runs two ShuffleMapStages and the result stage.
    /// Throws ContractViolation if `other` belongs to another SparkContext.
    /// Threading: thread-safe.
    template <class K2, class W>
        requires detail::IsPair<T>::value
    auto cogroup(const Rdd<std::pair<K2, W>>& other, int num_partitions = 0, Loc loc = Loc::current()) const {
        return cogrouped(other, num_partitions, SparkContext::call_site("cogroup", loc));
    }

    /// For Rdd<pair<K, V>> and Rdd<pair<K, W>>: (K, (v, w)) for every pair of values with equal
    /// keys (inner join; Spark's join): a key with m values here and n in other yields m x n
    /// records, a key on one side only none. Partitioner, stages and errors as cogroup (the join
    /// is cogroup followed by a narrow flat map, which keeps the partitioner): joining two
    /// unpartitioned RDDs runs two ShuffleMapStages and the result stage; joining two RDDs
    /// partitioned alike shuffles neither. Threading: thread-safe.
    template <class K2, class W>
        requires detail::IsPair<T>::value
    auto join(const Rdd<std::pair<K2, W>>& other, int num_partitions = 0, Loc loc = Loc::current()) const {
        return joined<scheduler::JoinType::inner>(other, num_partitions, SparkContext::call_site("join", loc));
    }
    /// As join, and (K, (v, nullopt)) for each value v of a key that other lacks (Spark's
    /// leftOuterJoin): Rdd<pair<K, pair<V, optional<W>>>>. Threading: thread-safe.
    template <class K2, class W>
        requires detail::IsPair<T>::value
    auto left_outer_join(const Rdd<std::pair<K2, W>>& other, int num_partitions = 0, Loc loc = Loc::current()) const {
        return joined<scheduler::JoinType::left_outer>(other, num_partitions,
                                                       SparkContext::call_site("leftOuterJoin", loc));
    }
    /// As join, and (K, (nullopt, w)) for each value w of a key this RDD lacks (Spark's
    /// rightOuterJoin): Rdd<pair<K, pair<optional<V>, W>>>. Threading: thread-safe.
    template <class K2, class W>
        requires detail::IsPair<T>::value
    auto right_outer_join(const Rdd<std::pair<K2, W>>& other, int num_partitions = 0, Loc loc = Loc::current()) const {
        return joined<scheduler::JoinType::right_outer>(other, num_partitions,
                                                        SparkContext::call_site("rightOuterJoin", loc));
    }
    /// Left and right outer join together (Spark's fullOuterJoin):
    /// Rdd<pair<K, pair<optional<V>, optional<W>>>>. Threading: thread-safe.
    template <class K2, class W>
        requires detail::IsPair<T>::value
    auto full_outer_join(const Rdd<std::pair<K2, W>>& other, int num_partitions = 0, Loc loc = Loc::current()) const {
        return joined<scheduler::JoinType::full_outer>(other, num_partitions,
                                                       SparkContext::call_site("fullOuterJoin", loc));
    }

    /// For Rdd<pair<K, V>>: the same records sorted by key under `cmp` (default operator<),
    /// ascending or descending, so that collect() is globally sorted; records with equal keys
    /// come in unspecified order (Spark's sortByKey). Keys need a Serde and `cmp`, a strict weak
    /// order that travels to executors like any function (closure.hpp).
    ///
    /// As Spark, this is not lazy: it runs a sampling job at once (see sample_range_partitioner
    /// in range_partitioner.hpp: a reservoir sample of about 60 keys per output partition, plus a
    /// second job re-sampling skewed input partitions) to choose key ranges for a
    /// RangePartitioner, then returns a ShuffledRDD whose tasks each sort one range. An action
    /// on it runs one ShuffleMapStage and the result stage. `num_partitions` defaults to this
    /// RDD's partition count; the result has at most that many partitions (fewer if the sample
    /// has fewer distinct keys; one when num_partitions is 1, which runs no sampling job, or when
    /// the RDD is empty). Blocks while sampling; throws SparkException if a sampling job fails.
    /// The result reports no partitioner (range partitioning is not hash partitioning).
    /// Threading: thread-safe; the calling thread blocks while the sampling jobs run.
    template <class Cmp = std::less<>>
        requires detail::IsPair<T>::value
    auto sort_by_key(bool ascending = true, int num_partitions = 0, Cmp cmp = {}, Loc loc = Loc::current()) const {
        using K = typename T::first_type;
        using V = typename T::second_type;
        std::string name = SparkContext::call_site("sortByKey", loc);
        int n = num_partitions > 0 ? num_partitions : this->num_partitions();
        auto part = scheduler::sample_range_partitioner<K, V>(*sc_, node_, n, ascending, cmp, name);
        int parts = scheduler::partition_count(part);
        using Dep = scheduler::ShuffleDependency<K, V, scheduler::NoAggregator<V>, scheduler::RangePartitioner<K, Cmp>>;
        auto dep = std::make_shared<Dep>(sc_->new_shuffle_id(), node_, std::move(part), scheduler::NoAggregator<V>{});
        sc_->track_shuffle(*dep);
        return make<scheduler::SortedShuffledRdd<K, V, Cmp>>(std::move(name), dep->shuffle_id(), parts, ascending,
                                                             std::move(cmp), dep);
    }

    /// A random sample of each partition (Spark's sample): without replacement each record is
    /// kept with probability `fraction` (in [0, 1]; Bernoulli sampling); with replacement it is
    /// emitted k times, k ~ Poisson(fraction) (fraction >= 0 is the expected number of copies).
    /// The sample size is therefore only about fraction x count. Partition p's generator is
    /// seeded from seed + p, as in Spark, so one seed gives the same sample every time it is
    /// computed. Narrow. Throws ContractViolation for a negative fraction ("Negative fraction
    /// value: ...") or, without replacement, one above 1. Threading: thread-safe.
    Rdd<T> sample(bool with_replacement, double fraction, std::uint64_t seed = detail::random_seed(),
                  Loc loc = Loc::current()) const {
        EMBER_REQUIRE(fraction >= 0, "Negative fraction value: {}", fraction);
        EMBER_REQUIRE(with_replacement || fraction <= 1,
                      "Sampling fraction ({}) must be on interval [0, 1] without replacement", fraction);
        return make<scheduler::SampledRdd<T>>(SparkContext::call_site("sample", loc), node_, with_replacement,
                                              fraction, seed);
    }

    /// At most `num_partitions` partitions (Spark's coalesce). Without `shuffle`, a narrow
    /// CoalescedRDD: output partition i reads a contiguous range of about equal numbers of this
    /// RDD's partitions in the same task (no stage is added, and asking for more partitions than
    /// there are keeps the count). With `shuffle`, as repartition: a shuffle to exactly
    /// num_partitions partitions. Throws ContractViolation unless num_partitions > 0 (Spark:
    /// "Number of partitions (n) must be positive."). Threading: thread-safe.
    Rdd<T> coalesce(int num_partitions, bool shuffle = false, Loc loc = Loc::current()) const {
        EMBER_REQUIRE(num_partitions > 0, "Number of partitions ({}) must be positive.", num_partitions);
        std::string name = SparkContext::call_site(shuffle ? "repartition" : "coalesce", loc);
        if (!shuffle) {
            return make<scheduler::CoalescedRdd<T>>(
                std::move(name), node_,
                scheduler::CoalescedRdd<T>::contiguous_groups(this->num_partitions(), num_partitions));
        }
        // Spark: each partition's records get consecutive positions from a start drawn from the
        // partition index, and the shuffle sends position k to partition k mod n.
        using Distribute = scheduler::DistributePartition<T>;
        auto positioned = make<scheduler::MapPartitionsRdd<T, std::pair<int, T>, Distribute, true>>(
            name, node_, Distribute{num_partitions}, false);
        using Dep = scheduler::ShuffleDependency<int, T, scheduler::NoAggregator<T>, scheduler::PositionPartitioner>;
        auto dep = std::make_shared<Dep>(sc_->new_shuffle_id(), positioned.node_,
                                         scheduler::PositionPartitioner{num_partitions}, scheduler::NoAggregator<T>{});
        sc_->track_shuffle(*dep);
        return make<scheduler::ShuffledValuesRdd<int, T>>(std::move(name), dep->shuffle_id(), num_partitions, dep);
    }
    /// Exactly `num_partitions` partitions, records spread evenly by a shuffle
    /// (Spark's repartition = coalesce(num_partitions, shuffle = true)). Threading: thread-safe.
    Rdd<T> repartition(int num_partitions, Loc loc = Loc::current()) const { return coalesce(num_partitions, true, loc); }

    /// Each record with its index in the RDD's order, (T, 0) for the first record of partition 0
    /// (Spark's zipWithIndex). Not lazy, as in Spark: unless the RDD has at most one partition,
    /// it runs a job at once counting the records of every partition but the last, to know
    /// where each partition's indices start; the result is narrow. The RDD must compute the same
    /// records in the same order every time (persist it otherwise). Throws SparkException if
    /// the counting job fails. Threading: thread-safe; blocks while the counting job runs.
    Rdd<std::pair<T, std::uint64_t>> zip_with_index(Loc loc = Loc::current()) const {
        std::string name = SparkContext::call_site("zipWithIndex", loc);
        const int n = num_partitions();
        std::vector<std::uint64_t> starts(static_cast<std::size_t>(std::max(n, 0)), 0);
        if (n > 1) {
            std::vector<int> parts;
            for (int i = 0; i < n - 1; ++i) parts.push_back(i);
            std::vector<std::uint64_t> counts(static_cast<std::size_t>(n - 1), 0);
            run_on(std::make_shared<scheduler::CountFn<T>>(), std::move(parts), name,
                   [&](int i, std::string_view bytes) { counts[static_cast<std::size_t>(i)] = decode<std::uint64_t>(bytes); });
            for (int i = 1; i < n; ++i) {
                starts[static_cast<std::size_t>(i)] = starts[static_cast<std::size_t>(i - 1)] + counts[static_cast<std::size_t>(i - 1)];
            }
        }
        return make<scheduler::ZippedWithIndexRdd<T>>(std::move(name), node_, std::move(starts));
    }

    /// Every (a, b) with a in this RDD and b in `other` (Spark's cartesian): a CartesianRDD of
    /// num_partitions() x other.num_partitions() partitions, partition p pairing partition
    /// p / n of this with partition p % n of other (n = other's count), so collect() lists the
    /// pairs grouped by this RDD's partitions. Narrow on both: no stage is added. A task holds
    /// its partition of `other` in memory. Throws ContractViolation if `other` belongs to another
    /// SparkContext. Threading: thread-safe.
    template <class U>
    Rdd<std::pair<T, U>> cartesian(const Rdd<U>& other, Loc loc = Loc::current()) const {
        EMBER_REQUIRE(other.sc_ == sc_, "cartesian: both RDDs must belong to the same SparkContext");
        return make<scheduler::CartesianRdd<T, U>>(SparkContext::call_site("cartesian", loc), node_, other.node_);
    }

    // -- key-value transformations (Spark's PairRDDFunctions) ----------------------------------

    /// For Rdd<pair<K, V>>: (k, f(v)) for every record; keys do not move, so the partitioner is
    /// kept (Spark's mapValues). Narrow. Threading: thread-safe.
    template <class F>
        requires detail::IsPair<T>::value
    auto map_values(F f, Loc loc = Loc::current()) const {
        using K = typename T::first_type;
        using V = typename T::second_type;
        using U = detail::owned_t<std::invoke_result_t<F&, V&&>>;
        return make<scheduler::MappedValuesRdd<K, V, U, F>>(SparkContext::call_site("mapValues", loc), node_,
                                                            std::move(f));
    }
    /// For Rdd<pair<K, V>>: (k, u) for every u in the range f(v) (a vector, or views into v);
    /// keeps the partitioner (Spark's flatMapValues). Narrow. Threading: thread-safe.
    template <class F>
        requires detail::IsPair<T>::value
    auto flat_map_values(F f, Loc loc = Loc::current()) const {
        using K = typename T::first_type;
        using V = typename T::second_type;
        using R = std::invoke_result_t<F&, const V&>;
        using U = detail::owned_t<std::ranges::range_value_t<std::remove_cvref_t<R>>>;
        return make<scheduler::FlatMappedValuesRdd<K, V, U, F>>(SparkContext::call_site("flatMapValues", loc), node_,
                                                                std::move(f));
    }
    /// For Rdd<pair<K, V>>: the keys (Spark's keys; no partitioner, as Spark's map).
    auto keys(Loc loc = Loc::current()) const
        requires detail::IsPair<T>::value
    {
        using K = typename T::first_type;
        return make<scheduler::MappedRdd<T, K, detail::FirstOf>>(SparkContext::call_site("keys", loc), node_,
                                                                 detail::FirstOf{});
    }
    /// For Rdd<pair<K, V>>: the values (Spark's values).
    auto values(Loc loc = Loc::current()) const
        requires detail::IsPair<T>::value
    {
        using V = typename T::second_type;
        return make<scheduler::MappedRdd<T, V, detail::SecondOf>>(SparkContext::call_site("values", loc), node_,
                                                                  detail::SecondOf{});
    }

    /// For Rdd<pair<K, V>>: one (K, C) per key (Spark's combineByKey): the first value of a key
    /// in a partition becomes create(v), later ones are added with merge_value(c, v) -> C, and
    /// the partitions' combiners are merged with merge_combiners(c1, c2) -> C, on the map side
    /// before the shuffle and after it. C needs a Serde. Partitions and shuffle as
    /// reduce_by_key (num_partitions 0: the default partitioner). Threading: thread-safe.
    template <class Create, class MergeValue, class MergeCombiners>
        requires detail::IsPair<T>::value
    auto combine_by_key(Create create, MergeValue merge_value, MergeCombiners merge_combiners, int num_partitions = 0,
                        Loc loc = Loc::current()) const {
        using K = typename T::first_type;
        using V = typename T::second_type;
        using C = detail::owned_t<std::invoke_result_t<Create&, V&&>>;
        using Agg = scheduler::CombineByKeyAggregator<V, C, Create, MergeValue, MergeCombiners>;
        return shuffled<K, V>(Agg{std::move(create), std::move(merge_value), std::move(merge_combiners)},
                              partitioner_for(num_partitions, {}), SparkContext::call_site("combineByKey", loc));
    }
    /// For Rdd<pair<K, V>>: one (K, U) per key, folding its values into a copy of `zero` with
    /// seq(U, V) -> U per partition and merging the partitions' results with comb(U, U) -> U
    /// (Spark's aggregateByKey). `zero` needs a Serde and travels with the tasks. Partitions and
    /// shuffle as reduce_by_key. Threading: thread-safe.
    template <class U, class Seq, class Comb>
        requires detail::IsPair<T>::value
    auto aggregate_by_key(U zero, Seq seq, Comb comb, int num_partitions = 0, Loc loc = Loc::current()) const {
        using K = typename T::first_type;
        using V = typename T::second_type;
        using Create = scheduler::SeqFromZero<U, Seq>;
        using Agg = scheduler::CombineByKeyAggregator<V, U, Create, Seq, Comb>;
        return shuffled<K, V>(Agg{Create{std::move(zero), seq}, seq, std::move(comb)},
                              partitioner_for(num_partitions, {}), SparkContext::call_site("aggregateByKey", loc));
    }
    /// For Rdd<pair<K, V>>: aggregate_by_key(zero, f, f) (Spark's foldByKey): f(V, V) -> V
    /// associative, `zero` its neutral element (it is folded in once per key and partition).
    template <class Z, class F>
        requires detail::IsPair<T>::value
    auto fold_by_key(Z zero, F f, int num_partitions = 0, Loc loc = Loc::current()) const {
        using K = typename T::first_type;
        using V = typename T::second_type;
        using Create = scheduler::SeqFromZero<V, F>;
        using Agg = scheduler::CombineByKeyAggregator<V, V, Create, F, F>;
        return shuffled<K, V>(Agg{Create{V(std::move(zero)), f}, f, f}, partitioner_for(num_partitions, {}),
                              SparkContext::call_site("foldByKey", loc));
    }

    // -- checkpointing (Spark's RDD.checkpoint) ------------------------------------------------

    /// Marks this RDD for reliable checkpointing (Spark's checkpoint): after the next job that
    /// computes it, a second job writes its partitions to
    /// `<checkpoint dir>/rdd-<id>/part-00000, ...` (SparkContext::set_checkpoint_dir; records in
    /// their Serde encoding) and its lineage is truncated: its only dependency becomes a
    /// ReliableCheckpointRDD reading those files, so later jobs read them instead of recomputing
    /// its parents, even after executors are lost. The second job computes the RDD again unless
    /// it is persisted (Spark recommends persisting it first). Call before any job on it; calls
    /// after it is checkpointed do nothing. The files must be visible to every executor (local
    /// disk for local masters). Throws SparkException("Checkpoint directory has not been set in
    /// the SparkContext") if no directory was set. Threading: thread-safe.
    void checkpoint() const {
        static_assert(Serializable<T>, "ember: checkpoint() needs records with a Serde (serializer.hpp)");
        auto root = sc_->checkpoint_dir();
        if (!root) throw SparkException("Checkpoint directory has not been set in the SparkContext");
        if (node_->is_checkpointed()) return;
        std::string dir = (std::filesystem::path(*root) / ("rdd-" + std::to_string(id()))).string();
        const int parts = num_partitions();
        node_->set_checkpoint_plan(scheduler::RddBase::CheckpointPlan{
            dir, std::make_shared<scheduler::WriteCheckpointFn<T>>(dir), [dir, parts](int new_id) {
                return std::make_shared<scheduler::ReliableCheckpointRdd<T>>(new_id, parts, dir);
            }});
    }
    /// Whether the partitions were written and the lineage truncated (Spark's isCheckpointed).
    bool is_checkpointed() const { return node_->is_checkpointed(); }
    /// The directory holding the partition files once checkpointed (Spark's getCheckpointFile).
    std::optional<std::string> get_checkpoint_file() const { return node_->checkpoint_dir(); }

    // -- actions -------------------------------------------------------------------------------

    /// Every record, in partition order.
    std::vector<T> collect(Loc loc = Loc::current()) const {
        std::vector<std::vector<T>> parts(static_cast<std::size_t>(num_partitions()));
        run(std::make_shared<scheduler::CollectFn<T>>(), SparkContext::call_site("collect", loc),
            [&](int i, std::string_view bytes) { scheduler::CollectFn<T>::append_results(bytes, parts[static_cast<std::size_t>(i)]); });
        std::vector<T> out;
        for (auto& p : parts) out.insert(out.end(), std::make_move_iterator(p.begin()), std::make_move_iterator(p.end()));
        return out;
    }
    std::uint64_t count(Loc loc = Loc::current()) const {
        std::uint64_t total = 0;
        run(std::make_shared<scheduler::CountFn<T>>(), SparkContext::call_site("count", loc),
            [&](int, std::string_view bytes) { total += decode<std::uint64_t>(bytes); });
        return total;
    }
    /// Writes `dir/part-NNNNN` (one record per line) and `dir/_SUCCESS`. Throws SparkException if
    /// `dir` already exists (Spark: "Output directory ... already exists").
    void save_as_text_file(const std::string& dir, Loc loc = Loc::current()) const {
        namespace fs = std::filesystem;
        std::error_code ec;
        if (fs::exists(dir, ec)) throw SparkException("Output directory " + dir + " already exists");
        fs::create_directories(dir, ec);
        if (ec) throw SparkException("Cannot create output directory " + dir + ": " + ec.message());
        run(std::make_shared<scheduler::SaveAsTextFileFn<T>>(fs::absolute(dir).string()),
            SparkContext::call_site("saveAsTextFile", loc), [](int, std::string_view) {});
        fs::remove_all(fs::path(dir) / "_temporary", ec);
        std::ofstream(fs::path(dir) / "_SUCCESS");
    }
    /// Folds each partition with seq from `zero`, then the partition results with comb.
    template <class U, class Seq, class Comb>
    U aggregate(U zero, Seq seq, Comb comb, Loc loc = Loc::current()) const {
        std::vector<std::optional<U>> parts(static_cast<std::size_t>(num_partitions()));
        run(std::make_shared<scheduler::AggregateFn<T, U, Seq>>(zero, std::move(seq)),
            SparkContext::call_site("aggregate", loc),
            [&](int i, std::string_view bytes) { parts[static_cast<std::size_t>(i)] = decode<U>(bytes); });
        U acc = std::move(zero);
        for (auto& p : parts) acc = std::invoke(comb, std::move(acc), std::move(*p));
        return acc;
    }
    /// Combines all records with f (associative, commutative). Throws SparkException("empty
    /// collection") if there are none.
    template <class F>
    T reduce(F f, Loc loc = Loc::current()) const {
        using Seq = detail::ReduceSeq<T, F>;
        auto merged = aggregate(std::optional<T>{}, Seq{f},
                                [f](std::optional<T> a, std::optional<T> b) -> std::optional<T> {
                                    if (!a) return b;
                                    if (!b) return a;
                                    return std::invoke(f, std::move(*a), std::move(*b));
                                },
                                loc);
        if (!merged) throw SparkException("empty collection");
        return std::move(*merged);
    }
    /// The `n` smallest records under `cmp`, sorted.
    template <class Cmp = std::less<>>
    std::vector<T> take_ordered(std::size_t n, Cmp cmp = {}, Loc loc = Loc::current()) const {
        std::vector<T> all;
        run(std::make_shared<scheduler::TakeOrderedFn<T, Cmp>>(n, cmp), SparkContext::call_site("takeOrdered", loc),
            [&](int, std::string_view bytes) {
                auto part = decode<std::vector<T>>(bytes);
                all.insert(all.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
            });
        std::sort(all.begin(), all.end(), [&](const T& a, const T& b) { return std::invoke(cmp, a, b); });
        if (all.size() > n) all.resize(n);
        return all;
    }
    /// The `n` largest records under `cmp`, largest first.
    template <class Cmp = std::less<>>
    std::vector<T> top(std::size_t n, Cmp cmp = {}, Loc loc = Loc::current()) const {
        return take_ordered(n, detail::Reversed<Cmp>{cmp}, loc);
    }

    /// For Rdd<pair<K, V>>: the number of records of each key (Spark's countByKey:
    /// map_values(1).reduce_by_key(+) collected to the driver). K needs operator<.
    auto count_by_key(Loc loc = Loc::current()) const
        requires detail::IsPair<T>::value
    {
        using K = typename T::first_type;
        auto counts = map_values(detail::One{}, loc).reduce_by_key(detail::AddCounts{}, 0, loc).collect(loc);
        return std::map<K, std::uint64_t>(std::make_move_iterator(counts.begin()), std::make_move_iterator(counts.end()));
    }
    /// The number of times each distinct record occurs (Spark's countByValue). T needs operator<
    /// and what reduce_by_key needs of keys.
    std::map<T, std::uint64_t> count_by_value(Loc loc = Loc::current()) const {
        return make<scheduler::MappedRdd<T, std::pair<T, detail::Null>, detail::PairWithNull<T>>>(
                   SparkContext::call_site("countByValue", loc), node_, detail::PairWithNull<T>{})
            .count_by_key(loc);
    }

    /// Calls f(T&&) on every record, on the executors (Spark's foreach); f's side effects are
    /// its only output. A task that is retried calls f again on its records.
    template <class F>
    void foreach(F f, Loc loc = Loc::current()) const {
        run(std::make_shared<scheduler::ForeachFn<T, F>>(std::move(f)), SparkContext::call_site("foreach", loc),
            [](int, std::string_view) {});
    }
    /// Calls f(std::vector<T>&& partition) once per partition, empty ones included, on the
    /// executors (Spark's foreachPartition).
    template <class F>
    void foreach_partition(F f, Loc loc = Loc::current()) const {
        static_assert(std::is_invocable_v<F&, std::vector<T>&&>,
                      "ember: foreach_partition(f) needs f(std::vector<T>&& partition)");
        run(std::make_shared<scheduler::ForeachPartitionFn<T, F>>(std::move(f)),
            SparkContext::call_site("foreachPartition", loc), [](int, std::string_view) {});
    }

    /// The first `n` records, in partition order (Spark's take). Scans incrementally as Spark
    /// does: a job over partition 0 first; while records are missing, a job over the next
    /// partitions, as many as the records seen so far suggest (x1.5) but at most
    /// ember.rdd.limit.scaleUpFactor (4, at least 2) times the partitions scanned so far (that
    /// many exactly when none had records). Each task stops computing its partition once it has
    /// the records still missing. No job for n == 0 or an RDD without partitions.
    std::vector<T> take(std::size_t n, Loc loc = Loc::current()) const {
        std::vector<T> buf;
        const int total = num_partitions();
        if (n == 0 || total == 0) return buf;
        const std::int64_t scale_up = std::max<std::int64_t>(sc_->conf().get_int("ember.rdd.limit.scaleUpFactor", 4), 2);
        std::string name = SparkContext::call_site("take", loc);
        int scanned = 0;
        while (buf.size() < n && scanned < total) {
            std::int64_t to_try = 1;
            const std::size_t left = n - buf.size();
            if (scanned > 0) {
                if (buf.empty()) {
                    to_try = scanned * scale_up;
                } else {
                    to_try = static_cast<std::int64_t>(std::ceil(1.5 * static_cast<double>(left) * scanned /
                                                                 static_cast<double>(buf.size())));
                    to_try = std::min(to_try, scanned * scale_up);
                }
            }
            const int end = static_cast<int>(std::min<std::int64_t>(scanned + to_try, total));
            std::vector<int> parts;
            for (int i = scanned; i < end; ++i) parts.push_back(i);
            std::vector<std::vector<T>> results(parts.size());
            // The handler's index is the position in `parts` (the job's output id).
            run_on(std::make_shared<scheduler::TakeFn<T>>(left), parts, name, [&](int i, std::string_view bytes) {
                scheduler::CollectFn<T>::append_results(bytes, results[static_cast<std::size_t>(i)]);
            });
            for (auto& r : results) {
                for (auto& x : r) {
                    if (buf.size() >= n) break;
                    buf.push_back(std::move(x));
                }
            }
            scanned = end;
        }
        return buf;
    }
    /// The first record (Spark's first: take(1)). Throws SparkException("empty collection"),
    /// Spark's UnsupportedOperationException message, if there is none.
    T first(Loc loc = Loc::current()) const {
        auto one = take(1, loc);
        if (one.empty()) throw SparkException("empty collection");
        return std::move(one.front());
    }

    /// For Rdd<pair<K, V>>: the values of the records whose key equals `key` (Spark's lookup).
    /// When the RDD has a partitioner (reduce_by_key and friends), the job runs on the one
    /// partition that can hold the key; otherwise on all of them.
    template <class Key>
        requires detail::IsPair<T>::value
    auto lookup(const Key& key_like, Loc loc = Loc::current()) const {
        using K = typename T::first_type;
        using V = typename T::second_type;
        const K key(key_like);
        std::vector<int> parts;
        if (const auto& part = node_->partitioner(); part && part->num_partitions == num_partitions()) {
            parts.push_back(part->partition(key));
        } else {
            for (int i = 0; i < num_partitions(); ++i) parts.push_back(i);
        }
        std::vector<std::vector<V>> results(parts.size());  // by position in `parts`
        run_on(std::make_shared<scheduler::LookupFn<K, V>>(key), parts, SparkContext::call_site("lookup", loc),
               [&](int i, std::string_view bytes) {
                   scheduler::CollectFn<V>::append_results(bytes, results[static_cast<std::size_t>(i)]);
               });
        std::vector<V> out;
        for (auto& r : results) out.insert(out.end(), std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
        return out;
    }

    /// For numeric T: the sum as a double (Spark's DoubleRDDFunctions.sum, fold(0.0)(_ + _)):
    /// each partition in order, then the partitions in order; 0 when empty.
    double sum(Loc loc = Loc::current()) const
        requires std::is_arithmetic_v<T>
    {
        return aggregate(0.0, detail::AddAsDouble{}, [](double a, double b) { return a + b; }, loc);
    }
    /// For numeric T: count, mean, variance, max and min in one job (Spark's stats): a
    /// StatCounter per partition (Welford), merged on the driver in partition order (Chan et
    /// al.). On an empty RDD: count 0 and NaN variances, without running a task.
    StatCounter stats(Loc loc = Loc::current()) const
        requires std::is_arithmetic_v<T>
    {
        StatCounter total;
        std::vector<StatCounter> parts(static_cast<std::size_t>(num_partitions()));
        run(std::make_shared<scheduler::StatsFn<T>>(), SparkContext::call_site("stats", loc),
            [&](int i, std::string_view bytes) { parts[static_cast<std::size_t>(i)] = decode<StatCounter>(bytes); });
        for (auto& p : parts) total.merge(p);
        return total;
    }
    /// For numeric T: stats().mean() (Spark's mean).
    double mean(Loc loc = Loc::current()) const
        requires std::is_arithmetic_v<T>
    {
        return stats(loc).mean();
    }

private:
    template <class U>
    friend class Rdd;

    template <class Node, class... Args>
    auto make(std::string name, Args&&... args) const {
        using U = typename Node::value_type;
        auto node = std::make_shared<Node>(sc_->new_rdd_id(), std::forward<Args>(args)...);
        node->set_name(std::move(name));
        return Rdd<U>(sc_, std::move(node));
    }

    /// HashPartitioner(num_partitions) if it is positive, else Spark's defaultPartitioner over
    /// this RDD and `others` (see cogroup).
    shuffle::HashPartitioner partitioner_for(int num_partitions,
                                             std::initializer_list<const scheduler::RddBase*> others) const {
        if (num_partitions > 0) return shuffle::HashPartitioner{num_partitions};
        std::vector<const scheduler::RddBase*> rdds{node_.get()};
        rdds.insert(rdds.end(), others.begin(), others.end());
        const scheduler::RddBase* has_max = nullptr;
        int max_partitions = 0;
        for (auto* r : rdds) {
            max_partitions = std::max(max_partitions, r->num_partitions());
            if (r->partitioner() && r->partitioner()->num_partitions > 0 &&
                (!has_max || r->num_partitions() > has_max->num_partitions())) {
                has_max = r;
            }
        }
        int default_partitions = sc_->conf().contains("ember.default.parallelism") ? sc_->default_parallelism()
                                                                                      : max_partitions;
        if (has_max) {
            // Spark's isEligiblePartitioner: within an order of magnitude of the largest parent.
            bool eligible = std::log10(max_partitions) - std::log10(has_max->num_partitions()) < 1;
            if (eligible || default_partitions <= has_max->partitioner()->num_partitions) return *has_max->partitioner();
        }
        return shuffle::HashPartitioner{std::max(default_partitions, 1)};
    }

    /// Aggregates this Rdd<pair<K, V>> by key into `part`: a shuffle, or, if this RDD is already
    /// partitioned by `part`, a narrow per-partition aggregation (Spark's combineByKey).
    template <class K, class V, class Agg>
    auto shuffled(Agg agg, shuffle::HashPartitioner part, std::string name) const {
        using Out = scheduler::ShuffledRdd<K, V, Agg>;
        if (node_->partitioner() == part) {
            using Combine = scheduler::CombineValuesByKey<K, V, Agg>;
            return make<scheduler::MapPartitionsRdd<T, typename Out::value_type, Combine, false>>(
                std::move(name), node_, Combine{std::move(agg)}, true);
        }
        using Dep = scheduler::ShuffleDependency<K, V, Agg>;
        auto dep = std::make_shared<Dep>(sc_->new_shuffle_id(), node_, part, agg);
        sc_->track_shuffle(*dep);
        auto node = std::make_shared<Out>(sc_->new_rdd_id(), dep->shuffle_id(), part.num_partitions, std::move(agg), dep);
        node->set_name(std::move(name));
        return Rdd<typename Out::value_type>(sc_, std::move(node));
    }

    template <class K2, class W>
    auto cogrouped(const Rdd<std::pair<K2, W>>& other, int num_partitions, std::string name) const {
        using K = typename T::first_type;
        using V = typename T::second_type;
        static_assert(std::is_same_v<K, K2>, "ember: cogroup and join need RDDs with the same key type");
        EMBER_REQUIRE(other.sc_ == sc_, "cogroup/join: both RDDs must belong to the same SparkContext");
        auto part = partitioner_for(num_partitions, {other.node_.get()});
        auto side = [&](const auto& node) {
            using X = typename std::remove_cvref_t<decltype(*node)>::value_type::second_type;
            scheduler::CoGroupSide<K, X> s;
            if (node->partitioner() == part) {
                s.narrow = node;
            } else {
                auto dep = std::make_shared<scheduler::ShuffleDependency<K, X, scheduler::NoAggregator<X>>>(
                    sc_->new_shuffle_id(), node, part, scheduler::NoAggregator<X>{});
                sc_->track_shuffle(*dep);
                s.shuffle_id = dep->shuffle_id();
                s.dep = std::move(dep);
            }
            return s;
        };
        auto left = side(node_);
        auto right = side(other.node_);
        return make<scheduler::CoGroupedRdd<K, V, W>>(std::move(name), part, std::move(left), std::move(right));
    }

    template <scheduler::JoinType J, class K2, class W>
    auto joined(const Rdd<std::pair<K2, W>>& other, int num_partitions, std::string name) const {
        using K = typename T::first_type;
        using V = typename T::second_type;
        auto groups = cogrouped(other, num_partitions, name);
        return groups.template make<scheduler::JoinedRdd<K, V, W, J>>(std::move(name), groups.node_);
    }

    template <class Handler>
    void run_on(std::shared_ptr<scheduler::ResultFunctionBase> fn, std::vector<int> parts, std::string call_site,
                Handler&& handler) const {
        sc_->run_job(node_, std::move(fn), std::move(parts), std::forward<Handler>(handler), std::move(call_site));
    }

    template <class Handler>
    void run(std::shared_ptr<scheduler::ResultFunctionBase> fn, std::string call_site, Handler&& handler) const {
        std::vector<int> parts(static_cast<std::size_t>(num_partitions()));
        for (int i = 0; i < num_partitions(); ++i) parts[static_cast<std::size_t>(i)] = i;
        sc_->run_job(node_, std::move(fn), std::move(parts), std::forward<Handler>(handler), std::move(call_site));
    }

    SparkContext* sc_;
    std::shared_ptr<scheduler::RddNode<T>> node_;
};

template <class T>
Rdd<T> SparkContext::parallelize(std::vector<T> data, int num_slices, SourceLocation loc) {
    int n = num_slices > 0 ? num_slices : default_parallelism();
    auto node = std::make_shared<scheduler::ParallelCollectionRdd<T>>(
        new_rdd_id(), scheduler::ParallelCollectionRdd<T>::slice(std::move(data), n));
    node->set_name(call_site("parallelize", loc));
    return Rdd<T>(this, std::move(node));
}

template <class T>
Rdd<T> SparkContext::empty_rdd(SourceLocation loc) {
    auto node = std::make_shared<scheduler::EmptyRdd<T>>(new_rdd_id());
    node->set_name(call_site("emptyRDD", loc));
    return Rdd<T>(this, std::move(node));
}

template <class T>
Rdd<T> SparkContext::make_rdd(std::vector<std::pair<T, std::vector<std::string>>> data, SourceLocation loc) {
    std::vector<std::vector<T>> slices;
    std::vector<std::vector<std::string>> locations;
    for (auto& [value, locs] : data) {
        slices.push_back({std::move(value)});
        locations.push_back(std::move(locs));
    }
    if (slices.empty()) slices.emplace_back();
    auto node = std::make_shared<scheduler::ParallelCollectionRdd<T>>(new_rdd_id(), std::move(slices));
    node->set_locations(std::move(locations));
    node->set_name(call_site("makeRDD", loc));
    return Rdd<T>(this, std::move(node));
}

}  // namespace ember
