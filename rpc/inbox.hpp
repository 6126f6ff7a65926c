// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: Inbox, the mailbox of one endpoint, and InboxMessage (after Spark's Inbox.scala).

#include "rpc/message.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/rpc_call_context.hpp"
#include "rpc/rpc_endpoint.hpp"

#include <boost/asio/io_context.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <variant>

namespace ember::rpc::detail {

class MessageLoop;

struct OnStart {};
struct OnStop {};
struct OneWayMessage {
    Message msg;
};
struct RpcMessage {
    Message msg;
    RpcCallContext ctx;
};
struct RemoteProcessConnected {
    RpcAddress address;
};
struct RemoteProcessDisconnected {
    RpcAddress address;
};
struct RemoteProcessConnectionError {
    RpcError error;
    RpcAddress address;
};
/// Work run on the endpoint's loop: ask completions for the endpoint, RpcEnv::post_task, timer
/// callbacks, future continuations and coroutine resumptions (`quiet`: dropped after the stop
/// without a warning, as those expect to be).
struct Closure {
    std::function<void()> fn;
    bool quiet = false;
};
using InboxMessage = std::variant<OnStart, OnStop, OneWayMessage, RpcMessage, RemoteProcessConnected,
                                  RemoteProcessDisconnected, RemoteProcessConnectionError, Closure>;

/// Queues InboxMessages for one endpoint and runs them one at a time on its loop.
///
/// OnStart is the first message and OnStop the last; messages posted after stop() are dropped
/// with a warning (Spark's Inbox.onDrop). A post from the thread that read a frame runs the
/// endpoint inline when nobody else is draining the inbox and the thread is not already inside
/// a handler: the I/O thread carries the message straight into the handler, with no hop (and,
/// when nothing else is queued, without passing through the queue).
///
/// Threading: post() and stop() are thread-safe; drain() runs on the loop, one at a time.
class Inbox : public std::enable_shared_from_this<Inbox> {
public:
    /// `batch_flushes`: what handlers send is written once per drain (only for the shared I/O
    /// loop, whose handlers never block; a dedicated-thread endpoint may block after a send).
    Inbox(std::string name, std::unique_ptr<RpcEndpoint> endpoint, MessageLoop& loop, bool batch_flushes);
    ~Inbox();

    const std::string& name() const noexcept { return name_; }
    RpcEndpoint& endpoint() noexcept { return *endpoint_; }
    MessageLoop& loop() noexcept { return loop_; }

    /// Queues `m`. Returns false (and drops it) if the inbox is stopped. With `may_run_inline`
    /// the calling thread may process the queue itself (see the class comment).
    bool post(InboxMessage m, bool may_run_inline);
    /// Runs `fn` right here, as if posted as a Closure and drained inline, when it would run
    /// inline and first anyway: on the inbox's loop thread outside any handler, the inbox idle
    /// with nothing queued and not stopped. Returns false without running it otherwise (post a
    /// Closure then). Saves the Closure's std::function for an ask's completion, an allocation
    /// per ask. `fn` is not kept past the call. An exception from `fn` goes to on_error.
    template <class F>
    bool try_run_inline(F& fn) {
        return try_run_inline_impl([](void* f) { (*static_cast<F*>(f))(); }, &fn);
    }
    /// Queues OnStop behind everything already queued. Idempotent. `on_stopped` runs after
    /// on_stop returned.
    void stop(std::function<void()> on_stopped);

    /// The inbox whose handler the calling thread is running, or nullptr.
    static Inbox* current() noexcept;

    /// Coroutine frames started in this endpoint's handlers (RpcFuture coroutines) and not yet
    /// finished: the ones still suspended when on_stop has run are destroyed then, unresumed.
    void add_coroutine(void* frame);
    void remove_coroutine(void* frame) noexcept;

private:
    /// Runs `first` (if given: a message that skipped the queue) or `first_fn(first_arg)` (a
    /// closure that skipped it, try_run_inline), then the queue, up to a batch.
    void drain(InboxMessage* first = nullptr, void (*first_fn)(void*) = nullptr, void* first_arg = nullptr);
    void process(InboxMessage& m);
    bool try_run_inline_impl(void (*call)(void*), void* arg);
    /// Runs `fn`; an exception goes to the endpoint's on_error (and to `ctx` as a failure).
    template <class F>
    void run_safely(F&& fn, RpcCallContext* ctx);

    std::string name_;
    std::unique_ptr<RpcEndpoint> endpoint_;
    MessageLoop& loop_;
    std::function<void()> on_stopped_;  // written once under mu_ before OnStop is queued
    bool batch_flushes_;

    std::mutex mu_;
    std::deque<InboxMessage> queue_;    // guarded by mu_
    bool draining_ = false;             // guarded by mu_: one drain at a time (Spark Inbox)
    bool stopped_ = false;              // guarded by mu_
    std::unordered_set<void*> coroutines_;  // guarded by mu_
};

}  // namespace ember::rpc::detail
