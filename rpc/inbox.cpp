// SPDX-License-Identifier: Apache-2.0
#include "rpc/inbox.hpp"

#include "rpc/log.hpp"
#include "rpc/message_loop.hpp"
#include "rpc/transport/transport_client.hpp"

#include <boost/asio/post.hpp>
#include <kj/exception.h>

#include <coroutine>
#include <optional>

namespace ember::rpc::detail {
namespace {

thread_local Inbox* t_current = nullptr;

// Messages processed per drain before yielding the thread to other work (fairness).
constexpr int kDrainBatch = 64;

const char* kind_name(const InboxMessage& m) {
    switch (m.index()) {
        case 0: return "OnStart";
        case 1: return "OnStop";
        case 2: return "OneWayMessage";
        case 3: return "RpcMessage";
        case 4: return "RemoteProcessConnected";
        case 5: return "RemoteProcessDisconnected";
        case 6: return "RemoteProcessConnectionError";
        default: return "Closure";
    }
}

}  // namespace

Inbox::Inbox(std::string name, std::unique_ptr<RpcEndpoint> endpoint, MessageLoop& loop, bool batch_flushes)
    : name_(std::move(name)), endpoint_(std::move(endpoint)), loop_(loop), batch_flushes_(batch_flushes) {
    queue_.emplace_back(OnStart{});  // the first message, before anything a caller can post
}

Inbox::~Inbox() = default;

Inbox* Inbox::current() noexcept { return t_current; }

void Inbox::add_coroutine(void* frame) {
    std::lock_guard lk(mu_);
    coroutines_.insert(frame);
}

void Inbox::remove_coroutine(void* frame) noexcept {
    std::lock_guard lk(mu_);
    coroutines_.erase(frame);
}

bool Inbox::post(InboxMessage m, bool may_run_inline) {
    bool dropped = false;
    const bool inline_here = may_run_inline && t_current == nullptr && loop_.in_this_thread();
    bool skip_queue = false;
    {
        std::lock_guard lk(mu_);
        if (stopped_) {
            dropped = true;
        } else if (draining_) {
            queue_.push_back(std::move(m));
            return true;
        } else {
            draining_ = true;
            // Nothing ahead of it and run right here: the message need not pass through the
            // queue (an ask's request or reply, the common case, saves a queue entry's moves).
            skip_queue = inline_here && queue_.empty();
            if (!skip_queue) queue_.push_back(std::move(m));
        }
    }
    if (dropped) {
        if (auto* c = std::get_if<Closure>(&m); c && c->quiet) return false;
        log::get("rpc")->warn("Drop {} because endpoint {} is stopped", kind_name(m), name_);
        if (auto* rpc = std::get_if<RpcMessage>(&m)) {
            rpc->ctx.send_failure(
                RpcError{RpcErrc::endpoint_not_found, "endpoint " + name_ + " is stopped"});
        }
        return false;
    }
    if (inline_here) {
        drain(skip_queue ? &m : nullptr);  // the message runs right here, on the thread that read it
    } else {
        boost::asio::post(loop_.context(), [self = shared_from_this()] { self->drain(); });
    }
    return true;
}

bool Inbox::try_run_inline_impl(void (*call)(void*), void* arg) {
    if (t_current != nullptr || !loop_.in_this_thread()) return false;
    {
        std::lock_guard lk(mu_);
        if (stopped_ || draining_ || !queue_.empty()) return false;
        draining_ = true;
    }
    drain(nullptr, call, arg);
    return true;
}

void Inbox::stop(std::function<void()> on_stopped) {
    bool schedule = false;
    {
        std::lock_guard lk(mu_);
        if (stopped_) return;
        stopped_ = true;
        on_stopped_ = std::move(on_stopped);
        queue_.emplace_back(OnStop{});
        if (!draining_) {
            draining_ = true;
            schedule = true;
        }
    }
    if (schedule) boost::asio::post(loop_.context(), [self = shared_from_this()] { self->drain(); });
}

void Inbox::drain(InboxMessage* first, void (*first_fn)(void*), void* first_arg) {
    // What the handlers send leaves in one writev per peer, after the batch.
    std::optional<transport::FlushScope> flushes;
    if (batch_flushes_) flushes.emplace();
    Inbox* outer = t_current;
    t_current = this;
    int n = 0;
    if (first) {
        process(*first);
        n = 1;
    } else if (first_fn) {
        run_safely([&] { first_fn(first_arg); }, nullptr);
        n = 1;
    }
    for (;; ++n) {
        InboxMessage m;
        {
            std::lock_guard lk(mu_);
            if (queue_.empty()) {
                draining_ = false;
                break;
            }
            if (n == kDrainBatch) {
                // Let other inboxes and sockets run; continue later, still marked draining.
                boost::asio::post(loop_.context(), [self = shared_from_this()] { self->drain(); });
                break;
            }
            m = std::move(queue_.front());
            queue_.pop_front();
        }
        process(m);
    }
    t_current = outer;
}

template <class F>
void Inbox::run_safely(F&& fn, RpcCallContext* ctx) {
    try {
        fn();
        return;
    } catch (...) {
        auto error = std::current_exception();
        if (ctx) ctx->send_failure(RpcError{RpcErrc::remote_failure, describe(error)});
        try {
            endpoint_->on_error(error);
        } catch (...) {
            log::get("rpc")->error("Ignoring error from {}.on_error: {}", name_, describe(std::current_exception()));
        }
    }
}

void Inbox::process(InboxMessage& m) {
    auto safely = [&](auto&& fn, RpcCallContext* ctx) { run_safely(fn, ctx); };
    std::visit(
        [&](auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, OnStart>) {
                safely([&] { endpoint_->on_start(); }, nullptr);
            } else if constexpr (std::is_same_v<T, OnStop>) {
                endpoint_->self_ = RpcEndpointRef{};  // Spark: self is null inside onStop
                endpoint_->cancel_timers();
                safely([&] { endpoint_->on_stop(); }, nullptr);
                // Coroutines still waiting never resume (their continuations are dropped from now
                // on): destroy them, so their locals go (a held RpcCallContext fails its ask with
                // no_reply) and their futures fail. A destroyed frame may finish another's future,
                // whose continuation is dropped as well: nothing runs user code past on_stop but
                // these destructors.
                std::unordered_set<void*> frames;
                {
                    std::lock_guard lk(mu_);
                    frames.swap(coroutines_);
                }
                for (void* f : frames) std::coroutine_handle<>::from_address(f).destroy();
                if (on_stopped_) on_stopped_();
            } else if constexpr (std::is_same_v<T, OneWayMessage>) {
                safely([&] { endpoint_->receive(msg.msg); }, nullptr);
            } else if constexpr (std::is_same_v<T, RpcMessage>) {
                safely([&] { endpoint_->receive_and_reply(msg.msg, msg.ctx); }, &msg.ctx);
            } else if constexpr (std::is_same_v<T, RemoteProcessConnected>) {
                safely([&] { endpoint_->on_connected(msg.address); }, nullptr);
            } else if constexpr (std::is_same_v<T, RemoteProcessDisconnected>) {
                safely([&] { endpoint_->on_disconnected(msg.address); }, nullptr);
            } else if constexpr (std::is_same_v<T, RemoteProcessConnectionError>) {
                safely([&] { endpoint_->on_network_error(msg.error, msg.address); }, nullptr);
            } else {
                safely([&] { msg.fn(); }, nullptr);
            }
        },
        m);
}

}  // namespace ember::rpc::detail
