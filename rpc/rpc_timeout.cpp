// SPDX-License-Identifier: Apache-2.0
#include "rpc/rpc_timeout.hpp"

#include <fmt/format.h>

namespace ember::rpc {

RpcTimeout RpcTimeout::from(const Conf& conf, std::initializer_list<std::string_view> keys,
                            std::string_view fallback) {
    auto key = conf.first_set(keys);
    std::string name = key ? *key : std::string(*keys.begin());
    return RpcTimeout{conf.get_time_ms(name, fallback, "s"), name};
}

RpcTimeout RpcTimeout::ask(const Conf& conf) {
    return from(conf, {"ember.rpc.askTimeout", "ember.network.timeout"}, "120s");
}

RpcTimeout RpcTimeout::lookup(const Conf& conf) {
    return from(conf, {"ember.rpc.lookupTimeout", "ember.network.timeout"}, "120s");
}

namespace {

// As Scala prints a FiniteDuration, in the unit Spark's RpcTimeout holds (whole seconds) when the
// duration is one, else in milliseconds: "120 seconds", "1 second", "1500 milliseconds".
std::string scala_duration(std::chrono::milliseconds d) {
    auto ms = d.count();
    if (ms % 1000 == 0) return fmt::format("{} second{}", ms / 1000, ms / 1000 == 1 ? "" : "s");
    return fmt::format("{} millisecond{}", ms, ms == 1 ? "" : "s");
}

}  // namespace

std::string RpcTimeout::message(std::string_view target) const {
    // Spark's NettyRpcEnv.ask timeout text, then RpcTimeout.addMessageIfTimeout's suffix.
    return fmt::format("Cannot receive any reply from {} in {}. This timeout is controlled by {}", target,
                       scala_duration(duration), key);
}

std::string RpcTimeout::wait_message() const {
    // Scala's Await.result TimeoutException text, then RpcTimeout.addMessageIfTimeout's suffix.
    return fmt::format("Futures timed out after [{}]. This timeout is controlled by {}", scala_duration(duration), key);
}

}  // namespace ember::rpc
