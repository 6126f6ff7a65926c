// SPDX-License-Identifier: Apache-2.0
// The endpoint examples (apps/examples): ember-ping-pong and ember-kv run as real processes,
// and KvEndpoint driven message by message with the test kit's Probe.
#include "apps/examples/kv_store/kv_endpoint.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/probe.hpp"
#include "test/support/process.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
namespace kw = ember::examples::kv::wire;

namespace {

using Clock = std::chrono::steady_clock;

std::string env_path(const char* name) {
    const char* p = std::getenv(name);
    REQUIRE(p != nullptr);
    return p;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    return {std::istreambuf_iterator<char>(in), {}};
}

/// Ports that were free a moment ago, all different.
std::vector<std::uint16_t> free_ports(int n) {
    boost::asio::io_context ioc;
    std::vector<boost::asio::ip::tcp::acceptor> held;  // held open together: no duplicates
    std::vector<std::uint16_t> ports;
    for (int i = 0; i < n; ++i) {
        held.emplace_back(ioc, boost::asio::ip::tcp::endpoint{
                                   boost::asio::ip::make_address("127.0.0.1"), 0});
        ports.push_back(held.back().local_endpoint().port());
    }
    return ports;
}

/// Polls `pred` every 20 ms until it holds or `timeout` passes.
template <class Pred>
bool eventually(Pred&& pred, std::chrono::milliseconds timeout = 10s) {
    auto until = Clock::now() + timeout;
    while (!pred()) {
        if (Clock::now() >= until) return pred();
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

/// A long-running child process with stdout and stderr in one file. The destructor kills it
/// with SIGKILL (by its pid) and reaps it if the test has not stopped it already.
class Child {
public:
    Child(std::vector<std::string> argv, const std::string& label)
        : log_(fs::temp_directory_path() /
               ("ember-examples-" + std::to_string(::getpid()) + "-" + label + ".log")) {
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) {
            int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
    }
    ~Child() {
        if (!reaped_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        fs::remove(log_);
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const { return pid_; }
    std::string output() const { return slurp(log_); }
    /// Waits until the output contains `text`; false if it did not within `timeout` or the
    /// process exited first.
    bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout = 20s) {
        auto has_text = [&] { return output().find(text) != std::string::npos; };
        eventually([&] { return has_text() || !alive(); }, timeout);
        return has_text();
    }
    /// The rest of the line after the first `prefix` in the output.
    std::string line_after(const std::string& prefix) const {
        auto out = output();
        auto at = out.find(prefix);
        if (at == std::string::npos) return {};
        at += prefix.size();
        return out.substr(at, out.find('\n', at) - at);
    }
    bool alive() const { return !reaped_ && ember::test::process_alive(pid_); }
    /// Sends `sig` to the process and waits up to `timeout` for it to exit; returns its exit
    /// code, -1 if a signal ended it, -2 if it had to be killed after the timeout.
    int stop(int sig, std::chrono::milliseconds timeout = 10s) {
        ::kill(pid_, sig);
        int status = 0;
        auto until = Clock::now() + timeout;
        while (::waitpid(pid_, &status, WNOHANG) != pid_) {
            if (Clock::now() > until) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                reaped_ = true;
                return -2;
            }
            std::this_thread::sleep_for(5ms);
        }
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    fs::path log_;
    pid_t pid_ = -1;
    bool reaped_ = false;
};

ember::test::ProcessResult run(std::vector<std::string> argv) {
    return ember::test::run_process(argv, "--ember-executor", 60);
}

}  // namespace

TEST_CASE("ember-ping-pong: a client asks, sends one-way and times out against a server process",
          "[integration][examples]") {
    std::string exe = env_path("EMBER_PING_PONG");
    Child server({exe, "server", "--port", std::to_string(free_ports(1)[0])}, "pong-server");
    REQUIRE(server.wait_for_output("listening on "));
    // The URI as printed: if the port was taken meanwhile, the env listens on the next one.
    std::string uri = server.line_after("listening on ");
    CHECK_THAT(uri, Catch::StartsWith("ember://pong@127.0.0.1:"));

    auto r = run({exe, "client", "--uri", uri, "--count", "5"});
    INFO("client stdout:\n" << r.out << "client stderr:\n" << r.err << "server:\n"
                             << server.output());
    CHECK(r.exit_code == 0);
    for (int i = 1; i <= 5; ++i) {
        auto n = std::to_string(i);
        CHECK_THAT(r.out, Catch::Contains("ping " + n + " -> pong " + n + " from " + uri + " in "));
    }
    CHECK_THAT(r.out, Catch::Contains("sent a note one-way"));
    CHECK_THAT(r.out, Catch::Contains("silence -> timeout: Cannot receive any reply from"));
    CHECK_THAT(r.out,
               Catch::Contains("in 200 milliseconds. This timeout is controlled by ember.rpc.askTimeout"));
    CHECK(server.wait_for_output("note from 127.0.0.1:"));
    CHECK_THAT(server.output(), Catch::Contains("hello from the client"));

    // A wrong endpoint name fails at the lookup, naming the URI.
    auto port = uri.substr(uri.rfind(':') + 1);
    auto wrong = run({exe, "client", "--uri", "ember://pang@127.0.0.1:" + port});
    CHECK(wrong.exit_code == 1);
    CHECK_THAT(wrong.err, Catch::Contains("endpoint_not_found"));
    CHECK_THAT(wrong.err, Catch::Contains("ember://pang@127.0.0.1:" + port));

    // SIGTERM: an orderly shutdown (on_stop runs) and exit code 0.
    CHECK(server.stop(SIGTERM) == 0);
    CHECK_THAT(server.output(), Catch::Contains("answered 5 pings"));
}

TEST_CASE("ember-kv: three nodes replicate, and survive one of them being killed",
          "[integration][examples]") {
    std::string exe = env_path("EMBER_KV");
    auto ports = free_ports(3);
    auto uri = [&](int i) { return "ember://kv@127.0.0.1:" + std::to_string(ports[i]); };
    std::vector<std::unique_ptr<Child>> nodes;
    for (int i = 0; i < 3; ++i) {
        std::vector<std::string> argv{exe, "node", "--id", std::to_string(i), "--port",
                                      std::to_string(ports[i])};
        for (int j = 0; j < 3; ++j) {
            if (j == i) continue;
            argv.push_back("--peer");
            argv.push_back(uri(j));
        }
        nodes.push_back(std::make_unique<Child>(argv, "kv-" + std::to_string(i)));
    }
    auto logs = [&] {
        std::string all;
        for (int i = 0; i < 3; ++i) all += "node " + std::to_string(i) + ":\n" + nodes[i]->output();
        return all;
    };
    for (int i = 0; i < 3; ++i) {
        INFO(logs());
        REQUIRE(nodes[i]->wait_for_output("node " + std::to_string(i) + " listening on " + uri(i)));
    }
    auto put = [&](int i, const std::string& k, const std::string& v) {
        return run({exe, "put", "--uri", uri(i), k, v});
    };
    auto get = [&](int i, const std::string& k) {
        return run({exe, "get", "--uri", uri(i), k});
    };

    // A key nobody wrote: exit code 1.
    auto missing = get(1, "color");
    CHECK(missing.exit_code == 1);
    CHECK_THAT(missing.err, Catch::Contains("no key color"));

    auto first = put(0, "color", "blue");
    INFO(first.err << logs());
    REQUIRE(first.exit_code == 0);
    CHECK_THAT(first.out, Catch::Contains("ok, version 1.0"));
    for (int i : {1, 2}) {
        CAPTURE(i);
        CHECK(eventually([&] { return get(i, "color").out == "blue\n"; }));
    }
    auto from_0 = "from 127.0.0.1:" + std::to_string(ports[0]);
    CHECK_THAT(nodes[1]->output(), Catch::Contains("replicated color=blue version 1.0 " + from_0));
    // Node 0 connected to its peers on its first replication (on_connected).
    auto to_1 = "127.0.0.1:" + std::to_string(ports[1]);
    CHECK_THAT(nodes[0]->output(), Catch::Contains("\nconnected " + to_1));

    // Node 2 dies without a word. Node 0 sees its connection go, keeps serving, and drops what
    // it replicates to node 2.
    CHECK(nodes[2]->stop(SIGKILL) == -1);
    CHECK(nodes[0]->wait_for_output("disconnected 127.0.0.1:" + std::to_string(ports[2])));
    auto second = put(0, "color", "green");
    REQUIRE(second.exit_code == 0);
    CHECK_THAT(second.out, Catch::Contains("ok, version 2.0"));
    CHECK(eventually([&] { return get(1, "color").out == "green\n"; }));
    CHECK(get(0, "color").out == "green\n");
    // The warning ember logs for a dropped send.
    CHECK(nodes[0]->wait_for_output("one-way message(s) to 127.0.0.1:" + std::to_string(ports[2]) +
                                    ": Failed to connect"));

    // A write through node 1 outranks node 0's (its Lamport clock has seen counter 2).
    auto third = put(1, "color", "red");
    REQUIRE(third.exit_code == 0);
    CHECK_THAT(third.out, Catch::Contains("ok, version 3.1"));
    CHECK(eventually([&] { return get(0, "color").out == "red\n"; }));

    for (int i : {0, 1}) CHECK(nodes[i]->stop(SIGTERM) == 0);
}

TEST_CASE("KvEndpoint acks a Put, replicates it to its peers and keeps the newest version",
          "[examples][kv]") {
    // The README's test kit example: one Probe plays a peer node, another a client.
    using ember::rpc::OutgoingMessage;
    ember::rpc::testkit::LocalEnvs envs(2);
    ember::rpc::testkit::Probe peer(envs[1], "kv");
    auto to_peer = envs[0].endpoint_ref(envs[1].address(), "kv");
    auto node = envs[0].setup_endpoint("kv", std::make_unique<ember::examples::kv::KvEndpoint>(
                                                 7, std::vector{to_peer})).value();
    ember::rpc::testkit::Probe client(envs[0], "client");

    client.ask_async(node, ember::rpc::message<kw::Put>([](auto b) {
        b.setKey("color");
        b.setValue("blue");
    }));
    client.expect_reply<kw::Ack>([](auto a) { return a.getVersion().getCounter() == 1; });
    auto rep = peer.expect_msg<kw::Replicate>([](auto r) { return r.getValue() == "blue"; });
    CHECK(rep->getKey() == "color");
    CHECK(rep->getVersion().getNode() == 7);

    // From the peer: a newer write wins, an older one is ignored. One sender's messages arrive
    // in order, so the Get (from the same probe) sees both applied.
    auto replicate = [](const char* value, std::uint64_t counter, std::uint32_t from) {
        return OutgoingMessage::make<kw::Replicate>([&](kw::Replicate::Builder b) {
            b.setKey("color");
            b.setValue(value);
            b.getVersion().setCounter(counter);
            b.getVersion().setNode(from);
        });
    };
    auto to_node = envs[1].endpoint_ref(envs[0].address(), "kv");
    peer.send(to_node, replicate("red", 5, 1));
    peer.send(to_node, replicate("stale", 4, 9));
    auto value = peer.ask(
        to_node, OutgoingMessage::make<kw::Get>([](kw::Get::Builder b) { b.setKey("color"); }));
    REQUIRE(value);
    CHECK(value->get<kw::Value>().getFound());
    CHECK(value->get<kw::Value>().getValue() == "red");

    // The node's Lamport clock has seen 5: its next write is newer than everything it knows.
    auto next = client.ask(node, OutgoingMessage::make<kw::Put>([](kw::Put::Builder b) {
        b.setKey("color");
        b.setValue("green");
    }));
    REQUIRE(next);
    CHECK(next->get<kw::Ack>().getVersion().getCounter() == 6);
}
