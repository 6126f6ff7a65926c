// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// How the functions users pass to Rdd operations travel to executors.
///
/// Executors run the same executable as the driver, so a function's *code* is already there; only
/// its captured *values* travel. A function object F is shipped as:
/// - nothing, if it captures nothing (a captureless lambda: C++20 can default-construct it);
/// - its bytes, if it is trivially copyable (a lambda capturing numbers by value);
/// - its EMBER_SERDE fields, if it is a struct that declares them;
/// - for anything else, wrap it: `ember::bind(f, values...)` ships `values` with Serde and calls
///   `f(values..., args...)`.
/// Captured pointers and references are copied as raw addresses and are meaningless on an
/// executor: capture by value. (Spark's closure serialization plays this role.)

#include "storage/serializer.hpp"

#include <cstring>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>

namespace ember {

template <class F>
inline constexpr bool kShippable =
    (std::is_empty_v<F> && std::is_default_constructible_v<F>) || std::is_trivially_copyable_v<F> ||
    HasSerdeMember<F>;

/// Encodes and decodes a function object for shipping (see the file comment).
template <class F>
struct ClosureCodec {
    static_assert(kShippable<F>,
                  "ember: this function cannot be sent to executors. Pass a captureless lambda, a lambda "
                  "capturing only numbers by value, a struct with EMBER_SERDE(...), or wrap it as "
                  "ember::bind(fn, values...) so its values travel with the task");
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
            e.put_bytes(std::string_view(reinterpret_cast<const char*>(std::addressof(f)), sizeof(F)));
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
