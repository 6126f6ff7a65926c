// SPDX-License-Identifier: Apache-2.0
#include "rpc/sim/simulation.hpp"

#include "rpc/env_core.hpp"
#include "rpc/log.hpp"
#include "rpc/message_data.hpp"
#include "rpc/message_loop.hpp"
#include "rpc/network.hpp"

#include <boost/asio/post.hpp>
#include <capnp/serialize.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>
#include <queue>
#include <set>
#include <stdexcept>

namespace ember::sim {

using rpc::RpcAddress;
using rpc::RpcError;
using rpc::RpcErrc;
using rpc::RpcResult;
using rpc::detail::MessageData;
using rpc::detail::Network;
using rpc::detail::OutgoingData;
using rpc::transport::Connection;
using rpc::transport::ConnectionHandler;
using rpc::transport::Role;
using rpc::transport::SendResult;
using rpc::transport::WhenFull;
using Clock = Network::Clock;
using std::chrono::microseconds;

namespace {

constexpr std::uint16_t kFirstServerPort = 7077;
constexpr std::uint16_t kFirstEphemeralPort = 40000;

const char* kind_name(rpc_wire::Kind k) {
    switch (k) {
        case rpc_wire::Kind::ONE_WAY: return "ONE_WAY";
        case rpc_wire::Kind::REQUEST: return "REQUEST";
        case rpc_wire::Kind::RESPONSE: return "RESPONSE";
        case rpc_wire::Kind::FAILURE: return "FAILURE";
        case rpc_wire::Kind::CANCEL: return "CANCEL";
    }
    return "?";
}

std::string host_pair(std::string_view a, std::string_view b) {
    return a < b ? fmt::format("{}|{}", a, b) : fmt::format("{}|{}", b, a);
}

}  // namespace

struct Node;

/// Sets the process whose work runs now (Simulation::Impl::working_for_) for a scope, then puts
/// back the outer one (work nests: a wait inside it runs other processes' work).
class WorkingFor {
public:
    WorkingFor(std::shared_ptr<Node>& slot, std::shared_ptr<Node> node) : slot_(slot), outer_(std::exchange(slot, std::move(node))) {}
    ~WorkingFor() { slot_ = std::move(outer_); }
    WorkingFor(const WorkingFor&) = delete;
    WorkingFor& operator=(const WorkingFor&) = delete;

private:
    std::shared_ptr<Node>& slot_;
    std::shared_ptr<Node> outer_;
};

class SimConnection;

/// One incarnation of an env as the network sees it. Events hold it shared and do nothing
/// once it is dead.
struct Node {
    Simulation::Impl* sim = nullptr;
    std::string name;
    std::string host;
    RpcAddress address;  // empty in client mode
    rpc::detail::MessageLoop* loop = nullptr;
    ConnectionHandler* listener = nullptr;  // set while listening
    std::function<void(std::shared_ptr<Connection>)> on_accept;
    std::vector<std::weak_ptr<SimConnection>> connections;
    int timers = 0;
    bool dead = false;
};

/// One end of a simulated connection.
class SimConnection final : public Connection, public std::enable_shared_from_this<SimConnection> {
public:
    SimConnection(std::uint64_t id, std::shared_ptr<Node> node, ConnectionHandler& handler, RpcAddress remote,
                  Role role)
        : id_(id), node_(std::move(node)), handler_(handler), remote_(std::move(remote)), role_(role) {}

    void start() override;
    SendResult send(std::unique_ptr<OutgoingData>&& frame, std::uint64_t request_id, WhenFull,
                    Clock::time_point) override;
    void close(RpcError why, bool failed) override;
    void complete_request(std::uint64_t request_id) override { outstanding_.erase(request_id); }
    void check_idle(std::chrono::milliseconds timeout) override;
    void mark_cancelled(std::uint64_t request_id) override { cancelled_.insert(request_id); }
    bool is_cancelled(std::uint64_t request_id, bool forget) override {
        auto it = cancelled_.find(request_id);
        if (it == cancelled_.end()) return false;
        if (forget) cancelled_.erase(it);
        return true;
    }
    bool is_active() const noexcept override { return !closed_; }
    std::uint64_t id() const noexcept override { return id_; }
    const RpcAddress& remote_address() const noexcept override { return remote_; }
    RpcAddress peer_env_address() const override { return peer_env_; }
    bool set_peer_env_address(const RpcAddress& a) override {
        if (!peer_env_.empty()) return false;
        peer_env_ = a;
        return true;
    }

