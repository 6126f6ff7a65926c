// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: Outbox, the queue of frames for one remote env address (Spark's Outbox.scala).

#include "rpc/message_data.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/rpc_error.hpp"

#include <deque>
#include <memory>
#include <mutex>

namespace ember::rpc::transport {
class TransportClient;
}

namespace ember::rpc::detail {

class EnvCore;

/// Frames for one remote address. Connects lazily on the first frame; frames queued while
/// connecting go out in order once connected. A connect failure fails every queued ask
/// promptly with the connect error (not a timeout) and removes the outbox, so the next frame
/// connects afresh. When the connection closes later the outbox is removed the same way.
///
/// Threading: thread-safe.
class Outbox : public std::enable_shared_from_this<Outbox> {
public:
    Outbox(EnvCore& env, RpcAddress address) : env_(env), address_(std::move(address)) {}

    const RpcAddress& address() const noexcept { return address_; }
    /// Queues or writes a frame; `request_id` != 0 marks an ask. False if the outbox is stopped
    /// (the caller then fails the ask), leaving `frame` untouched.
    bool send(std::unique_ptr<OutgoingData>&& frame, std::uint64_t request_id);
    /// Called by the env with the outcome of the connect this outbox started.
    void on_connect(RpcResult<std::shared_ptr<transport::TransportClient>> client);
    /// Stops the outbox and fails what is queued with `why`.
    void stop(const RpcError& why);
    /// The live connection, if any.
    std::shared_ptr<transport::TransportClient> client() const;

private:
    struct Queued {
        std::unique_ptr<OutgoingData> frame;
        std::uint64_t request_id;
    };

    EnvCore& env_;
    RpcAddress address_;
    mutable std::mutex mu_;
    std::deque<Queued> queue_;                           // guarded by mu_
    std::shared_ptr<transport::TransportClient> client_;  // guarded by mu_
    bool connecting_ = false;                            // guarded by mu_
    bool stopped_ = false;                               // guarded by mu_
};

}  // namespace ember::rpc::detail
