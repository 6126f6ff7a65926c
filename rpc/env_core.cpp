// SPDX-License-Identifier: Apache-2.0
#include "rpc/env_core.hpp"

#include "rpc/call_context_impl.hpp"
#include "rpc/endpoint_verifier.hpp"
#include "rpc/log.hpp"
#include "rpc/transport/asio_network.hpp"
#include "rpc/wire_error.hpp"

#include <fmt/format.h>

#include <algorithm>

#include <sched.h>

namespace ember::rpc::detail {

using Clock = std::chrono::steady_clock;

namespace {

// Polling before sleeping pays when the peer runs on another CPU; confined to one CPU, we would
// only take time from the peer, so the default is not to poll then.
const char* default_spin_time() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) <= 1) return "0";
    return "50us";
}

}  // namespace

EnvCore::EnvCore(RpcEnvConfig config, int io_threads)
    : config_(std::move(config)),
      ask_timeout_(RpcTimeout::ask(config_.conf)),
      connect_timeout_(config_.conf.get_time_ms(
          config_.conf.first_set({"ember.rpc.io.connectionCreationTimeout", "ember.rpc.io.connectionTimeout",
                                  "ember.network.timeout"})
              .value_or("ember.network.timeout"),
          "120s", "s")),
      idle_timeout_(config_.conf.get_time_ms(
          config_.conf.first_set({"ember.rpc.io.connectionTimeout", "ember.network.timeout"})
              .value_or("ember.network.timeout"),
          "120s", "s")),
      network_timeout_(config_.conf.get_time_ms("ember.network.timeout", "120s", "s")),
      io_(std::make_unique<MessageLoop>(
          config_.name.empty() ? "rpc-io" : config_.name + "-io",
          io_threads,
          config_.conf.get_time_us("ember.rpc.io.spinTime", default_spin_time()),
          config_.conf.get_bool("ember.rpc.io.lendToWaiters", true))) {
    transport_options_.max_frame_bytes =
        static_cast<std::size_t>(config_.conf.get_size_bytes("ember.rpc.message.maxSize", "128", "m"));
    transport_options_.max_body_bytes =
        static_cast<std::uint64_t>(config_.conf.get_size_bytes("ember.rpc.io.maxBodySize", "2g"));
    transport_options_.max_queued_bytes =
        static_cast<std::uint64_t>(config_.conf.get_size_bytes("ember.rpc.io.maxQueuedBytes", "64m"));
    // What peers may make this env buffer unasked: per connection at least twice the largest
    // frame, and for all connections together.
    transport_options_.max_buffered_bytes_per_connection = static_cast<std::uint64_t>(config_.conf.get_size_bytes(
        "ember.rpc.io.maxBufferedBytesPerConnection",
        std::to_string(std::max<std::uint64_t>(256ull << 20, 2 * transport_options_.max_frame_bytes))));
    transport_options_.env_budget = std::make_shared<transport::MemoryBudget>(
        static_cast<std::uint64_t>(config_.conf.get_size_bytes("ember.rpc.io.maxBufferedBytes", "1g")));
    transport_options_.first_frame_timeout = config_.conf.get_time_ms("ember.network.auth.rpcTimeout", "30s");
    transport_options_.security =
        std::make_shared<const security::SecurityConfig>(security::SecurityConfig::from_conf(config_.conf));
    max_connections_ = static_cast<std::size_t>(std::max<std::int64_t>(1, config_.conf.get_int("ember.rpc.io.maxConnections", 2048)));
}

RpcResult<std::shared_ptr<EnvCore>> EnvCore::create(RpcEnvConfig config, NetworkFactory make_network) {
    std::shared_ptr<EnvCore> core;
    try {
        // A network of its own drives the loop: no I/O threads then.
        int io_threads = make_network ? 0
                                      : static_cast<int>(std::max<std::int64_t>(
                                            1, config.conf.get_int("ember.rpc.io.threads", 1)));
        core.reset(new EnvCore(std::move(config), io_threads));
    } catch (const std::invalid_argument& e) {
        return RpcError{RpcErrc::invalid_config, e.what()};
    }
    if (make_network) {
        core->network_ = make_network(*core->io_);
    } else {
        core->network_ = std::make_unique<transport::AsioNetwork>(*core->io_, core->transport_options_);
    }
    core->next_request_id_ = core->network_->request_id_base();
    core->timers_ = TimerService::on_network(*core->network_);
    core->idle_timer_ = core->network_->make_timer();
    core->dispatcher_ = std::make_unique<Dispatcher>(*core->io_, core->config_.name);
    core->arm_idle_check();
    if (!core->config_.client_mode) {
        std::weak_ptr<EnvCore> weak = core;
        auto address = core->network_->listen(core->config_, *core, [weak](std::shared_ptr<transport::Connection> c) {
            if (auto self = weak.lock()) self->adopt(c, transport::Role::accepted);
        });
        if (!address) {
            core->shutdown();
            core->await_termination();
            return address.error();
        }
        core->address_ = std::move(*address);
        auto verifier = std::make_unique<EndpointVerifier>(
            [weak](std::string_view name) {
                auto c = weak.lock();
                return c && c->dispatcher_->find(name) != nullptr;
            });
        auto r = core->setup_endpoint(nullptr, std::string(EndpointVerifier::kName), std::move(verifier), {});
        EMBER_ASSERT(r.has_value(), "cannot register the endpoint verifier");
    }
    return core;
}

