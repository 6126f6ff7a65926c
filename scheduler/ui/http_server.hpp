// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// HttpServer: the driver's embedded HTTP/1.1 server for the web UI and the REST API (Spark's
/// Jetty server built by JettyUtils.startJettyServer), on Boost.Beast. Beast and Asio stay in
/// http_server.cpp.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember::ui {

/// One parsed request, as a handler sees it.
/// Threading: immutable once handed to the handler.
struct HttpRequest {
    std::string method;  ///< "GET" or "HEAD" (other methods never reach a handler)
    std::string target;  ///< raw request target, e.g. "/api/v1/applications?status=running"
    std::string path;    ///< percent-decoded path without the query, e.g. "/api/v1/applications"
    /// Query parameters, percent-decoded ('+' decodes to a space, as in HTML forms), in request
    /// order. A key without '=' has an empty value.
    std::vector<std::pair<std::string, std::string>> query;
    std::vector<std::pair<std::string, std::string>> headers;  ///< in request order, names as sent

    /// The first value of query parameter `name`, if present.
    std::optional<std::string> param(std::string_view name) const;
    /// Every value of query parameter `name` in order (`status=a&status=b` gives {a, b}).
    /// Splitting comma lists (`status=a,b`) is the caller's business.
    std::vector<std::string> params(std::string_view name) const;
    /// The first value of header `name`, compared case-insensitively.
    std::optional<std::string> header(std::string_view name) const;
};

/// What a handler returns. The server adds Content-Length, Date, Server and
/// `X-Content-Type-Options: nosniff`; it never adds Cache-Control (set it in `headers`).
/// Threading: a plain value.
struct HttpResponse {
    unsigned status = 200;  ///< 200..599; anything else becomes a 500
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;       ///< sent for GET, dropped for HEAD (Content-Length still its size)
    /// Extra headers, added in order. One named like a server default (Server, Date,
    /// X-Content-Type-Options, Content-Type) replaces it; Content-Length, Transfer-Encoding and
    /// Connection are the server's and ignored. A name that is not an HTTP token is dropped;
    /// CR, LF and NUL in values become spaces (no response splitting).
    std::vector<std::pair<std::string, std::string>> headers;
};

/// Serves one request. May throw: the client gets a 500 with the exception's message as a
/// text/plain body, and the connection stays usable.
/// Threading: called on the server's I/O threads, concurrently for different connections; it
/// must be thread-safe, and should be quick: a connection stays on one I/O thread, so a handler
/// that blocks delays the other connections of that thread (and, on the first thread, accepting).
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

/// Settings of an HttpServer; defaults follow Spark's UI (Jetty) where it has one.
struct HttpServerOptions {
    std::string bind_address = "0.0.0.0";  ///< an IP address, or a host name (its first address)
    int port = 4040;                         ///< spark.ui.port; 0: an ephemeral port
    /// spark.port.maxRetries: a taken port is retried as port+1 ... port+max_port_retries.
    int max_port_retries = 16;
    /// I/O threads, each with its own event loop; connections are spread over them round robin.
    /// Handlers run on them, never on the caller's threads.
    int threads = 2;
    std::size_t max_header_bytes = 8 * 1024;  ///< request line + headers; larger: 431, then close
    std::size_t max_body_bytes = 64 * 1024;   ///< request body; larger: 413, then close
    /// Slowloris guard: a request head must arrive whole within this (for the first request of
    /// a connection, counted from accept; for later ones, from their first byte).
    std::chrono::milliseconds header_timeout{10000};
    /// A keep-alive connection idle this long between requests is closed (Jetty: 30 s); also
    /// the limit on writing one response and reading one request body.
    std::chrono::milliseconds idle_timeout{30000};
    /// Open connections beyond this are answered 503 and closed at once.
    std::size_t max_connections = 512;
    std::string server_name = "ember";  ///< the Server header
};

/// An HTTP/1.1 server (keep-alive, pipelining, HTTP/1.0) that hands GET and HEAD requests to
/// one handler.
///
/// The server answers by itself: 405 with `Allow: GET, HEAD` for other methods, 400 for a
/// malformed request (505 for a version other than 1.0 and 1.1), 431 for a request head over
/// max_header_bytes, 413 for a body over max_body_bytes, 500 for a handler that throws, 503
/// beyond max_connections; error bodies are Jetty-style one-liners ("HTTP ERROR 405 Method Not
/// Allowed"). After a 400, 413, 431 or 505 the connection is closed. Every connection is asynchronous with its own deadlines, so a slow or
/// stalled client holds only its own connection; a client that vanishes mid-response cannot
/// raise SIGPIPE (Asio sends with MSG_NOSIGNAL, and the I/O threads block SIGPIPE). Memory per
/// connection is bounded by the limits above plus the response being written.
///
/// Threading: thread-safe. Handlers run on the server's own I/O threads.
/// Ownership: owns its threads and sockets; the destructor stops the server.
class HttpServer {
public:
    /// Binds and starts serving. Throws std::runtime_error naming the address and the ports
    /// tried when no port in [port, port + max_port_retries] can be bound (port 0: one try),
    /// or at once for a bind error other than "address in use"; ContractViolation for bad
    /// options (threads < 1, port outside 0..65535, ...).
    HttpServer(HttpServerOptions options, HttpHandler handler);
    /// stop().
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    /// The bound port.
    int port() const;
    /// The address bound, as given in the options.
    const std::string& bind_address() const;
    /// Stops accepting, closes every connection and joins the I/O threads. Returns once no
    /// handler runs; a handler running at the time is waited for. Idempotent.
    /// Must not be called from a handler.
    void stop();
    /// Responses sent so far (handler responses and the server's own error responses), counted
    /// as each starts going out: after a client has read N responses this is at least N.
    std::uint64_t requests_served() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ember::ui
