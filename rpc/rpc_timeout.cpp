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

std::string RpcTimeout::message(std::string_view target) const {
    return fmt::format("Cannot receive any reply from {} in {} ms. This timeout is controlled by {}",
                       target, duration.count(), key);
}

}  // namespace ember::rpc