EnvCore::~EnvCore() {
    shutdown();
    if (!Inbox::current() && !io_->in_this_thread()) await_termination();
    if (shutdown_thread_.joinable()) {
        if (shutdown_thread_.get_id() == std::this_thread::get_id()) {
            shutdown_thread_.detach();
        } else {
            shutdown_thread_.join();
        }
    }
}

// -- endpoints ---------------------------------------------------------------------------------

RpcResult<RpcEndpointRef> EnvCore::setup_endpoint(RpcEnv* facade, std::string name,
                                                  std::unique_ptr<RpcEndpoint> endpoint,
                                                  EndpointOptions options) {
    EMBER_REQUIRE(endpoint != nullptr, "setup_endpoint({}): endpoint is null", name);
    EMBER_REQUIRE(!name.empty(), "setup_endpoint: the endpoint name must not be empty");
    if (stopped_) return RpcError{RpcErrc::env_stopped, "RpcEnv has been stopped"};
    RpcEndpointRef ref = make_ref(address_, name);
    auto inbox = dispatcher_->register_endpoint(name, std::move(endpoint), options,
                                                [&](RpcEndpoint& ep) { ep.env_ = facade, ep.self_ = ref; });
    if (!inbox) return inbox.error();
    return ref;
}

RpcEndpointRef EnvCore::make_ref(RpcAddress address, std::string name,
                                 std::weak_ptr<transport::Connection> client) {
    return RpcEndpointRef(RpcEndpointAddress{std::move(address), std::move(name)}, weak_from_this(),
                          std::move(client));
}

void EnvCore::stop_endpoint(std::string_view name) { dispatcher_->unregister(name); }

bool EnvCore::post_task(std::string_view name, std::function<void()> fn) {
    auto inbox = dispatcher_->find(name);
    return inbox && inbox->post(Closure{std::move(fn)}, false);
}

void EnvCore::lookup(std::string_view uri, std::function<void(RpcResult<RpcEndpointRef>)> done) {
    auto parsed = RpcEndpointAddress::parse(uri);
    if (!parsed) {
        done(parsed.error());
        return;
    }
    std::string whole(uri);
    if (parsed->address == address_) {
        if (dispatcher_->find(parsed->name)) {
            done(make_ref(parsed->address, parsed->name));
        } else {
            done(RpcError{RpcErrc::endpoint_not_found, "Cannot find endpoint: " + whole});
        }
        return;
    }
    RpcEndpointRef verifier = make_ref(parsed->address, std::string(EndpointVerifier::kName));
    auto msg = OutgoingMessage::make<rpc_wire::CheckExistence>(
        [&](rpc_wire::CheckExistence::Builder b) { b.setName(parsed->name); });
    std::weak_ptr<EnvCore> weak = weak_from_this();
    ask(verifier, std::move(msg), RpcTimeout::lookup(conf()),
        [weak, whole, target = *parsed, done = std::move(done)](RpcResult<Message> r) {
            auto core = weak.lock();
            if (!core) {
                done(RpcError{RpcErrc::env_stopped, "RpcEnv already stopped"});
            } else if (!r) {
                done(r.error());
            } else if (auto reply = r->try_get<rpc_wire::CheckExistenceReply>(); reply && reply->getExists()) {
                done(core->make_ref(target.address, target.name));
            } else {
                done(RpcError{RpcErrc::endpoint_not_found, "Cannot find endpoint: " + whole});
            }
        },
        false);
}

// -- sending -----------------------------------------------------------------------------------

bool EnvCore::is_local(const RpcEndpointRef& to) const {
    return to.address() == address_ && to.client_.expired();
}

void EnvCore::stamp_sender(OutgoingData& d) const {
    if (!address_.empty()) {
        d.envelope.setSenderHost(address_.host);
        d.envelope.setSenderPort(address_.port);
    }
    if (Inbox* current = Inbox::current()) d.envelope.setSenderName(current->name());
}

