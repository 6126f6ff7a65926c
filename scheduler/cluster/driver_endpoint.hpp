// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// DriverEndpoint: the "CoarseGrainedScheduler" endpoint of the driver (Spark's
/// CoarseGrainedSchedulerBackend.DriverEndpoint).

#include "rpc/rpc_endpoint.hpp"

namespace ember::scheduler {

class CoarseGrainedSchedulerBackend;

/// Receives RetrieveSparkAppConfig, RegisterExecutor, LaunchedExecutor, StatusUpdate and
/// RemoveExecutor; maps disconnects to executor loss. Its inbox is the scheduler loop.
/// Threading: strand-confined.
class DriverEndpoint final : public rpc::RpcEndpoint {
public:
    explicit DriverEndpoint(CoarseGrainedSchedulerBackend& backend) : backend_(backend) {}

    void receive(const rpc::Message& msg) override;
    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override;
    void on_disconnected(const rpc::RpcAddress& remote) override;

private:
    CoarseGrainedSchedulerBackend& backend_;
};

}  // namespace ember::scheduler
