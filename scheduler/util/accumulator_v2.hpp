// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Accumulators (Spark's AccumulatorV2, LongAccumulator, DoubleAccumulator,
/// CollectionAccumulator): variables that tasks add to and only the driver reads merged.
///
/// A handle (Accumulator<A>, LongAccumulator, ...) is an id and a flag: trivially copyable, so
/// a lambda capturing it by value ships to executors as bytes (see closure.hpp):
///
///     auto seen = sc.long_accumulator("records seen");
///     auto n = rdd.map([seen](long x) { seen.add(1); return x * 2; }).count();
///     seen.value();   // on the driver: the merged sum
///
/// Inside a task, add() updates the task's own copy (reached through the current TaskContext);
/// the copy travels to the driver with the task's status, and the DAGScheduler merges it
/// (Spark's semantics): a successful task's updates once it ends; for a result stage only the
/// first success of each partition in the job (a speculative or retried duplicate does not
/// count twice); a map stage that runs again (an executor was lost) counts again; a failed or
/// killed task's updates are dropped, unless the accumulator was made with
/// count_failed_values; updates of FetchFailed and lost tasks never count. So an accumulator
/// updated in an action counts each partition exactly once; one updated in a transformation
/// may count re-executions, as Spark's guide warns.
///
/// Outside tasks (on the driver) add() and value() use the driver's merged copy.

#include "scheduler/task_context.hpp"
#include "scheduler/util/accumulator_context.hpp"
#include "storage/serializer.hpp"

#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace ember {

/// What a user-defined accumulator's state class A must offer (Spark's AccumulatorV2 contract):
/// a default-constructed A is the zero value; `add(in)` (any argument types) folds a value in;
/// `merge(const A&)` folds another partial state in (commutative and associative: partial
/// states arrive in any order); `value()` returns the result; `reset()` returns to zero; and a
/// Serde (EMBER_SERDE(fields...)) so task copies travel to the driver. Optional:
/// `bool is_zero() const` (else A is zero when it encodes as A{} does) and
/// `std::string to_string() const` for the UI (else the value is shown as numbers, strings and
/// sequences of them are, or as the type's name).
template <class A>
concept AccumulatorState = std::default_initializable<A> && std::copy_constructible<A> && Serializable<A> &&
                           requires(A& a, const A& c) {
                               a.merge(c);
                               c.value();
                               a.reset();
                           };

namespace detail {

/// Java's Double.toString for ordinary values: "1.5", "10.0", "1.0E10" (shortest digits that
/// read back exactly; scientific below 1e-3 and from 1e7).
inline std::string java_double_string(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    char buf[64];
    const double a = std::fabs(v);
    const bool sci = a != 0 && (a < 1e-3 || a >= 1e7);
    for (int prec = 1; prec <= 20; ++prec) {
        if (sci) {
            std::snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
        } else {
            std::snprintf(buf, sizeof buf, "%.*f", prec, v);  // 1 decimal at least, as Java
        }
        if (std::strtod(buf, nullptr) == v) break;
    }
    std::string s = buf;
    if (!sci) return s;
    auto e = s.find('e');
    std::string mant = s.substr(0, e);
    if (mant.find('.') == std::string::npos) mant += ".0";
    return mant + "E" + std::to_string(std::stoi(s.substr(e + 1)));
}

/// How a value is shown in the UI and the event log (Scala's toString of the same value).
template <class V>
std::string display_string(const V& v) {
    if constexpr (std::is_same_v<V, bool>) {
        return v ? "true" : "false";
    } else if constexpr (std::is_integral_v<V>) {
        return std::to_string(v);
    } else if constexpr (std::is_floating_point_v<V>) {
        return java_double_string(static_cast<double>(v));
    } else if constexpr (std::is_convertible_v<const V&, std::string_view>) {
        return std::string(std::string_view(v));
    } else if constexpr (requires { v.first; v.second; }) {
        return "(" + display_string(v.first) + "," + display_string(v.second) + ")";
    } else if constexpr (requires { std::begin(v); std::end(v); }) {
        std::string s = "[";
        bool first = true;
        for (const auto& x : v) {
            if (!first) s += ", ";
            first = false;
            s += display_string(x);
        }
        return s + "]";
    } else {
        return typeid(V).name();
    }
}

template <class A>
const std::string& type_tag() {
    static const std::string tag = typeid(A).name();
    return tag;
}

}  // namespace detail

