// SPDX-License-Identifier: Apache-2.0
#include "rpc/rpc_endpoint.hpp"

#include "rpc/env_core.hpp"
#include "rpc/log.hpp"
#include "rpc/rpc_env.hpp"
#include "rpc/timer_service.hpp"

#include <fmt/format.h>
#include <kj/exception.h>

#include <stdexcept>

namespace ember::rpc {

RpcEndpoint::~RpcEndpoint() = default;

void RpcEndpoint::receive(const Message& msg) {
    throw RpcException(unsupported(msg));
}

void RpcEndpoint::receive_and_reply(const Message& msg, RpcCallContext ctx) { ctx.send_failure(unsupported(msg)); }

RpcError RpcEndpoint::unsupported(const Message& msg) const {
    // type_name() is the hex id itself when this process never registered the type: say it once.
    std::string type = msg.type_name();
    std::string id = fmt::format("0x{:016x}", msg.type_id());
    if (type != id) type = fmt::format("{} (type id {})", type, id);
    return RpcError{RpcErrc::unknown_message_type,
                    fmt::format("{} does not handle message type {} from {}", self_.to_string(), type,
                                msg.sender_address().host_port())};
}

void RpcEndpoint::on_error(std::exception_ptr error) {
    // Peers can make handlers throw (a malformed payload): one line per endpoint every few seconds.
    static log::RateLimitedLog errors;
    errors.log(self_.to_string(), [&](std::uint64_t suppressed) {
        log::get("rpc")->error("Endpoint {}: {}{}", self_.to_string(), describe(error), log::suppressed_suffix(suppressed));
    });
}

RpcEnv& RpcEndpoint::env() const {
    EMBER_REQUIRE(env_ != nullptr, "RpcEndpoint::env() called before setup_endpoint");
    return *env_;
}

void TimerHandle::cancel() const {
    if (auto s = service_.lock()) s->cancel(id_);
}

bool TimerHandle::active() const {
    auto s = service_.lock();
    return s && id_ != 0 && s->active(id_);
}

TimerHandle RpcEndpoint::schedule_once(std::chrono::nanoseconds delay, std::function<void()> fn) {
    return schedule(delay, std::chrono::nanoseconds(0), std::move(fn));
}

TimerHandle RpcEndpoint::schedule_every(std::chrono::nanoseconds period, std::function<void()> fn) {
    return schedule_every(period, period, std::move(fn));
}

TimerHandle RpcEndpoint::schedule_every(std::chrono::nanoseconds initial_delay, std::chrono::nanoseconds period,
                                        std::function<void()> fn) {
    EMBER_REQUIRE(period.count() > 0, "schedule_every: the period must be positive, not {} ns", period.count());
    return schedule(initial_delay, period, std::move(fn));
}

TimerHandle RpcEndpoint::schedule(std::chrono::nanoseconds delay, std::chrono::nanoseconds period,
                                  std::function<void()> fn) {
    EMBER_REQUIRE(env_ != nullptr, "schedule_once/schedule_every called before setup_endpoint: call it from "
                                   "on_start or a later callback");
    EMBER_REQUIRE(fn != nullptr, "schedule_once/schedule_every: the callback is empty");
    if (!self_) return {};  // on_stop or later: nothing may run after on_stop
    auto& timers = env_->core().timers();
    auto due = timers.now() + std::max(delay, std::chrono::nanoseconds(0));
    auto id = timers.schedule(inbox_, std::chrono::time_point_cast<detail::TimerService::Clock::duration>(due),
                              std::chrono::duration_cast<detail::TimerService::Clock::duration>(period), std::move(fn));
    if (id == 0) return {};
    return TimerHandle(timers.weak_from_this(), id);
}

void RpcEndpoint::cancel_timers() {
    if (!env_) return;
    if (auto inbox = inbox_.lock()) env_->core().timers().cancel_all(inbox.get());
}

void RpcEndpoint::stop() {
    if (env_ && self_) env_->stop(self_);
}

std::string describe(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (const kj::Exception& ex) {
        // Without kj's "stack: <addresses>": failure replies go to peers, and absolute
        // addresses would defeat ASLR.
        std::string d = ex.getDescription().cStr();
        if (auto at = d.find("\nstack:"); at != std::string::npos) d.resize(at);
        if (auto at = d.find("stack:"); at == 0) d.clear();
        return d;
    } catch (...) {
        return "unknown exception";
    }
}

}  // namespace ember::rpc
