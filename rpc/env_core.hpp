// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: EnvCore, the shared state behind an RpcEnv (Spark's NettyRpcEnv): dispatcher,
/// outboxes, connections, pending asks and their timeouts.

#include "rpc/dispatcher.hpp"
#include "rpc/message_loop.hpp"
#include "rpc/network.hpp"
#include "rpc/outbox.hpp"
#include "rpc/rpc_env.hpp"
#include "rpc/timer_service.hpp"
#include "rpc/transport/transport_client.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>

namespace ember::rpc::detail {

class CallContextImpl;

/// The implementation of RpcEnv. RpcEndpointRefs hold it weakly, so a ref that outlives its env
/// fails cleanly with env_stopped.
///
/// The outside world (clock, timers, listening, connecting) comes through a Network: Asio's
/// by default, or a simulated one, which drives the env's loop itself (it has no I/O threads).
///
/// Threading: thread-safe. ConnectionHandler callbacks run on connection strands.
class EnvCore final : public std::enable_shared_from_this<EnvCore>, public transport::ConnectionHandler {
public:
    /// `make_network` empty: TCP through Asio, on ember.rpc.io.threads I/O threads.
    static RpcResult<std::shared_ptr<EnvCore>> create(RpcEnvConfig config, NetworkFactory make_network = {});
    ~EnvCore();

    const RpcAddress& address() const noexcept { return address_; }
    const Conf& conf() const noexcept { return config_.conf; }
    const std::string& name() const noexcept { return config_.name; }
    MessageLoop& io() noexcept { return *io_; }
    Network& network() noexcept { return *network_; }
    const transport::TransportOptions& transport_options() const noexcept { return transport_options_; }
    /// The endpoints' timers (RpcEndpoint::schedule_once / schedule_every).
    TimerService& timers() noexcept { return *timers_; }

    // -- endpoints ---------------------------------------------------------------------------
    RpcResult<RpcEndpointRef> setup_endpoint(RpcEnv* facade, std::string name,
                                             std::unique_ptr<RpcEndpoint> endpoint, EndpointOptions options);
    RpcEndpointRef make_ref(RpcAddress address, std::string name,
                            std::weak_ptr<transport::Connection> client = {});
    void stop_endpoint(std::string_view name);
    bool post_task(std::string_view name, std::function<void()> fn);
    void lookup(std::string_view uri, std::function<void(RpcResult<RpcEndpointRef>)> done);

    // -- sending -----------------------------------------------------------------------------
    void send(const RpcEndpointRef& to, OutgoingMessage msg);
    /// Starts an ask. With `route_to_caller` the completion runs on the asking endpoint's loop
    /// (when asked from inside an endpoint); ask_sync passes false.
    std::uint64_t ask(const RpcEndpointRef& to, OutgoingMessage msg, RpcTimeout timeout, AskCallback done,
                      bool route_to_caller = true);
    void abort(std::uint64_t request_id, std::string reason);
    /// Completes a pending ask exactly once; later completions of the same id are dropped.
    void complete_ask(std::uint64_t request_id, RpcResult<Message> result);
    /// Writes a response or failure frame for a remote ask.
    void reply_remote(const std::weak_ptr<transport::Connection>& conn, std::uint64_t request_id,
                      OutgoingMessage reply);
    void fail_remote(const std::weak_ptr<transport::Connection>& conn, std::uint64_t request_id,
                     const RpcError& error);
    RpcTimeout default_ask_timeout() const { return ask_timeout_; }
    /// True where blocking would deadlock: on one of this env's shared I/O threads, or
    /// anywhere in a simulation (one thread runs every env).
    bool on_io_thread() const noexcept { return !network_->threaded() || io_->in_this_thread(); }

    // -- connections -------------------------------------------------------------------------
    /// Connects on behalf of an outbox.
    void connect(std::shared_ptr<Outbox> outbox);
    /// Registers and starts a new connection; false (and it is dropped) when the env has stopped
    /// or, for an accepted one, ember.rpc.io.maxConnections are open.
    bool adopt(const std::shared_ptr<transport::Connection>& conn, transport::Role role);
    /// Forgets `outbox` if it is still the one registered for its address.
    void remove_outbox(const Outbox* outbox);
    /// The connection messages to `ref` take now (its bound one, or the outbox's); null if none.
    std::shared_ptr<transport::Connection> connection_of(const RpcEndpointRef& ref);
    void fail_asks(const std::vector<std::uint64_t>& ids, const RpcError& why);
    void on_frame(const std::shared_ptr<transport::Connection>& conn,
                  std::shared_ptr<MessageData> frame) override;
    void on_closed(const std::shared_ptr<transport::Connection>& conn, const RpcError& why, bool failed,
                   std::vector<std::uint64_t> outstanding) override;
    bool has_receiver(std::string_view name) override;
    void on_established(const std::shared_ptr<transport::Connection>& conn) override;

    // -- lifecycle ---------------------------------------------------------------------------
    void shutdown();
    void await_termination();
    bool stopped() const noexcept { return stopped_.load(); }

private:
    struct PendingAsk {
        PendingAsk(AskCallback d, std::weak_ptr<Inbox> c, const RpcEndpointRef& t, RpcTimeout to,
                   std::chrono::steady_clock::time_point when)
            : done(std::move(d)), caller(std::move(c)), target(t), timeout(std::move(to)), due(when) {}
        AskCallback done;
        std::weak_ptr<Inbox> caller;  // completion runs on the asking endpoint's loop
        RpcEndpointRef target;
        RpcTimeout timeout;
        std::chrono::steady_clock::time_point due;  // its deadline, on timers_'s clock
    };

