// SPDX-License-Identifier: Apache-2.0
#include "scheduler/ui/http_server.hpp"

#include "rpc/log.hpp"
#include "rpc/transport/no_sigpipe.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fcntl.h>

namespace ember::ui {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace urls = boost::urls;
using tcp = net::ip::tcp;

constexpr auto kTuple = net::as_tuple(net::use_awaitable);

/// Head room of the read buffer above max_header_bytes, so the parser reports header_limit (431)
/// before the buffer fills up.
constexpr std::size_t kBufferSlack = 4096;
/// Closing: after shutting down our side, unread request bytes are drained for at most this long
/// and this many bytes, so the peer reads our last response instead of a reset.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::size_t kLingerBytes = 256 * 1024;
/// stop() lets closed connections wind down for at most this long before stopping the threads.
constexpr std::chrono::milliseconds kStopGrace{1000};

std::string str(beast::string_view s) { return std::string(s.data(), s.size()); }

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

/// RFC 9110 token characters: what a header name may contain.
bool is_token(std::string_view s) {
    if (s.empty()) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return std::isalnum(u) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

/// `s` with CR, LF and NUL replaced by spaces: a handler's value cannot split the response.
std::string header_value(std::string_view s) {
    std::string out(s);
    std::replace_if(out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }, ' ');
    return out;
}

/// The Date header for now, in RFC 9110's IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"),
/// formatted once per second per thread (no locale involved).
const std::string& http_date() {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    thread_local std::time_t cached_at = -1;
    thread_local std::string cached;
    std::time_t now = std::time(nullptr);
    if (now != cached_at) {
        std::tm tm{};
        ::gmtime_r(&now, &tm);
        cached = fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", kDays[tm.tm_wday], tm.tm_mday,
                             kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_at = now;
    }
    return cached;
}

/// "HTTP ERROR 405 Method Not Allowed": Jetty's first line of an error page.
std::string error_line(unsigned status) {
    return fmt::format("HTTP ERROR {} {}", status, str(http::obsolete_reason(http::int_to_status(status))));
}

HttpResponse error_response(unsigned status) {
    HttpResponse r;
    r.status = status;
    r.body = error_line(status) + "\n";
    r.headers.emplace_back("Cache-Control", "no-cache, no-store, must-revalidate");
    return r;
}

std::string host_port(const std::string& host, int port) {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

class Session;

/// The server proper; HttpServer::Impl is this.
class Server {
public:
    Server(HttpServerOptions options, HttpHandler handler);
    ~Server() { stop(); }

    void stop();

    const HttpServerOptions& options() const { return options_; }
    int port() const { return port_; }
    std::uint64_t served() const { return served_.load(std::memory_order_relaxed); }
    void count_served() { served_.fetch_add(1, std::memory_order_relaxed); }
    HttpResponse handle(const HttpRequest& request) const { return handler_(request); }
    void unregister(Session* session);

private:
    net::awaitable<void> accept_loop();
    void admit(tcp::socket socket);

    const HttpServerOptions options_;
    const HttpHandler handler_;
    std::atomic<std::uint64_t> served_{0};
    int port_ = 0;

    std::mutex mu_;
    std::condition_variable sessions_gone_;
    std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;  // guarded by mu_
    bool stopping_ = false;                                            // guarded by mu_

    std::mutex stop_mu_;   // serialises stop()
    bool stopped_ = false; // guarded by stop_mu_
    // One io_context per I/O thread (Asio's io_context-per-CPU): a connection stays on one
    // thread, so a request and its response never wait for a wake-up of another thread.
    // Reset by stop() once the threads are joined: destroying a context closes every socket
    // still owned by a pending operation. Declared last: sessions use the members above.
    std::vector<std::unique_ptr<net::io_context>> iocs_;
    std::vector<net::executor_work_guard<net::io_context::executor_type>> work_;  // threads run until stop()
    std::size_t next_ioc_ = 0;                // round robin; confined to the accept loop
    std::optional<tcp::acceptor> acceptor_;  // on iocs_[0]
    std::vector<std::thread> threads_;
};

/// One connection: reads requests one after another (pipelined ones in order), answers each.
/// Threading: confined to its I/O thread (the one thread running its io_context).
/// Ownership: shared by its coroutine and, while stop() closes it, by that posted close.
class Session {
public:
    Session(Server& server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {
        boost::system::error_code ec;
        auto remote = stream_.socket().remote_endpoint(ec);
        peer_ = ec ? std::string("?") : remote.address().to_string();
        buffer_.max_size(server.options().max_header_bytes + kBufferSlack);
    }
    ~Session() { server_.unregister(this); }

    net::any_io_executor executor() { return stream_.get_executor(); }

    /// Aborts whatever the connection is doing. Strand-confined.
    void close() {
        boost::system::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.close();
    }

    net::awaitable<void> run(std::shared_ptr<Session> self);

private:
    using Parser = http::request_parser<http::string_body>;

    /// Reads the next request head into `parser`; false: the connection is done (closed, timed
    /// out, or answered with an error and closed).
    net::awaitable<bool> read_head(Parser& parser, bool first);
    /// Answers a read error: 4xx for a bad request (then closes), nothing for a vanished or
    /// timed-out peer.
    net::awaitable<void> fail_read(const boost::system::error_code& ec, unsigned version);
    net::awaitable<bool> write(http::response<http::string_body>& res);
    net::awaitable<void> respond_and_close(unsigned status, unsigned version);
    /// Half-closes, drains what the peer still sends for a moment, then closes.
    net::awaitable<void> linger_close();
    /// The response to `req` (handler, 405, or 500), finished with the server's headers.
    http::response<http::string_body> respond(const http::request<http::string_body>& req, bool keep_alive);
    http::response<http::string_body> build(HttpResponse r, unsigned version, bool head, bool keep_alive) const;

    Server& server_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::string peer_;
};

Server::Server(HttpServerOptions options, HttpHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {
    EMBER_REQUIRE(handler_, "HttpServer needs a handler");
    EMBER_REQUIRE(options_.threads >= 1, "HttpServer threads must be >= 1, got {}", options_.threads);
    EMBER_REQUIRE(options_.port >= 0 && options_.port <= 65535, "HttpServer port must be in 0..65535, got {}",
                  options_.port);
    EMBER_REQUIRE(options_.max_port_retries >= 0, "max_port_retries must be >= 0, got {}", options_.max_port_retries);
    EMBER_REQUIRE(options_.max_header_bytes >= 256 && options_.max_header_bytes <= (1u << 30),
                  "max_header_bytes must be in 256..2^30, got {}", options_.max_header_bytes);
    EMBER_REQUIRE(options_.max_connections >= 1, "max_connections must be >= 1");
    EMBER_REQUIRE(options_.header_timeout.count() > 0 && options_.idle_timeout.count() > 0,
                  "HttpServer timeouts must be positive");

    for (int i = 0; i < options_.threads; ++i) {
        iocs_.push_back(std::make_unique<net::io_context>(1));
        work_.push_back(net::make_work_guard(*iocs_.back()));
    }
    boost::system::error_code ec;
    auto addr = net::ip::make_address(options_.bind_address, ec);
    if (ec) {
        tcp::resolver resolver(*iocs_[0]);
        auto results = resolver.resolve(options_.bind_address, "", ec);
        if (ec || results.empty()) {
            throw std::runtime_error(fmt::format("Failed to bind the HTTP server to {}: cannot resolve host: {}",
                                                 options_.bind_address, ec ? ec.message() : "no address"));
        }
        addr = results.begin()->endpoint().address();
    }
    // Spark's Utils.startServiceOnPort: port 0 is tried once; a taken port moves on to the next.
    int last_port = options_.port == 0 ? 0 : std::min(65535, options_.port + options_.max_port_retries);
    for (int p = options_.port; p <= last_port; ++p) {
        tcp::acceptor acc(*iocs_[0]);
        tcp::endpoint ep(addr, static_cast<std::uint16_t>(p));
        acc.open(ep.protocol(), ec);
        // Asio opens without SOCK_CLOEXEC: executors this process starts must not hold its port.
        if (!ec) ::fcntl(acc.native_handle(), F_SETFD, FD_CLOEXEC);
        if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);  // as Jetty: restart despite TIME_WAIT
        if (!ec) acc.bind(ep, ec);
        if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
        if (!ec) {
            port_ = acc.local_endpoint().port();
            acceptor_.emplace(std::move(acc));
            break;
        }
        bool retry = ec == net::error::address_in_use && p < last_port;
        if (!retry) {
            std::string ports = p == options_.port ? fmt::format("port {}", p)
                                                   : fmt::format("ports {}..{}", options_.port, p);
            throw std::runtime_error(fmt::format(
                "Failed to bind the HTTP server to {} on {} (ember.port.maxRetries={}): {}. "
                "Set ember.ui.port to a free port or raise ember.port.maxRetries.",
                options_.bind_address, ports, options_.max_port_retries, ec.message()));
        }
        log::get("ui")->warn("HTTP server could not bind on port {}. Attempting port {}.", p, p + 1);
    }

    net::co_spawn(acceptor_->get_executor(), accept_loop(), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::get("ui")->error("HTTP accept loop failed: {}", ex.what());
        } catch (...) {
            log::get("ui")->error("HTTP accept loop failed: unknown exception");
        }
    });
    threads_.reserve(static_cast<std::size_t>(options_.threads));
    for (int i = 0; i < options_.threads; ++i) {
        threads_.emplace_back([this, i] {
            log::set_thread_name(fmt::format("ui-http-{}", i));
            rpc::transport::block_sigpipe_on_this_thread();
            iocs_[static_cast<std::size_t>(i)]->run();
        });
    }
    log::get("ui")->info("HTTP server listening on {}", host_port(options_.bind_address, port_));
}

net::awaitable<void> Server::accept_loop() {
    for (;;) {
        auto& ioc = *iocs_[next_ioc_++ % iocs_.size()];
        auto [ec, socket] = co_await acceptor_->async_accept(ioc, kTuple);
        if (ec == net::error::operation_aborted || !acceptor_->is_open()) co_return;
        if (ec) {
            // EMFILE and friends: back off briefly, keep serving.
            log::get("ui")->warn("HTTP accept failed: {}", ec.message());
            net::steady_timer t(acceptor_->get_executor(), std::chrono::milliseconds(50));
            co_await t.async_wait(kTuple);
            continue;
        }
        ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);  // nor its connections
        admit(std::move(socket));
    }
}

