// SPDX-License-Identifier: Apache-2.0
#include "rpc/testkit/local_envs.hpp"

namespace ember::rpc::testkit {

LocalEnvs::LocalEnvs(int n, Conf conf) {
    for (int i = 0; i < n; ++i) {
        RpcEnvConfig c;
        c.name = "env-" + std::to_string(i);
        c.conf = conf;
        add(std::move(c));
    }
}

LocalEnvs::~LocalEnvs() {
    for (auto& e : envs_) e->shutdown();
    envs_.clear();
}

RpcEnv& LocalEnvs::add(RpcEnvConfig config) {
    envs_.push_back(RpcEnv::create(std::move(config)).value());
    return *envs_.back();
}

}  // namespace ember::rpc::testkit
