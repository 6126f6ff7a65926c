// SPDX-License-Identifier: Apache-2.0
#include "apps/bench/raw_tcp.hpp"

#include "apps/bench/bench_support.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

namespace bench {
namespace {

/// One socket and how its owner waits for it (see raw_tcp.hpp): blocking calls, or
/// non-blocking calls retried for `spin` with sched_yield() between tries, then poll().
/// With `owns`, closes the socket when destroyed.
class RawSocket {
public:
    RawSocket(int fd, std::chrono::microseconds spin, bool owns = false) : fd_(fd), spin_(spin), owns_(owns) {}
    RawSocket(RawSocket&& o) noexcept : fd_(o.fd_), spin_(o.spin_), owns_(std::exchange(o.owns_, false)) {}
    RawSocket& operator=(RawSocket&&) = delete;
    ~RawSocket() {
        if (owns_) ::close(fd_);
    }

    bool read_all(void* p, std::size_t n) {
        auto* c = static_cast<char*>(p);
        while (n > 0) {
            ssize_t r = read_some(c, n);
            if (r <= 0) return false;
            c += r;
            n -= static_cast<std::size_t>(r);
        }
        return true;
    }

    bool write_all(const void* p, std::size_t n) {
        auto* c = static_cast<const char*>(p);
        while (n > 0) {
            ssize_t w = spin_.count() == 0 ? ::write(fd_, c, n) : retry(POLLOUT, [&] {
                return ::send(fd_, c, n, MSG_DONTWAIT | MSG_NOSIGNAL);
            });
            if (w <= 0) return false;
            c += w;
            n -= static_cast<std::size_t>(w);
        }
        return true;
    }

    /// At least one byte (or 0 at end of stream, -1 on error).
    ssize_t read_some(char* p, std::size_t n) {
        if (spin_.count() == 0) return ::read(fd_, p, n);
        return retry(POLLIN, [&] { return ::recv(fd_, p, n, MSG_DONTWAIT); });
    }

private:
    template <class Op>
    ssize_t retry(short events, Op op) {
        ssize_t r = op();
        if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return r;
        // Spin as ember's I/O threads do, then sleep in poll() until the socket is ready.
        auto until = Clock::now() + spin_;
        for (;;) {
            if (Clock::now() < until) {
                ::sched_yield();
            } else {
                pollfd pfd{fd_, events, 0};
                if (::poll(&pfd, 1, -1) < 0 && errno != EINTR) return -1;
            }
            r = op();
            if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return r;
        }
    }

    int fd_;
    std::chrono::microseconds spin_;
    bool owns_;
};

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

/// Opens a connection in `mode` ('p' ping-pong, 'w' window, 's' stream) whose both ends wait
/// with `spin`.
RawSocket open(std::uint16_t port, char mode, std::chrono::microseconds spin, bool nodelay = true) {
    int fd = connect_to(port);
    if (!nodelay) {
        int zero = 0;  // a streaming socket keeps Nagle's coalescing
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &zero, sizeof zero);
    }
    char header[5] = {mode};
    auto us = static_cast<std::uint32_t>(spin.count());
    std::memcpy(header + 1, &us, 4);
    RawSocket s(fd, spin, true);
    if (!s.write_all(header, sizeof header)) throw std::runtime_error("raw baseline: cannot write to its server");
    return s;
}

/// Length-prefixed messages read from a socket into a 64 KiB buffer. read_more() reads once and
/// calls f(const char* frame, std::uint32_t len) for each message that read completed (`frame`:
/// its 4-byte prefix, then `len` bytes) until f returns false; it returns false when the peer
/// closed, a message could never fit the buffer, or f returned false.
class FrameReader {
public:
    explicit FrameReader(RawSocket& s) : s_(s), buf_(1 << 16, '\0') {}

    template <class F>
    bool read_more(F&& f) {
        ssize_t r = s_.read_some(buf_.data() + have_, buf_.size() - have_);
        if (r <= 0) return false;
        have_ += static_cast<std::size_t>(r);
        std::size_t pos = 0;
        bool more = true;
        while (more && have_ - pos >= 4) {
            std::uint32_t len;
            std::memcpy(&len, buf_.data() + pos, 4);
            if (len > buf_.size() - 4) return false;
            if (have_ - pos < 4 + len) break;
            more = f(static_cast<const char*>(buf_.data() + pos), len);
            pos += 4 + len;
        }
        std::memmove(buf_.data(), buf_.data() + pos, have_ - pos);
        have_ -= pos;
        return more;
    }

private:
    RawSocket& s_;
    std::string buf_;
    std::size_t have_ = 0;
};

void serve(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Header: mode byte ('p' ping-pong, 'w' window, 's' stream), then the spin in microseconds
    // (0: blocking).
    char header[5];
    if (!RawSocket(fd, {}).read_all(header, sizeof header)) return;
    std::uint32_t us;
    std::memcpy(&us, header + 1, 4);
    RawSocket s(fd, std::chrono::microseconds(us));
    if (header[0] == 'p') {
        std::string buf;
        for (;;) {
            std::uint32_t len;
            if (!s.read_all(&len, 4)) return;
            buf.resize(len);
            if (!s.read_all(buf.data(), len)) return;
            std::string out(reinterpret_cast<char*>(&len), 4);
            out += buf;
            if (!s.write_all(out.data(), out.size())) return;
        }
    }
    FrameReader in(s);
    if (header[0] == 'w') {
        // Window: echo every complete message of each read, all of them in one write.
        std::string out;
        auto echo = [&](const char* frame, std::uint32_t len) {
            out.append(frame, 4 + len);
            return true;
        };
        while (in.read_more(echo)) {
            if (!out.empty() && !s.write_all(out.data(), out.size())) return;
            out.clear();
        }
        return;
    }
    // Stream: take messages until the end marker (a zero-length message), then answer one byte.
    auto until_end = [&](const char*, std::uint32_t len) {
        if (len > 0) return true;
        char done = 'd';
        s.write_all(&done, 1);
        return false;
    };
    while (in.read_more(until_end)) {
    }
}

// Polling before sleeping pays when the peer runs on another CPU (rpc/env_core.cpp).
const char* ember_default_spin_time() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) <= 1) return "0";
    return "50us";
}

}  // namespace

