// SPDX-License-Identifier: Apache-2.0
#include "rpc/rpc_future.hpp"

#include "rpc/inbox.hpp"
#include "rpc/log.hpp"
#include "rpc/message_loop.hpp"
#include "rpc/sim/simulation.hpp"

namespace ember::rpc::detail {

namespace {

struct CoroutineRegistration {
    std::weak_ptr<Inbox> inbox;
};

}  // namespace

LoopRef current_loop() noexcept {
    Inbox* in = Inbox::current();
    if (!in) return {};
    return LoopRef{in->weak_from_this(), true};
}

bool run_on(const LoopRef& loop, std::function<void()> fn) {
    if (!loop.set) {
        try {
            fn();
        } catch (...) {
            log::get("rpc")->error("Exception from a future's continuation: {}", describe(std::current_exception()));
        }
        return true;
    }
    auto inbox = std::static_pointer_cast<Inbox>(loop.inbox.lock());
    if (!inbox) return false;
    // Queued even when this thread is in that endpoint's handler now: a continuation never runs
    // nested inside another handler, and the Inbox drops it once the endpoint has stopped.
    return inbox->post(Closure{std::move(fn), true}, true);
}

std::optional<RpcError> refuse_blocking_wait() {
    if (sim::Simulation::current()) {
        // The future's state waits on a condition variable that nothing on this thread would
        // signal: every env of the simulation runs here.
        return RpcError{RpcErrc::aborted,
                        "RpcFuture::get() was called on a simulation's thread, where nothing runs while it waits; "
                        "use then(), co_await, ask_sync, or Simulation::run_until until the future is ready"};
    }
    if (!MessageLoop::on_any_loop_thread()) return std::nullopt;
    return RpcError{RpcErrc::aborted,
                    "RpcFuture::get() was called on an ember loop thread (an endpoint's handler or an env I/O "
                    "thread) and would wait for itself; co_await the future or use then()"};
}

RpcError error_from(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const RpcException& ex) {
        return ex.error();
    } catch (...) {
        return RpcError{RpcErrc::remote_failure, describe(std::current_exception())};
    }
}

void report_coroutine_error(std::exception_ptr e) noexcept {
    try {
        if (Inbox* in = Inbox::current()) {
            in->endpoint().on_error(e);
        } else {
            log::get("rpc")->error("Exception left a coroutine: {}", describe(e));
        }
    } catch (...) {
        log::get("rpc")->error("Ignoring error from on_error: {}", describe(std::current_exception()));
    }
}

std::shared_ptr<void> register_coroutine(std::coroutine_handle<> h) {
    Inbox* in = Inbox::current();
    if (!in) return nullptr;
    in->add_coroutine(h.address());
    return std::make_shared<CoroutineRegistration>(CoroutineRegistration{in->weak_from_this()});
}

void unregister_coroutine(const std::shared_ptr<void>& registration, std::coroutine_handle<> h) noexcept {
    if (!registration) return;
    auto* r = static_cast<CoroutineRegistration*>(registration.get());
    if (auto inbox = r->inbox.lock()) inbox->remove_coroutine(h.address());
}

void throw_invalid_future() {
    throw ContractViolation("RpcFuture: used without a state (a default-constructed future), or when_any of none");
}

}  // namespace ember::rpc::detail