void EnvCore::send(const RpcEndpointRef& to, OutgoingMessage msg) {
    auto d = msg.release();
    EMBER_REQUIRE(d != nullptr, "send: the message was already sent");
    if (stopped_) {
        log::get("rpc")->debug("Dropping one-way message to {}: RpcEnv already stopped", to.to_string());
        return;
    }
    d->envelope.setKind(rpc_wire::Kind::ONE_WAY);
    d->envelope.setReceiver(to.name());
    stamp_sender(*d);
    if (is_local(to)) {
        deliver_local(to.name(), std::move(d), 0);
        return;
    }
    auto type = d->envelope.getPayloadTypeId();
    if (auto r = send_remote(to, std::move(d), 0, network_->now() + network_timeout_); !r) {
        log::get("rpc")->warn("Failed to send one-way {} to {}: {}", type_name(type), to.to_string(),
                              r.error().message);
    }
}

std::uint64_t EnvCore::ask(const RpcEndpointRef& to, OutgoingMessage msg, RpcTimeout timeout,
                           AskCallback done, bool route_to_caller) {
    auto d = msg.release();
    EMBER_REQUIRE(d != nullptr, "ask: the message was already sent");
    std::uint64_t id = next_request_id_.fetch_add(1);
    if (stopped_) {
        done(RpcError{RpcErrc::env_stopped, "RpcEnv already stopped"});
        return id;
    }
    std::weak_ptr<Inbox> caller;
    if (Inbox* current = Inbox::current(); current && route_to_caller) caller = current->weak_from_this();
    // One clock read serves the deadline and the waits for queue room (timers_ runs on
    // network_'s clock).
    auto deadline = network_->now() + timeout.duration;
    {
        // Built in its map node from its parts: a default-constructed PendingAsk would allocate
        // its RpcTimeout's key ("ember.rpc.askTimeout" is past the short-string buffer) only to
        // free it again, twice per ask.
        std::lock_guard lk(ask_mu_);
        asks_.emplace(std::piecewise_construct, std::forward_as_tuple(id),
                      std::forward_as_tuple(std::move(done), std::move(caller), to, std::move(timeout), deadline));
        if (deadline < ask_sweep_at_) arm_ask_sweep(deadline);
    }

    d->envelope.setKind(rpc_wire::Kind::REQUEST);
    d->envelope.setRequestId(id);
    d->envelope.setReceiver(to.name());
    stamp_sender(*d);
    if (is_local(to)) {
        deliver_local(to.name(), std::move(d), id);
    } else if (auto r = send_remote(to, std::move(d), id, deadline); !r) {
        complete_ask(id, r.error());
    }
    return id;
}

void EnvCore::deliver_local(const std::string& receiver, std::unique_ptr<OutgoingData> d,
                            std::uint64_t request_id) {
    auto inbox = dispatcher_->find(receiver);
    if (!inbox) {
        RpcError e{RpcErrc::endpoint_not_found,
                   fmt::format("Could not find endpoint {}", RpcEndpointAddress{address_, receiver}.to_string())};
        if (request_id) {
            complete_ask(request_id, std::move(e));
        } else {
            log::get("rpc")->warn("Dropping one-way message: {}", e.message);
        }
        return;
    }
    auto data = localize(std::move(d));
    if (!data) {
        if (request_id) {
            complete_ask(request_id, data.error());
        } else {
            log::get("rpc")->warn("Dropping one-way message to {}: {}", receiver, data.error().message);
        }
        return;
    }
    (*data)->sender_address = address_;
    if ((*data)->envelope.hasOrigin()) {  // forwarded: the first sender's address
        auto o = (*data)->envelope.getOrigin();
        (*data)->sender_address = RpcAddress{o.getHost(), o.getPort()};
    }
    (*data)->env = weak_from_this();
    Message m = MessageData::to_message(std::move(*data));
    if (request_id) {
        auto impl = std::make_shared<LocalCallContext>(weak_from_this(), request_id, address_);
        {
            std::lock_guard lk(ask_mu_);
            if (asks_.count(request_id)) local_contexts_[request_id] = impl;
        }
        RpcCallContext ctx(std::move(impl));
        inbox->post(RpcMessage{std::move(m), std::move(ctx)}, false);
    } else {
        inbox->post(OneWayMessage{std::move(m)}, false);
    }
}

