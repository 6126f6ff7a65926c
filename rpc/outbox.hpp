// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: Outbox, the queue of frames for one remote env address (Spark's Outbox.scala).

#include "rpc/message_data.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/rpc_error.hpp"
#include "rpc/transport/transport_client.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

namespace ember::rpc::detail {

class EnvCore;

/// Frames for one remote address. Connects lazily on the first frame; frames queued while
/// connecting go out in order once connected. A connect failure fails every queued ask
/// promptly with the connect error (not a timeout) and removes the outbox, so the next frame
/// connects afresh. When the connection closes later the outbox is removed the same way.
/// Frames waiting for the connection are bounded like the connection's own queue
/// (ember.rpc.io.maxQueuedBytes).
///
/// Threading: thread-safe.
class Outbox : public std::enable_shared_from_this<Outbox> {
public:
    Outbox(EnvCore& env, RpcAddress address, std::uint64_t max_queued_bytes)
        : env_(env), address_(std::move(address)), max_queued_bytes_(max_queued_bytes) {}

    const RpcAddress& address() const noexcept { return address_; }
    /// Queues or writes a frame; `request_id` != 0 marks an ask. Unless it returns queued,
    /// `frame` is left untouched: closed means the outbox is stopped (the caller may retry with
    /// a new outbox), full that the bound was reached (see transport::WhenFull).
    transport::SendResult send(std::unique_ptr<OutgoingData>&& frame, std::uint64_t request_id,
                               transport::WhenFull when_full, std::chrono::steady_clock::time_point deadline);
    /// Called by the env with the outcome of the connect this outbox started.
    void on_connect(RpcResult<std::shared_ptr<transport::Connection>> client);
    /// Stops the outbox and fails what is queued with `why`.
    void stop(const RpcError& why);
    /// The live connection, if any.
    std::shared_ptr<transport::Connection> client() const;

private:
    struct Queued {
        std::unique_ptr<OutgoingData> frame;
        std::uint64_t request_id;
        std::uint64_t bytes;
    };

    EnvCore& env_;
    RpcAddress address_;
    std::uint64_t max_queued_bytes_;
    mutable std::mutex mu_;
    std::condition_variable room_;                       // connected, stopped or drained
    std::deque<Queued> queue_;                           // guarded by mu_
    std::uint64_t queued_bytes_ = 0;                     // guarded by mu_
    std::shared_ptr<transport::Connection> client_;  // guarded by mu_
    bool connecting_ = false;                            // guarded by mu_
    bool stopped_ = false;                               // guarded by mu_
};

}  // namespace ember::rpc::detail
