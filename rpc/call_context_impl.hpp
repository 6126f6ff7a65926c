// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: the two RpcCallContext implementations (Spark's Local/RemoteNettyRpcCallContext).

#include "rpc/rpc_call_context.hpp"

#include <atomic>
#include <memory>

namespace ember::rpc::transport {
class Connection;
}

namespace ember::rpc::detail {

class EnvCore;

/// Reply-once state shared by the copies of one RpcCallContext.
/// Threading: thread-safe.
class CallContextImpl {
public:
    CallContextImpl(std::weak_ptr<EnvCore> env, std::uint64_t request_id, RpcAddress sender)
        : env_(std::move(env)), request_id_(request_id), sender_(std::move(sender)) {}
    virtual ~CallContextImpl() = default;

    /// True for the first caller only: it may reply.
    bool claim() noexcept { return !replied_.exchange(true); }
    bool replied() const noexcept { return replied_.load(); }
    /// The asker gave up (aborted): later replies are dropped.
    void cancel() noexcept {
        cancelled_.store(true);
        replied_.store(true);
    }
    virtual bool cancelled() const noexcept { return cancelled_.load(); }
    const RpcAddress& sender() const noexcept { return sender_; }
    virtual void do_reply(OutgoingMessage reply) = 0;
    virtual void do_fail(const RpcError& error) = 0;

protected:
    /// For destructors: fail the ask with no_reply if nobody answered.
    void fail_if_unanswered();

    std::weak_ptr<EnvCore> env_;
    std::uint64_t request_id_;
    RpcAddress sender_;
    std::atomic<bool> replied_{false};
    std::atomic<bool> cancelled_{false};
};

/// An ask between endpoints of one env: the reply completes the asker's pending ask directly.
class LocalCallContext final : public CallContextImpl {
public:
    using CallContextImpl::CallContextImpl;
    ~LocalCallContext() override { fail_if_unanswered(); }
    void do_reply(OutgoingMessage reply) override;
    void do_fail(const RpcError& error) override;
};

/// An ask that came over a connection: the reply is a response or failure frame on it.
class RemoteCallContext final : public CallContextImpl {
public:
    RemoteCallContext(std::weak_ptr<EnvCore> env, std::uint64_t request_id, RpcAddress sender,
                      std::weak_ptr<transport::Connection> conn)
        : CallContextImpl(std::move(env), request_id, std::move(sender)), conn_(std::move(conn)) {}
    ~RemoteCallContext() override { fail_if_unanswered(); }
    void do_reply(OutgoingMessage reply) override;
    void do_fail(const RpcError& error) override;
    /// A cancel frame for this request arrived on its connection.
    bool cancelled() const noexcept override;

private:
    std::weak_ptr<transport::Connection> conn_;
};

}  // namespace ember::rpc::detail
