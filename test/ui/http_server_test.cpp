// SPDX-License-Identifier: Apache-2.0
// HttpServer over real loopback sockets, driven by a plain POSIX client: keep-alive, HTTP/1.0,
// concurrency, HEAD, server-generated errors, timeouts against slow clients, port retries and
// stop().

#include "scheduler/ui/http_server.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <latch>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ember::ui::HttpRequest;
using ember::ui::HttpResponse;
using ember::ui::HttpServer;
using ember::ui::HttpServerOptions;

long long ms_since(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

struct Response {
    unsigned status = 0;
    std::string version;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    std::optional<std::string> header(std::string_view name) const {
        for (const auto& [k, v] : headers) {
            if (k.size() == name.size() && ::strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
        }
        return std::nullopt;
    }
};

/// A blocking HTTP/1.x client on a POSIX socket, every wait bounded by a deadline.
class Client {
public:
    explicit Client(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) throw std::runtime_error("socket failed");
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            int err = errno;
            ::close(fd_);
            throw std::runtime_error(std::string("connect failed: ") + std::strerror(err));
        }
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ~Client() {
        if (fd_ >= 0) ::close(fd_);
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void send(std::string_view data) {
        while (!data.empty()) {
            ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) throw std::runtime_error(std::string("send failed: ") + std::strerror(errno));
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    /// The next response, or nullopt if the connection ends or `timeout` passes first.
    /// `head`: the response to a HEAD request (Content-Length without a body).
    std::optional<Response> read_response(bool head = false, std::chrono::milliseconds timeout = 10s) {
        auto deadline = Clock::now() + timeout;
        std::size_t end;
        while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
            if (!fill(deadline)) return std::nullopt;
        }
        Response r;
        std::string head_text = buf_.substr(0, end + 2);
        buf_.erase(0, end + 4);
        std::size_t line_end = head_text.find("\r\n");
        std::string status_line = head_text.substr(0, line_end);
        r.version = status_line.substr(0, status_line.find(' '));
        r.status = static_cast<unsigned>(std::stoul(status_line.substr(status_line.find(' ') + 1, 3)));
        std::size_t pos = line_end + 2;
        while (pos < head_text.size()) {
            std::size_t eol = head_text.find("\r\n", pos);
            std::string line = head_text.substr(pos, eol - pos);
            std::size_t colon = line.find(':');
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            r.headers.emplace_back(line.substr(0, colon), value);
            pos = eol + 2;
        }
        std::size_t length = 0;
        if (auto cl = r.header("Content-Length")) length = std::stoul(*cl);
        if (head || r.status == 204 || r.status == 304) length = 0;
        while (buf_.size() < length) {
            if (!fill(deadline)) return std::nullopt;
        }
        r.body = buf_.substr(0, length);
        buf_.erase(0, length);
        return r;
    }

    std::optional<Response> get(const std::string& target, std::string_view extra_headers = "") {
        send("GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" + std::string(extra_headers) + "\r\n");
        return read_response();
    }

    /// True if the server closes the connection (EOF or reset) within `timeout`; bytes that
    /// arrive meanwhile are kept for read_response().
    bool closed_within(std::chrono::milliseconds timeout) {
        auto deadline = Clock::now() + timeout;
        for (;;) {
            if (Clock::now() >= deadline) return false;
            pollfd p{fd_, POLLIN, 0};
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
            if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) <= 0) continue;
            char tmp[65536];
            ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n <= 0) return true;
            buf_.append(tmp, static_cast<std::size_t>(n));
        }
    }

    /// Closes with SO_LINGER 0: the server sees a reset, not a FIN.
    void reset() {
        linger l{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::close(fd_);
        fd_ = -1;
    }

    int fd() const { return fd_; }

private:
    bool fill(Clock::time_point deadline) {
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
            if (left <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            int rc = ::poll(&p, 1, static_cast<int>(left));
            if (rc < 0 && errno == EINTR) continue;
            if (rc <= 0) return false;
            char tmp[65536];
            ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n <= 0) return false;
            buf_.append(tmp, static_cast<std::size_t>(n));
            return true;
        }
    }

    int fd_ = -1;
    std::string buf_;
};