RpcResult<void> EnvCore::send_remote(const RpcEndpointRef& to, std::unique_ptr<OutgoingData> d,
                                     std::uint64_t request_id, Clock::time_point deadline) {
    if (auto too_large = check_size(*d, &to)) return *too_large;
    // Handlers run on I/O threads and must never block: there (and anywhere in a simulation) a
    // full queue fails the send.
    auto when_full = on_io_thread() || Inbox::current() ? transport::WhenFull::fail : transport::WhenFull::wait;
    auto full = [&] {
        return RpcError{RpcErrc::send_dropped,
                        fmt::format("Message to {} dropped: more than ember.rpc.io.maxQueuedBytes ({} bytes) are "
                                    "already queued for that peer",
                                    to.to_string(), transport_options_.max_queued_bytes)};
    };
    if (auto c = to.client_.lock()) {
        switch (c->send(std::move(d), request_id, when_full, deadline)) {
            case transport::SendResult::queued: return {};
            case transport::SendResult::full: return full();
            case transport::SendResult::closed: break;
        }
        return RpcError{RpcErrc::connection_closed,
                        fmt::format("Connection to {} closed", c->remote_address().host_port())};
    }
    if (to.address().empty()) {
        return RpcError{RpcErrc::connection_closed,
                        fmt::format("Cannot send message to client endpoint {} with no listen address: "
                                    "the connection it came over is gone",
                                    to.to_string())};
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::shared_ptr<Outbox> outbox;
        {
            std::lock_guard lk(outbox_mu_);
            if (stopped_) break;
            auto& slot = outboxes_[to.address()];
            if (!slot) slot = std::make_shared<Outbox>(*this, to.address(), transport_options_.max_queued_bytes);
            outbox = slot;
        }
        switch (outbox->send(std::move(d), request_id, when_full, deadline)) {
            case transport::SendResult::queued: return {};
            case transport::SendResult::full: return full();
            case transport::SendResult::closed: break;
        }
        remove_outbox(outbox.get());  // a stopped outbox left behind by a closing connection
    }
    return RpcError{RpcErrc::send_dropped, "Message is dropped because Outbox is stopped"};
}

void EnvCore::send_cancel(const RpcEndpointRef& to, std::uint64_t request_id) {
    if (is_local(to)) {
        std::shared_ptr<CallContextImpl> ctx;
        {
            std::lock_guard lk(ask_mu_);
            if (auto it = local_contexts_.find(request_id); it != local_contexts_.end()) {
                ctx = it->second.lock();
                local_contexts_.erase(it);
            }
        }
        if (ctx) ctx->cancel();
        return;
    }
    // Only over the connection the request took (its bound one, or its address's outbox, which
    // may still be connecting and then sends the cancel after the request): a cancel never opens
    // a connection, and where that connection is gone the receiver has dropped the request.
    // Best effort: never waits for queue room.
    std::shared_ptr<Outbox> outbox;
    auto conn = to.client_.lock();
    if (!conn) {
        std::lock_guard lk(outbox_mu_);
        if (auto it = outboxes_.find(to.address()); it != outboxes_.end()) outbox = it->second;
    }
    if (!conn && !outbox) return;
    auto m = OutgoingMessage::make<rpc_wire::Ack>();
    auto d = m.release();
    d->envelope.setKind(rpc_wire::Kind::CANCEL);
    d->envelope.setRequestId(request_id);
    d->envelope.setReceiver(to.name());
    stamp_sender(*d);
    if (conn) {
        (void)conn->send(std::move(d), 0, transport::WhenFull::fail);
    } else {
        (void)outbox->send(std::move(d), 0, transport::WhenFull::fail, network_->now());
    }
}

std::string EnvCore::peer_of(const RpcEndpointRef& to) const {
    if (!to.address().empty()) return to.address().host_port();
    // A client-mode endpoint has no address of its own: name the connection's far end, as
    // Spark's NettyRpcEnv names the client channel's remote address (SPARK-31233).
    if (auto c = to.client_.lock()) return c->remote_address().host_port();
    return to.to_string();
}

void EnvCore::forget_outstanding(const RpcEndpointRef& to, std::uint64_t request_id) {
    if (is_local(to)) return;
    std::shared_ptr<transport::Connection> conn = to.client_.lock();
    if (!conn) {
        std::lock_guard lk(outbox_mu_);
        if (auto it = outboxes_.find(to.address()); it != outboxes_.end()) conn = it->second->client();
    }
    if (conn) conn->complete_request(request_id);
}

void EnvCore::arm_idle_check() {
    if (idle_timeout_.count() <= 0) return;
    auto period = std::max(idle_timeout_ / 4, std::chrono::milliseconds(10));
    idle_timer_->post([weak = weak_from_this(), period] {
        auto self = weak.lock();
        if (!self || self->stopped_) return;
        self->idle_timer_->expires_at(self->network_->now() + period, [weak] {
            auto s = weak.lock();
            if (!s || s->stopped_) return;
            std::vector<std::shared_ptr<transport::Connection>> conns;
            {
                std::lock_guard lk(s->outbox_mu_);
                for (auto& [_, c] : s->connections_) conns.push_back(c);
            }
            for (auto& c : conns) c->check_idle(s->idle_timeout_);
            s->arm_idle_check();
        });
    });
}

