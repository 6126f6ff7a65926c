// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RecordingEndpoint: a test endpoint that logs every callback and answers Ping with Pong and
/// Boom by throwing.

#include "rpc/rpc_env.hpp"
#include "test/support/test_messages.capnp.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace ember::test {

/// Events are strings such as "on_start", "receive:Ping:7", "ask:Ping:3", "connected",
/// "disconnected:<addr>", "error:<text>", "on_stop".
/// Threading: the endpoint is strand-confined; events() and wait_for() are thread-safe.
class RecordingEndpoint : public rpc::RpcEndpoint {
public:
    struct Log {
        std::mutex mu;
        std::condition_variable cv;
        std::vector<std::string> events;
        void add(std::string e) {
            {
                std::lock_guard lk(mu);
                events.push_back(std::move(e));
            }
            cv.notify_all();
        }
        std::vector<std::string> snapshot() {
            std::lock_guard lk(mu);
            return events;
        }
        /// Waits until an event equal to `e` was logged.
        bool wait_for(const std::string& e, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
            std::unique_lock lk(mu);
            return cv.wait_for(lk, timeout, [&] {
                for (auto& x : events) {
                    if (x == e) return true;
                }
                return false;
            });
        }
        std::size_t count_prefix(const std::string& p) {
            std::lock_guard lk(mu);
            std::size_t n = 0;
            for (auto& x : events) {
                if (x.rfind(p, 0) == 0) ++n;
            }
            return n;
        }
    };

    explicit RecordingEndpoint(std::shared_ptr<Log> log) : log_(std::move(log)) {}

    void on_start() override { log_->add("on_start"); }
    void on_stop() override { log_->add("on_stop"); }
    void on_connected(const rpc::RpcAddress& a) override { log_->add("connected:" + a.host_port()); }
    void on_disconnected(const rpc::RpcAddress& a) override { log_->add("disconnected:" + a.host_port()); }
    void on_error(std::exception_ptr e) override { log_->add("error:" + rpc::describe(e)); }

    void receive(const rpc::Message& msg) override {
        if (auto p = msg.try_get<wire::Ping>()) {
            log_->add("receive:Ping:" + std::to_string(p->getN()));
            return;
        }
        if (auto b = msg.try_get<wire::Boom>()) throw std::runtime_error(b->getText().cStr());
        log_->add("receive:" + msg.type_name());
    }

    void receive_and_reply(const rpc::Message& msg, rpc::RpcCallContext ctx) override {
        if (auto p = msg.try_get<wire::Ping>()) {
            log_->add("ask:Ping:" + std::to_string(p->getN()));
            std::uint64_t n = p->getN();
            std::string text = p->getText();
            ctx.reply<wire::Pong>([&](wire::Pong::Builder b) {
                b.setN(n + 1);
                b.setText(text);
            });
            return;
        }
        if (auto b = msg.try_get<wire::Boom>()) throw std::runtime_error(b->getText().cStr());
        ctx.send_failure(rpc::RpcError{rpc::RpcErrc::unknown_message_type,
                                       "unknown message type " + msg.type_name()});
    }

private:
    std::shared_ptr<Log> log_;
};

}  // namespace ember::test