/// A listening socket on 127.0.0.1:`port` (0: any), or -1 if that port cannot be taken.
int listen_on(int port, int* bound = nullptr) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 8) != 0) {
        ::close(fd);
        return -1;
    }
    if (bound) {
        socklen_t len = sizeof addr;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        *bound = ntohs(addr.sin_port);
    }
    return fd;
}

HttpServerOptions local_options() {
    HttpServerOptions o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    return o;
}

/// Echoes method and path; records every request it sees.
struct Recorder {
    std::mutex mu;
    std::vector<HttpRequest> seen;

    ember::ui::HttpHandler handler() {
        return [this](const HttpRequest& req) {
            {
                std::lock_guard lk(mu);
                seen.push_back(req);
            }
            HttpResponse r;
            r.body = req.method + " " + req.path;
            return r;
        };
    }
    std::size_t count() {
        std::lock_guard lk(mu);
        return seen.size();
    }
    HttpRequest last() {
        std::lock_guard lk(mu);
        return seen.back();
    }
};

}  // namespace

TEST_CASE("HttpServer serves a handler's response with the server's headers", "[ui][http]") {
    HttpServer server(local_options(), [](const HttpRequest& req) {
        HttpResponse r;
        r.content_type = "application/json";
        r.body = R"({"path":")" + req.path + R"(","agent":")" + req.header("user-agent").value_or("-") + "\"}";
        r.headers.emplace_back("Cache-Control", "no-cache, no-store, must-revalidate");
        r.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: x=1");
        r.headers.emplace_back("Content-Length", "999");
        return r;
    });
    REQUIRE(server.port() > 0);
    CHECK(server.bind_address() == "127.0.0.1");
    Client c(server.port());
    auto r = c.get("/api/v1/version", "User-Agent: catch2\r\n");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->version == "HTTP/1.1");
    CHECK(r->body == R"({"path":"/api/v1/version","agent":"catch2"})");
    CHECK(r->header("Content-Type") == "application/json");
    CHECK(r->header("Content-Length") == std::to_string(r->body.size()));
    CHECK(r->header("Server") == "ember");
    CHECK(r->header("X-Content-Type-Options") == "nosniff");
    CHECK(r->header("Cache-Control") == "no-cache, no-store, must-revalidate");
    CHECK(r->header("X-Evil") == "a  Set-Cookie: x=1");  // no response splitting
    CHECK_FALSE(r->header("Set-Cookie"));
    auto date = r->header("Date");
    REQUIRE(date);
    CHECK(date->size() == 29);  // "Sun, 06 Nov 1994 08:49:37 GMT"
    CHECK(date->substr(25) == " GMT");
    CHECK(server.requests_served() == 1);
}

TEST_CASE("HttpServer keeps a connection alive across requests, pipelined ones included", "[ui][http]") {
    Recorder rec;
    HttpServer server(local_options(), rec.handler());
    Client c(server.port());
    for (int i = 0; i < 5; ++i) {
        auto r = c.get("/req/" + std::to_string(i));
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body == "GET /req/" + std::to_string(i));
        CHECK(r->header("Connection") != "close");
    }
    // Three requests in one segment: three responses, in order.
    c.send("GET /p/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p/2 HTTP/1.1\r\nHost: x\r\n\r\nGET /p/3 HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int i = 1; i <= 3; ++i) {
        auto r = c.read_response();
        REQUIRE(r);
        CHECK(r->body == "GET /p/" + std::to_string(i));
    }
    CHECK(rec.count() == 8);
    CHECK_FALSE(c.closed_within(100ms));
}

