// SPDX-License-Identifier: Apache-2.0
#include "rpc/testkit/raw_client.hpp"

#include "rpc/message_data.hpp"
#include "rpc/transport/frame_codec.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ember::rpc::testkit {

RpcResult<std::unique_ptr<RawClient>> RawClient::connect(const RpcAddress& address, std::chrono::milliseconds timeout) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string port = std::to_string(address.port);
    if (int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
        return RpcError{RpcErrc::connection_failed,
                        fmt::format("Failed to connect to {}: {}", address.host_port(), ::gai_strerror(rc))};
    }
    std::string last = "no address";
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            ::freeaddrinfo(res);
            return std::unique_ptr<RawClient>(new RawClient(fd, address));
        }
        last = std::strerror(errno);
        ::close(fd);
    }
    ::freeaddrinfo(res);
    return RpcError{RpcErrc::connection_failed, fmt::format("Failed to connect to {}: {}", address.host_port(), last)};
}

RawClient::RawClient(int fd, RpcAddress peer)
    : fd_(fd), peer_(std::move(peer)), decoder_(std::make_unique<transport::FrameDecoder>(1u << 30, 1ull << 32)) {}

RawClient::~RawClient() { close(); }

void RawClient::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void RawClient::reset() {
    if (fd_ < 0) return;
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
}

void RawClient::set_sender(const RpcAddress& address, std::string name) {
    sender_ = address;
    sender_name_ = std::move(name);
}

bool RawClient::write_all(const void* data, std::size_t n) {
    auto* p = static_cast<const char*>(data);
    while (n > 0) {
        ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

void RawClient::send(OutgoingMessage msg, rpc_wire::Kind kind, std::string_view receiver, std::uint64_t request_id) {
    auto d = msg.release();
    d->envelope.setKind(kind);
    d->envelope.setRequestId(request_id);
    d->envelope.setReceiver(std::string(receiver));
    if (!sender_.empty()) {
        d->envelope.setSenderHost(sender_.host);
        d->envelope.setSenderPort(sender_.port);
    }
    if (!sender_name_.empty()) d->envelope.setSenderName(sender_name_);
    std::vector<std::byte> table;
    auto segments = d->builder.getSegmentsForOutput();
    transport::encode_segment_table(segments, table);
    write_all(table.data(), table.size());
    for (auto seg : segments) write_all(seg.begin(), seg.size() * sizeof(capnp::word));
    auto local = detail::localize(std::move(d));  // reads file regions into one buffer
    if (local && !(*local)->body.empty()) write_all((*local)->body.data(), (*local)->body.size());
}

std::uint64_t RawClient::send_request(std::string_view receiver, OutgoingMessage msg) {
    std::uint64_t id = next_id_++;
    send(std::move(msg), rpc_wire::Kind::REQUEST, receiver, id);
    return id;
}

void RawClient::send_bytes(std::span<const std::byte> bytes) { write_all(bytes.data(), bytes.size()); }

void RawClient::send_bytes(std::string_view bytes) { write_all(bytes.data(), bytes.size()); }

RpcResult<std::optional<Message>> RawClient::read_frame(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto frame = decoder_->next();
        if (!frame) return frame.error();
        if (*frame) {
            (**frame)->sender_address = peer_;
            return std::optional<Message>(detail::MessageData::to_message(std::move(**frame)));
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::optional<Message>{};
        pollfd pfd{fd_, POLLIN, 0};
        int rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (rc == 0) return std::optional<Message>{};
        if (rc < 0 && errno == EINTR) continue;
        auto body = decoder_->body_remaining();
        auto buf = body.empty() ? decoder_->prepare(64 * 1024) : body;
        ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            return RpcError{RpcErrc::connection_closed, fmt::format("Connection from {} closed", peer_.host_port())};
        }
        if (body.empty()) {
            decoder_->commit(static_cast<std::size_t>(n));
        } else {
            decoder_->commit_body(static_cast<std::size_t>(n));
        }
    }
}

bool RawClient::wait_closed(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        auto r = read_frame(left);
        if (!r) return true;
    }
}

}  // namespace ember::rpc::testkit
