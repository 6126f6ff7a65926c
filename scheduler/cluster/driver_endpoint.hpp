// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// DriverEndpoint: the "CoarseGrainedScheduler" endpoint of the driver (Spark's
/// CoarseGrainedSchedulerBackend.DriverEndpoint).

#include "rpc/log.hpp"
#include "rpc/rpc_endpoint.hpp"

#include <string>

namespace ember::scheduler {

class CoarseGrainedSchedulerBackend;

/// Receives RetrieveSparkAppConfig, RegisterExecutor, LaunchedExecutor, StatusUpdate and
/// RemoveExecutor; maps disconnects to executor loss. Its inbox is the scheduler loop.
///
/// Authorisation (on top of ember.authenticate): an executor's messages count only from the
/// connection it registered on, StatusUpdates only for tasks running on that executor, and
/// RemoveExecutor only from inside the driver; others are ignored and logged (rate-limited).
/// Threading: strand-confined.
class DriverEndpoint final : public rpc::RpcEndpoint {
public:
    explicit DriverEndpoint(CoarseGrainedSchedulerBackend& backend) : backend_(backend) {}

    void receive(const rpc::Message& msg) override;
    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override;
    void on_disconnected(const rpc::RpcAddress& remote) override;

private:
    /// Logs "Ignoring <what> (from host:port)" at warn, at most once per 5 s per peer host.
    void refused(const rpc::Message& msg, const std::string& what);

    CoarseGrainedSchedulerBackend& backend_;
    log::RateLimitedLog refusals_;
};

}  // namespace ember::scheduler
