// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: the table that finds, on an executor, the code of an RDD node, shuffle dependency
/// or task function by a stable identity of its C++ type.
///
/// The identity is the mangled name of the instantiated class template (it includes the user's
/// lambda types), the same in every process started from one executable. Each class registers
/// itself during static initialisation, before main, so executors know every type the driver
/// can send. Two types with the same identity (possible only for lambdas inside functions with
/// internal linkage that share a name in two translation units) are refused when used, with an
/// error saying so.

#include "storage/serializer.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>

namespace ember::scheduler {

class RddBase;
class ShuffleDependencyBase;
class ResultFunctionBase;
class LineageDecoder;

namespace detail {

using RddFactory = std::shared_ptr<RddBase> (*)(LineageDecoder&, Decoder&, int id, int num_partitions);
using ShuffleDepFactory = std::shared_ptr<ShuffleDependencyBase> (*)(LineageDecoder&, Decoder&);
using ResultFnFactory = std::shared_ptr<ResultFunctionBase> (*)(Decoder&);

bool register_factory(int kind, const char* key, const void* factory);
/// Throws std::runtime_error naming the type if it is unknown or ambiguous.
const void* find_factory(int kind, std::string_view key);

template <class T>
struct RddRegistration {
    static inline const bool done = register_factory(0, typeid(T).name(), reinterpret_cast<const void*>(&T::decode));
};
template <class T>
struct ShuffleDepRegistration {
    static inline const bool done = register_factory(1, typeid(T).name(), reinterpret_cast<const void*>(&T::decode));
};
template <class T>
struct ResultFnRegistration {
    static inline const bool done = register_factory(2, typeid(T).name(), reinterpret_cast<const void*>(&T::decode));
};

}  // namespace detail

/// The registered identity of T (instantiating its registration).
template <class T>
const char* rdd_type_key() {
    (void)detail::RddRegistration<T>::done;
    return typeid(T).name();
}
template <class T>
const char* shuffle_dep_type_key() {
    (void)detail::ShuffleDepRegistration<T>::done;
    return typeid(T).name();
}
template <class T>
const char* result_fn_type_key() {
    (void)detail::ResultFnRegistration<T>::done;
    return typeid(T).name();
}

/// A readable form of a type identity, for errors ("MappedRdd<...>").
std::string demangle(std::string_view mangled);

/// Identity of this executable (its ELF build id, or a hash of its bytes when it has none);
/// executors of another build are refused at registration.
const std::string& build_id();

}  // namespace ember::scheduler