    /// Closed without a word from its own env (the peer closed, the network broke): its env
    /// hears on_closed after `delay`.
    void closed_under(RpcError why, bool failed, microseconds delay);
    /// "conn#3 exec-1 -> driver:7077"
    std::string describe() const { return fmt::format("conn#{} {} -> {}", id_, node_->name, remote_.host_port()); }

    std::uint64_t id_;
    std::shared_ptr<Node> node_;
    ConnectionHandler& handler_;
    RpcAddress remote_;
    Role role_;
    std::weak_ptr<SimConnection> peer_;
    bool started_ = false;
    bool closed_ = false;
    bool close_told_ = false;  // the env heard on_closed (or will: it is scheduled)
    microseconds floor_{0};    // arrival time of the last frame sent: TCP keeps the order
    microseconds last_activity_{0};
    std::set<std::uint64_t> outstanding_;
    std::set<std::uint64_t> cancelled_;
    RpcAddress peer_env_;

private:
    void tell_closed(RpcError why, bool failed);
};

/// The simulator's state; SimNetwork, SimTimer and SimConnection call into it.
class Simulation::Impl {
public:
    explicit Impl(SimConfig config) : config_(std::move(config)), rng_(config_.seed) {
        if (config_.chaos.mean_interval.count() > 0) schedule_chaos();
    }

    struct Process {
        rpc::RpcEnvConfig config;
        std::string host;
        Boot boot;
        SimEnvOptions options;
        RpcAddress address;
        std::shared_ptr<Node> node;           // the current incarnation
        std::unique_ptr<rpc::RpcEnv> env;     // null while dead
        int incarnation = 0;
    };

    struct Event {
        microseconds at;
        std::uint64_t seq;
        std::function<void()> fn;
        bool operator>(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
    };

    // -- events ------------------------------------------------------------------------------
    void at(microseconds when, std::function<void()> fn) {
        if (when < now_) when = now_;
        queue_.push(Event{when, next_seq_++, std::move(fn)});
    }
    void after(microseconds delay, std::function<void()> fn) { at(now_ + delay, std::move(fn)); }
    /// Runs `fn` on `node`'s loop (at the next settle), unless the node is dead.
    void run_in(const std::shared_ptr<Node>& node, std::function<void()> fn) {
        if (node->dead) return;
        boost::asio::post(node->loop->context(), std::move(fn));
    }
    /// Runs every live env's loop until none has anything left to run.
    void settle() {
        // Called again from inside a handler (restart() in an endpoint): the outer settle goes on.
        if (settling_) return;
        settling_ = true;
        struct Done {
            bool& flag;
            ~Done() { flag = false; }
        } done{settling_};
        for (bool ran = true; ran;) {
            ran = false;
            // By index, one handler at a time: a handler may create, kill or restart envs.
            for (std::size_t i = 0; i < processes_.size(); ++i) {
                auto& p = *processes_[i];
                while (p.env && !p.node->dead && p.node->loop->context().poll_one() > 0) ran = true;
            }
        }
    }
    bool step() {
        settle();
        if (queue_.empty()) return false;
        Event e = queue_.top();
        queue_.pop();
        now_ = e.at;
        ++events_;
        e.fn();
        settle();
        return true;
    }
    void trace(std::string what) { trace_.push_back(fmt::format("{:>10} {}", now_.count(), what)); }

    microseconds latency() {
        auto lo = static_cast<std::uint64_t>(config_.latency_min.count());
        auto hi = std::max(lo, static_cast<std::uint64_t>(config_.latency_max.count()));
        auto us = microseconds(rng_.between(lo, hi));
        if (rng_.chance(config_.slow_probability)) us += config_.latency_slow;
        return us;
    }
    Clock::time_point clock() const { return Clock::time_point{} + now_; }

    // -- network -----------------------------------------------------------------------------
    void transmit(const std::shared_ptr<SimConnection>& from, std::unique_ptr<OutgoingData> frame);
    void connect(const std::shared_ptr<Node>& node, const RpcAddress& to, std::chrono::milliseconds timeout,
                 ConnectionHandler& handler, std::function<void(RpcResult<std::shared_ptr<Connection>>)> done);
    /// Breaks the connection of `end` at both ends, as a reset or a cut cable does.
    void reset(const std::shared_ptr<SimConnection>& end, const std::string& why);
    void cut(const std::string& a, const std::string& b);
    void clog(const std::string& a, const std::string& b, microseconds duration);
    std::uint16_t ephemeral_port(const std::string& host) { return next_ephemeral_[host]++; }
    bool partitioned_hosts(std::string_view a, std::string_view b) const {
        return partitions_.count(host_pair(a, b)) > 0;
    }

