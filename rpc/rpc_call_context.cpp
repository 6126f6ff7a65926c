// SPDX-License-Identifier: Apache-2.0
#include "rpc/rpc_call_context.hpp"

#include "rpc/call_context_impl.hpp"
#include "rpc/env_core.hpp"
#include "rpc/log.hpp"
#include "rpc/message_data.hpp"
#include "rpc/transport/transport_client.hpp"

namespace ember::rpc {

void RpcCallContext::reply(OutgoingMessage reply) const {
    if (!impl_->claim()) {
        if (impl_->cancelled()) return;  // the asker is gone: dropping is the point
        log::get("rpc")->warn("Ignoring a second reply to an ask from {}", impl_->sender().host_port());
        return;
    }
    impl_->do_reply(std::move(reply));
}

void RpcCallContext::send_failure(std::string message) const {
    send_failure(RpcError{RpcErrc::remote_failure, std::move(message)});
}

void RpcCallContext::send_failure(RpcError error) const {
    if (!impl_->claim()) {
        if (impl_->cancelled()) return;
        log::get("rpc")->warn("Ignoring failure '{}' after a reply to {}", error.message, impl_->sender().host_port());
        return;
    }
    impl_->do_fail(error);
}

const RpcAddress& RpcCallContext::sender_address() const { return impl_->sender(); }

bool RpcCallContext::replied() const { return impl_->replied(); }

bool RpcCallContext::cancelled() const { return impl_->cancelled(); }

namespace detail {

void CallContextImpl::fail_if_unanswered() {
    if (!claim()) return;
    try {
        do_fail(RpcError{RpcErrc::no_reply, "the endpoint dropped the request without replying"});
    } catch (...) {
        // Destructors must not throw; the asker will time out instead.
    }
}

void LocalCallContext::do_reply(OutgoingMessage reply) {
    auto env = env_.lock();
    if (!env) return;
    auto d = reply.release();
    d->envelope.setKind(rpc_wire::Kind::RESPONSE);
    d->envelope.setRequestId(request_id_);
    auto data = localize(std::move(d));
    if (!data) {
        env->complete_ask(request_id_, data.error());
        return;
    }
    (*data)->sender_address = env->address();
    (*data)->env = env_;
    env->complete_ask(request_id_, MessageData::to_message(std::move(*data)));
}

void LocalCallContext::do_fail(const RpcError& error) {
    if (auto env = env_.lock()) env->complete_ask(request_id_, error);
}

bool RemoteCallContext::cancelled() const noexcept {
    if (CallContextImpl::cancelled()) return true;
    auto c = conn_.lock();
    return c && c->is_cancelled(request_id_, false);
}

void RemoteCallContext::do_reply(OutgoingMessage reply) {
    auto c = conn_.lock();
    if (c && c->is_cancelled(request_id_, true)) return;  // the asker gave up: drop the reply
    if (auto env = env_.lock()) env->reply_remote(conn_, request_id_, std::move(reply));
}

void RemoteCallContext::do_fail(const RpcError& error) {
    auto c = conn_.lock();
    if (c && c->is_cancelled(request_id_, true)) return;
    if (auto env = env_.lock()) env->fail_remote(conn_, request_id_, error);
}

}  // namespace detail
}  // namespace ember::rpc