void EnvCore::complete_ask(std::uint64_t request_id, RpcResult<Message> result) {
    decltype(asks_)::node_type node;  // the entry leaves the map whole: nothing is moved or allocated
    {
        std::lock_guard lk(ask_mu_);
        auto it = asks_.find(request_id);
        if (it == asks_.end()) return;  // completed already: a late reply, a second reply
        node = asks_.extract(it);
        if (!local_contexts_.empty()) local_contexts_.erase(request_id);
    }
    PendingAsk& p = node.mapped();
    if (auto caller = p.caller.lock()) {
        auto run = [&] { p.done(std::move(result)); };
        if (!caller->try_run_inline(run)) {
            caller->post(Closure{[done = std::move(p.done), r = std::move(result)]() mutable { done(std::move(r)); }},
                         true);
        }
    } else {
        p.done(std::move(result));
    }
}

void EnvCore::abort(std::uint64_t request_id, std::string reason) {
    RpcEndpointRef target;
    {
        std::lock_guard lk(ask_mu_);
        auto it = asks_.find(request_id);
        if (it == asks_.end()) return;  // completed already
        target = it->second.target;
    }
    // Cancel first, so a local handler sees cancelled() before the asker hears of the abort.
    send_cancel(target, request_id);
    forget_outstanding(target, request_id);
    complete_ask(request_id, RpcError{RpcErrc::aborted, std::move(reason)});
}

void EnvCore::fail_asks(const std::vector<std::uint64_t>& ids, const RpcError& why) {
    for (auto id : ids) complete_ask(id, why);
}

void EnvCore::reply_remote(const std::weak_ptr<transport::Connection>& conn, std::uint64_t request_id,
                           OutgoingMessage reply) {
    auto c = conn.lock();
    if (!c || !c->is_active()) {
        log::get("rpc")->debug("Dropping reply to request {}: its connection is closed", request_id);
        return;
    }
    auto d = reply.release();
    d->envelope.setKind(rpc_wire::Kind::RESPONSE);
    d->envelope.setRequestId(request_id);
    stamp_sender(*d);
    // A reply that could never arrive becomes a failure frame, so the asker hears at once.
    if (auto too_large = check_size(*d, nullptr)) {
        fail_remote(conn, request_id, *too_large);
        return;
    }
    // Never dropped for room: queued past ember.rpc.io.maxQueuedBytes if need be (the asker
    // bounds what it has in flight); only a closed connection loses it, and then the asker's
    // side of that connection fails the ask.
    if (c->send(std::move(d), 0, transport::WhenFull::exceed) != transport::SendResult::queued) {
        log::get("rpc")->debug("Dropping reply to request {}: its connection closed", request_id);
    }
}

std::optional<RpcError> EnvCore::check_size(OutgoingData& d, const RpcEndpointRef* to) const {
    std::size_t bytes = d.frame_bytes();
    auto what = [&] { return to ? "message to " + to->to_string() : std::string("reply"); };
    if (bytes > transport_options_.max_frame_bytes) {
        return RpcError{RpcErrc::frame_too_large,
                        fmt::format("{} ({}) of {} bytes exceeds ember.rpc.message.maxSize ({} bytes)", what(),
                                    type_name(d.envelope.getPayloadTypeId()), bytes,
                                    transport_options_.max_frame_bytes)};
    }
    if (d.body_size > transport_options_.max_body_bytes) {
        return RpcError{RpcErrc::frame_too_large,
                        fmt::format("{} ({}) has a body of {} bytes, more than ember.rpc.io.maxBodySize ({} bytes)",
                                    what(), type_name(d.envelope.getPayloadTypeId()), d.body_size,
                                    transport_options_.max_body_bytes)};
    }
    return std::nullopt;
}

void EnvCore::fail_remote(const std::weak_ptr<transport::Connection>& conn, std::uint64_t request_id,
                          const RpcError& error) {
    auto c = conn.lock();
    if (!c || !c->is_active()) return;
    auto m = OutgoingMessage::make<rpc_wire::RpcFailure>([&](rpc_wire::RpcFailure::Builder b) {
        b.setCode(to_wire(error.code));
        b.setMessage(error.message);
    });
    auto d = m.release();
    d->envelope.setKind(rpc_wire::Kind::FAILURE);
    d->envelope.setRequestId(request_id);
    stamp_sender(*d);
    if (c->send(std::move(d), 0, transport::WhenFull::exceed) != transport::SendResult::queued) {
        log::get("rpc")->debug("Dropping failure reply to request {}: its connection closed", request_id);
    }
}

void EnvCore::arm_ask_sweep(Clock::time_point at) {
    if (ask_sweep_timer_ != 0) timers_->cancel(ask_sweep_timer_);
    ask_sweep_at_ = at;
    ask_sweep_timer_ = timers_->schedule_direct(at, [weak = weak_from_this(), g = ++ask_sweep_generation_] {
        if (auto self = weak.lock()) self->sweep_asks(g);
    });
    if (ask_sweep_timer_ == 0) ask_sweep_at_ = Clock::time_point::min();  // shut down: never again
}