std::chrono::microseconds ember_spin_time(const ember::Conf& conf) {
    return conf.get_time_us("ember.rpc.io.spinTime", ember_default_spin_time());
}

std::chrono::microseconds raw_spin_time(const ember::Conf& conf) {
    auto spin = ember_spin_time(conf);
    return spin.count() > 0 ? spin : std::chrono::microseconds(50);
}

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

std::vector<double> raw_ping_pong(std::uint16_t port, int n, std::size_t payload, std::chrono::microseconds spin) {
    RawSocket s = open(port, 'p', spin);
    std::string msg(4 + payload, 'x');
    auto len = static_cast<std::uint32_t>(payload);
    std::memcpy(msg.data(), &len, 4);
    std::string in(4 + payload, '\0');
    std::vector<double> rtts;
    rtts.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        auto t0 = Clock::now();
        if (!s.write_all(msg.data(), msg.size()) || !s.read_all(in.data(), in.size())) {
            throw std::runtime_error("raw ping-pong: the server closed the connection");
        }
        rtts.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    return rtts;
}

namespace {

/// Sends `n` messages of `payload` bytes as a stream, the end marker, and waits for the
/// server's answer; messages per second. `batch` > 0: packs messages into writes of up to
/// `batch` bytes; 0: one send() per message.
double stream(std::uint16_t port, int n, std::size_t payload, std::chrono::microseconds spin, std::size_t batch) {
    RawSocket s = open(port, 's', spin, /*nodelay=*/batch > 0);
    std::string msg(4 + payload, 'x');
    auto len = static_cast<std::uint32_t>(payload);
    std::memcpy(msg.data(), &len, 4);
    std::string buf;
    buf.reserve(batch);
    bool ok = true;
    auto t0 = Clock::now();
    if (batch == 0) {
        // Each message is written as it is produced, with its own send(): what an application
        // that streams messages over a socket does, and the rate per-message RPC is compared to.
        for (int i = 0; i < n && ok; ++i) ok = s.write_all(msg.data(), msg.size());
    } else {
        for (int i = 0; i < n && ok; ++i) {
            if (buf.size() + msg.size() > batch) {
                ok = s.write_all(buf.data(), buf.size());
                buf.clear();
            }
            buf += msg;
        }
    }
    std::uint32_t zero = 0;
    buf.append(reinterpret_cast<char*>(&zero), 4);
    char done;
    if (!ok || !s.write_all(buf.data(), buf.size()) || !s.read_all(&done, 1)) {
        throw std::runtime_error("raw stream: the server closed the connection");
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    return n / secs;
}

}  // namespace

double raw_window_rate(std::uint16_t port, int n, std::size_t payload, int window,
                       std::chrono::microseconds spin) {
    RawSocket s = open(port, 'w', spin);
    std::string msg(4 + payload, 'x');
    auto len = static_cast<std::uint32_t>(payload);
    std::memcpy(msg.data(), &len, 4);
    std::string out;
    auto send = [&](int k) {
        out.clear();
        for (int i = 0; i < k; ++i) out += msg;
        return s.write_all(out.data(), out.size());
    };
    FrameReader in(s);
    int sent = std::min(window, n), received = 0;
    auto t0 = Clock::now();
    if (!send(sent)) throw std::runtime_error("raw window: the server closed the connection");
    while (received < n) {
        int k = 0;  // the replies one read completed
        auto count = [&k](const char*, std::uint32_t) {
            ++k;
            return true;
        };
        if (!in.read_more(count)) throw std::runtime_error("raw window: the server closed the connection");
        received += k;
        int more = std::min(k, n - sent);
        if (more > 0 && !send(more)) {
            throw std::runtime_error("raw window: the server closed the connection");
        }
        sent += more;
    }
    return n / std::chrono::duration<double>(Clock::now() - t0).count();
}

double raw_stream_rate(std::uint16_t port, int n, std::size_t payload, std::chrono::microseconds spin) {
    return stream(port, n, payload, spin, 0);
}

double raw_buffered_stream_rate(std::uint16_t port, int n, std::size_t payload, std::chrono::microseconds spin) {
    return stream(port, n, payload, spin, 1u << 16);
}

}  // namespace bench
