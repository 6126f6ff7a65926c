// SPDX-License-Identifier: Apache-2.0
#include "rpc/outbox.hpp"

#include "rpc/env_core.hpp"
#include "rpc/log.hpp"

namespace ember::rpc::detail {

using transport::SendResult;
using transport::WhenFull;

SendResult Outbox::send(std::unique_ptr<OutgoingData>&& frame, std::uint64_t request_id, WhenFull when_full,
                        std::chrono::steady_clock::time_point deadline) {
    bool start_connect = false;
    std::shared_ptr<transport::Connection> client;
    {
        std::unique_lock lk(mu_);
        if (!client_ && !stopped_) {
            std::uint64_t bytes = frame->frame_bytes() + frame->body_size;
            auto has_room = [&] { return queued_bytes_ == 0 || queued_bytes_ + bytes <= max_queued_bytes_; };
            if (!has_room()) {
                if (when_full == WhenFull::fail) return SendResult::full;
                room_.wait_until(lk, deadline, [&] { return stopped_ || client_ || has_room(); });
                if (!stopped_ && !client_ && !has_room()) return SendResult::full;
            }
            if (!client_ && !stopped_) {
                queue_.push_back(Queued{std::move(frame), request_id, bytes});
                queued_bytes_ += bytes;
                if (!connecting_) {
                    connecting_ = true;
                    start_connect = true;
                }
            }
        }
        if (stopped_ && frame) return SendResult::closed;
        client = client_;
    }
    if (start_connect) env_.connect(shared_from_this());
    if (!frame) return SendResult::queued;
    // Connected: the connection applies its own bound (outside our lock: it may wait).
    SendResult r = client->send(std::move(frame), request_id, when_full, deadline);
    if (r == SendResult::closed) {
        std::lock_guard lk(mu_);
        stopped_ = true;  // its connection closed under us; the caller retries a new outbox
    }
    return r;
}

void Outbox::on_connect(RpcResult<std::shared_ptr<transport::Connection>> client) {
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
        // They were admitted under the same bound, so they never wait here.
        for (auto& q : queue_) {
            if (client_->send(std::move(q.frame), q.request_id) != SendResult::queued && q.request_id) {
                unsent.push_back(q.request_id);
            }
        }
        queue_.clear();
        queued_bytes_ = 0;
    }
    room_.notify_all();
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
        queued_bytes_ = 0;
        client_.reset();  // the connection itself belongs to the env, which closes it
    }
    room_.notify_all();
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

std::shared_ptr<transport::Connection> Outbox::client() const {
    std::lock_guard lk(mu_);
    return client_;
}

}  // namespace ember::rpc::detail