void EnvCore::sweep_asks(std::uint64_t generation) {
    auto now = timers_->now();
    std::vector<std::pair<Clock::time_point, std::uint64_t>> expired;
    {
        std::lock_guard lk(ask_mu_);
        if (generation != ask_sweep_generation_) return;  // replaced: the one armed now covers every ask
        ask_sweep_timer_ = 0;  // this one has gone off
        auto next = Clock::time_point::max();
        for (auto& [id, p] : asks_) {
            if (p.due <= now) {
                expired.emplace_back(p.due, id);
            } else {
                next = std::min(next, p.due);
            }
        }
        ask_sweep_at_ = Clock::time_point::max();
        if (next != Clock::time_point::max()) arm_ask_sweep(next);
    }
    std::sort(expired.begin(), expired.end());
    for (auto& [due, id] : expired) on_ask_timeout(id);
}

void EnvCore::on_ask_timeout(std::uint64_t request_id) {
    RpcEndpointRef target;
    RpcError error;
    {
        std::lock_guard lk(ask_mu_);
        auto it = asks_.find(request_id);
        if (it == asks_.end()) return;  // completed meanwhile
        target = it->second.target;
        error = RpcError{RpcErrc::timeout, it->second.timeout.message(peer_of(target))};
    }
    // As abort: the receiver hears first (its context turns cancelled() and a late reply is
    // dropped there), then the asker. Spark's NettyRpcEnv tells the receiver nothing.
    send_cancel(target, request_id);
    forget_outstanding(target, request_id);
    complete_ask(request_id, std::move(error));
}

// -- connections -------------------------------------------------------------------------------

bool EnvCore::adopt(const std::shared_ptr<transport::Connection>& conn, transport::Role role) {
    {
        std::lock_guard lk(outbox_mu_);
        if (stopped_) return false;
        if (role == transport::Role::accepted && connections_.size() >= max_connections_) {
            log::peer_log("transport", spdlog::level::warn, conn->remote_address().host,
                          "Refusing connection from {}: {} connections are open (ember.rpc.io.maxConnections)",
                          conn->remote_address().host_port(), connections_.size());
            return false;  // the socket closes with conn
        }
        connections_.emplace(conn->id(), conn);
    }
    conn->start();
    return true;
}

bool EnvCore::has_receiver(std::string_view name) { return dispatcher_->find(name) != nullptr; }

void EnvCore::on_established(const std::shared_ptr<transport::Connection>& conn) {
    // Only now, after the handshake: an unauthenticated peer is no event for anybody.
    dispatcher_->post_to_all(RemoteProcessConnected{conn->remote_address()});
}

void EnvCore::connect(std::shared_ptr<Outbox> outbox) {
    std::weak_ptr<EnvCore> weak = weak_from_this();
    network_->connect(
        outbox->address(), connect_timeout_, *this,
        [weak, outbox](RpcResult<std::shared_ptr<transport::Connection>> r) {
            auto self = weak.lock();
            if (!self) return;
            if (!r) {
                self->remove_outbox(outbox.get());
                outbox->on_connect(r.error());
                return;
            }
            if (!self->adopt(*r, transport::Role::connected)) {
                outbox->on_connect(RpcError{RpcErrc::env_stopped, "RpcEnv already stopped"});
                return;
            }
            outbox->on_connect(std::move(*r));
        });
}

std::shared_ptr<transport::Connection> EnvCore::connection_of(const RpcEndpointRef& ref) {
    if (auto c = ref.client_.lock()) return c;
    std::lock_guard lk(outbox_mu_);
    auto it = outboxes_.find(ref.address());
    return it == outboxes_.end() ? nullptr : it->second->client();
}

void EnvCore::remove_outbox(const Outbox* outbox) {
    std::lock_guard lk(outbox_mu_);
    auto it = outboxes_.find(outbox->address());
    if (it != outboxes_.end() && it->second.get() == outbox) outboxes_.erase(it);
}

void EnvCore::on_frame(const std::shared_ptr<transport::Connection>& conn,
                       std::shared_ptr<MessageData> frame) {
    try {
        route_frame(conn, std::move(frame));
    } catch (const kj::Exception& e) {
        // The envelope's fields point outside the frame or the like: the peer speaks garbage.
        std::string why = describe(std::make_exception_ptr(e));  // without kj's stack addresses
        log::peer_log("transport", spdlog::level::warn, conn->remote_address().host,
                      "Closing connection from {}: malformed frame: {}", conn->remote_address().host_port(), why);
        conn->close(RpcError{RpcErrc::protocol_error, fmt::format("malformed frame: {}", why)});
    }
}

