// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RpcEnv: a process's actor runtime: named endpoints, their inboxes, and the TCP transport
/// that connects them to other envs (after Spark's RpcEnv / NettyRpcEnv).

#include "rpc/conf.hpp"
#include "rpc/message.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/rpc_call_context.hpp"
#include "rpc/rpc_endpoint.hpp"
#include "rpc/rpc_endpoint_ref.hpp"
#include "rpc/rpc_error.hpp"
#include "rpc/rpc_timeout.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace ember::rpc {

namespace detail {
class EnvCore;
}

/// How an env listens and is configured.
struct RpcEnvConfig {
    std::string name = "ember";               ///< for logs and thread names
    std::string bind_address = "127.0.0.1";   ///< where to listen ("0.0.0.0", "::" for all)
    std::string advertise_address;            ///< address peers use; empty: bind_address
    std::uint16_t port = 0;                   ///< 0: any free port; else retried upward
    bool client_mode = false;                 ///< no listener (Spark's executors)
    Conf conf;                                ///< ember.rpc.*, ember.network.*, ember.port.maxRetries
};

/// Per-endpoint options.
struct EndpointOptions {
    /// Run this endpoint on a thread of its own (Spark's IsolatedRpcEndpoint): it may block
    /// without stalling other endpoints, at the price of a thread hop per message.
    bool dedicated_thread = false;
};

/// The actor runtime of one process (or one of several in a test).
///
/// In server mode it listens on `bind_address:port` (port 0 picks a free port; a busy port is
/// retried upward ember.port.maxRetries times, default 16) and advertises `address()`. In client
/// mode it does not listen; its endpoints are reachable only over connections it opened.
///
/// Threading: ember.rpc.io.threads I/O threads (default 1) run the transport and, on the same
/// thread that read a frame, the handlers of uncontended endpoints; no thread hop per message.
/// All members are thread-safe. shutdown() may be called from inside a handler.
///
/// Config keys: ember.rpc.askTimeout, ember.rpc.lookupTimeout, ember.network.timeout,
/// ember.rpc.message.maxSize (MiB, default 128), ember.rpc.io.threads (1),
/// ember.rpc.io.spinTime (how long an idle I/O thread polls before sleeping in epoll: 50us, or 0
/// when the process may run on one CPU only), ember.rpc.io.lendToWaiters (true: drive_io_until
/// may run the I/O loop on a waiting thread), ember.rpc.io.maxQueuedBytes (64m per peer),
/// ember.rpc.io.connectionTimeout, ember.rpc.io.connectionCreationTimeout, ember.port.maxRetries.
class RpcEnv {
public:
    /// Creates an env and, in server mode, binds its listener. Fails with bind_failed naming
    /// the address when no port could be bound.
    static RpcResult<std::unique_ptr<RpcEnv>> create(RpcEnvConfig config);
    /// Shuts down and waits for every thread of the env.
    ~RpcEnv();
    RpcEnv(const RpcEnv&) = delete;
    RpcEnv& operator=(const RpcEnv&) = delete;

