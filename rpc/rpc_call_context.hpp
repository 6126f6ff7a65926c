// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RpcCallContext: how an endpoint answers an ask (after Spark's RpcCallContext).

#include "rpc/message.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/rpc_error.hpp"

#include <memory>
#include <string>

namespace ember::rpc {

namespace detail {
class CallContextImpl;
}

/// The reply channel of one ask. Reply exactly once, now or later, from any thread; a second
/// reply is ignored with a warning. If every copy of the context is destroyed without a reply,
/// the asker gets RpcErrc::no_reply at once instead of waiting for its timeout.
///
/// Threading: thread-safe; a cheap copyable handle.
class RpcCallContext {
public:
    explicit RpcCallContext(std::shared_ptr<detail::CallContextImpl> impl) : impl_(std::move(impl)) {}

    /// Replies with `reply` (kind: response).
    void reply(OutgoingMessage reply) const;
    /// Replies with a T filled by `fill(T::Builder)`.
    template <class T, class Fill>
    void reply(Fill&& fill) const {
        reply(OutgoingMessage::make<T>(std::forward<Fill>(fill)));
    }
    /// Replies with an empty T.
    template <class T>
    void reply() const {
        reply(OutgoingMessage::make<T>());
    }
    /// Fails the ask; the asker sees RpcErrc::remote_failure with `message`.
    void send_failure(std::string message) const;
    /// Fails the ask with a specific code.
    void send_failure(RpcError error) const;

    /// The sender env's address (its advertised address, or its socket address in client mode).
    const RpcAddress& sender_address() const;
    /// True once reply or send_failure was called, or the ask was cancelled.
    bool replied() const;
    /// True if the asker gave up: it aborted the ask (AskHandle::abort) or the ask timed out.
    /// The asker's env tells the receiver (a `cancel` frame for a remote ask, at once for a local
    /// one), so this turns true shortly after the asker's timeout; a reply would be dropped
    /// quietly, so long work for it can stop. Spark's RpcCallContext has no such signal.
    bool cancelled() const;

private:
    std::shared_ptr<detail::CallContextImpl> impl_;
};

}  // namespace ember::rpc
