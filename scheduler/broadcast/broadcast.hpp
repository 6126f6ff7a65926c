// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Broadcast<T>: a read-only value sent once to each executor and shared by all its tasks
/// (Spark's Broadcast / TorrentBroadcast), made with SparkContext::broadcast().

#include "rpc/source_location.hpp"
#include "scheduler/spark_context.hpp"
#include "storage/serializer.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>

namespace ember {

namespace broadcast::detail {
using DecodeFn = std::shared_ptr<const void> (*)(std::string_view serialized);

template <class T>
std::shared_ptr<const void> decode_value(std::string_view serialized) {
    return std::make_shared<const T>(ember::decode<T>(serialized));
}
/// The value of broadcast `id` in this process (see Broadcast::value).
const void* value(std::int64_t id, const std::type_info& type, DecodeFn decode);
void unpersist(std::int64_t id, bool blocking);
void destroy(std::int64_t id, bool blocking, const SourceLocation& loc);
}  // namespace broadcast::detail

/// A handle on a broadcast variable: an id, 8 bytes, trivially copyable. Capture it by value in
/// the functions of Rdd operations; value() then gives the same T in every task.
///
/// ```
/// std::map<std::string, int> table = load_table();
/// auto b = sc.broadcast(table);          // serialized once, cut into pieces on the driver
/// auto hits = words.filter([b](const std::string& w) { return b.value().count(w) > 0; }).count();
/// b.destroy();
/// ```
///
/// The first task on an executor that calls value() fetches the value's pieces (from the
/// driver, or from executors that have them already) and caches the value; every other task of
/// that executor uses the same copy. On the driver and in `local[N]`, value() is the driver's
/// copy. T needs a Serde (storage/serializer.hpp) and must be the T the broadcast was made with.
///
/// Threading: immutable (a value); value() is thread-safe.
template <class T>
class Broadcast {
public:
    /// An invalid handle (id -1); use SparkContext::broadcast.
    Broadcast() = default;

    /// The value. Valid while the task runs (in a task), or until unpersist()/destroy() (on the
    /// driver). Blocks while this executor fetches it (once per executor). Throws SparkException
    /// after destroy() ("Attempted to use Broadcast(3) after it was destroyed (destroy at
    /// app.cpp:42)") or if the value cannot be fetched.
    const T& value() const {
        return *static_cast<const T*>(broadcast::detail::value(id_, typeid(T), &broadcast::detail::decode_value<T>));
    }
    std::int64_t id() const noexcept { return id_; }
    /// "Broadcast(<id>)".
    std::string to_string() const { return "Broadcast(" + std::to_string(id_) + ")"; }

    /// Removes the executors' copies; the next value() on an executor fetches it again. The
    /// driver keeps its copy. Waits for the executors when `blocking`. Driver only.
    void unpersist(bool blocking = false) const { broadcast::detail::unpersist(id_, blocking); }
    /// Removes every copy, the driver's too: any later value() fails. Driver only.
    void destroy(bool blocking = false, SourceLocation loc = SourceLocation::current()) const {
        broadcast::detail::destroy(id_, blocking, loc);
    }

    /// A Broadcast inside a struct with EMBER_SERDE or an ember::bind value travels as its id.
    EMBER_SERDE(id_)

private:
    friend class SparkContext;
    explicit Broadcast(std::int64_t id) : id_(id) {}
    std::int64_t id_ = -1;
};

template <class T>
Broadcast<T> SparkContext::broadcast(T value) {
    static_assert(Serializable<T>, "ember: a broadcast value needs a Serde (storage/serializer.hpp): use "
                                   "standard types or a struct with EMBER_SERDE(...)");
    std::string serialized = ember::encode(value);
    auto shared = std::make_shared<const T>(std::move(value));
    return Broadcast<T>(new_broadcast(std::move(serialized), std::move(shared), typeid(T)));
}

}  // namespace ember
