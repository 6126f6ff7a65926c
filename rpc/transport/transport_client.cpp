// SPDX-License-Identifier: Apache-2.0
#include "rpc/transport/transport_client.hpp"

#include "rpc/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include <sys/sendfile.h>

namespace ember::rpc::transport {
namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kDirectBodyRead = 64 * 1024;

RpcAddress endpoint_address(const tcp::socket& s) {
    boost::system::error_code ec;
    auto ep = s.remote_endpoint(ec);
    if (ec) return {};
    return RpcAddress{ep.address().to_string(), ep.port()};
}

}  // namespace

std::atomic<std::uint64_t> TransportClient::next_id_{1};

TransportClient::TransportClient(tcp::socket socket, ConnectionHandler& handler,
                                 TransportOptions options)
    : id_(next_id_.fetch_add(1)),
      socket_(std::move(socket)),
      strand_(net::make_strand(socket_.get_executor())),
      handler_(handler),
      options_(options),
      remote_(endpoint_address(socket_)),
      decoder_(options.max_frame_bytes, options.max_body_bytes),
      wake_(strand_) {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    touch();
}

TransportClient::~TransportClient() = default;

void TransportClient::start() {
    auto self = shared_from_this();
    net::co_spawn(strand_, read_loop(self), net::detached);
    net::co_spawn(strand_, write_loop(self), net::detached);
}

RpcAddress TransportClient::peer_env_address() const {
    std::lock_guard lk(mu_);
    return peer_env_;
}

bool TransportClient::set_peer_env_address(const RpcAddress& a) {
    std::lock_guard lk(mu_);
    if (!peer_env_.empty()) return false;
    peer_env_ = a;
    return true;
}

