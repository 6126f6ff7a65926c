// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// How the functions users pass to Rdd operations travel to executors.
///
/// Executors run the same executable as the driver, so a function's *code* is already there; only
/// its captured *values* travel. A function object F is shipped as:
/// - nothing, if it captures nothing (a captureless lambda: C++20 can default-construct it);
/// - its bytes, if it is trivially copyable (a lambda capturing numbers by value), with its
///   padding cleared;
/// - its EMBER_SERDE fields, if it is a struct that declares them;
/// - for anything else, wrap it: `ember::bind(f, values...)` ships `values` with Serde and calls
///   `f(values..., args...)`.
///
/// Pointers and references. A lambda that captures by reference (`[&offset]`, `[&]`) or captures
/// a pointer (`[p = &x]`, `[this]`) is trivially copyable too: its bytes hold driver addresses,
/// which mean nothing in an executor process (reading them crashes it, or worse, reads garbage).
/// The build cannot tell them from numbers, so the driver checks at run time: when an action
/// submits a job, every closure of the job that would ship as bytes (nested ones too: inside
/// ember::bind, aggregators, comparators) is scanned before anything is sent, in every master
/// including local[N], and each pointer-sized word (each aligned 8-byte word; in a type aligned
/// to less than 8, each word at a multiple of its alignment) that lies in memory the driver has
/// mapped (its stacks, heap, anonymous mappings, the executable's and libraries' segments, per
/// /proc/self/maps) fails the action with SparkException, e.g. "map at wordcount.cpp:42 captures
/// a pointer or reference (0x7ffd5c2a1b3c: the driver's stack); it would be meaningless on an
/// executor. Capture by value, or use ember::bind(fn, values...)". (Spark's closure serialization
/// fails such a job too, with "Task not serializable".)
///
/// A 64-bit number that happens to equal a mapped address is refused the same way (rare: such
/// numbers are in the tens of trillions). To ship one anyway, pass it as a value of ember::bind
/// (`ember::bind([](std::uint64_t key, long x) { ... }, key)`) or as an EMBER_SERDE field: values
/// shipped through Serde are not scanned.

#include "storage/serializer.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace ember {

namespace detail {
/// Scans the bytes of a closure about to ship as raw bytes for driver addresses, when a closure
/// scan runs on this thread (scheduler/rdd/closure_check.hpp); otherwise does nothing. `step`:
/// the offsets of the pointer-sized words checked. Defined in closure_check.cpp.
void scan_shipped_closure(const void* bytes, std::size_t size, std::size_t step, const std::type_info& type);
/// True while a closure scan runs on this thread (encoders may then skip bulk data).
bool closure_scan_active() noexcept;
}  // namespace detail

template <class F>
inline constexpr bool kShippable =
    (std::is_empty_v<F> && std::is_default_constructible_v<F>) || std::is_trivially_copyable_v<F> ||
    HasSerdeMember<F>;

/// Encodes and decodes a function object for shipping (see the file comment).
template <class F>
struct ClosureCodec {
    static_assert(kShippable<F>,
                  "ember: this function cannot be sent to executors. Pass a captureless lambda, a lambda "
                  "capturing only numbers by value (not by reference: no [&] or [&x], no pointers), a struct "
                  "with EMBER_SERDE(...), or wrap it as ember::bind(fn, values...) so its values travel with "
                  "the task");
    static_assert(!std::is_pointer_v<F> && !std::is_member_pointer_v<F>,
                  "ember: a function pointer cannot be sent to executors (an address means nothing in "
                  "another process). Pass a lambda that calls the function instead");

    static void encode(Encoder& e, const F& f) {
        if constexpr (std::is_empty_v<F> && std::is_default_constructible_v<F>) {
            (void)e;
            (void)f;
        } else if constexpr (HasSerdeMember<F>) {
            e.write(f);
        } else {
            encode_bytes(e, f);
        }
    }
    static F decode(Decoder& d) {
        if constexpr (std::is_empty_v<F> && std::is_default_constructible_v<F>) {
            (void)d;
            return F{};
        } else if constexpr (HasSerdeMember<F>) {
            return d.read<F>();
        } else {
            std::string_view bytes = d.get_bytes();
            if (bytes.size() != sizeof(F)) throw DecodeError("closure size mismatch");
            alignas(F) unsigned char storage[sizeof(F)];
            std::memcpy(storage, bytes.data(), sizeof(F));  // implicitly creates the F (C++20)
            return *std::launder(reinterpret_cast<F*>(storage));
        }
    }

private:
    /// f's object representation, padding cleared (it would carry stale stack bytes, which may
    /// look like pointers), scanned for driver addresses when a scan is active.
    static void encode_bytes(Encoder& e, const F& f) {
        struct Free {
            void operator()(F* p) const { std::allocator<F>().deallocate(p, 1); }
        };
        std::unique_ptr<F, Free> copy(std::allocator<F>().allocate(1));
        std::memcpy(static_cast<void*>(copy.get()), std::addressof(f), sizeof(F));  // implicitly creates an F
        constexpr std::size_t step = std::min(alignof(F), alignof(void*));
#if defined(__has_builtin)
#if __has_builtin(__builtin_clear_padding)
#define EMBER_CLEAR_PADDING 1
#endif
#endif
#ifdef EMBER_CLEAR_PADDING
        __builtin_clear_padding(copy.get());
        detail::scan_shipped_closure(copy.get(), sizeof(F), step, typeid(F));
#else
        // Without __builtin_clear_padding (clang before 19: the ASan and fuzz builds) padding
        // keeps stale stack bytes that look like driver addresses, so only closures without
        // padding are scanned (a reference or pointer capture alone still is); g++ scans all.
        if constexpr (std::has_unique_object_representations_v<F>) {
            detail::scan_shipped_closure(copy.get(), sizeof(F), step, typeid(F));
        }
#endif
        e.put_bytes(std::string_view(reinterpret_cast<const char*>(copy.get()), sizeof(F)));
    }
};

/// `f` with leading arguments bound to serialisable values; see ember::bind.
template <class F, class... Vs>
struct Bound {
    F fn;
    std::tuple<Vs...> values;

    template <class... Args>
    decltype(auto) operator()(Args&&... args) const {
        return std::apply([&](const auto&... vs) -> decltype(auto) { return fn(vs..., std::forward<Args>(args)...); },
                          values);
    }
};

template <class F, class... Vs>
struct ClosureCodec<Bound<F, Vs...>> {
    static void encode(Encoder& e, const Bound<F, Vs...>& b) {
        ClosureCodec<F>::encode(e, b.fn);
        e.write(b.values);
    }
    static Bound<F, Vs...> decode(Decoder& d) {
        F f = ClosureCodec<F>::decode(d);
        return Bound<F, Vs...>{std::move(f), d.read<std::tuple<Vs...>>()};
    }
};

/// Binds serialisable `values` as the leading arguments of `f`:
/// `rdd.filter(ember::bind([](const std::string& needle, const std::string& line) {
///     return line.find(needle) != std::string::npos; }, needle))`.
template <class F, class... Vs>
Bound<std::decay_t<F>, std::decay_t<Vs>...> bind(F&& f, Vs&&... values) {
    return {std::forward<F>(f), std::tuple<std::decay_t<Vs>...>(std::forward<Vs>(values)...)};
}

}  // namespace ember
