// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RpcTimeout: a duration paired with the config key that set it (after Spark's RpcTimeout).

#include "rpc/conf.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace ember::rpc {

/// How long an ask waits, and which config key to blame when it expires.
///
/// A timed-out ask fails with RpcErrc::timeout and Spark's message (after SPARK-31233)
/// "Cannot receive any reply from <addr> in <duration>. This timeout is controlled by <key>",
/// the suffix added exactly once. <addr> is the peer's "host:port": the target's advertised
/// address, or for a ref to a client-mode endpoint the socket address of the connection it is
/// reached over. <duration> is printed as Scala prints Spark's FiniteDuration: "120 seconds",
/// "1 second", and for the durations Spark cannot have (it reads whole seconds; ember keeps
/// milliseconds) "1500 milliseconds".
///
/// Threading: immutable.
struct RpcTimeout {
    std::chrono::milliseconds duration{120'000};
    std::string key = "ember.rpc.askTimeout";

    /// The ask timeout of `conf`: ember.rpc.askTimeout, then ember.network.timeout, then 120s;
    /// the key named is the first one set (or ember.rpc.askTimeout when neither is).
    static RpcTimeout ask(const Conf& conf);
    /// The lookup timeout: ember.rpc.lookupTimeout, then ember.network.timeout, then 120s.
    static RpcTimeout lookup(const Conf& conf);
    /// From a prioritized key list with a default, as Spark's RpcTimeout(conf, keys, default).
    static RpcTimeout from(const Conf& conf, std::initializer_list<std::string_view> keys,
                           std::string_view fallback);

    /// The full timeout message for an ask to `target` ("host:port", see above).
    std::string message(std::string_view target) const;
    /// The message of a wait for a future that ran out (RpcFuture::get(timeout)), as Spark's
    /// RpcTimeout.awaitResult words it: "Futures timed out after [<duration>]. This timeout is
    /// controlled by <key>".
    std::string wait_message() const;
};

}  // namespace ember::rpc