namespace {
std::int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

void TransportClient::touch() noexcept { last_io_ns_.store(steady_ns(), std::memory_order_relaxed); }

SendResult TransportClient::send(std::unique_ptr<detail::OutgoingData>&& data, std::uint64_t request_id,
                                 WhenFull when_full, std::chrono::steady_clock::time_point deadline) {
    Frame f;
    encode_segment_table(data->builder.getSegmentsForOutput(), f.table);
    std::uint64_t bytes = data->frame_bytes() + data->body_size;
    bool wake = false;
    {
        std::unique_lock lk(mu_);
        // A frame always fits an empty queue, however big: the bound is on what waits.
        auto has_room = [&] { return queued_bytes_ == 0 || queued_bytes_ + bytes <= options_.max_queued_bytes; };
        if (!closed_.load(std::memory_order_relaxed) && !has_room()) {
            if (when_full == WhenFull::fail) return SendResult::full;
            ++room_waiters_;
            room_.wait_until(lk, deadline, [&] { return closed_.load(std::memory_order_relaxed) || has_room(); });
            --room_waiters_;
            if (!closed_.load(std::memory_order_relaxed) && !has_room()) return SendResult::full;
        }
        if (closed_.load(std::memory_order_relaxed)) return SendResult::closed;
        f.data = std::move(data);
        queued_bytes_ += bytes;
        queue_.push_back(std::move(f));
        if (request_id != 0) {
            outstanding_.insert(request_id);
            last_request_ns_.store(steady_ns(), std::memory_order_relaxed);
        }
        if (writer_waiting_) {
            writer_waiting_ = false;
            wake = true;
        }
    }
    // Posting (not dispatching) lets every send made by the current handler join one writev.
    if (wake) net::post(strand_, [self = shared_from_this()] { self->wake_.cancel(); });
    return SendResult::queued;
}

void TransportClient::track_incoming(std::uint64_t request_id, std::weak_ptr<void> ctx) {
    std::lock_guard lk(mu_);
    incoming_[request_id] = std::move(ctx);
    if (incoming_.size() > 1024 && incoming_.size() % 1024 == 0) {
        // Contexts that were answered or dropped have expired; sweep them now and then.
        for (auto it = incoming_.begin(); it != incoming_.end();) {
            it = it->second.expired() ? incoming_.erase(it) : std::next(it);
        }
    }
}

std::shared_ptr<void> TransportClient::take_incoming(std::uint64_t request_id) {
    std::lock_guard lk(mu_);
    auto it = incoming_.find(request_id);
    if (it == incoming_.end()) return nullptr;
    auto ctx = it->second.lock();
    incoming_.erase(it);
    return ctx;
}

void TransportClient::check_idle(std::chrono::milliseconds timeout) {
    std::int64_t now = steady_ns();
    std::int64_t quiet = now - std::max(last_io_ns_.load(std::memory_order_relaxed),
                                        last_request_ns_.load(std::memory_order_relaxed));
    {
        std::lock_guard lk(mu_);
        if (outstanding_.empty() || closed_.load(std::memory_order_relaxed)) return;
    }
    if (quiet < std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count()) return;
    std::string msg = fmt::format(
        "Connection to {} has been quiet for {} ms while there are outstanding requests. Assuming connection is "
        "dead; please adjust ember.rpc.io.connectionTimeout if this is wrong",
        remote_.host_port(), quiet / 1'000'000);
    log::get("transport")->error("{}", msg);
    close(RpcError{RpcErrc::connection_closed, msg}, true);
}

void TransportClient::complete_request(std::uint64_t request_id) {
    std::lock_guard lk(mu_);
    outstanding_.erase(request_id);
}

void TransportClient::close(RpcError why, bool failed) {
    {
        std::lock_guard lk(mu_);
        if (closed_.exchange(true)) return;
        close_reason_ = std::move(why);
        close_failed_ = failed;
    }
    room_.notify_all();
    net::dispatch(strand_, [self = shared_from_this()] { self->finish_close(); });
}

void TransportClient::finish_close() {
    if (close_notified_) return;
    close_notified_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    wake_.cancel();
    std::vector<std::uint64_t> outstanding;
    RpcError why;
    bool failed;
    {
        std::lock_guard lk(mu_);
        outstanding.assign(outstanding_.begin(), outstanding_.end());
        outstanding_.clear();
        queue_.clear();
        queued_bytes_ = 0;
        incoming_.clear();
        why = close_reason_;
        failed = close_failed_;
    }
    handler_.on_closed(shared_from_this(), why, failed, std::move(outstanding));
}

net::awaitable<void> TransportClient::read_loop(std::shared_ptr<TransportClient> self) {
    for (;;) {
        boost::system::error_code ec;
        std::size_t n = 0;
        auto body = decoder_.body_remaining();
        if (body.size() >= kDirectBodyRead) {
            std::tie(ec, n) =
                co_await net::async_read(socket_, net::buffer(body.data(), body.size()), kTuple);
            if (!ec) decoder_.commit_body(n);
        } else {
            auto buf = decoder_.prepare(kReadChunk);
            std::tie(ec, n) =
                co_await socket_.async_read_some(net::buffer(buf.data(), buf.size()), kTuple);
            if (!ec) decoder_.commit(n);
        }
        if (ec) {
            if (ec == net::error::eof || ec == net::error::operation_aborted || ec == net::error::bad_descriptor) {
                close(RpcError{RpcErrc::connection_closed,
                               fmt::format("Connection from {} closed", remote_.host_port())});
            } else {
                close(RpcError{RpcErrc::connection_closed,
                               fmt::format("Connection from {} failed: {}", remote_.host_port(), ec.message())},
                      true);
            }
            co_return;
        }
        touch();
        for (;;) {
            auto frame = decoder_.next();
            if (!frame) {
                log::get("transport")->error("Closing connection from {}: {}", remote_.host_port(),
                                             frame.error().message);
                close(RpcError{frame.error().code,
                               fmt::format("Connection from {} closed: {}", remote_.host_port(),
                                           frame.error().message)},
                      true);
                co_return;
            }
            if (!*frame) break;
            handler_.on_frame(self, std::move(**frame));
            if (!is_active()) co_return;
        }
    }
}

net::awaitable<bool> TransportClient::send_file(const FileRegion& region) {
    if (!socket_.native_non_blocking()) {
        boost::system::error_code ec;
        socket_.native_non_blocking(true, ec);
    }
    off_t offset = static_cast<off_t>(region.offset);
    std::uint64_t left = region.length;
    while (left > 0) {
        ssize_t n = ::sendfile(socket_.native_handle(), region.file->fd(), &offset,
                               static_cast<std::size_t>(std::min<std::uint64_t>(left, 1u << 30)));
        if (n > 0) {
            left -= static_cast<std::uint64_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            auto [ec] = co_await socket_.async_wait(tcp::socket::wait_write, kTuple);
            if (ec) co_return false;
            continue;
        }
        log::get("transport")->error("sendfile to {} failed: {}", remote_.host_port(),
                                     n == 0 ? "file shorter than the announced body" : std::strerror(errno));
        co_return false;
    }
    co_return true;
}

net::awaitable<void> TransportClient::write_loop(std::shared_ptr<TransportClient> self) {
    std::vector<Frame> batch;
    std::vector<net::const_buffer> bufs;
    for (;;) {
        {
            std::lock_guard lk(mu_);
            if (closed_.load(std::memory_order_relaxed)) co_return;
            if (queue_.empty()) {
                writer_waiting_ = true;
            } else {
                batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
                queue_.clear();
            }
        }
        if (batch.empty()) {
            wake_.expires_at(net::steady_timer::time_point::max());
            co_await wake_.async_wait(kTuple);
            continue;
        }
        bool ok = true;
        bufs.clear();
        auto flush = [&]() -> net::awaitable<bool> {
            if (bufs.empty()) co_return true;
            auto [ec, n] = co_await net::async_write(socket_, bufs, kTuple);
            bufs.clear();
            co_return !ec;
        };
        for (auto& f : batch) {
            bufs.emplace_back(f.table.data(), f.table.size());
            for (auto seg : f.data->builder.getSegmentsForOutput()) {
                bufs.emplace_back(seg.begin(), seg.size() * sizeof(capnp::word));
            }
            for (auto& part : f.data->body) {
                if (auto* b = std::get_if<Bytes>(&part)) {
                    bufs.emplace_back(b->data(), b->size());
                    continue;
                }
                ok = co_await flush();
                if (ok) ok = co_await send_file(std::get<FileRegion>(part));
                if (!ok) break;
            }
            if (!ok) break;
        }
        if (ok) ok = co_await flush();
        std::uint64_t written = 0;
        for (auto& f : batch) written += f.data->frame_bytes() + f.data->body_size;
        batch.clear();
        if (!ok) {
            close(RpcError{RpcErrc::connection_closed,
                           fmt::format("Connection to {} failed while writing", remote_.host_port())},
                  true);
            co_return;
        }
        touch();
        bool notify;
        {
            std::lock_guard lk(mu_);
            queued_bytes_ -= std::min(queued_bytes_, written);
            notify = room_waiters_ > 0;
        }
        if (notify) room_.notify_all();
    }
}

}  // namespace ember::rpc::transport
