// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// A minimal blocking HTTP/1.0 GET for tests (one request per connection, plain POSIX sockets):
/// tests check ember's HTTP server with a client that shares none of its code.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace ember::test {

struct HttpAnswer {
    int status = 0;       ///< 0: no answer (connection refused, timeout, garbage)
    std::string headers;  ///< the head, status line included
    std::string body;
};

/// GET http://127.0.0.1:<port><target>, waiting at most `timeout_s` for the whole answer.
inline HttpAnswer http_get(std::uint16_t port, const std::string& target, int timeout_s = 10) {
    HttpAnswer a;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return a;
    timeval tv{timeout_s, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return a;
    }
    std::string req = "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        ::close(fd);
        return a;
    }
    std::string all;
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        all.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    auto head_end = all.find("\r\n\r\n");
    if (all.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos || all.size() < 12) return a;
    a.status = std::stoi(all.substr(9, 3));
    a.headers = all.substr(0, head_end);
    a.body = all.substr(head_end + 4);
    return a;
}

}  // namespace ember::test