void Server::admit(tcp::socket socket) {
    std::shared_ptr<Session> session;
    {
        std::lock_guard lk(mu_);
        if (!stopping_ && sessions_.size() < options_.max_connections) {
            session = std::make_shared<Session>(*this, std::move(socket));
            sessions_.emplace(session.get(), session);
        }
    }
    if (!session) {
        // Over the limit (or stopping): a best-effort 503 without waiting, then close. Holding
        // nothing for this connection is the point, so no async write and no linger.
        static const std::string k503 = [] {
            std::string body = error_line(503) + "\n";
            return fmt::format("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                               body.size(), body);
        }();
        count_served();
        boost::system::error_code ec;
        socket.non_blocking(true, ec);
        socket.write_some(net::buffer(k503), ec);
        socket.shutdown(tcp::socket::shutdown_both, ec);
        socket.close(ec);
        log::peer_log("ui", spdlog::level::warn, "http-over-limit",
                      "HTTP server: more than {} connections; refused one with 503", options_.max_connections);
        return;
    }
    auto executor = session->executor();
    net::co_spawn(executor, session->run(session), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::get("ui")->warn("HTTP connection failed: {}", ex.what());
        } catch (...) {
            log::get("ui")->warn("HTTP connection failed: unknown exception");
        }
    });
}

