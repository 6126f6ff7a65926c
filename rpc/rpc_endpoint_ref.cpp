// SPDX-License-Identifier: Apache-2.0
#include "rpc/rpc_endpoint_ref.hpp"

#include "rpc/env_core.hpp"
#include "rpc/log.hpp"
#include "rpc/message_data.hpp"

#include <future>
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

RpcResult<Message> RpcEndpointRef::ask_sync(OutgoingMessage msg) const {
    return ask_sync(std::move(msg), default_timeout());
}

RpcResult<Message> RpcEndpointRef::ask_sync(OutgoingMessage msg, RpcTimeout timeout) const {
    auto env = env_.lock();
    if (!env) return RpcError{RpcErrc::env_stopped, "RpcEnv already stopped"};
    if (env->on_io_thread()) {
        return RpcError{RpcErrc::aborted,
                        "ask_sync to " + to_string() +
                            " was called on an RpcEnv I/O thread and would wait for itself; use ask "
                            "with a callback, or a dedicated_thread endpoint"};
    }
    auto promise = std::make_shared<std::promise<RpcResult<Message>>>();
    auto future = promise->get_future();
    env->ask(*this, std::move(msg), std::move(timeout),
             [promise](RpcResult<Message> r) { promise->set_value(std::move(r)); }, false);
    env.reset();  // do not keep the env alive while waiting
    return future.get();
}

RpcTimeout RpcEndpointRef::default_timeout() const {
    if (auto env = env_.lock()) return env->default_ask_timeout();
    return RpcTimeout{};
}

RpcEndpointRef Message::sender() const {
    if (!data_ || sender_name().empty()) return {};
    auto env = data_->env.lock();
    auto e = data_->envelope;
    bool client_mode = !(e.hasSenderHost() && e.getSenderHost().size() > 0);
    RpcAddress address = client_mode && data_->connection.lock() ? RpcAddress{} : data_->sender_address;
    RpcEndpointAddress a{address, std::string(sender_name())};
    return RpcEndpointRef(std::move(a), data_->env, client_mode ? data_->connection : std::weak_ptr<transport::Connection>{});
}

RpcEndpointRef Message::ref(wire::EndpointRef::Reader r) const {
    RpcEndpointAddress a{RpcAddress{r.getHost(), r.getPort()}, r.getName()};
    if (!data_) return RpcEndpointRef(std::move(a), {});
    if (a.address.empty()) return RpcEndpointRef(std::move(a), data_->env, data_->connection);
    return RpcEndpointRef(std::move(a), data_->env);
}

RpcEndpointRef Message::connection_ref(wire::EndpointRef::Reader r) const {
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

std::ostream& operator<<(std::ostream& os, const RpcEndpointRef& ref) { return os << ref.to_string(); }

std::ostream& operator<<(std::ostream& os, const Message& m) {
    return os << m.type_name() << " (" << m.body().size() << " body bytes)";
}

void write_ref(wire::EndpointRef::Builder b, const RpcEndpointRef& ref) {
    b.setHost(ref.address().host);
    b.setPort(ref.address().port);
    b.setName(ref.name());
}

}  // namespace ember::rpc