namespace scheduler {

/// AccumulatorBase over a state of class A.
/// Threading: single-threaded (see AccumulatorBase).
template <AccumulatorState A>
class TypedAccumulator final : public AccumulatorBase {
public:
    TypedAccumulator() = default;
    explicit TypedAccumulator(A s) : state(std::move(s)) {}

    const std::string& type_tag() const override { return ember::detail::type_tag<A>(); }
    bool is_zero() const override { return zero(state); }
    void reset() override { state.reset(); }
    std::string encode() const override { return ember::encode(state); }
    std::optional<std::string> merge_encoded(std::string_view bytes) override {
        A partial = ember::decode<A>(bytes);
        state.merge(partial);
        if (zero(partial)) return std::nullopt;
        return show(partial);
    }
    std::string value_string() const override { return show(state); }

    static bool zero(const A& a) {
        if constexpr (requires { { a.is_zero() } -> std::convertible_to<bool>; }) {
            return a.is_zero();
        } else {
            return ember::encode(a) == ember::encode(A{});
        }
    }
    static std::string show(const A& a) {
        if constexpr (requires { { a.to_string() } -> std::convertible_to<std::string>; }) {
            return a.to_string();
        } else {
            return ember::detail::display_string(a.value());
        }
    }

    A state;
};

}  // namespace scheduler

/// A handle to a registered accumulator whose state is an A (Spark's AccumulatorV2 as the
/// user holds it). Made by SparkContext::register_accumulator (or long_accumulator, ...);
/// a default-constructed handle is unregistered and throws std::logic_error when used.
/// Threading: thread-safe (a task's copy is its own; the driver's is locked).
template <AccumulatorState A>
class Accumulator {
public:
    Accumulator() = default;
    /// Registers `initial` as the driver's value of a new accumulator (prefer the SparkContext
    /// methods, which call this).
    static Accumulator make(A initial, std::optional<std::string> name, bool count_failed_values) {
        Accumulator h;
        h.id_ = scheduler::AccumulatorContext::new_id();
        h.flags_ = count_failed_values ? kCountFailedValues : 0;
        scheduler::AccumulatorContext::register_accumulator(
            scheduler::AccumulatorMetadata{h.id_, std::move(name), count_failed_values},
            std::make_unique<scheduler::TypedAccumulator<A>>(std::move(initial)));
        return h;
    }

    std::int64_t id() const noexcept { return id_; }
    bool is_registered() const noexcept { return id_ > 0; }
    bool count_failed_values() const noexcept { return (flags_ & kCountFailedValues) != 0; }
    /// The name given at registration (driver only; nullopt for unnamed accumulators and in
    /// executor processes).
    std::optional<std::string> name() const {
        auto m = scheduler::AccumulatorContext::metadata(id_);
        return m ? m->name : std::nullopt;
    }

    /// Adds to the current task's copy, or outside tasks to the driver's value.
    template <class... In>
    void add(In&&... in) const
        requires requires(A& a, In&&... v) { a.add(std::forward<In>(v)...); }
    {
        with_state([&](A& a) { a.add(std::forward<In>(in)...); });
    }
    /// Inside a task: this task's partial value; on the driver: the merged value.
    auto value() const {
        return with_state([](A& a) { return a.value(); });
    }
    /// A copy of the state value() reads (for states with more than a value, e.g. a count).
    A state() const {
        return with_state([](A& a) { return A(a); });
    }
    /// Resets the driver's (or inside a task, the task's) copy to zero.
    void reset() const {
        with_state([](A& a) { a.reset(); });
    }
    bool is_zero() const {
        return with_state([](A& a) { return scheduler::TypedAccumulator<A>::zero(a); });
    }

protected:
    template <class F>
    auto with_state(F&& f) const {
        if (!is_registered()) throw std::logic_error("ember: this accumulator was never registered");
        if (auto* tc = scheduler::TaskContext::get()) {
            auto& accs = tc->accumulators();
            scheduler::AccumulatorBase* b = accs.find(id_);
            if (!b) b = &accs.insert(id_, std::make_unique<scheduler::TypedAccumulator<A>>(), count_failed_values());
            return f(typed(*b).state);
        }
        using R = decltype(f(std::declval<A&>()));
        std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> out;
        bool found = scheduler::AccumulatorContext::with(id_, [&](scheduler::AccumulatorBase& b) {
            if constexpr (std::is_void_v<R>) {
                f(typed(b).state);
                out = true;
            } else {
                out = f(typed(b).state);
            }
        });
        if (!found) {
            throw std::logic_error("ember: accumulator " + std::to_string(id_) +
                                   " is not registered in this process (use it inside tasks or on its driver)");
        }
        if constexpr (!std::is_void_v<R>) return std::move(*out);
    }

private:
    static scheduler::TypedAccumulator<A>& typed(scheduler::AccumulatorBase& b) {
        if (b.type_tag() != ember::detail::type_tag<A>()) {
            throw std::logic_error("ember: accumulator used with a type other than the one it was registered with");
        }
        return static_cast<scheduler::TypedAccumulator<A>&>(b);
    }