void Server::unregister(Session* session) {
    std::lock_guard lk(mu_);
    sessions_.erase(session);
    if (sessions_.empty()) sessions_gone_.notify_all();
}

void Server::stop() {
    std::lock_guard stop_lk(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    std::vector<std::shared_ptr<Session>> live;
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
        for (auto& [ptr, weak] : sessions_) {
            if (auto s = weak.lock()) live.push_back(std::move(s));
        }
    }
    if (acceptor_) {
        net::post(acceptor_->get_executor(), [this] {
            boost::system::error_code ec;
            acceptor_->close(ec);
        });
    }
    for (auto& s : live) {
        auto executor = s->executor();
        net::post(executor, [s = std::move(s)] { s->close(); });
    }
    live.clear();
    {
        std::unique_lock lk(mu_);
        sessions_gone_.wait_for(lk, kStopGrace, [this] { return sessions_.empty(); });
    }
    work_.clear();
    for (auto& ioc : iocs_) ioc->stop();
    for (auto& t : threads_) {
        if (t.joinable()) t.join();
    }
    threads_.clear();
    // No I/O thread is left: what is still queued (and the sockets it owns) goes with the context.
    acceptor_.reset();
    iocs_.clear();
}

net::awaitable<void> Session::run([[maybe_unused]] std::shared_ptr<Session> self) {
    bool first = true;
    for (;;) {
        Parser parser;
        parser.header_limit(static_cast<std::uint32_t>(server_.options().max_header_bytes));
        parser.body_limit(server_.options().max_body_bytes);
        if (!co_await read_head(parser, first)) co_return;
        first = false;
        auto& req = parser.get();
        bool get_or_head = req.method() == http::verb::get || req.method() == http::verb::head;
        if (get_or_head && !parser.is_done()) {
            stream_.expires_after(server_.options().idle_timeout);
            auto [ec, n] = co_await http::async_read(stream_, buffer_, parser, kTuple);
            if (ec) {
                co_await fail_read(ec, req.version());
                co_return;
            }
        }
        // A body we did not read (a 405'd POST) would be parsed as the next request: close.
        auto res = respond(req, req.keep_alive() && parser.is_done());
        if (!co_await write(res)) co_return;
        if (!res.keep_alive()) {
            co_await linger_close();
            co_return;
        }
    }
}

