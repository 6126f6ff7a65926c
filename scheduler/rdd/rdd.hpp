// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Rdd<T>: the user's handle on a distributed collection of T (Spark's RDD API, with
/// PairRDDFunctions for Rdd<std::pair<K, V>>).

#include "rpc/log.hpp"
#include "scheduler/closure.hpp"
#include "scheduler/rdd/actions.hpp"
#include "scheduler/rdd/co_grouped_rdd.hpp"
#include "scheduler/rdd/joined_rdd.hpp"
#include "scheduler/rdd/mapped_rdd.hpp"
#include "scheduler/rdd/parallel_collection_rdd.hpp"
#include "scheduler/rdd/range_partitioner.hpp"
#include "scheduler/rdd/shuffled_rdd.hpp"
#include "scheduler/rdd/union_rdd.hpp"
#include "scheduler/spark_context.hpp"
#include "scheduler/source_location.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
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
/// map_partitions, union_with) run in the task of their parent; shuffles (distinct,
/// reduce_by_key, group_by_key, cogroup and the joins, sort_by_key) start a new stage. The one
/// exception is sort_by_key, which samples its input with a job at once, as Spark's does.
/// Actions (collect, count, save_as_text_file, aggregate, reduce, take_ordered, top) run a job
/// and block until it ends, throwing SparkException if it fails. Functions are ordinary
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
        return make<scheduler::SortedShuffledRdd<K, V, Cmp>>(std::move(name), dep->shuffle_id(), parts, ascending,
                                                             std::move(cmp), dep);
    }

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
