// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// FunctionRef: a non-owning reference to a callable (one indirect call, no allocation), for
/// pushing records from one RDD node into the next.

#include <type_traits>
#include <utility>

namespace ember {

template <class Sig>
class FunctionRef;

/// Valid only while the referenced callable lives; pass it down the stack, never store it.
/// Threading: as the referenced callable.
template <class R, class... Args>
class FunctionRef<R(Args...)> {
public:
    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> && std::is_invocable_r_v<R, F&, Args...>)
    FunctionRef(F&& f) noexcept  // NOLINT: implicit by design
        : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
          call_([](void* o, Args... args) -> R {
              return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<Args>(args)...);
          }) {}

    R operator()(Args... args) const { return call_(obj_, std::forward<Args>(args)...); }

private:
    void* obj_;
    R (*call_)(void*, Args...);
};

}  // namespace ember