TEST_CASE("HttpServer closes an HTTP/1.0 connection unless asked to keep it", "[ui][http]") {
    Recorder rec;
    HttpServer server(local_options(), rec.handler());
    {
        Client c(server.port());
        c.send("GET /old HTTP/1.0\r\n\r\n");
        auto r = c.read_response();
        REQUIRE(r);
        CHECK(r->version == "HTTP/1.0");
        CHECK(r->body == "GET /old");
        CHECK(c.closed_within(2s));
    }
    {
        Client c(server.port());
        c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        auto r = c.read_response();
        REQUIRE(r);
        CHECK(r->header("Connection") == "keep-alive");
        c.send("GET /b HTTP/1.0\r\n\r\n");
        r = c.read_response();
        REQUIRE(r);
        CHECK(r->body == "GET /b");
        CHECK(c.closed_within(2s));
    }
    {
        Client c(server.port());  // HTTP/1.1 with Connection: close
        auto r = c.get("/c", "Connection: close\r\n");
        REQUIRE(r);
        CHECK(r->header("Connection") == "close");
        CHECK(c.closed_within(2s));
    }
}

TEST_CASE("HttpServer serves 100 concurrent keep-alive clients", "[ui][http]") {
    Recorder rec;
    HttpServer server(local_options(), rec.handler());
    constexpr int kClients = 100;
    constexpr int kRequests = 3;
    std::latch all_connected(kClients);
    std::atomic<int> ok{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back([&, i] {
            try {
                Client c(server.port());
                all_connected.arrive_and_wait();  // every connection is open before any request
                for (int j = 0; j < kRequests; ++j) {
                    std::string path = "/c/" + std::to_string(i) + "/" + std::to_string(j);
                    auto r = c.get(path);
                    if (r && r->status == 200 && r->body == "GET " + path) ok.fetch_add(1);
                }
            } catch (const std::exception&) {
                all_connected.count_down();
            }
        });
    }
    for (auto& t : clients) t.join();
    CHECK(ok.load() == kClients * kRequests);
    CHECK(server.requests_served() == kClients * kRequests);
}

TEST_CASE("HttpServer answers HEAD with GET's headers and no body", "[ui][http]") {
    Recorder rec;
    HttpServer server(local_options(), rec.handler());
    Client c(server.port());
    c.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = c.read_response(/*head=*/true);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("Content-Length") == std::to_string(std::string("HEAD /h").size()));
    CHECK(rec.last().method == "HEAD");
    // Had a body followed, it would be read as the start of this response.
    auto g = c.get("/g");
    REQUIRE(g);
    CHECK(g->status == 200);
    CHECK(g->body == "GET /g");
}

TEST_CASE("HttpServer refuses other methods with 405 and Allow", "[ui][http]") {
    Recorder rec;
    HttpServer server(local_options(), rec.handler());
    Client c(server.port());
    c.send("DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 405);
    CHECK(r->header("Allow") == "GET, HEAD");
    CHECK(r->body == "HTTP ERROR 405 Method Not Allowed\n");
    CHECK(r->header("Content-Type") == "text/plain; charset=utf-8");
    auto g = c.get("/after");  // no body: the connection goes on
    REQUIRE(g);
    CHECK(g->status == 200);

    // With a body the server did not read, the connection is closed after the 405.
    c.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 405);
    CHECK(r->header("Connection") == "close");
    CHECK(c.closed_within(2s));
    CHECK(rec.count() == 1);
}