    // -- processes ---------------------------------------------------------------------------
    rpc::RpcEnv& create(rpc::RpcEnvConfig config, std::string host, Boot boot, SimEnvOptions options);
    /// Starts a new incarnation of `p` and runs its boot; returns it (a fault may have killed it
    /// during the boot: it then lives on among the zombies).
    rpc::RpcEnv& start(Process& p);
    void kill(std::string_view name);
    void exit(std::string_view name);
    void restart(std::string_view name);
    Process* find(std::string_view name) {
        auto it = by_name_.find(name);
        return it == by_name_.end() ? nullptr : it->second;
    }
    void schedule_chaos();
    void chaos();
    void shutdown_all();

    SimConfig config_;
    Prng rng_;
    microseconds now_{0};
    std::uint64_t next_seq_ = 0;
    std::uint64_t events_ = 0;
    bool settling_ = false;
    std::shared_ptr<Node> working_for_;  // the process whose work (schedule_in, boot) runs now
    Simulation* outer_ = nullptr;  // the thread's current simulation before this one
    std::uint64_t next_conn_id_ = 1;
    std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue_;
    std::vector<std::string> trace_;
    std::vector<std::unique_ptr<Process>> processes_;  // in creation order: settle order
    std::map<std::string, Process*, std::less<>> by_name_;
    std::vector<std::unique_ptr<rpc::RpcEnv>> zombies_;  // killed incarnations, never run again
    std::vector<std::shared_ptr<void>> kept_;            // keep_alive(): destroyed after every env
    std::map<RpcAddress, std::shared_ptr<Node>> listeners_;
    std::map<std::string, std::uint16_t> next_server_port_;
    std::map<std::string, std::uint16_t> next_ephemeral_;
    std::set<std::string> partitions_;  // host_pair()s
    std::map<std::string, microseconds> clogs_;  // host_pair() -> until when frames are held
};

// -- SimConnection --------------------------------------------------------------------------------

void SimConnection::start() {
    started_ = true;
    last_activity_ = node_->sim->now_;
    handler_.on_established(shared_from_this());
}

SendResult SimConnection::send(std::unique_ptr<OutgoingData>&& frame, std::uint64_t request_id, WhenFull,
                               Clock::time_point) {
    if (closed_) return SendResult::closed;
    if (request_id) outstanding_.insert(request_id);
    last_activity_ = node_->sim->now_;
    node_->sim->transmit(shared_from_this(), std::move(frame));
    return SendResult::queued;
}

void SimConnection::tell_closed(RpcError why, bool failed) {
    if (close_told_ || !started_) return;
    close_told_ = true;
    std::vector<std::uint64_t> outstanding(outstanding_.begin(), outstanding_.end());
    outstanding_.clear();
    cancelled_.clear();
    node_->sim->run_in(node_, [self = shared_from_this(), why = std::move(why), failed, outstanding]() mutable {
        self->handler_.on_closed(self, why, failed, std::move(outstanding));
    });
}

void SimConnection::close(RpcError why, bool failed) {
    if (closed_) return;
    closed_ = true;
    auto* sim = node_->sim;
    sim->trace(fmt::format("close {}: {}", describe(), why.message));
    tell_closed(why, failed);
    // The peer hears the FIN after the frames already on their way.
    if (auto peer = peer_.lock()) {
        sim->at(std::max(sim->now_ + sim->latency(), floor_), [peer] {
            if (peer->closed_) return;
            peer->closed_ = true;
            peer->node_->sim->trace(fmt::format("closed by peer {}", peer->describe()));
            peer->tell_closed(RpcError{RpcErrc::connection_closed,
                                       fmt::format("Connection from {} closed", peer->remote_.host_port())},
                              false);
        });
    }
}

void SimConnection::closed_under(RpcError why, bool failed, microseconds delay) {
    if (closed_) return;
    closed_ = true;
    node_->sim->after(delay, [self = shared_from_this(), why = std::move(why), failed]() mutable {
        if (self->node_->dead) return;
        self->tell_closed(std::move(why), failed);
    });
}

void SimConnection::check_idle(std::chrono::milliseconds timeout) {
    if (closed_ || outstanding_.empty()) return;
    auto quiet = node_->sim->now_ - last_activity_;
    if (quiet < timeout) return;
    close(RpcError{RpcErrc::connection_closed,
                   fmt::format("Connection to {} has been quiet for {} ms while there are outstanding requests. "
                               "Assuming connection is dead; please adjust ember.rpc.io.connectionTimeout if this is "
                               "wrong",
                               remote_.host_port(),
                               std::chrono::duration_cast<std::chrono::milliseconds>(quiet).count())},
          true);
}

// -- SimNetwork ----------------------------------------------------------------------------------

namespace {

class SimTimer final : public Network::Timer {
public:
    SimTimer(std::shared_ptr<Node> node, int number) : node_(std::move(node)), number_(number) {}
    void post(std::function<void()> fn) override { fn(); }  // one thread: already serialised
    void expires_at(Clock::time_point at, std::function<void()> fire) override {
        std::uint64_t generation = ++*generation_;
        auto* sim = node_->sim;
        // Rounded up to the clock's microseconds: a timer never fires before its due time.
        sim->at(std::chrono::ceil<microseconds>(at - Clock::time_point{}),
                [node = node_, gen = generation_, generation, number = number_, fire = std::move(fire)] {
                    if (node->dead || *gen != generation) return;
                    node->sim->trace(fmt::format("timer {} #{}", node->name, number));
                    node->sim->run_in(node, fire);
                });
    }
    void cancel() override { ++*generation_; }

private:
    std::shared_ptr<Node> node_;
    int number_;
    std::shared_ptr<std::uint64_t> generation_ = std::make_shared<std::uint64_t>(0);
};

class SimNetwork final : public Network {
public:
    explicit SimNetwork(std::shared_ptr<Node> node) : node_(std::move(node)) {}
    ~SimNetwork() override { close_listener(); }