void EnvCore::route_frame(const std::shared_ptr<transport::Connection>& conn,
                          std::shared_ptr<MessageData> frame) {
    auto env = frame->envelope;
    const RpcAddress* named = &conn->remote_address();
    if (env.hasSenderHost()) {
        auto text = env.getSenderHost();
        std::string_view host(text.begin(), text.size());
        auto port = env.getSenderPort();
        if (!host.empty()) {
            auto& cache = conn->sender_cache;
            if (cache.address.empty() || cache.port != port || cache.host != host) {
                RpcAddress parsed{std::string(host), port};
                if (conn->set_peer_env_address(parsed) && parsed != conn->remote_address()) {
                    dispatcher_->post_to_all(RemoteProcessConnected{parsed});
                }
                cache.host.assign(host);
                cache.port = port;
                cache.address = std::move(parsed);
            }
            named = &cache.address;
        }
    }
    const RpcAddress& sender = *named;
    frame->sender_address = sender;
    if (env.hasOrigin()) {  // forwarded: the receiver sees the first sender (the connection stays the forwarder's)
        auto o = env.getOrigin();
        frame->sender_address = RpcAddress{o.getHost(), o.getPort()};
    }
    frame->env = weak_from_this();
    frame->connection = conn;
    std::uint64_t id = env.getRequestId();
    switch (env.getKind()) {
        case rpc_wire::Kind::ONE_WAY:
        case rpc_wire::Kind::REQUEST: {
            auto text = env.getReceiver();
            std::string_view receiver(text.begin(), text.size());
            bool request = env.getKind() == rpc_wire::Kind::REQUEST;
            // The connection's last receiver, while no endpoint came or went since it was found.
            auto& cache = conn->receiver_cache;
            const std::uint64_t generation = dispatcher_->generation();
            std::shared_ptr<Inbox> inbox;
            if (cache.generation == generation && cache.name == receiver) inbox = cache.inbox.lock();
            if (!inbox) {
                inbox = dispatcher_->find(receiver);
                if (inbox) {
                    cache.name.assign(receiver);
                    cache.inbox = inbox;
                    cache.generation = generation;  // read before the find: a change since then makes it miss
                }
            }
            if (!inbox) {
                RpcError e{RpcErrc::endpoint_not_found,
                           fmt::format("Could not find endpoint {}",
                                       RpcEndpointAddress{address_, std::string(receiver)}.to_string())};
                if (request) {
                    fail_remote(conn, id, e);
                } else {
                    log::peer_log("rpc", spdlog::level::warn, conn->remote_address().host,
                                  "Dropping one-way message from {}: {}", sender.host_port(), e.message);
                }
                return;
            }
            Message m = MessageData::to_message(std::move(frame));
            if (request) {
                RpcCallContext ctx(std::make_shared<RemoteCallContext>(weak_from_this(), id, sender, conn));
                inbox->post(RpcMessage{std::move(m), std::move(ctx)}, true);
            } else {
                inbox->post(OneWayMessage{std::move(m)}, true);
            }
            return;
        }
        case rpc_wire::Kind::RESPONSE:
            conn->complete_request(id);
            complete_ask(id, MessageData::to_message(std::move(frame)));
            return;
        case rpc_wire::Kind::FAILURE: {
            conn->complete_request(id);
            RpcError e{RpcErrc::remote_failure, "remote failure"};
            try {
                if (env.getPayloadTypeId() == capnp::typeId<rpc_wire::RpcFailure>()) {
                    auto f = env.getPayload().getAs<rpc_wire::RpcFailure>();
                    e.code = from_wire(f.getCode());
                    e.message = f.getMessage();
                }
            } catch (const kj::Exception& ex) {
                e.message = fmt::format("malformed failure reply: {}", describe(std::make_exception_ptr(ex)));
            }
            complete_ask(id, std::move(e));
            return;
        }
        case rpc_wire::Kind::CANCEL:
            // The context asks the connection when it replies or is asked cancelled().
            conn->mark_cancelled(id);
            return;
    }
    log::peer_log("rpc", spdlog::level::warn, conn->remote_address().host, "Ignoring frame of unknown kind {} from {}",
                  static_cast<int>(env.getKind()), sender.host_port());
}