net::awaitable<bool> Session::read_head(Parser& parser, bool first) {
    const auto& opt = server_.options();
    if (!first && buffer_.size() == 0) {
        // Between requests: wait up to the idle timeout for the next one to start.
        stream_.expires_after(opt.idle_timeout);
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kBufferSlack), kTuple);
        if (ec) co_return false;  // idle timeout, peer closed, or stop()
        buffer_.commit(n);
    }
    // One deadline for the whole head, however slowly its bytes trickle in (slowloris).
    stream_.expires_after(opt.header_timeout);
    auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, kTuple);
    if (ec) {
        co_await fail_read(ec, parser.is_header_done() ? parser.get().version() : 11);
        co_return false;
    }
    co_return true;
}

net::awaitable<void> Session::fail_read(const boost::system::error_code& ec, unsigned version) {
    unsigned status = 0;
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        status = 431;
    } else if (ec == http::error::body_limit) {
        status = 413;
    } else if (ec == http::error::bad_version) {
        status = 505;  // Beast's parser takes HTTP/1.0 and HTTP/1.1 only
    } else if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
               ec != http::error::end_of_stream && ec != http::error::partial_message) {
        status = 400;
    }
    if (status == 0) {
        // Peer gone, reset, timed out (tcp_stream closed the socket already), or stop().
        log::get("ui")->debug("HTTP connection from {} ends: {}", peer_, ec.message());
        close();
        co_return;
    }
    log::peer_log("ui", spdlog::level::debug, peer_, "HTTP request from {} refused with {}: {}", peer_, status,
                  ec.message());
    co_await respond_and_close(status, version == 10 ? 10 : 11);
}

net::awaitable<void> Session::respond_and_close(unsigned status, unsigned version) {
    auto res = build(error_response(status), version, false, false);
    if (co_await write(res)) co_await linger_close();
}

net::awaitable<bool> Session::write(http::response<http::string_body>& res) {
    server_.count_served();  // before the bytes leave: a client that read N responses sees >= N
    stream_.expires_after(server_.options().idle_timeout);
    auto [ec, n] = co_await http::async_write(stream_, res, kTuple);
    if (ec) {
        log::get("ui")->debug("HTTP write to {} failed: {}", peer_, ec.message());
        close();
        co_return false;
    }
    co_return true;
}

net::awaitable<void> Session::linger_close() {
    boost::system::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (!ec) {
        // Closing with unread bytes in the receive queue sends a reset, which can destroy the
        // response before the peer reads it: read and drop until the peer closes, briefly.
        stream_.expires_after(kLingerTime);
        std::size_t drained = 0;
        char scratch[4096];
        while (drained < kLingerBytes) {
            auto [rec, n] = co_await stream_.async_read_some(net::buffer(scratch), kTuple);
            if (rec) break;
            drained += n;
        }
    }
    close();
}