    /// The advertised address; empty in client mode.
    const RpcAddress& address() const;
    /// How long an idle I/O thread of this env polls before sleeping in epoll
    /// (ember.rpc.io.spinTime; 50 us, or 0 when the process may run on one CPU only). Threads
    /// waiting for a reply the env will bring may poll as long (SparkContext's job waits do).
    std::chrono::microseconds spin_time() const noexcept;
    /// Lends the calling thread to the env's I/O loop while it waits for something the loop
    /// will bring (an idle executor task thread waits for its next LaunchTask so): the I/O
    /// thread hands the loop over and sleeps, and this thread reads the connections and runs
    /// the handlers until `done()` is true, or nothing has happened for spin_time(). The event
    /// is then handled on the thread that waits for it, without a wake-up in between. Returns
    /// `done()`; on false the I/O thread has the loop back and the caller sleeps as it would
    /// have. On true the loop is left for the caller's next wait to take without a system call,
    /// and the I/O thread takes it back within 1 ms if nobody does: until then nothing reads the
    /// env's connections, which is why a thread that waits so between jobs holds an IoWaitScope.
    ///
    /// Returns `done()` at once, running nothing, when ember.rpc.io.lendToWaiters is false
    /// (default true), when the env has more than one I/O thread or does not poll
    /// (spin_time() 0), is simulated, or another thread drives it, and on a thread that runs
    /// handlers. Handlers run on the calling thread meanwhile, one at a time, as on the I/O
    /// thread; one of them may stop the env, or whatever called this. `done` runs before each
    /// pass: cheap, not blocking. Thread-safe (rpc/message_loop.hpp, MessageLoop::drive_until).
    bool drive_io_until(const std::function<bool()>& done);
    /// While one lives, the calling thread's blocking waits inside ember for `env`'s events
    /// (RpcEndpointRef::ask_sync, a shuffle fetch's results, a broadcast or remote block read)
    /// first run the env's I/O loop for up to spin_time() (drive_io_until). For a thread that
    /// drives the loop between its jobs and may leave it free while it works (an executor's task
    /// thread): its waits then attend the loop themselves instead of waiting for the I/O thread
    /// to take it back.
    /// Threading: a scope of the thread that makes it; nests; `env` must outlive it.
    class IoWaitScope {
    public:
        explicit IoWaitScope(RpcEnv& env);
        ~IoWaitScope();
        IoWaitScope(const IoWaitScope&) = delete;
        IoWaitScope& operator=(const IoWaitScope&) = delete;
        /// In a blocking wait for the env's events: drive_io_until(done) on the env of the
        /// calling thread's innermost scope; returns done() at once if it has none.
        static bool drive_while_waiting(const std::function<bool()>& done);

    private:
        struct Impl;
        std::unique_ptr<Impl> impl_;
    };
    const Conf& conf() const;
    const std::string& name() const;

    /// Registers `endpoint` under `name` and queues its on_start. Fails with duplicate_endpoint
    /// ("There is already an RpcEndpoint called <name>") or env_stopped.
    RpcResult<RpcEndpointRef> setup_endpoint(std::string name, std::unique_ptr<RpcEndpoint> endpoint,
                                             EndpointOptions options = {});
    /// A ref to `name` at `address` without checking that it exists.
    RpcEndpointRef endpoint_ref(const RpcAddress& address, std::string name) const;
    /// Looks up `ember://name@host:port` through the remote endpoint verifier, waiting up to the
    /// lookup timeout. A missing endpoint fails with endpoint_not_found ("Cannot find endpoint:
    /// <uri>"); a malformed URI with invalid_uri.
    RpcResult<RpcEndpointRef> setup_endpoint_ref_by_uri(std::string_view uri);
    /// The asynchronous form of setup_endpoint_ref_by_uri.
    void async_setup_endpoint_ref_by_uri(std::string_view uri,
                                         std::function<void(RpcResult<RpcEndpointRef>)> done);

    /// Runs `fn` on the loop of local endpoint `ref`, serialised with its messages. Returns false
    /// if there is no such local endpoint.
    bool post_task(const RpcEndpointRef& ref, std::function<void()> fn);

    /// Stops a local endpoint: it gets on_stop after its queued messages. Idempotent.
    void stop(const RpcEndpointRef& ref);
    /// Stops every endpoint, fails outstanding asks with env_stopped and closes connections.
    /// Idempotent. Called from an endpoint's handler it only starts the shutdown.
    void shutdown();
    /// Blocks until shutdown has finished (every on_stop has run).
    void await_termination();

    /// Internal core, for ember's own layers (transport tests, test kit).
    detail::EnvCore& core() noexcept { return *core_; }
    /// Internal: an env around a core made elsewhere (the simulator's, on its own Network).
    static std::unique_ptr<RpcEnv> wrap(std::shared_ptr<detail::EnvCore> core);

private:
    explicit RpcEnv(std::shared_ptr<detail::EnvCore> core);
    std::shared_ptr<detail::EnvCore> core_;
};

}  // namespace ember::rpc
