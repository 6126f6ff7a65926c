// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// LocalEnvs: several RpcEnvs in one process on loopback, for tests (after Thrill's
/// RunLocalTests and CAF's test fixtures, with real sockets).

#include "rpc/rpc_env.hpp"

#include <memory>
#include <vector>

namespace ember::rpc::testkit {

/// `n` server-mode envs on 127.0.0.1 with free ports, named env-0, env-1, ... All are shut
/// down when the fixture goes.
/// Threading: single-threaded (build it on the test thread); the envs themselves are thread-safe.
class LocalEnvs {
public:
    explicit LocalEnvs(int n, Conf conf = {});
    ~LocalEnvs();

    RpcEnv& operator[](std::size_t i) { return *envs_.at(i); }
    std::size_t size() const noexcept { return envs_.size(); }
    /// Adds an env with this configuration (client mode, IPv6, other conf) and returns it.
    RpcEnv& add(RpcEnvConfig config);

private:
    std::vector<std::unique_ptr<RpcEnv>> envs_;
};

}  // namespace ember::rpc::testkit