void EnvCore::on_closed(const std::shared_ptr<transport::Connection>& conn, const RpcError& why, bool failed,
                        std::vector<std::uint64_t> outstanding) {
    std::shared_ptr<Outbox> outbox;
    {
        std::lock_guard lk(outbox_mu_);
        connections_.erase(conn->id());
        connections_cv_.notify_all();
        auto it = outboxes_.find(conn->remote_address());
        if (it != outboxes_.end() && it->second->client() == conn) {
            outbox = it->second;
            outboxes_.erase(it);
        }
    }
    if (outbox) outbox->stop(why);
    fail_asks(outstanding, why);
    if (stopped_) return;  // no network events for the env's own shutdown (SPARK-14699)
    log::get("rpc")->debug("{}", why.message);
    RpcAddress peer = conn->peer_env_address();
    if (failed) {
        // Spark: exceptionCaught -> onNetworkError, then channelInactive -> onDisconnected.
        dispatcher_->post_to_all(RemoteProcessConnectionError{why, conn->remote_address()});
        if (!peer.empty() && peer != conn->remote_address()) {
            dispatcher_->post_to_all(RemoteProcessConnectionError{why, peer});
        }
    }
    dispatcher_->post_to_all(RemoteProcessDisconnected{conn->remote_address()});
    if (!peer.empty() && peer != conn->remote_address()) {
        dispatcher_->post_to_all(RemoteProcessDisconnected{peer});
    }
}

// -- lifecycle ---------------------------------------------------------------------------------

void EnvCore::shutdown() {
    if (stopped_.exchange(true)) return;
    if (dispatcher_) dispatcher_->stop();
    if (network_) network_->close_listener();
    std::vector<std::shared_ptr<Outbox>> outboxes;
    {
        std::lock_guard lk(outbox_mu_);
        for (auto& [_, o] : outboxes_) outboxes.push_back(o);
        outboxes_.clear();
    }
    for (auto& o : outboxes) o->stop(RpcError{RpcErrc::env_stopped, "Message is dropped because Outbox is stopped"});
    std::vector<std::uint64_t> ids;
    {
        std::lock_guard lk(ask_mu_);
        for (auto& [id, _] : asks_) ids.push_back(id);
    }
    fail_asks(ids, RpcError{RpcErrc::env_stopped, "RpcEnv already stopped"});
    if (network_ && !network_->threaded()) {
        // One thread runs everything: finish outside the handler that got us here (if any).
        if (Inbox::current() || io_->in_this_thread()) {
            network_->defer([self = shared_from_this()] { self->finish_shutdown(); });
        } else {
            finish_shutdown();
        }
    } else if (Inbox::current() || io_->in_this_thread()) {
        // Waiting here would wait for this very thread: finish on a thread of its own.
        shutdown_thread_ = std::thread([self = shared_from_this()] {
            log::set_thread_name(self->config_.name + "-stop");
            self->finish_shutdown();
        });
    } else {
        finish_shutdown();
    }
}

void EnvCore::finish_shutdown() {
    bool threaded = !network_ || network_->threaded();
    if (!threaded) {
        {
            std::lock_guard lk(term_mu_);
            if (finishing_) return;
            finishing_ = true;
        }
        drive_until([this] { return !dispatcher_ || dispatcher_->all_stopped(); });
    }
    // A simulated env whose loop can no longer run every on_stop must not wait for them.
    if (dispatcher_ && (threaded || dispatcher_->all_stopped())) dispatcher_->await_stopped();
    std::vector<std::shared_ptr<transport::Connection>> conns;
    {
        std::lock_guard lk(outbox_mu_);
        for (auto& [_, c] : connections_) conns.push_back(c);
    }
    for (auto& c : conns) c->close(RpcError{RpcErrc::env_stopped, "RpcEnv already stopped"});
    if (!threaded) {
        drive_until([this] {
            std::lock_guard lk(outbox_mu_);
            return connections_.empty();
        });
    } else {
        // The closes run on the I/O threads: let them finish, so peers see the sockets close now
        // rather than whenever this object is destroyed.
        std::unique_lock lk(outbox_mu_);
        connections_cv_.wait_for(lk, std::chrono::seconds(2), [this] { return connections_.empty(); });
    }
    if (auto* t = idle_timer_.get()) t->post([t] { t->cancel(); });
    if (timers_) timers_->shutdown();
    if (!threaded) drive_until([] { return false; });  // what the stops left queued (the cancels)
    io_->stop();
    io_->join();
    {
        std::lock_guard lk(term_mu_);
        terminated_ = true;
    }
    term_cv_.notify_all();
}

void EnvCore::drive_until(const std::function<bool()>& done) {
    while (!done() && io_->context().poll_one() > 0) {
    }
}

void EnvCore::await_termination() {
    if (network_ && !network_->threaded() && stopped_) finish_shutdown();  // one deferred, not yet run
    {
        std::unique_lock lk(term_mu_);
        term_cv_.wait(lk, [this] { return terminated_; });
    }
    if (shutdown_thread_.joinable() && shutdown_thread_.get_id() != std::this_thread::get_id()) {
        shutdown_thread_.join();
    }
}

}  // namespace ember::rpc::detail
