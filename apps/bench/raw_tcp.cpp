// SPDX-License-Identifier: Apache-2.0
#include "apps/bench/raw_tcp.hpp"

#include "apps/bench/bench_support.hpp"

#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace bench {
namespace {

bool read_all(int fd, void* p, std::size_t n) {
    auto* c = static_cast<char*>(p);
    while (n > 0) {
        ssize_t r = ::read(fd, c, n);
        if (r <= 0) return false;
        c += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

bool write_all(int fd, const void* p, std::size_t n) {
    auto* c = static_cast<const char*>(p);
    while (n > 0) {
        ssize_t w = ::write(fd, c, n);
        if (w <= 0) return false;
        c += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

int connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("connect failed");
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

void serve(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Mode byte: 'p' ping-pong, 's' stream.
    char mode = 0;
    if (!read_all(fd, &mode, 1)) return;
    if (mode == 'p') {
        std::string buf;
        for (;;) {
            std::uint32_t len;
            if (!read_all(fd, &len, 4)) return;
            buf.resize(len);
            if (!read_all(fd, buf.data(), len)) return;
            std::string out(reinterpret_cast<char*>(&len), 4);
            out += buf;
            if (!write_all(fd, out.data(), out.size())) return;
        }
    }
    // Stream: parse length-prefixed messages from 64 KiB reads until the end marker.
    std::string buf(1 << 16, '\0');
    std::size_t have = 0;
    std::uint64_t count = 0;
    for (;;) {
        ssize_t r = ::read(fd, buf.data() + have, buf.size() - have);
        if (r <= 0) return;
        have += static_cast<std::size_t>(r);
        std::size_t pos = 0;
        while (have - pos >= 4) {
            std::uint32_t len;
            std::memcpy(&len, buf.data() + pos, 4);
            if (have - pos < 4 + len) break;
            pos += 4 + len;
            if (len == 0) {
                char done = 'd';
                write_all(fd, &done, 1);
                return;
            }
            ++count;
        }
        std::memmove(buf.data(), buf.data() + pos, have - pos);
        have -= pos;
    }
}

}  // namespace

int run_raw_server() {
    int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(lfd, 16);
    socklen_t len = sizeof a;
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    announce_port(ntohs(a.sin_port));
    for (;;) {
        int fd = ::accept(lfd, nullptr, nullptr);
        if (fd < 0) return 1;
        serve(fd);
        ::close(fd);
    }
}

std::vector<double> raw_ping_pong(std::uint16_t port, int n, std::size_t payload) {
    int fd = connect_to(port);
    char mode = 'p';
    write_all(fd, &mode, 1);
    std::string msg(4 + payload, 'x');
    auto len = static_cast<std::uint32_t>(payload);
    std::memcpy(msg.data(), &len, 4);
    std::string in(4 + payload, '\0');
    std::vector<double> rtts;
    rtts.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        auto t0 = Clock::now();
        write_all(fd, msg.data(), msg.size());
        read_all(fd, in.data(), in.size());
        rtts.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    ::close(fd);
    return rtts;
}

double raw_stream_rate(std::uint16_t port, int n, std::size_t payload) {
    int fd = connect_to(port);
    int zero_flag = 0;  // a streaming socket keeps Nagle's coalescing
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &zero_flag, sizeof zero_flag);
    char mode = 's';
    write_all(fd, &mode, 1);
    std::string msg(4 + payload, 'x');
    auto len = static_cast<std::uint32_t>(payload);
    std::memcpy(msg.data(), &len, 4);
    auto t0 = Clock::now();
    // Each message is written as it is produced, with its own send(): what an application that
    // streams messages over a socket does, and the rate per-message RPC is compared against.
    for (int i = 0; i < n; ++i) write_all(fd, msg.data(), msg.size());
    std::uint32_t zero = 0;
    write_all(fd, &zero, 4);
    char done;
    read_all(fd, &done, 1);
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    ::close(fd);
    return n / secs;
}

double raw_buffered_stream_rate(std::uint16_t port, int n, std::size_t payload) {
    int fd = connect_to(port);
    char mode = 's';
    write_all(fd, &mode, 1);
    std::string buf;
    buf.reserve(1 << 16);
    std::string msg(4 + payload, 'x');
    auto len = static_cast<std::uint32_t>(payload);
    std::memcpy(msg.data(), &len, 4);
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
        if (buf.size() + msg.size() > (1u << 16)) {
            write_all(fd, buf.data(), buf.size());
            buf.clear();
        }
        buf += msg;
    }
    std::uint32_t zero = 0;
    buf.append(reinterpret_cast<char*>(&zero), 4);
    write_all(fd, buf.data(), buf.size());
    char done;
    read_all(fd, &done, 1);
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    ::close(fd);
    return n / secs;
}

}  // namespace bench