TEST_CASE("HttpServer answers a malformed request with 400 (505 for another version) and closes", "[ui][http]") {
    Recorder rec;
    HttpServer server(local_options(), rec.handler());
    for (std::string bad : {"GARBAGE\r\n\r\n", "GET /x\r\n\r\n", "GET /x HTTP/1.1\r\nBad Header\r\n\r\n",
                            "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n"}) {
        CAPTURE(bad);
        Client c(server.port());
        c.send(bad);
        auto r = c.read_response();
        REQUIRE(r);
        CHECK(r->status == 400);
        CHECK(r->body.rfind("HTTP ERROR 400 Bad Request\n", 0) == 0);
        CHECK(c.closed_within(2s));
    }
    {
        Client c(server.port());
        c.send("GET /x HTTP/2.0\r\n\r\n");
        auto r = c.read_response();
        REQUIRE(r);
        CHECK(r->status == 505);
        CHECK(c.closed_within(2s));
    }
    CHECK(rec.count() == 0);
    Client ok(server.port());
    auto r = ok.get("/fine");
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("HttpServer answers an oversized head with 431 and an oversized body with 413", "[ui][http]") {
    Recorder rec;
    HttpServer server(local_options(), rec.handler());
    {
        Client c(server.port());
        c.send("GET /big HTTP/1.1\r\nHost: x\r\nX-Filler: " + std::string(16 * 1024, 'a') + "\r\n\r\n");
        auto r = c.read_response();
        REQUIRE(r);
        CHECK(r->status == 431);
        CHECK(r->body == "HTTP ERROR 431 Request Header Fields Too Large\n");
        CHECK(c.closed_within(2s));
    }
    {
        Client c(server.port());  // a 16 KiB request target
        c.send("GET /" + std::string(16 * 1024, 'p') + " HTTP/1.1\r\nHost: x\r\n\r\n");
        auto r = c.read_response();
        REQUIRE(r);
        CHECK(r->status == 431);
    }
    {
        Client c(server.port());
        c.send("GET /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
        auto r = c.read_response();
        REQUIRE(r);
        CHECK(r->status == 413);
        CHECK(c.closed_within(3s));
    }
    {
        Client c(server.port());  // a small body is read and the request served
        c.send("GET /body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
        auto r = c.read_response();
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    CHECK(rec.count() == 1);
}

TEST_CASE("HttpServer closes a stalled or trickling client after header_timeout without blocking others",
          "[ui][http]") {
    Recorder rec;
    auto opts = local_options();
    opts.threads = 1;
    opts.header_timeout = 400ms;
    HttpServer server(opts, rec.handler());

    Client stalled(server.port());
    stalled.send("GET /half HTTP/1.1\r\nHost: x\r\n");
    auto t0 = Clock::now();

    // Another client is served at once, on the one I/O thread.
    Client other(server.port());
    auto r = other.get("/other");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(ms_since(t0) < 300);

    CHECK(stalled.closed_within(5s));
    auto waited = ms_since(t0);
    CHECK(waited >= 300);
    CHECK(waited < 3000);

    // A client sending one byte every 50 ms never lets a read time out, but its head has one
    // deadline as a whole.
    Client trickle(server.port());
    std::string head = "GET /slow HTTP/1.1\r\nHost: x\r\nX-A: " + std::string(200, 'a') + "\r\n\r\n";
    auto t1 = Clock::now();
    bool closed = false;
    for (char ch : head) {
        try {
            trickle.send(std::string_view(&ch, 1));
        } catch (const std::runtime_error&) {
            closed = true;
            break;
        }
        if (trickle.closed_within(50ms)) {
            closed = true;
            break;
        }
    }
    CHECK(closed);
    CHECK(ms_since(t1) < 3000);
    CHECK(rec.count() == 1);
}

TEST_CASE("HttpServer closes a keep-alive connection after idle_timeout", "[ui][http]") {
    Recorder rec;
    auto opts = local_options();
    opts.idle_timeout = 300ms;
    HttpServer server(opts, rec.handler());
    Client c(server.port());
    REQUIRE(c.get("/1"));
    auto t0 = Clock::now();
    CHECK(c.closed_within(5s));
    CHECK(ms_since(t0) >= 200);
}

TEST_CASE("HttpServer turns a handler exception into a 500 and keeps serving", "[ui][http]") {
    HttpServer server(local_options(), [](const HttpRequest& req) -> HttpResponse {
        if (req.path == "/boom") throw std::runtime_error("stage 7 is gone");
        if (req.path == "/weird") throw 42;
        if (req.path == "/bad-status") return HttpResponse{.status = 1000};
        if (req.path == "/teapot") return HttpResponse{.status = 299, .body = "odd"};
        return HttpResponse{.body = "fine"};
    });
    Client c(server.port());
    auto r = c.get("/boom");
    REQUIRE(r);
    CHECK(r->status == 500);
    CHECK(r->header("Content-Type") == "text/plain; charset=utf-8");
    CHECK(r->body.rfind("HTTP ERROR 500 Internal Server Error\n", 0) == 0);
    CHECK(r->body.find("stage 7 is gone") != std::string::npos);
    r = c.get("/next");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "fine");
    r = c.get("/weird");
    REQUIRE(r);
    CHECK(r->status == 500);
    r = c.get("/bad-status");
    REQUIRE(r);
    CHECK(r->status == 500);
    r = c.get("/teapot");  // a status without a standard reason phrase goes out as is
    REQUIRE(r);
    CHECK(r->status == 299);
    CHECK(r->body == "odd");
    r = c.get("/next");
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("HttpServer moves to the next port when its port is taken", "[ui][http]") {
    int taken = 0;
    int blocker = listen_on(0, &taken);
    REQUIRE(blocker >= 0);
    auto opts = local_options();
    opts.port = taken;
    HttpServer server(opts, [](const HttpRequest&) { return HttpResponse{.body = "moved"}; });
    CHECK(server.port() > taken);
    CHECK(server.port() <= taken + 16);
    Client c(server.port());
    auto r = c.get("/");
    REQUIRE(r);
    CHECK(r->body == "moved");
    ::close(blocker);
}

TEST_CASE("HttpServer names the address and ports when every port is taken", "[ui][http]") {
    // Three consecutive ports held here.
    std::vector<int> held;
    int base = 0;
    for (int attempt = 0; attempt < 50 && held.empty(); ++attempt) {
        int fd0 = listen_on(0, &base);
        REQUIRE(fd0 >= 0);
        if (base + 2 > 65535) {
            ::close(fd0);
            continue;
        }
        int fd1 = listen_on(base + 1);
        int fd2 = fd1 >= 0 ? listen_on(base + 2) : -1;
        if (fd1 >= 0 && fd2 >= 0) {
            held = {fd0, fd1, fd2};
        } else {
            for (int fd : {fd0, fd1, fd2}) {
                if (fd >= 0) ::close(fd);
            }
        }
    }
    REQUIRE(held.size() == 3);
    auto opts = local_options();
    opts.port = base;
    opts.max_port_retries = 2;
    try {
        HttpServer server(opts, [](const HttpRequest&) { return HttpResponse{}; });
        FAIL("bound port " << server.port() << " although " << base << ".." << base + 2 << " are taken");
    } catch (const std::runtime_error& e) {
        std::string what = e.what();
        CAPTURE(what);
        CHECK(what.find("127.0.0.1") != std::string::npos);
        CHECK(what.find(std::to_string(base) + ".." + std::to_string(base + 2)) != std::string::npos);
        CHECK(what.find("maxRetries=2") != std::string::npos);
    }
    for (int fd : held) ::close(fd);
}

TEST_CASE("HttpServer::stop returns promptly while clients are connected", "[ui][http]") {
    Recorder rec;
    auto server = std::make_unique<HttpServer>(local_options(), rec.handler());
    int port = server->port();
    Client idle(port);
    REQUIRE(idle.get("/1"));
    Client half(port);
    half.send("GET /half HTTP/1.1\r\n");
    Client silent(port);
    std::this_thread::sleep_for(50ms);  // let the server accept them all

    auto t0 = Clock::now();
    server->stop();
    CHECK(ms_since(t0) < 900);
    CHECK(idle.closed_within(2s));
    CHECK(half.closed_within(2s));
    CHECK(silent.closed_within(2s));
    CHECK_THROWS(Client(port));  // no longer listening
    server->stop();               // idempotent
    CHECK(server->requests_served() == 1);
    server.reset();
}

TEST_CASE("HttpServer decodes the path and the query", "[ui][http]") {
    Recorder rec;
    HttpServer server(local_options(), rec.handler());
    Client c(server.port());
    auto r = c.get("/api/v1/app%20lications?a=1&b=x%20y&a=2&flag&c=p+q&status=running,failed");
    REQUIRE(r);
    CHECK(r->status == 200);
    auto req = rec.last();
    CHECK(req.target == "/api/v1/app%20lications?a=1&b=x%20y&a=2&flag&c=p+q&status=running,failed");
    CHECK(req.path == "/api/v1/app lications");
    using Q = std::vector<std::pair<std::string, std::string>>;
    CHECK(req.query == Q{{"a", "1"}, {"b", "x y"}, {"a", "2"}, {"flag", ""}, {"c", "p q"}, {"status", "running,failed"}});
    CHECK(req.param("a") == "1");
    CHECK(req.params("a") == std::vector<std::string>{"1", "2"});
    CHECK(req.param("b") == "x y");
    CHECK(req.param("missing") == std::nullopt);
    CHECK(req.params("missing").empty());
    CHECK(req.header("HOST") == "localhost");

    REQUIRE(c.get("/plain"));
    CHECK(rec.last().query.empty());
    CHECK(rec.last().path == "/plain");
    // Absolute form, as sent to proxies (RFC 9112 3.2.2).
    REQUIRE(c.get("http://localhost/abs?x=1"));
    CHECK(rec.last().path == "/abs");
    CHECK(rec.last().param("x") == "1");
}

TEST_CASE("HttpServer refuses connections beyond max_connections and recovers", "[ui][http]") {
    Recorder rec;
    auto opts = local_options();
    opts.max_connections = 2;
    HttpServer server(opts, rec.handler());
    auto a = std::make_unique<Client>(server.port());
    Client b(server.port());
    REQUIRE(a->get("/a"));
    REQUIRE(b.get("/b"));
    {
        Client over(server.port());
        auto r = over.read_response(false, 2s);  // 503 if it arrives before the close
        if (r) CHECK(r->status == 503);
        CHECK(over.closed_within(2s));
    }
    a.reset();
    // The server notices the close asynchronously: retry briefly.
    std::optional<Response> r;
    for (int i = 0; i < 50 && !r; ++i) {
        Client again(server.port());
        r = again.get("/again");
        if (!r || r->status != 200) {
            r.reset();
            std::this_thread::sleep_for(20ms);
        }
    }
    REQUIRE(r);
    CHECK(r->body == "GET /again");
}

TEST_CASE("HttpServer survives a client that stops reading a large response, then resets", "[ui][http]") {
    auto opts = local_options();
    opts.threads = 1;
    const std::string big(16 * 1024 * 1024, 'z');
    HttpServer server(opts, [&big](const HttpRequest& req) {
        return HttpResponse{.body = req.path == "/big" ? big : std::string("small")};
    });
    Client reader_gone(server.port());
    reader_gone.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    std::this_thread::sleep_for(100ms);  // the server is blocked on this write, asynchronously

    auto t0 = Clock::now();
    Client other(server.port());
    auto r = other.get("/small");
    REQUIRE(r);
    CHECK(r->body == "small");
    CHECK(ms_since(t0) < 1000);

    reader_gone.reset();  // mid-response: EPIPE / ECONNRESET, never SIGPIPE
    std::this_thread::sleep_for(100ms);
    r = other.get("/small");
    REQUIRE(r);
    CHECK(r->body == "small");
    Client fresh(server.port());
    r = fresh.get("/small");
    REQUIRE(r);
    CHECK(r->status == 200);
}

TEST_CASE("HttpServer keep-alive throughput from one client", "[ui][http][perf]") {
    HttpServer server(local_options(), [](const HttpRequest&) { return HttpResponse{.body = "ok"}; });
    Client c(server.port());
    constexpr int kRequests = 5000;
    int ok = 0;
    auto t0 = Clock::now();
    for (int i = 0; i < kRequests; ++i) {
        auto r = c.get("/tiny");
        if (r && r->status == 200 && r->body == "ok") ++ok;
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    CHECK(ok == kRequests);
    std::printf("http_server keep-alive: %d requests in %.3f s = %.0f requests/s\n", kRequests, secs,
                kRequests / secs);
}
