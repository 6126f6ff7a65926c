// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Rdd<T>: the user's handle on a distributed collection of T (Spark's RDD API, with
/// PairRDDFunctions for Rdd<std::pair<K, V>>).

#include "scheduler/closure.hpp"
#include "scheduler/rdd/actions.hpp"
#include "scheduler/rdd/mapped_rdd.hpp"
#include "scheduler/rdd/parallel_collection_rdd.hpp"
#include "scheduler/rdd/shuffled_rdd.hpp"
#include "scheduler/spark_context.hpp"

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <source_location>
#include <string>
#include <string_view>
#include <type_traits>
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

}  // namespace detail

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
/// Transformations (map, flat_map, filter, reduce_by_key, group_by_key) build lineage; actions
/// (collect, count, save_as_text_file, aggregate, reduce, take_ordered, top) run a job and block
/// until it ends, throwing SparkException if it fails. Functions are ordinary lambdas; see
/// scheduler/closure.hpp for what they may capture. Records need a Serde (serializer.hpp).
///
/// Threading: a cheap, copyable handle; safe to use from several threads.
template <class T>
class Rdd {
public:
    using value_type = T;
    using Loc = std::source_location;

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

    /// For Rdd<pair<K, V>>: one (K, V) per key, merging values with f (associative and
    /// commutative), combined on the map side before the shuffle. `num_partitions` defaults to
    /// ember.default.parallelism, else this RDD's partition count (Spark's defaultPartitioner).
    template <class F>
        requires detail::IsPair<T>::value
    auto reduce_by_key(F f, int num_partitions = 0, Loc loc = Loc::current()) const {
        using K = typename T::first_type;
        using V = typename T::second_type;
        return shuffled<K, V>(scheduler::ReduceAggregator<V, F>{std::move(f)}, num_partitions,
                              SparkContext::call_site("reduceByKey", loc));
    }
    /// For Rdd<pair<K, V>>: one (K, vector<V>) per key (no map-side combine).
    auto group_by_key(int num_partitions = 0, Loc loc = Loc::current()) const
        requires detail::IsPair<T>::value
    {
        using K = typename T::first_type;
        using V = typename T::second_type;
        return shuffled<K, V>(scheduler::GroupAggregator<V>{}, num_partitions,
                              SparkContext::call_site("groupByKey", loc));
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
    template <class Node, class... Args>
    auto make(std::string name, Args&&... args) const {
        using U = typename Node::value_type;
        auto node = std::make_shared<Node>(sc_->new_rdd_id(), std::forward<Args>(args)...);
        node->set_name(std::move(name));
        return Rdd<U>(sc_, std::move(node));
    }

    template <class K, class V, class Agg>
    auto shuffled(Agg agg, int num_partitions, std::string name) const {
        int n = num_partitions > 0 ? num_partitions
                : sc_->conf().contains("ember.default.parallelism") ? sc_->default_parallelism()
                                                                    : node_->num_partitions();
        using Dep = scheduler::ShuffleDependency<K, V, Agg>;
        using Out = scheduler::ShuffledRdd<K, V, Agg>;
        auto dep = std::make_shared<Dep>(sc_->new_shuffle_id(), node_, shuffle::HashPartitioner{n}, agg);
        auto node = std::make_shared<Out>(sc_->new_rdd_id(), dep->shuffle_id(), n, std::move(agg), dep);
        node->set_name(std::move(name));
        return Rdd<typename Out::value_type>(sc_, std::move(node));
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
Rdd<T> SparkContext::parallelize(std::vector<T> data, int num_slices, std::source_location loc) {
    int n = num_slices > 0 ? num_slices : default_parallelism();
    auto node = std::make_shared<scheduler::ParallelCollectionRdd<T>>(
        new_rdd_id(), scheduler::ParallelCollectionRdd<T>::slice(std::move(data), n));
    node->set_name(call_site("parallelize", loc));
    return Rdd<T>(this, std::move(node));
}

}  // namespace ember