http::response<http::string_body> Session::respond(const http::request<http::string_body>& req, bool keep_alive) {
    bool head = req.method() == http::verb::head;
    if (req.method() != http::verb::get && !head) {
        auto r = error_response(405);
        r.headers.emplace_back("Allow", "GET, HEAD");
        return build(std::move(r), req.version(), false, keep_alive);
    }
    HttpRequest request;
    request.method = str(req.method_string());
    request.target = str(req.target());
    auto url = urls::parse_origin_form(request.target);
    if (!url) url = urls::parse_absolute_uri(request.target);  // "GET http://host/path": RFC 9112 3.2.2
    if (!url) {
        auto r = error_response(400);
        r.body = error_line(400) + "\nInvalid request target\n";
        return build(std::move(r), req.version(), head, false);
    }
    request.path = url->path();
    if (request.path.empty()) request.path = "/";
    for (auto param : url->params(urls::encoding_opts(/*space_as_plus=*/true))) {
        request.query.emplace_back(std::move(param.key), std::move(param.value));
    }
    request.headers.reserve(static_cast<std::size_t>(std::distance(req.begin(), req.end())));
    for (const auto& field : req) request.headers.emplace_back(str(field.name_string()), str(field.value()));

    HttpResponse r;
    try {
        r = server_.handle(request);
        if (r.status < 200 || r.status > 599) {
            throw std::runtime_error(fmt::format("handler returned HTTP status {}", r.status));
        }
    } catch (const std::exception& e) {
        log::peer_log("ui", spdlog::level::warn, peer_, "HTTP handler failed for {} {}: {}", request.method,
                      request.target, e.what());
        r = error_response(500);
        r.body = fmt::format("{}\nURI: {}\nSTATUS: 500\nMESSAGE: {}\n", error_line(500), request.path, e.what());
    } catch (...) {
        log::peer_log("ui", spdlog::level::warn, peer_, "HTTP handler failed for {} {}: unknown exception",
                      request.method, request.target);
        r = error_response(500);
        r.body = fmt::format("{}\nURI: {}\nSTATUS: 500\nMESSAGE: unknown exception\n", error_line(500), request.path);
    }
    return build(std::move(r), req.version(), head, keep_alive);
}

http::response<http::string_body> Session::build(HttpResponse r, unsigned version, bool head, bool keep_alive) const {
    http::response<http::string_body> res;
    res.version(version);
    res.result(r.status);
    if (http::int_to_status(r.status) == http::status::unknown) res.reason("Unknown");  // not "<unknown-status>"
    res.set(http::field::server, header_value(server_.options().server_name));
    res.set(http::field::date, http_date());
    res.set(http::field::content_type, header_value(r.content_type));
    res.set("X-Content-Type-Options", "nosniff");
    for (auto& [name, value] : r.headers) {
        if (!is_token(name)) continue;
        if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") || iequals(name, "Connection")) {
            continue;
        }
        if (iequals(name, "Server") || iequals(name, "Date") || iequals(name, "Content-Type") ||
            iequals(name, "X-Content-Type-Options")) {
            res.set(name, header_value(value));
        } else {
            res.insert(name, header_value(value));
        }
    }
    if (r.status != 204 && r.status != 304) {
        res.content_length(r.body.size());
        if (!head) res.body() = std::move(r.body);
    }
    res.keep_alive(keep_alive);
    return res;
}

}  // namespace

// -- HttpRequest ---------------------------------------------------------------------------

std::optional<std::string> HttpRequest::param(std::string_view name) const {
    for (const auto& [k, v] : query) {
        if (k == name) return v;
    }
    return std::nullopt;
}

std::vector<std::string> HttpRequest::params(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : query) {
        if (k == name) out.push_back(v);
    }
    return out;
}

std::optional<std::string> HttpRequest::header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
        if (iequals(k, name)) return v;
    }
    return std::nullopt;
}

// -- HttpServer ----------------------------------------------------------------------------

struct HttpServer::Impl : Server {
    Impl(HttpServerOptions options, HttpHandler handler) : Server(std::move(options), std::move(handler)) {}
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

int HttpServer::port() const { return impl_->port(); }

const std::string& HttpServer::bind_address() const { return impl_->options().bind_address; }

void HttpServer::stop() { impl_->stop(); }

std::uint64_t HttpServer::requests_served() const { return impl_->served(); }

}  // namespace ember::ui