    bool threaded() const noexcept override { return false; }
    Clock::time_point now() const override { return node_->sim->clock(); }
    std::unique_ptr<Timer> make_timer() override { return std::make_unique<SimTimer>(node_, ++node_->timers); }
    std::uint64_t request_id_base() override {
        return (node_->sim->rng_.next() & 0x3fffffffffffffffull) + 1;
    }
    RpcResult<RpcAddress> listen(const rpc::RpcEnvConfig&, ConnectionHandler& handler,
                                 std::function<void(std::shared_ptr<Connection>)> on_accept) override {
        auto& listeners = node_->sim->listeners_;
        if (auto it = listeners.find(node_->address); it != listeners.end() && !it->second->dead) {
            return RpcError{RpcErrc::bind_failed,
                            fmt::format("Cannot bind to {}: Address already in use", node_->address.host_port())};
        }
        node_->listener = &handler;
        node_->on_accept = std::move(on_accept);
        listeners[node_->address] = node_;
        return node_->address;
    }
    void close_listener() override {
        auto& listeners = node_->sim->listeners_;
        if (auto it = listeners.find(node_->address); it != listeners.end() && it->second == node_) listeners.erase(it);
        node_->listener = nullptr;
    }
    void connect(const RpcAddress& to, std::chrono::milliseconds timeout, ConnectionHandler& handler,
                 std::function<void(RpcResult<std::shared_ptr<Connection>>)> done) override {
        node_->sim->connect(node_, to, timeout, handler, std::move(done));
    }
    void defer(std::function<void()> fn) override { node_->sim->after(microseconds(0), std::move(fn)); }

private:
    std::shared_ptr<Node> node_;
};

}  // namespace

// -- Simulation::Impl: network ----------------------------------------------------------------------

void Simulation::Impl::transmit(const std::shared_ptr<SimConnection>& from, std::unique_ptr<OutgoingData> frame) {
    auto env = frame->envelope.asReader();
    std::string_view receiver(env.getReceiver().cStr());
    std::string what = fmt::format("{} {} req={}{}{}", kind_name(env.getKind()), rpc::type_name(env.getPayloadTypeId()),
                                   env.getRequestId(), receiver.empty() ? "" : " to=", receiver);
    // On the wire: the capnp words as a peer would read them, and the body.
    auto words = capnp::messageToFlatArray(frame->builder);
    auto local = rpc::detail::localize(std::move(frame));
    if (!local) {
        trace(fmt::format("unsendable {} {}: {}", from->describe(), what, local.error().message));
        reset(from, local.error().message);
        return;
    }
    std::shared_ptr<MessageData> data = std::move(*local);
    std::size_t bytes = words.size() * sizeof(capnp::word);
    data->words = std::move(words);
    data->envelope = data->reader
                         .emplace<capnp::FlatArrayMessageReader>(data->words.asPtr(), rpc::detail::reader_options(bytes))
                         .getRoot<rpc_wire::Envelope>();
    data->local.reset();

    if (rng_.chance(config_.drop_probability)) {
        trace(fmt::format("drop {} {}", from->describe(), what));
        reset(from, "Connection reset by peer");
        return;
    }
    auto arrival = std::max(now_ + latency(), from->floor_);
    if (auto peer = from->peer_.lock()) {
        auto it = clogs_.find(host_pair(from->node_->host, peer->node_->host));
        if (it != clogs_.end() && it->second > now_) arrival = std::max(arrival, it->second + latency());
    }
    from->floor_ = arrival;
    trace(fmt::format("send {} {} (arrives {})", from->describe(), what, arrival.count()));
    at(arrival, [this, peer = from->peer_, data = std::move(data), what = std::move(what)]() mutable {
        auto p = peer.lock();
        if (!p || p->closed_ || p->node_->dead) {
            trace(fmt::format("lost {}", what));
            return;
        }
        trace(fmt::format("deliver {} {}", p->describe(), what));
        p->last_activity_ = now_;
        run_in(p->node_, [p, data = std::move(data)]() mutable { p->handler_.on_frame(p, std::move(data)); });
    });
}

void Simulation::Impl::connect(const std::shared_ptr<Node>& node, const RpcAddress& to,
                               std::chrono::milliseconds timeout, ConnectionHandler& handler,
                               std::function<void(RpcResult<std::shared_ptr<Connection>>)> done) {
    if (node->dead) return;
    trace(fmt::format("connect {} -> {}", node->name, to.host_port()));
    auto fail = [this, node](microseconds delay, std::function<void(RpcResult<std::shared_ptr<Connection>>)> done,
                             RpcError e) {
        after(delay, [this, node, done = std::move(done), e = std::move(e)] {
            if (node->dead) return;
            trace(fmt::format("connect failed {}: {}", node->name, e.message));
            run_in(node, [done, e] { done(e); });
        });
    };
    // Across a partition the SYN vanishes: the connect times out (if it has a timeout at all).
    auto time_out = [this, to, timeout, started = now_, fail](auto done) {
        if (timeout.count() <= 0) return;
        fail(std::max(microseconds(0), started + timeout - now_), std::move(done),
             RpcError{RpcErrc::connection_failed,
                      fmt::format("Connecting to {} timed out ({} ms)", to.host_port(), timeout.count())});
    };
    if (partitioned_hosts(node->host, to.host)) {
        time_out(std::move(done));
        return;
    }
    auto there = latency();
    after(there, [this, node, to, &handler, done = std::move(done), fail, time_out]() mutable {
        if (node->dead) return;
        if (partitioned_hosts(node->host, to.host)) {  // cut while the SYN was on its way
            time_out(std::move(done));
            return;
        }
        auto it = listeners_.find(to);
        bool refused = it == listeners_.end() || it->second->dead || !it->second->listener;
        if (!refused && rng_.chance(config_.connect_failure_probability)) {
            trace(fmt::format("connect fault {} -> {}", node->name, to.host_port()));
            refused = true;
        }
        if (refused) {
            fail(latency(), std::move(done),
                 RpcError{RpcErrc::connection_failed,
                          fmt::format("Failed to connect to {}: Connection refused", to.host_port())});
            return;
        }
        auto server = it->second;
        RpcAddress client_address{node->host, ephemeral_port(node->host)};
        auto c = std::make_shared<SimConnection>(next_conn_id_++, node, handler, to, Role::connected);
        auto s = std::make_shared<SimConnection>(next_conn_id_++, server, *server->listener, client_address,
                                                 Role::accepted);
        c->peer_ = s;
        s->peer_ = c;
        node->connections.push_back(c);
        server->connections.push_back(s);
        trace(fmt::format("accept {} <- {} (conn#{}/conn#{})", server->name, client_address.host_port(), c->id_,
                          s->id_));
        run_in(server, [server, s] {
            if (server->on_accept) server->on_accept(s);
        });
        after(latency(), [this, node, c, to, done = std::move(done)] {
            if (node->dead) return;
            if (c->closed_) {
                trace(fmt::format("connect failed {}: reset before it completed", node->name));
                run_in(node, [done, to] {
                    done(RpcError{RpcErrc::connection_failed,
                                  fmt::format("Failed to connect to {}: Connection reset by peer", to.host_port())});
                });
                return;
            }
            trace(fmt::format("connected {}", c->describe()));
            run_in(node, [done, c] { done(std::shared_ptr<Connection>(c)); });
        });
    });
}

void Simulation::Impl::reset(const std::shared_ptr<SimConnection>& end, const std::string& why) {
    auto peer = end->peer_.lock();
    trace(fmt::format("reset conn#{}{}: {}", end->id_, peer ? fmt::format("/conn#{}", peer->id_) : "", why));
    for (auto& e : {end, peer}) {
        if (!e) continue;
        e->closed_under(RpcError{RpcErrc::connection_closed,
                                 fmt::format("Connection from {} failed: {}", e->remote_.host_port(), why)},
                        true, latency());
    }
}

// -- Simulation::Impl: processes ------------------------------------------------------------------

rpc::RpcEnv& Simulation::Impl::create(rpc::RpcEnvConfig config, std::string host, Boot boot, SimEnvOptions options) {
    if (host.empty()) throw std::invalid_argument("Simulation::create_env: the host must not be empty");
    if (config.name.empty()) throw std::invalid_argument("Simulation::create_env: the env needs a name");
    if (find(config.name)) {
        throw std::invalid_argument(
            fmt::format("Simulation::create_env: there is already an env called {}", config.name));
    }
    auto p = std::make_unique<Process>();
    p->host = host;
    p->boot = std::move(boot);
    p->options = options;
    if (!config.client_mode) {
        auto& next = next_server_port_.try_emplace(host, kFirstServerPort).first->second;
        std::uint16_t port = config.port != 0 ? config.port : next++;
        p->address = RpcAddress{host, port};
        if (listeners_.count(p->address)) {
            throw std::invalid_argument(
                fmt::format("Simulation::create_env({}): {} is already taken", config.name, p->address.host_port()));
        }
    }
    next_ephemeral_.try_emplace(host, kFirstEphemeralPort);
    p->config = std::move(config);
    auto& ref = *p;
    by_name_.emplace(ref.config.name, &ref);
    processes_.push_back(std::move(p));
    return start(ref);
}

rpc::RpcEnv& Simulation::Impl::start(Process& p) {
    auto node = std::make_shared<Node>();
    node->sim = this;
    node->name = p.config.name;
    node->host = p.host;
    node->address = p.address;
    auto core = rpc::detail::EnvCore::create(p.config, [node](rpc::detail::MessageLoop& loop) {
        node->loop = &loop;
        return std::make_unique<SimNetwork>(node);
    });
    if (!core) {
        throw std::invalid_argument(
            fmt::format("Simulation: cannot create env {}: {}", p.config.name, core.error().message));
    }
    p.node = node;
    p.env = rpc::RpcEnv::wrap(std::move(*core));
    ++p.incarnation;
    trace(fmt::format("start {} at {} (incarnation {})", p.config.name,
                      p.address.empty() ? p.host + " (client mode)" : p.address.host_port(), p.incarnation));
    rpc::RpcEnv& made = *p.env;  // stays alive if killed during its boot (zombies_)
    if (p.boot) {
        WorkingFor scope(working_for_, node);
        p.boot(*p.env);
    }
    settle();
    return made;
}

void Simulation::Impl::kill(std::string_view name) {
    Process* p = find(name);
    if (!p) throw std::invalid_argument(fmt::format("Simulation::kill: no env called {}", name));
    if (!p->env) return;
    trace(fmt::format("kill {}", name));
    auto node = p->node;
    node->dead = true;
    if (auto it = listeners_.find(node->address); it != listeners_.end() && it->second == node) listeners_.erase(it);
    for (auto& w : node->connections) {
        if (auto c = w.lock(); c && !c->closed_) reset(c, "Connection reset by peer");
    }
    node->connections.clear();
    zombies_.push_back(std::move(p->env));
}

void Simulation::Impl::exit(std::string_view name) {
    Process* p = find(name);
    if (!p) throw std::invalid_argument(fmt::format("Simulation::exit: no env called {}", name));
    if (!p->env) return;
    trace(fmt::format("exit {}", name));
    auto node = p->node;
    node->dead = true;
    if (auto it = listeners_.find(node->address); it != listeners_.end() && it->second == node) listeners_.erase(it);
    for (auto& w : node->connections) {
        // The peer hears the FIN after the frames already on their way.
        if (auto c = w.lock(); c && !c->closed_) {
            c->close(RpcError{RpcErrc::connection_closed, fmt::format("{} exited", name)}, false);
        }
    }
    node->connections.clear();
    zombies_.push_back(std::move(p->env));
}

void Simulation::Impl::restart(std::string_view name) {
    Process* p = find(name);
    if (!p) throw std::invalid_argument(fmt::format("Simulation::restart: no env called {}", name));
    if (p->env) throw std::logic_error(fmt::format("Simulation::restart: env {} is alive; kill it first", name));
    start(*p);
}

void Simulation::Impl::cut(const std::string& a, const std::string& b) {
    for (auto& p : processes_) {
        if (!p->env || p->node->dead) continue;
        for (auto& w : p->node->connections) {
            auto c = w.lock();
            if (!c || c->closed_) continue;
            auto peer = c->peer_.lock();
            if (!peer) continue;
            const auto& h1 = c->node_->host;
            const auto& h2 = peer->node_->host;
            if ((h1 == a && h2 == b) || (h1 == b && h2 == a)) reset(c, "Connection timed out (network partition)");
        }
    }
}

void Simulation::Impl::schedule_chaos() {
    auto mean = static_cast<double>(std::chrono::duration_cast<microseconds>(config_.chaos.mean_interval).count());
    after(microseconds(static_cast<std::int64_t>(rng_.exponential(mean))), [this] {
        chaos();
        schedule_chaos();
    });
}

void Simulation::Impl::chaos() {
    auto& c = config_.chaos;
    auto draw = [this](std::chrono::milliseconds lo, std::chrono::milliseconds hi) {
        auto l = static_cast<std::uint64_t>(std::chrono::duration_cast<microseconds>(lo).count());
        auto h = std::max(l, static_cast<std::uint64_t>(std::chrono::duration_cast<microseconds>(hi).count()));
        return microseconds(rng_.between(l, h));
    };
    double total = c.kill_weight + c.partition_weight + c.clog_weight;
    if (total <= 0) return;
    double pick = rng_.uniform() * total;
    if (pick < c.kill_weight) {
        std::vector<Process*> victims;
        for (auto& p : processes_) {
            if (p->options.faulty && p->env) victims.push_back(p.get());
        }
        if (victims.empty()) return;
        Process* v = victims[rng_.between(0, victims.size() - 1)];
        std::string name = v->config.name;
        kill(name);
        after(draw(c.restart_delay_min, c.restart_delay_max), [this, name] {
            if (Process* p = find(name); p && !p->env) restart(name);
        });
        return;
    }
    std::set<std::string> hosts;
    for (auto& p : processes_) hosts.insert(p->host);
    if (hosts.size() < 2) return;
    std::vector<std::string> h(hosts.begin(), hosts.end());
    auto i = rng_.between(0, h.size() - 1);
    auto j = rng_.between(0, h.size() - 2);
    if (j >= i) ++j;
    std::string a = h[i], b = h[j];
    if (pick >= c.kill_weight + c.partition_weight) {
        clog(a, b, draw(c.clog_duration_min, c.clog_duration_max));
        return;
    }
    if (partitions_.count(host_pair(a, b))) return;
    partitions_.insert(host_pair(a, b));
    trace(fmt::format("partition {}", host_pair(a, b)));
    cut(a, b);
    after(draw(c.partition_duration_min, c.partition_duration_max), [this, a, b] {
        if (partitions_.erase(host_pair(a, b))) trace(fmt::format("heal {}", host_pair(a, b)));
    });
}

void Simulation::Impl::clog(const std::string& a, const std::string& b, microseconds duration) {
    auto& until = clogs_[host_pair(a, b)];
    until = std::max(until, now_ + duration);
    trace(fmt::format("clog {} until {}", host_pair(a, b), until.count()));
}

void Simulation::Impl::shutdown_all() {
    // Live envs first, in creation order, then the killed incarnations. Nothing reaches the
    // network any more: every node is marked dead before any env stops.
    for (auto& p : processes_) {
        if (p->node) p->node->dead = true;
    }
    for (auto& p : processes_) p->env.reset();
    zombies_.clear();
    // Newest first: what a later boot made may use what an earlier one did.
    while (!kept_.empty()) kept_.pop_back();
}

// -- Simulation ----------------------------------------------------------------------------------

namespace {
thread_local Simulation* t_current = nullptr;  // the innermost live simulation of this thread
}

Simulation::Simulation(SimConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {
    impl_->outer_ = t_current;
    t_current = this;
}

Simulation::~Simulation() {
    impl_->shutdown_all();
    if (t_current == this) t_current = impl_->outer_;
}

Simulation* Simulation::current() noexcept { return t_current; }

bool Simulation::can_block() const noexcept { return !impl_->settling_; }

bool Simulation::wait_until(const std::function<bool()>& ready, microseconds limit) {
    if (!can_block()) {
        throw std::logic_error(
            "Simulation::wait_until: a blocking wait inside an env's handler would wait for its own loop");
    }
    auto node = impl_->working_for_;
    auto end = impl_->now_ + limit;
    impl_->settle();
    while (!ready()) {
        if (node && node->dead) return false;
        if (impl_->queue_.empty() || impl_->queue_.top().at > end) {
            if (!impl_->queue_.empty()) impl_->now_ = end;
            return false;
        }
        impl_->step();
    }
    return true;
}

bool Simulation::current_process_killed() const noexcept {
    return impl_->working_for_ && impl_->working_for_->dead;
}

void Simulation::schedule_in(const rpc::RpcEnv& env, microseconds delay, std::function<void()> fn) {
    std::shared_ptr<Node> node;
    for (auto& p : impl_->processes_) {
        if (p->env.get() == &env) node = p->node;
    }
    if (!node) {
        // A killed incarnation's work is never run.
        bool zombie = std::any_of(impl_->zombies_.begin(), impl_->zombies_.end(),
                                  [&](auto& z) { return z.get() == &env; });
        if (zombie) return;
        throw std::invalid_argument("Simulation::schedule_in: not an env of this simulation");
    }
    impl_->after(delay, [impl = impl_.get(), node, fn = std::move(fn)] {
        if (node->dead) return;
        WorkingFor scope(impl->working_for_, node);
        fn();
    });
}

rpc::RpcEnv& Simulation::create_env(rpc::RpcEnvConfig config, std::string host, Boot boot, SimEnvOptions options) {
    return impl_->create(std::move(config), std::move(host), std::move(boot), options);
}

rpc::RpcEnv& Simulation::create_env(std::string name, std::string host, Boot boot, SimEnvOptions options) {
    rpc::RpcEnvConfig config;
    config.name = std::move(name);
    return impl_->create(std::move(config), std::move(host), std::move(boot), options);
}

rpc::RpcEnv* Simulation::env(std::string_view name) {
    auto* p = impl_->find(name);
    return p ? p->env.get() : nullptr;
}

void Simulation::keep_alive(std::shared_ptr<void> object) { impl_->kept_.push_back(std::move(object)); }

void Simulation::kill(std::string_view name) { impl_->kill(name); }
void Simulation::exit(std::string_view name) { impl_->exit(name); }
void Simulation::restart(std::string_view name) { impl_->restart(name); }

void Simulation::partition(std::string_view a, std::string_view b) {
    if (a == b) throw std::invalid_argument("Simulation::partition: a host cannot be cut off from itself");
    if (!impl_->partitions_.insert(host_pair(a, b)).second) return;
    impl_->trace(fmt::format("partition {}", host_pair(a, b)));
    impl_->cut(std::string(a), std::string(b));
}

void Simulation::heal(std::string_view a, std::string_view b) {
    if (impl_->partitions_.erase(host_pair(a, b))) impl_->trace(fmt::format("heal {}", host_pair(a, b)));
}

void Simulation::clog(std::string_view a, std::string_view b, microseconds duration) {
    if (a == b) throw std::invalid_argument("Simulation::clog: a host cannot be clogged from itself");
    impl_->clog(std::string(a), std::string(b), duration);
}

bool Simulation::partitioned(std::string_view a, std::string_view b) const {
    return impl_->partitions_.count(host_pair(a, b)) > 0;
}

microseconds Simulation::now() const { return impl_->now_; }

void Simulation::schedule(microseconds delay, std::function<void()> fn) { impl_->after(delay, std::move(fn)); }

bool Simulation::step() { return impl_->step(); }

void Simulation::run_for(microseconds duration) {
    auto end = impl_->now_ + duration;
    impl_->settle();
    while (!impl_->queue_.empty() && impl_->queue_.top().at <= end) impl_->step();
    impl_->now_ = end;
    impl_->settle();
}

bool Simulation::run_until(const std::function<bool()>& done, microseconds limit) {
    auto end = impl_->now_ + limit;
    impl_->settle();
    while (!done()) {
        if (impl_->queue_.empty() || impl_->queue_.top().at > end) {
            if (!impl_->queue_.empty()) impl_->now_ = end;
            return false;
        }
        impl_->step();
    }
    return true;
}

std::uint64_t Simulation::seed() const noexcept { return impl_->config_.seed; }
Prng& Simulation::random() noexcept { return impl_->rng_; }
void Simulation::note(std::string text) { impl_->trace("note " + text); }
const std::vector<std::string>& Simulation::trace() const noexcept { return impl_->trace_; }

std::string Simulation::trace_text() const {
    std::string out;
    for (auto& l : impl_->trace_) {
        out += l;
        out += '\n';
    }
    return out;
}

std::uint64_t Simulation::events() const noexcept { return impl_->events_; }

std::vector<SeedFailure> sweep(SimConfig config, std::uint64_t first_seed, std::uint64_t seeds,
                               const std::function<std::string(Simulation&)>& scenario) {
    std::vector<SeedFailure> failures;
    for (std::uint64_t seed = first_seed; seed - first_seed < seeds; ++seed) {
        config.seed = seed;
        std::string what;
        std::string trace;
        {
            Simulation sim(config);
            try {
                what = scenario(sim);
            } catch (const std::exception& e) {
                what = std::string("exception: ") + e.what();
            }
            trace = sim.trace_text();
        }
        if (!what.empty()) failures.push_back(SeedFailure{seed, std::move(what), std::move(trace)});
    }
    return failures;
}

}  // namespace ember::sim
