// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: Dispatcher, the registry of an env's endpoints, routing messages to their inboxes
/// (Spark's Dispatcher; not an I/O event dispatcher as in Thrill's net::Dispatcher).

#include "rpc/inbox.hpp"
#include "rpc/rpc_env.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ember::rpc::detail {

class MessageLoop;

/// Maps endpoint names to inboxes. Shared endpoints run on the env's I/O loop; each endpoint
/// with EndpointOptions::dedicated_thread gets a one-thread loop of its own, unless the shared
/// loop has no threads (a simulation: everything runs on its one thread).
///
/// Threading: thread-safe.
class Dispatcher {
public:
    Dispatcher(MessageLoop& shared_loop, std::string env_name);
    ~Dispatcher();

    /// Registers an endpoint; `prepare` runs before its OnStart can (to set env and self).
    RpcResult<std::shared_ptr<Inbox>> register_endpoint(const std::string& name,
                                                        std::unique_ptr<RpcEndpoint> endpoint,
                                                        EndpointOptions options,
                                                        const std::function<void(RpcEndpoint&)>& prepare);
    /// The inbox of `name`, or nullptr.
    std::shared_ptr<Inbox> find(std::string_view name) const;
    /// Changes (release) whenever an endpoint is registered or unregistered: an answer of find()
    /// stays right while this reads the same (acquire) as before the find(). Lets a reader of
    /// one connection's frames skip the lookup (a mutex and a map of strings) for the endpoint
    /// it saw last (EnvCore::route_frame).
    std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
    /// Stops endpoint `name` (OnStop after its queued messages) and frees the name at once.
    /// Returns false if there is no such endpoint.
    bool unregister(std::string_view name);
    /// Posts a copy of `m` to every endpoint (network events).
    void post_to_all(const InboxMessage& m);
    /// Refuses new endpoints and stops every endpoint. Idempotent.
    void stop();
    bool stopped() const;
    /// True once every endpoint has run on_stop (after stop()).
    bool all_stopped() const;
    /// Waits until every endpoint has run on_stop, then joins the dedicated threads.
    void await_stopped();

private:
    void retire(std::unique_ptr<MessageLoop> loop);

    MessageLoop& shared_loop_;
    std::string env_name_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::string, std::shared_ptr<Inbox>, std::less<>> inboxes_;     // guarded by mu_
    std::map<const Inbox*, std::unique_ptr<MessageLoop>> dedicated_;          // guarded by mu_
    std::vector<std::unique_ptr<MessageLoop>> retired_;                        // guarded by mu_
    int live_ = 0;        // endpoints whose on_stop has not finished; guarded by mu_
    bool stopped_ = false;  // guarded by mu_
    std::atomic<std::uint64_t> generation_{1};  // bumped under mu_ by every change of inboxes_
};

}  // namespace ember::rpc::detail
