// SPDX-License-Identifier: Apache-2.0
#include "rpc/outbox.hpp"

#include "rpc/env_core.hpp"
#include "rpc/log.hpp"

namespace ember::rpc::detail {

bool Outbox::send(std::unique_ptr<OutgoingData>&& frame, std::uint64_t request_id) {
    bool start_connect = false;
    {
        std::lock_guard lk(mu_);
        if (stopped_) return false;
        if (client_) {
            if (client_->send(std::move(frame), request_id)) return true;
            stopped_ = true;  // its connection closed under us; the caller retries a new outbox
            return false;
        }
        queue_.push_back(Queued{std::move(frame), request_id});
        if (!connecting_) {
            connecting_ = true;
            start_connect = true;
        }
    }
    if (start_connect) env_.connect(shared_from_this());
    return true;
}

void Outbox::on_connect(RpcResult<std::shared_ptr<transport::TransportClient>> client) {
    if (!client) {
        stop(client.error());
        return;
    }
    std::vector<std::uint64_t> unsent;
    {
        std::lock_guard lk(mu_);
        connecting_ = false;
        if (stopped_) {
            (*client)->close(RpcError{RpcErrc::env_stopped, "Outbox stopped while connecting"});
            return;
        }
        client_ = std::move(*client);
        // Still under the lock, so frames queued while connecting go out before any later send.
        for (auto& q : queue_) {
            if (!client_->send(std::move(q.frame), q.request_id) && q.request_id) unsent.push_back(q.request_id);
        }
        queue_.clear();
    }
    env_.fail_asks(unsent, RpcError{RpcErrc::connection_closed,
                                    "Connection to " + address_.host_port() + " closed right after connecting"});
}

void Outbox::stop(const RpcError& why) {
    std::deque<Queued> failed;
    {
        std::lock_guard lk(mu_);
        stopped_ = true;
        connecting_ = false;
        failed.swap(queue_);
        client_.reset();  // the connection itself belongs to the env, which closes it
    }
    std::vector<std::uint64_t> asks;
    std::size_t one_way = 0;
    for (auto& q : failed) {
        if (q.request_id) {
            asks.push_back(q.request_id);
        } else {
            ++one_way;
        }
    }
    if (one_way > 0) {
        log::get("rpc")->warn("Failed to send {} one-way message(s) to {}: {}", one_way, address_.host_port(),
                              why.message);
    }
    env_.fail_asks(asks, why);
}

std::shared_ptr<transport::TransportClient> Outbox::client() const {
    std::lock_guard lk(mu_);
    return client_;
}

}  // namespace ember::rpc::detail
