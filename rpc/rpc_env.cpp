// SPDX-License-Identifier: Apache-2.0
#include "rpc/rpc_env.hpp"

#include "rpc/env_core.hpp"
#include "rpc/sim/simulation.hpp"

#include <fmt/format.h>

#include <future>
#include <optional>

namespace ember::rpc {

RpcEnv::RpcEnv(std::shared_ptr<detail::EnvCore> core) : core_(std::move(core)) {}

RpcResult<std::unique_ptr<RpcEnv>> RpcEnv::create(RpcEnvConfig config) {
    auto core = detail::EnvCore::create(std::move(config));
    if (!core) return core.error();
    return std::unique_ptr<RpcEnv>(new RpcEnv(std::move(*core)));
}

std::unique_ptr<RpcEnv> RpcEnv::wrap(std::shared_ptr<detail::EnvCore> core) {
    return std::unique_ptr<RpcEnv>(new RpcEnv(std::move(core)));
}

RpcEnv::~RpcEnv() {
    core_->shutdown();
    core_->await_termination();
}

const RpcAddress& RpcEnv::address() const { return core_->address(); }
const Conf& RpcEnv::conf() const { return core_->conf(); }
const std::string& RpcEnv::name() const { return core_->name(); }

RpcResult<RpcEndpointRef> RpcEnv::setup_endpoint(std::string name, std::unique_ptr<RpcEndpoint> endpoint,
                                                 EndpointOptions options) {
    return core_->setup_endpoint(this, std::move(name), std::move(endpoint), options);
}

RpcEndpointRef RpcEnv::endpoint_ref(const RpcAddress& address, std::string name) const {
    return core_->make_ref(address, std::move(name));
}

RpcResult<RpcEndpointRef> RpcEnv::setup_endpoint_ref_by_uri(std::string_view uri) {
    if (auto* sim = core_->on_io_thread() ? sim::Simulation::current() : nullptr; sim && sim->can_block()) {
        // A simulated env, called outside its handlers: wait in virtual time (the lookup's
        // ask has a timeout, so it always completes).
        auto result = std::make_shared<std::optional<RpcResult<RpcEndpointRef>>>();
        core_->lookup(uri, [result](RpcResult<RpcEndpointRef> r) { *result = std::move(r); });
        sim->wait_until([&] { return result->has_value(); }, std::chrono::microseconds::max() / 2);
        if (!result->has_value()) {
            return RpcError{RpcErrc::aborted,
                            fmt::format("setup_endpoint_ref_by_uri({}): {}", uri,
                                        sim->current_process_killed() ? "the simulated process was killed"
                                                                      : "the simulation ran out of events")};
        }
        return std::move(**result);
    }
    if (core_->on_io_thread()) {
        return RpcError{RpcErrc::aborted,
                        "setup_endpoint_ref_by_uri was called on an RpcEnv I/O thread and would wait for "
                        "itself; use async_setup_endpoint_ref_by_uri"};
    }
    auto promise = std::make_shared<std::promise<RpcResult<RpcEndpointRef>>>();
    auto future = promise->get_future();
    core_->lookup(uri, [promise](RpcResult<RpcEndpointRef> r) { promise->set_value(std::move(r)); });
    return future.get();
}

void RpcEnv::async_setup_endpoint_ref_by_uri(std::string_view uri,
                                             std::function<void(RpcResult<RpcEndpointRef>)> done) {
    core_->lookup(uri, std::move(done));
}

std::chrono::microseconds RpcEnv::spin_time() const noexcept { return core_->io().spin_time(); }

struct RpcEnv::IoWaitScope::Impl {
    explicit Impl(detail::MessageLoop& loop) : scope(loop) {}
    detail::MessageLoop::WaitScope scope;
};

RpcEnv::IoWaitScope::IoWaitScope(RpcEnv& env) : impl_(std::make_unique<Impl>(env.core_->io())) {}

RpcEnv::IoWaitScope::~IoWaitScope() = default;

bool RpcEnv::IoWaitScope::drive_while_waiting(const std::function<bool()>& done) {
    return detail::MessageLoop::drive_while_waiting(done);
}

bool RpcEnv::drive_io_until(const std::function<bool()>& done) {
    auto& io = core_->io();
    return io.drive_until(done, io.spin_time());
}

bool RpcEnv::post_task(const RpcEndpointRef& ref, std::function<void()> fn) {
    if (ref.address() != core_->address()) return false;
    return core_->post_task(ref.name(), std::move(fn));
}

void RpcEnv::stop(const RpcEndpointRef& ref) {
    if (ref.address() == core_->address()) core_->stop_endpoint(ref.name());
}

void RpcEnv::shutdown() { core_->shutdown(); }

void RpcEnv::await_termination() { core_->await_termination(); }

}  // namespace ember::rpc
