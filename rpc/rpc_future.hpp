// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RpcFuture and RpcPromise: the result of an ask as a value to wait on, chain, combine or
/// co_await (after the Future[T] that Spark's RpcEndpointRef.ask returns, its
/// AbortableRpcFuture, and RpcTimeout.awaitResult).

#include "rpc/rpc_error.hpp"
#include "rpc/rpc_timeout.hpp"
#include "rpc/wait_word.hpp"

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace ember::rpc {

template <class T>
class RpcFuture;
template <class T>
class RpcPromise;

namespace detail {

/// The endpoint loop a continuation belongs to: the endpoint whose handler ran when it was
/// attached (`inbox` set), or none (attached outside every endpoint).
struct LoopRef {
    std::weak_ptr<void> inbox;
    bool set = false;
};
/// The endpoint whose handler (or coroutine) runs on the calling thread.
LoopRef current_loop() noexcept;
/// Queues `fn` on `loop`'s endpoint, behind its messages (it runs at once when the calling thread
/// is that loop's and idle); returns false, dropping `fn`, when the endpoint has stopped. An unset
/// loop runs `fn` at once on the calling thread. An exception from `fn` goes to the endpoint's
/// on_error (outside endpoints: the `rpc` log).
bool run_on(const LoopRef& loop, std::function<void()> fn);
/// Fails unless a blocking wait is allowed on this thread (not on an ember loop thread).
[[nodiscard]] std::optional<RpcError> refuse_blocking_wait();
/// The failure an exception stands for: an RpcException's own error, else remote_failure with
/// the exception's text.
RpcError error_from(std::exception_ptr e);
/// Passes an exception that left a coroutine to its endpoint's on_error (or logs it).
void report_coroutine_error(std::exception_ptr e) noexcept;
/// Registers a coroutine frame started inside an endpoint, so that the endpoint destroys it if it
/// stops while the coroutine is suspended; returns an empty handle outside endpoints.
std::shared_ptr<void> register_coroutine(std::coroutine_handle<> h);
void unregister_coroutine(const std::shared_ptr<void>& registration, std::coroutine_handle<> h) noexcept;
[[noreturn]] void throw_invalid_future();

/// The state an RpcFuture and its RpcPromise share. Completed once; callbacks run on the
/// completing thread, outside the lock.
/// Threading: thread-safe.
template <class T>
class FutureState {
public:
    using Callback = std::function<void(const RpcResult<T>&)>;

    /// Sets the result and runs the callbacks; false (and nothing happens) if already complete.
    bool complete(RpcResult<T> r) {
        std::vector<Callback> callbacks;
        {
            std::lock_guard lk(mu_);
            if (result_) return false;
            result_.emplace(std::move(r));
            callbacks.swap(callbacks_);
        }
        done_.store_and_wake_all(1);  // a system call only if a thread sleeps in wait()
        for (auto& cb : callbacks) cb(*result_);  // the result never changes once set
        return true;
    }
    /// Runs `cb` at completion, or at once when already complete.
    void on_complete(Callback cb) {
        if (try_on_complete(cb)) return;
        cb(*result_);
    }
    /// Registers `cb` unless complete; returns whether it did.
    bool try_on_complete(Callback& cb) {
        std::lock_guard lk(mu_);
        if (result_) return false;
        callbacks_.push_back(std::move(cb));
        return true;
    }
    bool ready() const {
        std::lock_guard lk(mu_);
        return result_.has_value();
    }
    /// The result; only after ready() returned true.
    const RpcResult<T>& result() const { return *result_; }
    const RpcResult<T>& wait() {
        while (done_.load() == 0) done_.wait(0);
        return *result_;  // set before done_, and never changed after
    }
    bool wait_for(std::chrono::milliseconds d) { return done_.load() != 0 || done_.wait_for(0, d); }
    void set_abort(std::function<void(std::string)> fn) {
        std::lock_guard lk(mu_);
        abort_ = std::move(fn);
    }
    void abort(std::string reason) {
        std::function<void(std::string)> fn;
        {
            std::lock_guard lk(mu_);
            fn = abort_;
        }
        if (fn) fn(std::move(reason));
    }

private:
    mutable std::mutex mu_;
    /// 1 once result_ is set; wait() sleeps on it (not a condition variable: see
    /// rpc/wait_word.hpp). complete() runs through a shared_ptr that keeps this state alive.
    WaitWord done_;
    std::optional<RpcResult<T>> result_;     // guarded by mu_; immutable once set
    std::vector<Callback> callbacks_;        // guarded by mu_
    std::function<void(std::string)> abort_;  // guarded by mu_
};

/// Breaks the promise (fails its future with `aborted`) when the last RpcPromise copy goes.
template <class T>
struct PromiseKeeper {
    std::shared_ptr<FutureState<T>> state;
    ~PromiseKeeper() {
        if (state) {
            state->complete(RpcError{RpcErrc::aborted,
                                     "the promise was dropped without a result (the endpoint it would "
                                     "complete on has stopped, or its env)"});
        }
    }
};

template <class R>
struct FutureOf {
    using type = RpcFuture<R>;
    using value = R;
};
template <>
struct FutureOf<void> {
    using type = RpcFuture<void>;
    using value = void;
};
template <class U>
struct FutureOf<boost::system::result<U, RpcError>> {
    using type = RpcFuture<U>;
    using value = U;
};

/// Completes `state` with what `f(r)` returns (a value, an RpcResult, or nothing), or with the
/// error its exception stands for.
template <class U, class F, class Arg>
void complete_with(FutureState<U>& state, F& f, Arg&& r) {
    try {
        using R = std::invoke_result_t<F&, Arg>;
        if constexpr (std::is_void_v<R>) {
            f(std::forward<Arg>(r));
            state.complete(RpcResult<void>{});
        } else {
            state.complete(RpcResult<U>(f(std::forward<Arg>(r))));
        }
    } catch (...) {
        state.complete(error_from(std::current_exception()));
    }
}

template <class T>
struct PromiseBase {
    std::shared_ptr<FutureState<T>> state = std::make_shared<FutureState<T>>();
    std::optional<RpcResult<T>> result;
    std::shared_ptr<void> registration;
};

template <class T, class Derived>
struct ReturnValue : PromiseBase<T> {
    void return_value(RpcResult<T> r) { this->result.emplace(std::move(r)); }
};
template <class Derived>
struct ReturnValue<void, Derived> : PromiseBase<void> {
    void return_void() { this->result.emplace(); }
};

}  // namespace detail

/// The eventual result of an ask (or of a coroutine, or of anything an RpcPromise completes): an
/// RpcResult<T> that arrives once. Wait for it (get), chain on it (then), combine several
/// (when_all, when_any), or co_await it in a coroutine. Failures are the same RpcErrors the
/// callback form of ask gives: a timeout names the peer and the config key, an abort is
/// RpcErrc::aborted with its reason.
///
/// An RpcFuture<T> is also a coroutine type: a function returning RpcFuture<T> may co_await and
/// co_return a T (or an RpcResult<T>, or RpcError). It starts at once and runs until its first
/// co_await of an unfinished future. Started inside an endpoint's handler, it resumes on that
/// endpoint's loop, one message at a time with its handlers, so it may touch the endpoint's
/// members; while it waits the endpoint keeps receiving. If the endpoint stops first, the
/// coroutine is destroyed without resuming (its locals are destroyed, an RpcCallContext among them
/// fails its ask with no_reply) and its future fails with aborted. An exception that escapes a
/// coroutine fails its future (an RpcException with its error, anything else as remote_failure)
/// and goes to the endpoint's on_error, as from a handler.
///
/// Where code runs: a continuation attached inside an endpoint (then, co_await) runs on that
/// endpoint's loop, queued behind its messages, never after its on_stop; attached elsewhere it
/// runs on the thread that completes the future (for an ask: an env I/O thread), or at once if
/// the future is complete already.
///
/// Threading: thread-safe; a cheap copyable handle (copies share one result). T must be
/// copyable: every get, continuation and co_await gets a copy of the result.
template <class T>
class RpcFuture {
public:
    using value_type = T;
    struct promise_type;

    /// An invalid future (valid() == false); only assignment and valid() may be used.
    RpcFuture() = default;
    explicit RpcFuture(std::shared_ptr<detail::FutureState<T>> state) : state_(std::move(state)) {}

    bool valid() const noexcept { return state_ != nullptr; }
    /// True once the result is there.
    bool ready() const { return state().ready(); }

    /// Blocks until the result is there. On an ember loop thread (in any handler, or an env I/O
    /// thread) a future that is not ready fails at once with aborted instead of waiting for the
    /// thread it blocks: use then or co_await there. An ask's future always completes (at the
    /// latest when its own timeout expires).
    RpcResult<T> get() const {
        auto& s = state();
        if (s.ready()) return s.result();
        if (auto refused = detail::refuse_blocking_wait()) return *refused;
        return s.wait();
    }
    /// As get(), but waits at most `timeout`, then fails with RpcErrc::timeout naming its key, as
    /// Spark's RpcTimeout.awaitResult: "Futures timed out after [1 second]. This timeout is
    /// controlled by <key>". The asked endpoint is not told (abort() does that).
    RpcResult<T> get(const RpcTimeout& timeout) const {
        auto& s = state();
        if (s.ready()) return s.result();
        if (auto refused = detail::refuse_blocking_wait()) return *refused;
        if (!s.wait_for(timeout.duration)) return RpcError{RpcErrc::timeout, timeout.wait_message()};
        return s.result();
    }

    /// A future of what `f(RpcResult<T>)` returns: `f` may return nothing (RpcFuture<void>), a
    /// value U, or an RpcResult<U> (RpcFuture<U>); an exception from `f` fails the new future.
    /// See the class comment for where `f` runs. Aborting the new future aborts this one.
    template <class F>
    auto then(F f) const -> typename detail::FutureOf<std::invoke_result_t<F&, RpcResult<T>>>::type {
        using Next = typename detail::FutureOf<std::invoke_result_t<F&, RpcResult<T>>>::type;
        using U = typename Next::value_type;
        auto next = std::make_shared<detail::FutureState<U>>();
        auto source = state_;
        (void)state();
        next->set_abort([source](std::string reason) { source->abort(std::move(reason)); });
        auto loop = detail::current_loop();
        source->on_complete([next, loop, f = std::move(f)](const RpcResult<T>& r) mutable {
            bool queued = detail::run_on(loop, [next, f, r]() mutable { detail::complete_with(*next, f, std::move(r)); });
            if (!queued) {
                next->complete(RpcError{RpcErrc::aborted,
                                        "the continuation was dropped: the endpoint it was attached in has stopped"});
            }
        });
        return Next(std::move(next));
    }

    /// Gives up: an ask in flight fails with RpcErrc::aborted and `reason`, and its receiver is
    /// told (RpcCallContext::cancelled()); a late reply is dropped (Spark's
    /// AbortableRpcFuture.abort). A future made by then or when_* passes the abort to the futures
    /// it was made from, even once complete itself (when_all that failed early, when_any: the asks
    /// still running). No effect on a complete ask, or on a future with nothing to abort (an
    /// RpcPromise's, a coroutine's).
    void abort(std::string reason) const { state().abort(std::move(reason)); }

    /// co_await yields the RpcResult<T>; see the class comment for where the coroutine resumes.
    auto operator co_await() const {
        struct Awaiter {
            std::shared_ptr<detail::FutureState<T>> s;
            bool await_ready() const { return s->ready(); }
            bool await_suspend(std::coroutine_handle<> h) {
                typename detail::FutureState<T>::Callback cb =
                    [h, loop = detail::current_loop()](const RpcResult<T>&) { detail::run_on(loop, [h] { h.resume(); }); };
                return s->try_on_complete(cb);
            }
            RpcResult<T> await_resume() const { return s->result(); }
        };
        (void)state();
        return Awaiter{state_};
    }

    /// Internal: the shared state, for ember's own layers.
    const std::shared_ptr<detail::FutureState<T>>& shared_state() const noexcept { return state_; }

private:
    detail::FutureState<T>& state() const {
        if (!state_) detail::throw_invalid_future();
        return *state_;
    }
    std::shared_ptr<detail::FutureState<T>> state_;
};

template <class T>
struct RpcFuture<T>::promise_type : detail::ReturnValue<T, promise_type> {
    RpcFuture<T> get_return_object() {
        this->registration = detail::register_coroutine(std::coroutine_handle<promise_type>::from_promise(*this));
        return RpcFuture<T>(this->state);
    }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept {
        auto e = std::current_exception();
        this->result.emplace(detail::error_from(e));
        detail::report_coroutine_error(e);
    }
    ~promise_type() {
        detail::unregister_coroutine(this->registration, std::coroutine_handle<promise_type>::from_promise(*this));
        if (this->result) {
            this->state->complete(std::move(*this->result));
        } else {
            this->state->complete(RpcError{RpcErrc::aborted,
                                           "the coroutine was destroyed before it finished: its endpoint stopped"});
        }
    }
};

/// The producing side of an RpcFuture: complete it once, from any thread. When every copy of a
/// promise is gone without a result, its future fails with RpcErrc::aborted.
/// Threading: thread-safe; copies share one future.
template <class T>
class RpcPromise {
public:
    RpcPromise() : keeper_(std::make_shared<detail::PromiseKeeper<T>>()) {
        keeper_->state = std::make_shared<detail::FutureState<T>>();
    }
    RpcFuture<T> future() const { return RpcFuture<T>(keeper_->state); }
    /// Completes the future with `r` (a T, an RpcError, or an RpcResult<T>); false if it was
    /// complete already.
    bool set(RpcResult<T> r) const { return keeper_->state->complete(std::move(r)); }

private:
    std::shared_ptr<detail::PromiseKeeper<T>> keeper_;
};

/// One result of when_any: which future completed first, and how.
template <class T>
struct WhenAnyResult {
    std::size_t index = 0;
    RpcResult<T> result;
};

/// A future of every value, in the order of `futures`, once all succeeded; it fails as soon as
/// one fails, with that failure (the others run on; abort() aborts them all). Empty: ready at
/// once with no values. The combination runs on the thread completing the last source; its own
/// continuations follow RpcFuture's rules.
template <class T>
RpcFuture<std::vector<T>> when_all(std::vector<RpcFuture<T>> futures) {
    struct Gather {
        std::mutex mu;
        std::vector<std::optional<T>> values;  // guarded by mu
        std::size_t left;                      // guarded by mu
    };
    auto out = std::make_shared<detail::FutureState<std::vector<T>>>();
    if (futures.empty()) {
        out->complete(std::vector<T>{});
        return RpcFuture<std::vector<T>>(out);
    }
    auto gather = std::make_shared<Gather>();
    gather->values.resize(futures.size());
    gather->left = futures.size();
    std::vector<std::shared_ptr<detail::FutureState<T>>> sources;
    for (auto& f : futures) {
        if (!f.valid()) detail::throw_invalid_future();
        sources.push_back(f.shared_state());
    }
    out->set_abort([sources](std::string reason) {
        for (auto& s : sources) s->abort(reason);
    });
    for (std::size_t i = 0; i < sources.size(); ++i) {
        sources[i]->on_complete([gather, out, i](const RpcResult<T>& r) {
            if (!r) {
                out->complete(r.error());
                return;
            }
            std::vector<T> all;
            {
                std::lock_guard lk(gather->mu);
                gather->values[i].emplace(*r);
                if (--gather->left != 0) return;
                all.reserve(gather->values.size());
                for (auto& v : gather->values) all.push_back(std::move(*v));
            }
            out->complete(std::move(all));
        });
    }
    return RpcFuture<std::vector<T>>(out);
}

/// when_all(f1, f2, ...): the same over futures of one type, as arguments.
template <class T, class... More>
    requires(std::is_same_v<More, RpcFuture<T>> && ...)
RpcFuture<std::vector<T>> when_all(RpcFuture<T> first, More... more) {
    return when_all(std::vector<RpcFuture<T>>{std::move(first), std::move(more)...});
}

/// A future of the first of `futures` to complete, success or failure, and its index; the others
/// run on (abort() aborts them all). `futures` must not be empty.
template <class T>
RpcFuture<WhenAnyResult<T>> when_any(std::vector<RpcFuture<T>> futures) {
    if (futures.empty()) detail::throw_invalid_future();
    auto out = std::make_shared<detail::FutureState<WhenAnyResult<T>>>();
    std::vector<std::shared_ptr<detail::FutureState<T>>> sources;
    for (auto& f : futures) {
        if (!f.valid()) detail::throw_invalid_future();
        sources.push_back(f.shared_state());
    }
    out->set_abort([sources](std::string reason) {
        for (auto& s : sources) s->abort(reason);
    });
    for (std::size_t i = 0; i < sources.size(); ++i) {
        sources[i]->on_complete([out, i](const RpcResult<T>& r) { out->complete(WhenAnyResult<T>{i, r}); });
    }
    return RpcFuture<WhenAnyResult<T>>(out);
}

/// when_any(f1, f2, ...): the same over futures of one type, as arguments.
template <class T, class... More>
    requires(std::is_same_v<More, RpcFuture<T>> && ...)
RpcFuture<WhenAnyResult<T>> when_any(RpcFuture<T> first, More... more) {
    return when_any(std::vector<RpcFuture<T>>{std::move(first), std::move(more)...});
}

}  // namespace ember::rpc