    static constexpr std::int64_t kCountFailedValues = 1;
    // Two whole words, no padding: a closure's bytes carry no uninitialised memory (which a
    // check for captured addresses could mistake for a pointer).
    std::int64_t id_ = 0;
    std::int64_t flags_ = 0;
};

/// LongAccumulator's state: the sum and count of the added values (Spark's LongAccumulator).
struct LongAccumulatorState {
    std::int64_t sum = 0;
    std::int64_t count = 0;
    void add(std::int64_t v) noexcept {
        sum += v;
        ++count;
    }
    void merge(const LongAccumulatorState& o) noexcept {
        sum += o.sum;
        count += o.count;
    }
    std::int64_t value() const noexcept { return sum; }
    void reset() noexcept { sum = count = 0; }
    bool is_zero() const noexcept { return sum == 0 && count == 0; }
    EMBER_SERDE(sum, count)
};

/// DoubleAccumulator's state (Spark's DoubleAccumulator).
struct DoubleAccumulatorState {
    double sum = 0;
    std::int64_t count = 0;
    void add(double v) noexcept {
        sum += v;
        ++count;
    }
    void merge(const DoubleAccumulatorState& o) noexcept {
        sum += o.sum;
        count += o.count;
    }
    double value() const noexcept { return sum; }
    void reset() noexcept {
        sum = 0;
        count = 0;
    }
    bool is_zero() const noexcept { return sum == 0 && count == 0; }
    EMBER_SERDE(sum, count)
};

/// CollectionAccumulator's state: the added values, in no particular order across tasks
/// (Spark's CollectionAccumulator). T needs a Serde.
template <class T>
struct CollectionAccumulatorState {
    std::vector<T> items;
    void add(T v) { items.push_back(std::move(v)); }
    void merge(const CollectionAccumulatorState& o) { items.insert(items.end(), o.items.begin(), o.items.end()); }
    std::vector<T> value() const { return items; }
    void reset() noexcept { items.clear(); }
    bool is_zero() const noexcept { return items.empty(); }
    EMBER_SERDE(items)
};

/// Sums 64-bit integers; also counts them (Spark's LongAccumulator: value() is the sum).
class LongAccumulator : public Accumulator<LongAccumulatorState> {
public:
    LongAccumulator() = default;
    explicit LongAccumulator(Accumulator<LongAccumulatorState> a) : Accumulator(a) {}
    std::int64_t sum() const { return value(); }
    std::int64_t count() const { return state().count; }
    /// sum / count (NaN when nothing was added).
    double avg() const {
        auto s = state();
        return s.count == 0 ? std::numeric_limits<double>::quiet_NaN()
                            : static_cast<double>(s.sum) / static_cast<double>(s.count);
    }
};

/// Sums doubles; also counts them (Spark's DoubleAccumulator).
class DoubleAccumulator : public Accumulator<DoubleAccumulatorState> {
public:
    DoubleAccumulator() = default;
    explicit DoubleAccumulator(Accumulator<DoubleAccumulatorState> a) : Accumulator(a) {}
    double sum() const { return value(); }
    std::int64_t count() const { return state().count; }
    double avg() const {
        auto s = state();
        return s.count == 0 ? std::numeric_limits<double>::quiet_NaN() : s.sum / static_cast<double>(s.count);
    }
};

/// Collects values into a list (Spark's CollectionAccumulator); value() is a std::vector<T>.
template <class T>
class CollectionAccumulator : public Accumulator<CollectionAccumulatorState<T>> {
public:
    CollectionAccumulator() = default;
    explicit CollectionAccumulator(Accumulator<CollectionAccumulatorState<T>> a)
        : Accumulator<CollectionAccumulatorState<T>>(a) {}
};

static_assert(std::is_trivially_copyable_v<LongAccumulator>, "accumulator handles travel in closures as bytes");
static_assert(std::is_trivially_copyable_v<CollectionAccumulator<int>>);
static_assert(sizeof(LongAccumulator) == 2 * sizeof(std::int64_t), "no padding in a handle");

}  // namespace ember
