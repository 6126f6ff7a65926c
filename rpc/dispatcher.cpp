// SPDX-License-Identifier: Apache-2.0
#include "rpc/dispatcher.hpp"

#include "rpc/message_loop.hpp"

#include <fmt/format.h>

namespace ember::rpc::detail {

Dispatcher::Dispatcher(MessageLoop& shared_loop, std::string env_name)
    : shared_loop_(shared_loop), env_name_(std::move(env_name)) {}

Dispatcher::~Dispatcher() {
    stop();
    std::vector<std::unique_ptr<MessageLoop>> loops;
    {
        std::lock_guard lk(mu_);
        for (auto& [_, l] : dedicated_) loops.push_back(std::move(l));
        dedicated_.clear();
        for (auto& l : retired_) loops.push_back(std::move(l));
        retired_.clear();
    }
    loops.clear();  // each MessageLoop stops and joins in its destructor
}

RpcResult<std::shared_ptr<Inbox>> Dispatcher::register_endpoint(
    const std::string& name, std::unique_ptr<RpcEndpoint> endpoint, EndpointOptions options,
    const std::function<void(RpcEndpoint&)>& prepare) {
    std::unique_lock lk(mu_);
    if (stopped_) return RpcError{RpcErrc::env_stopped, "RpcEnv has been stopped"};
    if (inboxes_.count(name)) {
        return RpcError{RpcErrc::duplicate_endpoint,
                        fmt::format("There is already an RpcEndpoint called {}", name)};
    }
    prepare(*endpoint);
    std::unique_ptr<MessageLoop> own;
    MessageLoop* loop = &shared_loop_;
    if (options.dedicated_thread && shared_loop_.threads() > 0) {
        own = std::make_unique<MessageLoop>(fmt::format("ep-{}", name), 1, std::chrono::microseconds(0));
        loop = own.get();
    }
    auto inbox = std::make_shared<Inbox>(name, std::move(endpoint), *loop, !options.dedicated_thread);
    inbox->endpoint().inbox_ = inbox;
    inboxes_.emplace(name, inbox);
    generation_.fetch_add(1, std::memory_order_release);
    if (own) dedicated_.emplace(inbox.get(), std::move(own));
    ++live_;
    lk.unlock();
    // OnStart is already queued; start draining it.
    inbox->post(Closure{[] {}}, false);
    return inbox;
}

std::shared_ptr<Inbox> Dispatcher::find(std::string_view name) const {
    std::lock_guard lk(mu_);
    auto it = inboxes_.find(name);
    return it == inboxes_.end() ? nullptr : it->second;
}

bool Dispatcher::unregister(std::string_view name) {
    std::shared_ptr<Inbox> inbox;
    {
        std::lock_guard lk(mu_);
        auto it = inboxes_.find(name);
        if (it == inboxes_.end()) return false;
        inbox = std::move(it->second);
        inboxes_.erase(it);
        generation_.fetch_add(1, std::memory_order_release);
    }
    const Inbox* key = inbox.get();
    inbox->stop([this, key] {
        // Runs on the endpoint's loop right after on_stop: a dedicated loop cannot join itself,
        // so it is retired and joined later.
        std::lock_guard lk(mu_);
        auto it = dedicated_.find(key);
        if (it != dedicated_.end()) {
            it->second->stop();
            retired_.push_back(std::move(it->second));
            dedicated_.erase(it);
        }
        --live_;
        cv_.notify_all();
    });
    return true;
}

void Dispatcher::post_to_all(const InboxMessage& m) {
    std::vector<std::shared_ptr<Inbox>> all;
    {
        std::lock_guard lk(mu_);
        if (stopped_) return;
        for (auto& [_, inbox] : inboxes_) all.push_back(inbox);
    }
    for (auto& inbox : all) inbox->post(InboxMessage(m), false);
}

void Dispatcher::stop() {
    std::vector<std::string> names;
    {
        std::lock_guard lk(mu_);
        if (stopped_) return;
        stopped_ = true;
        for (auto& [n, _] : inboxes_) names.push_back(n);
    }
    for (auto& n : names) unregister(n);
}

bool Dispatcher::stopped() const {
    std::lock_guard lk(mu_);
    return stopped_;
}

bool Dispatcher::all_stopped() const {
    std::lock_guard lk(mu_);
    return stopped_ && live_ == 0;
}

void Dispatcher::await_stopped() {
    std::vector<std::unique_ptr<MessageLoop>> loops;
    {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [this] { return live_ == 0; });
        loops = std::move(retired_);
        retired_.clear();
    }
    loops.clear();
}

}  // namespace ember::rpc::detail
