// SPDX-License-Identifier: Apache-2.0
#include "rpc/rpc_endpoint_ref.hpp"

#include "rpc/env_core.hpp"
#include "rpc/log.hpp"
#include "rpc/message_data.hpp"
#include "rpc/sim/simulation.hpp"

#include <atomic>
#include <future>
#include <optional>
#include <ostream>

namespace ember::rpc {

void AskHandle::abort(std::string reason) const {
    if (auto env = env_.lock()) env->abort(id_, std::move(reason));
}

RpcEndpointRef::RpcEndpointRef(RpcEndpointAddress address, std::weak_ptr<detail::EnvCore> env,
                               std::weak_ptr<transport::Connection> client)
    : addr_(std::move(address)), env_(std::move(env)), client_(std::move(client)) {}

void RpcEndpointRef::send(OutgoingMessage msg) const {
    auto env = env_.lock();
    if (!env) {
        log::get("rpc")->debug("Dropping message to {}: its RpcEnv is gone", to_string());
        return;
    }
    env->send(*this, std::move(msg));
}

AskHandle RpcEndpointRef::ask(OutgoingMessage msg, AskCallback done) const {
    return ask(std::move(msg), default_timeout(), std::move(done));
}

AskHandle RpcEndpointRef::ask(OutgoingMessage msg, RpcTimeout timeout, AskCallback done) const {
    auto env = env_.lock();
    if (!env) {
        done(RpcError{RpcErrc::env_stopped, "RpcEnv already stopped"});
        return {};
    }
    auto id = env->ask(*this, std::move(msg), std::move(timeout), std::move(done));
    return AskHandle(env_, id);
}

RpcFuture<Message> RpcEndpointRef::ask(OutgoingMessage msg) const {
    return ask(std::move(msg), default_timeout());
}

RpcFuture<Message> RpcEndpointRef::ask(OutgoingMessage msg, RpcTimeout timeout) const {
    return ask_expecting(std::move(msg), std::move(timeout), 0);
}

RpcFuture<Message> RpcEndpointRef::ask_expecting(OutgoingMessage msg, RpcTimeout timeout, std::uint64_t type_id) const {
    RpcPromise<Message> promise;
    auto future = promise.future();
    auto env = env_.lock();
    if (!env) {
        promise.set(RpcError{RpcErrc::env_stopped, "RpcEnv already stopped"});
        return future;
    }
    // Completed on the thread the reply arrives on, not routed to the asking endpoint: the
    // future's continuations go to the loops they were attached on, and get() from another
    // thread does not wait for the asker's loop.
    auto id = env->ask(*this, std::move(msg), std::move(timeout),
                       // The receiver is named only in an error: formatted then, not per ask.
                       [promise, type_id, to = type_id != 0 ? *this : RpcEndpointRef{}](RpcResult<Message> r) {
                           if (r && type_id != 0 && r->type_id() != type_id) {
                               promise.set(RpcError{RpcErrc::unexpected_message,
                                                    "expected a " + rpc::type_name(type_id) + " reply from " +
                                                        to.to_string() + ", got " + r->type_name()});
                               return;
                           }
                           promise.set(std::move(r));
                       },
                       false);
    future.shared_state()->set_abort([handle = AskHandle(env_, id)](std::string reason) { handle.abort(std::move(reason)); });
    return future;
}

RpcResult<Message> RpcEndpointRef::ask_sync(OutgoingMessage msg) const {
    return ask_sync(std::move(msg), default_timeout());
}

RpcResult<Message> RpcEndpointRef::ask_sync(OutgoingMessage msg, RpcTimeout timeout) const {
    auto env = env_.lock();
    if (!env) return RpcError{RpcErrc::env_stopped, "RpcEnv already stopped"};
    if (auto* sim = env->on_io_thread() ? sim::Simulation::current() : nullptr; sim && sim->can_block()) {
        // A simulated env, called outside its handlers: wait in virtual time. The ask's own
        // timeout completes it, so the simulation always has an event left until then.
        auto result = std::make_shared<std::optional<RpcResult<Message>>>();
        env->ask(*this, std::move(msg), std::move(timeout), [result](RpcResult<Message> r) { *result = std::move(r); },
                 false);
        env.reset();
        sim->wait_until([&] { return result->has_value(); }, std::chrono::microseconds::max() / 2);
        if (!result->has_value()) {
            return RpcError{RpcErrc::aborted, "ask_sync to " + to_string() +
                                                  (sim->current_process_killed() ? ": the simulated process was killed"
                                                                                 : ": the simulation ran out of events")};
        }
        return std::move(**result);
    }
    if (env->on_io_thread()) {
        return RpcError{RpcErrc::aborted,
                        "ask_sync to " + to_string() +
                            " was called on an RpcEnv I/O thread and would wait for itself; use ask "
                            "with a callback, or a dedicated_thread endpoint"};
    }
    auto promise = std::make_shared<std::promise<RpcResult<Message>>>();
    auto future = promise->get_future();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    env->ask(*this, std::move(msg), std::move(timeout),
             [promise, answered](RpcResult<Message> r) {
                 promise->set_value(std::move(r));
                 answered->store(true, std::memory_order_release);
             },
             false);
    // A thread that drives this env's loop between its jobs (RpcEnv::IoWaitScope) reads the
    // reply itself: the loop may be free, its I/O thread napping.
    detail::MessageLoop::drive_while_waiting([&answered] { return answered->load(std::memory_order_acquire); },
                                             &env->io());
    env.reset();  // do not keep the env alive while waiting
    return future.get();
}

RpcTimeout RpcEndpointRef::default_timeout() const {
    if (auto env = env_.lock()) return env->default_ask_timeout();
    return RpcTimeout{};
}

RpcEndpointRef Message::sender() const {
    if (!data_ || sender_name().empty()) return {};
    auto e = data_->envelope;
    if (e.hasOrigin()) {  // forwarded: the original sender, always one with an address
        auto o = e.getOrigin();
        return RpcEndpointRef(RpcEndpointAddress{RpcAddress{o.getHost(), o.getPort()}, o.getName()}, data_->env);
    }
    bool client_mode = !(e.hasSenderHost() && e.getSenderHost().size() > 0);
    RpcAddress address = client_mode && data_->connection.lock() ? RpcAddress{} : data_->sender_address;
    RpcEndpointAddress a{address, std::string(sender_name())};
    return RpcEndpointRef(std::move(a), data_->env, client_mode ? data_->connection : std::weak_ptr<transport::Connection>{});
}

RpcEndpointRef Message::ref(rpc_wire::EndpointRef::Reader r) const {
    RpcEndpointAddress a{RpcAddress{r.getHost(), r.getPort()}, r.getName()};
    if (!data_) return RpcEndpointRef(std::move(a), {});
    if (a.address.empty()) return RpcEndpointRef(std::move(a), data_->env, data_->connection);
    return RpcEndpointRef(std::move(a), data_->env);
}

RpcEndpointRef Message::connection_ref(rpc_wire::EndpointRef::Reader r) const {
    RpcEndpointAddress a{RpcAddress{r.getHost(), r.getPort()}, r.getName()};
    if (!data_) return RpcEndpointRef(std::move(a), {});
    if (data_->connection.expired()) return ref(r);
    return RpcEndpointRef(std::move(a), data_->env, data_->connection);
}

bool Message::came_over(const RpcEndpointRef& ref) const {
    if (!data_) return false;
    auto conn = data_->connection.lock();
    auto env = data_->env.lock();
    return conn && env && env->connection_of(ref) == conn;
}

bool Message::is_remote() const noexcept { return data_ && !data_->connection.expired(); }

namespace {

/// `msg` as it goes out again: same payload and body, and an origin naming its first sender
/// when that sender has an address (a client-mode sender has none: the forwarder stands in).
OutgoingMessage forwarded(const Message& msg) {
    auto out = OutgoingMessage::copy_of(msg);
    auto e = msg.envelope();
    auto origin = out.data().envelope;
    if (e.hasOrigin()) {
        origin.setOrigin(e.getOrigin());
    } else if (e.hasSenderHost() && e.getSenderHost().size() > 0) {
        auto o = origin.initOrigin();
        o.setHost(e.getSenderHost());
        o.setPort(e.getSenderPort());
        o.setName(e.getSenderName());
    }
    return out;
}

}  // namespace

void RpcEndpointRef::forward(const Message& msg) const { send(forwarded(msg)); }

void RpcEndpointRef::forward(const Message& msg, RpcCallContext ctx) const {
    ask(forwarded(msg), [ctx](RpcResult<Message> r) {
        if (r) {
            ctx.reply(OutgoingMessage::copy_of(*r));
        } else {
            ctx.send_failure(r.error());
        }
    });
}

std::ostream& operator<<(std::ostream& os, const RpcEndpointRef& ref) { return os << ref.to_string(); }

std::ostream& operator<<(std::ostream& os, const Message& m) {
    return os << m.type_name() << " (" << m.body().size() << " body bytes)";
}

void write_ref(rpc_wire::EndpointRef::Builder b, const RpcEndpointRef& ref) {
    b.setHost(ref.address().host);
    b.setPort(ref.address().port);
    b.setName(ref.name());
}

}  // namespace ember::rpc