    EnvCore(RpcEnvConfig config, int io_threads);
    void stamp_sender(OutgoingData& d) const;
    /// The error for a frame larger than ember.rpc.message.maxSize or with a body larger than
    /// ember.rpc.io.maxBodySize (either would close the receiving connection). The error starts
    /// "message to <to>", or "reply" without `to`; it is formatted only when the frame is too large
    /// (formatting the address for every frame cost a third of an ask's instructions).
    std::optional<RpcError> check_size(OutgoingData& d, const RpcEndpointRef* to) const;
    /// Delivers a frame to a local endpoint; for asks `request_id` != 0.
    void deliver_local(const std::string& receiver, std::unique_ptr<OutgoingData> d,
                       std::uint64_t request_id);
    /// Writes a frame toward `to` over its bound connection or its address's outbox. A full
    /// queue fails at once on an I/O thread or in a handler, and elsewhere waits until `deadline`.
    RpcResult<void> send_remote(const RpcEndpointRef& to, std::unique_ptr<OutgoingData> d, std::uint64_t request_id,
                                std::chrono::steady_clock::time_point deadline);
    /// Tells the endpoint handling `request_id` at `to` that the asker gave up (aborted or timed
    /// out): a local context is cancelled at once, a remote one by a cancel frame over the
    /// connection the request took, if it is still there.
    void send_cancel(const RpcEndpointRef& to, std::uint64_t request_id);
    /// The peer an ask to `to` waits for, as timeout messages name it: its "host:port", or for a
    /// client-mode endpoint the socket address of the connection it is reached over.
    std::string peer_of(const RpcEndpointRef& to) const;
    void arm_idle_check();
    /// The connection a request to `to` went out on forgets it (timed out or aborted).
    void forget_outstanding(const RpcEndpointRef& to, std::uint64_t request_id);
    bool is_local(const RpcEndpointRef& to) const;
    void route_frame(const std::shared_ptr<transport::Connection>& conn, std::shared_ptr<MessageData> frame);
    /// An ask's deadline passed.
    void on_ask_timeout(std::uint64_t request_id);
    /// Sets the one ask-deadline timer to `at` (earlier than it was), replacing the one armed.
    /// ask_mu_ held (TimerService calls nothing back under its own lock).
    void arm_ask_sweep(std::chrono::steady_clock::time_point at);
    /// The ask-deadline timer armed `generation`-th went off: times out every ask whose deadline
    /// has come, in deadline order (then ask order), and sets the timer to the earliest deadline
    /// left. A timer replaced before it could be cancelled (already firing) does nothing.
    void sweep_asks(std::uint64_t generation);
    void finish_shutdown();
    /// Single-threaded networks: runs the env's loop until `done` or until it has nothing to run.
    void drive_until(const std::function<bool()>& done);

    RpcEnvConfig config_;
    RpcAddress address_;
    RpcTimeout ask_timeout_;
    transport::TransportOptions transport_options_;
    std::chrono::milliseconds connect_timeout_;
    std::chrono::milliseconds idle_timeout_;   // ember.rpc.io.connectionTimeout; <= 0: never
    std::chrono::milliseconds network_timeout_;
    std::size_t max_connections_ = 2048;  // ember.rpc.io.maxConnections: accepted beyond it are closed
    std::unique_ptr<MessageLoop> io_;
    std::unique_ptr<Dispatcher> dispatcher_;
    std::unique_ptr<Network> network_;
    // Endpoint timers and ask deadlines, on network_'s clock and one timer of network_ (virtual
    // time in a simulation). After network_: destroyed before it.
    std::shared_ptr<TimerService> timers_;

    std::mutex outbox_mu_;
    std::unordered_map<RpcAddress, std::shared_ptr<Outbox>> outboxes_;                  // guarded by outbox_mu_
    std::unordered_map<std::uint64_t, std::shared_ptr<transport::Connection>> connections_;  // guarded by outbox_mu_
    std::condition_variable connections_cv_;  // notified when connections_ shrinks

    std::mutex ask_mu_;
    std::unordered_map<std::uint64_t, PendingAsk> asks_;                        // guarded by ask_mu_
    std::unordered_map<std::uint64_t, std::weak_ptr<CallContextImpl>> local_contexts_;  // guarded by ask_mu_
    // Ask deadlines share one timer of timers_, set to the earliest deadline of a pending ask
    // (or earlier: it is not moved later when that ask completes; it sweeps and re-arms when it
    // goes off). An ask with a deadline before it re-arms it; any other ask costs no timer work,
    // where a timer per ask cost two locks, three allocations and ~800 instructions per ask.
    std::chrono::steady_clock::time_point ask_sweep_at_ = std::chrono::steady_clock::time_point::max();  // guarded by ask_mu_
    std::uint64_t ask_sweep_timer_ = 0;  // guarded by ask_mu_: its id in timers_ (0: none)
    std::uint64_t ask_sweep_generation_ = 0;  // guarded by ask_mu_: counts arm_ask_sweep calls
    std::atomic<std::uint64_t> next_request_id_{1};
    std::unique_ptr<Network::Timer> idle_timer_;  // idle connections

    std::atomic<bool> stopped_{false};
    std::mutex term_mu_;
    std::condition_variable term_cv_;
    bool terminated_ = false;       // guarded by term_mu_
    bool finishing_ = false;        // guarded by term_mu_: finish_shutdown has begun
    std::thread shutdown_thread_;   // finishes a shutdown started on an I/O thread
};

}  // namespace ember::rpc::detail
