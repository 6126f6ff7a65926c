// SPDX-License-Identifier: Apache-2.0
// RpcFuture (issue 13, part 1): ask's future form, get/then/when_all/when_any, abort (Spark's
// askAbortable), and coroutines that co_await asks on an endpoint's loop. The failures are
// checked against the callback path's (the oracle: the same ask made with a callback).
#include "rpc/log.hpp"
#include "rpc/rpc_env.hpp"
#include "rpc/rpc_future.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/probe.hpp"
#include "test/support/ping.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace ember;
using namespace ember::rpc;
using namespace std::chrono_literals;
using ember::test::ping;
using ember::test::wait_until;
using testkit::LocalEnvs;
using testkit::Probe;
namespace tw = ember::test::wire;

namespace {

const RpcTimeout kShort{300ms, "ember.rpc.askTimeout"};

/// Replies Pong(n + add) to Ping(n).
class Echo final : public RpcEndpoint {
public:
    explicit Echo(std::uint64_t add = 0) : add_(add) {}
    void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
        if (auto p = msg.try_get<tw::Ping>()) {
            ctx.reply<tw::Pong>([&](tw::Pong::Builder b) { b.setN(p->getN() + add_); });
            return;
        }
        RpcEndpoint::receive_and_reply(msg, std::move(ctx));
    }

private:
    std::uint64_t add_;
};

std::uint64_t pong_n(const RpcResult<Message>& r) { return r.value().get<tw::Pong>().getN(); }

/// The callback path's result for the same ask: the oracle for the future's failures.
RpcResult<Message> ask_by_callback(const RpcEndpointRef& ref, OutgoingMessage msg, RpcTimeout timeout) {
    std::promise<RpcResult<Message>> p;
    auto f = p.get_future();
    ref.ask(std::move(msg), std::move(timeout), [&p](RpcResult<Message> r) { p.set_value(std::move(r)); });
    return f.get();
}

}  // namespace

TEST_CASE("ask without a callback returns a future of the reply", "[rpc][future]") {
    LocalEnvs envs(2);
    envs[0].setup_endpoint("echo", std::make_unique<Echo>(1)).value();
    auto ref = envs[1].endpoint_ref(envs[0].address(), "echo");
    auto f = ref.ask(ping(41));
    REQUIRE(f.valid());
    auto r = f.get();
    REQUIRE(r.has_value());
    CHECK(pong_n(r) == 42);
    CHECK(f.ready());
    CHECK(pong_n(f.get()) == 42);  // a complete future gives its result again

    // Typed: the reply's type is checked, as ask_sync<Reply> does.
    CHECK(pong_n(ref.ask<tw::Pong>(ping(1)).get()) == 2);
    auto wrong = ref.ask<tw::Ping>(ping(1), kShort).get();
    REQUIRE_FALSE(wrong.has_value());
    CHECK(wrong.error().code == RpcErrc::unexpected_message);
    CHECK(wrong.error().message == ref.ask_sync<tw::Ping>(ping(1), kShort).error().message);
}

TEST_CASE("A future fails as the callback form of the same ask does", "[rpc][future]") {
    LocalEnvs envs(2);
    Probe silent(envs[0], "silent");
    auto ref = envs[1].endpoint_ref(envs[0].address(), "silent");

    auto timed_out = ref.ask(ping(1), kShort).get();
    auto oracle = ask_by_callback(ref, ping(2), kShort);
    REQUIRE_FALSE(timed_out.has_value());
    REQUIRE_FALSE(oracle.has_value());
    CHECK(timed_out.error().code == RpcErrc::timeout);
    CHECK(timed_out.error().message == oracle.error().message);
    CHECK_THAT(timed_out.error().message, Catch::Contains("This timeout is controlled by ember.rpc.askTimeout"));

    auto missing = envs[1].endpoint_ref(envs[0].address(), "nobody");
    auto not_found = missing.ask(ping(1), kShort).get();
    auto not_found_oracle = ask_by_callback(missing, ping(1), kShort);
    REQUIRE_FALSE(not_found.has_value());
    CHECK(not_found.error().code == RpcErrc::endpoint_not_found);
    CHECK(not_found.error().message == not_found_oracle.error().message);

    // value() throws the same RpcException the callback path's value() throws.
    try {
        (void)ref.ask(ping(3), kShort).get().value();
        FAIL("value() on a failed future's result did not throw");
    } catch (const RpcException& e) {
        CHECK(e.error().code == RpcErrc::timeout);
    }
}

TEST_CASE("get(timeout) stops waiting, naming its key, and the ask goes on", "[rpc][future]") {
    LocalEnvs envs(1);
    Probe server(envs[0], "server");
    auto f = server.ref().ask(ping(5));
    auto r = f.get(RpcTimeout{150ms, "test.waitTimeout"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == RpcErrc::timeout);
    CHECK(r.error().message ==
          "Futures timed out after [150 milliseconds]. This timeout is controlled by test.waitTimeout");
    server.expect_msg<tw::Ping>();
    server.reply<tw::Pong>([](auto b) { b.setN(6); });
    CHECK(pong_n(f.get(RpcTimeout{3s, "test.waitTimeout"})) == 6);
}

TEST_CASE("then chains values, results and failures", "[rpc][future]") {
    LocalEnvs envs(1);
    auto echo = envs[0].setup_endpoint("echo", std::make_unique<Echo>()).value();

    auto doubled = echo.ask(ping(7)).then([](RpcResult<Message> r) { return pong_n(r) * 2; });
    static_assert(std::is_same_v<decltype(doubled), RpcFuture<std::uint64_t>>);
    CHECK(doubled.get().value() == 14);

    auto as_result = echo.ask(ping(7)).then([](RpcResult<Message>) -> RpcResult<int> {
        return RpcError{RpcErrc::remote_failure, "refused by the continuation"};
    });
    CHECK(as_result.get().error().message == "refused by the continuation");

    auto rpc_throw = echo.ask(ping(7)).then([](RpcResult<Message>) -> int {
        throw RpcException(RpcError{RpcErrc::aborted, "thrown RpcException"});
    });
    CHECK(rpc_throw.get().error().code == RpcErrc::aborted);
    CHECK(rpc_throw.get().error().message == "thrown RpcException");

    auto std_throw = echo.ask(ping(7)).then([](RpcResult<Message>) -> int { throw std::runtime_error("plain"); });
    CHECK(std_throw.get().error().code == RpcErrc::remote_failure);
    CHECK(std_throw.get().error().message == "plain");

    // A failure reaches the continuation as a value; a void continuation gives RpcFuture<void>.
    std::atomic<int> seen{-1};
    auto missing = envs[0].endpoint_ref(envs[0].address(), "nobody");
    RpcFuture<void> done = missing.ask(ping(1)).then([&](RpcResult<Message> r) {
        seen = static_cast<int>(r.error().code);
    });
    REQUIRE(done.get().has_value());
    CHECK(seen == static_cast<int>(RpcErrc::endpoint_not_found));

    // Attached after completion, the continuation runs at once on the attaching thread.
    auto ready = echo.ask(ping(1));
    REQUIRE(ready.get().has_value());
    auto tid = std::this_thread::get_id();
    std::thread::id ran_on;
    ready.then([&](RpcResult<Message>) { ran_on = std::this_thread::get_id(); });
    CHECK(ran_on == tid);
}

TEST_CASE("when_all gives every reply in order, or the first failure", "[rpc][future]") {
    LocalEnvs envs(1);
    Probe a(envs[0], "a");
    Probe b(envs[0], "b");

    SECTION("all succeed, answered in reverse order") {
        auto all = when_all(a.ref().ask(ping(1)), b.ref().ask(ping(2)));
        auto ask_b = b.expect_msg<tw::Ping>();
        b.reply<tw::Pong>([](auto p) { p.setN(20); });
        CHECK_FALSE(all.ready());
        a.expect_msg<tw::Ping>();
        a.reply<tw::Pong>([](auto p) { p.setN(10); });
        auto r = all.get(RpcTimeout{3s, "test"});
        REQUIRE(r.has_value());
        REQUIRE(r->size() == 2);
        CHECK((*r)[0].get<tw::Pong>().getN() == 10);
        CHECK((*r)[1].get<tw::Pong>().getN() == 20);
    }
    SECTION("one fails: the combination fails at once with its error; abort reaches the rest") {
        auto all = when_all(a.ref().ask(ping(1)), b.ref().ask(ping(2)));
        b.expect_msg<tw::Ping>();
        b.reply_failure(RpcError{RpcErrc::remote_failure, "b says no"});
        auto r = all.get(RpcTimeout{3s, "test"});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == RpcErrc::remote_failure);
        CHECK(r.error().message == "b says no");
        auto ask_a = a.expect_msg<tw::Ping>();
        all.abort("no longer needed");
        REQUIRE(ask_a.context());
        CHECK(wait_until([&] { return ask_a.context()->cancelled(); }, 3s));
    }
    SECTION("none") {
        auto r = when_all(std::vector<RpcFuture<Message>>{}).get();
        REQUIRE(r.has_value());
        CHECK(r->empty());
    }
}

TEST_CASE("when_any gives the first to complete, success or failure", "[rpc][future]") {
    LocalEnvs envs(1);
    Probe a(envs[0], "a");
    Probe b(envs[0], "b");
    SECTION("a success") {
        auto any = when_any(a.ref().ask(ping(1)), b.ref().ask(ping(2)));
        b.expect_msg<tw::Ping>();
        b.reply<tw::Pong>([](auto p) { p.setN(2); });
        auto r = any.get(RpcTimeout{3s, "test"});
        REQUIRE(r.has_value());
        CHECK(r->index == 1);
        CHECK(pong_n(r->result) == 2);
    }
    SECTION("a failure, with the error the callback path gives") {
        auto any = when_any(a.ref().ask(ping(1), kShort), b.ref().ask(ping(2), RpcTimeout{10s, "x"}));
        auto r = any.get(RpcTimeout{3s, "test"});
        REQUIRE(r.has_value());
        CHECK(r->index == 0);
        REQUIRE_FALSE(r->result.has_value());
        CHECK(r->result.error().code == RpcErrc::timeout);
        CHECK(r->result.error().message == ask_by_callback(a.ref(), ping(3), kShort).error().message);
        any.abort("done");
    }
}

TEST_CASE("abort() on an ask's future is Spark's askAbortable", "[rpc][future]") {
    LocalEnvs envs(2);
    Probe server(envs[0], "server");
    auto ref = envs[1].endpoint_ref(envs[0].address(), "server");
    auto f = ref.ask(ping(1), RpcTimeout{10s, "ember.rpc.askTimeout"});
    auto derived = f.then([](RpcResult<Message> r) { return r ? 1 : 0; });
    auto got = server.expect_msg<tw::Ping>();
    derived.abort("the caller lost interest");  // through the derived future
    auto r = f.get(RpcTimeout{3s, "test"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == RpcErrc::aborted);
    CHECK(r.error().message == "the caller lost interest");
    CHECK(derived.get().value() == 0);
    REQUIRE(got.context());
    CHECK(wait_until([&] { return got.context()->cancelled(); }, 3s));
    f.abort("again");  // complete: no effect
    CHECK(f.get().error().message == "the caller lost interest");
}

TEST_CASE("RpcPromise completes its future once; a dropped promise fails it", "[rpc][future]") {
    RpcPromise<int> p;
    auto f = p.future();
    std::thread t([p] { p.set(5); });
    CHECK(f.get().value() == 5);
    t.join();
    CHECK_FALSE(p.set(6));
    CHECK(f.get().value() == 5);

    RpcFuture<int> orphan;
    {
        RpcPromise<int> gone;
        orphan = gone.future();
    }
    REQUIRE_FALSE(orphan.get().has_value());
    CHECK(orphan.get().error().code == RpcErrc::aborted);
    CHECK_THROWS_AS(RpcFuture<int>().get(), ContractViolation);
}

namespace {

/// Shared between a coroutine endpoint and the test thread.
struct Board {
    std::atomic<int> inside{0};    // callbacks and coroutine steps running now
    std::atomic<int> overlaps{0};  // times one started while another ran
    std::atomic<int> quick{0};     // Pings answered at once while the coroutines waited
    std::atomic<int> finished{0};  // coroutines that ran to the end
    std::atomic<int> errors{0};    // on_error calls
    std::mutex mu;
    std::vector<std::string> log;  // guarded by mu
    void add(std::string s) {
        std::lock_guard lk(mu);
        log.push_back(std::move(s));
    }
};

/// Marks a stretch of endpoint code; counts overlaps with any other stretch of the same endpoint.
struct Step {
    Board& b;
    explicit Step(Board& board) : b(board) {
        if (b.inside.fetch_add(1) != 0) ++b.overlaps;
        std::this_thread::sleep_for(200us);  // widen the window in which an overlap would show
    }
    ~Step() { b.inside.fetch_sub(1); }
};

/// Answers Ping(n) asked with text "sum" by asking `left` and `right` in turn from a coroutine and
/// replying Pong(left's n + right's n); "both" asks them at once (when_all); other Pings at once.
class Gatherer final : public RpcEndpoint {
public:
    Gatherer(Board& b, RpcEndpointRef left, RpcEndpointRef right) : b_(b), left_(left), right_(right) {}

    void receive_and_reply(const Message& msg, RpcCallContext ctx) override {
        Step s(b_);
        auto p = msg.get<tw::Ping>();
        std::string text = p.getText().cStr();
        if (text == "sum") {
            sum(p.getN(), ctx);
        } else if (text == "both") {
            both(p.getN(), ctx);
        } else if (text == "throw") {
            (void)fail_later();
            ctx.reply<tw::Pong>([](auto) {});
        } else {
            ++b_.quick;
            ctx.reply<tw::Pong>([&](auto r) { r.setN(p.getN()); });
        }
    }
    void on_error(std::exception_ptr e) override {
        b_.add("on_error: " + describe(e));
        ++b_.errors;  // after the log: a test that sees the count sees the entry
    }
    void on_stop() override { b_.add("on_stop"); }

private:
    RpcFuture<void> sum(std::uint64_t n, RpcCallContext ctx) {
        auto l = co_await left_.ask(ember::test::ping(n));
        {
            Step s1(b_);  // not across the next co_await: the endpoint runs other messages there
            b_.add(fmt::format("left {}", n));
        }
        auto r = co_await right_.ask(ember::test::ping(n));
        Step s2(b_);
        b_.add(fmt::format("right {}", n));
        if (!l || !r) {
            ctx.send_failure(!l ? l.error() : r.error());
            co_return;
        }
        std::uint64_t total = l->get<tw::Pong>().getN() + r->get<tw::Pong>().getN();
        ctx.reply<tw::Pong>([&](auto b) { b.setN(total); });
        ++b_.finished;
    }
    RpcFuture<std::uint64_t> both(std::uint64_t n, RpcCallContext ctx) {
        auto all = co_await when_all(left_.ask(ember::test::ping(n)), right_.ask(ember::test::ping(n)));
        Step s(b_);
        if (!all) {
            ctx.send_failure(all.error());
            co_return all.error();
        }
        std::uint64_t total = (*all)[0].get<tw::Pong>().getN() + (*all)[1].get<tw::Pong>().getN();
        ctx.reply<tw::Pong>([&](auto b) { b.setN(total); });
        ++b_.finished;
        co_return total;
    }
    RpcFuture<int> fail_later() {
        co_await left_.ask(ember::test::ping(0));
        throw std::runtime_error("coroutine failed");
    }

    Board& b_;
    RpcEndpointRef left_, right_;
};

}  // namespace

TEST_CASE("A coroutine co_awaits two asks on its endpoint's loop while the endpoint keeps receiving",
          "[rpc][future][coroutine]") {
    Conf conf;
    conf.set("ember.rpc.io.threads", "2");  // replies arrive on either thread: a resumption off the loop would overlap
    Board board;
    LocalEnvs envs(2, conf);
    Probe left(envs[1], "left");
    Probe right(envs[1], "right");
    auto g = envs[0]
                 .setup_endpoint("gatherer", std::make_unique<Gatherer>(
                                                 board, envs[0].endpoint_ref(envs[1].address(), "left"),
                                                 envs[0].endpoint_ref(envs[1].address(), "right")))
                 .value();
    auto client = envs[1].endpoint_ref(envs[0].address(), "gatherer");

    auto sum = client.ask(ping(3, "sum"), RpcTimeout{10s, "test"});
    auto l = left.expect_msg<tw::Ping>();
    CHECK(l->getN() == 3);
    // The coroutine waits for `left`: the endpoint answers other asks meanwhile.
    for (int i = 0; i < 20; ++i) CHECK(pong_n(client.ask(ping(100 + i)).get(RpcTimeout{3s, "test"})) == 100u + i);
    CHECK_FALSE(sum.ready());
    left.reply<tw::Pong>([](auto b) { b.setN(30); });
    auto r = right.expect_msg<tw::Ping>();
    CHECK(r->getN() == 3);
    std::atomic<bool> stop{false};
    std::thread chatter([&] {  // keeps the endpoint busy while the replies come back
        for (int i = 0; !stop; ++i) (void)client.ask(ping(i)).get(RpcTimeout{3s, "test"});
    });
    right.reply<tw::Pong>([](auto b) { b.setN(400); });
    CHECK(pong_n(sum.get(RpcTimeout{5s, "test"})) == 430);

    // Both at once, many times over, with the chatter going on.
    std::vector<RpcFuture<Message>> sums;
    for (int i = 0; i < 20; ++i) sums.push_back(client.ask(ping(i, "both"), RpcTimeout{10s, "test"}));
    for (int i = 0; i < 20; ++i) {
        left.expect_msg<tw::Ping>();
        left.reply<tw::Pong>([](auto b) { b.setN(1); });
    }
    for (int i = 0; i < 20; ++i) {
        right.expect_msg<tw::Ping>();
        right.reply<tw::Pong>([](auto b) { b.setN(2); });
    }
    auto all = when_all(std::move(sums)).get(RpcTimeout{10s, "test"});
    stop = true;
    chatter.join();
    REQUIRE(all.has_value());
    for (auto& m : *all) CHECK(m.get<tw::Pong>().getN() == 3);
    CHECK(board.finished == 21);
    CHECK(board.quick >= 20);
    CHECK(board.overlaps == 0);
    std::lock_guard lk(board.mu);
    CHECK(board.log == std::vector<std::string>{"left 3", "right 3"});
}

TEST_CASE("A coroutine's exception goes to on_error and fails its future", "[rpc][future][coroutine]") {
    Board board;
    LocalEnvs envs(1);
    Probe left(envs[0], "left");
    bool dedicated = GENERATE(false, true);
    auto g = envs[0]
                 .setup_endpoint("g", std::make_unique<Gatherer>(board, left.ref(), left.ref()),
                                 {.dedicated_thread = dedicated})
                 .value();
    REQUIRE(g.ask(ping(0, "throw")).get().has_value());
    left.expect_msg<tw::Ping>();
    left.reply<tw::Pong>([](auto) {});
    REQUIRE(wait_until([&] { return board.errors == 1; }, 3s));
    std::lock_guard lk(board.mu);
    CHECK(board.log == std::vector<std::string>{"on_error: coroutine failed"});
}

TEST_CASE("A stopping endpoint destroys its waiting coroutines: they never resume", "[rpc][future][coroutine]") {
    Board board;
    LocalEnvs envs(1);
    Probe left(envs[0], "left");
    bool dedicated = GENERATE(false, true);
    auto g = envs[0]
                 .setup_endpoint("g", std::make_unique<Gatherer>(board, left.ref(), left.ref()),
                                 {.dedicated_thread = dedicated})
                 .value();
    auto sum = g.ask(ping(1, "sum"), RpcTimeout{30s, "test"});
    auto asked = left.expect_msg<tw::Ping>();
    envs[0].stop(g);
    // The frame held the asker's RpcCallContext: destroying it fails the ask with no_reply at once,
    // long before its 30 s timeout.
    auto r = sum.get(RpcTimeout{5s, "test"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == RpcErrc::no_reply);
    // The reply the coroutine waited for, now too late: a local reply completes the ask on this
    // thread, so by the time reply() returns the (dropped) resumption has been decided.
    left.reply<tw::Pong>([](auto) {});
    std::lock_guard lk(board.mu);
    CHECK(board.log == std::vector<std::string>{"on_stop"});
    CHECK(board.finished == 0);
}

TEST_CASE("get() refuses to wait on an endpoint's loop; then and co_await do not block it", "[rpc][future]") {
    LocalEnvs envs(1);
    Probe server(envs[0], "server");

    class Blocker final : public RpcEndpoint {
    public:
        explicit Blocker(RpcEndpointRef to) : to_(std::move(to)) {}
        void receive_and_reply(const Message&, RpcCallContext ctx) override {
            auto r = to_.ask(ember::test::ping(1)).get();
            ctx.send_failure(r ? RpcError{RpcErrc::ok, "waited"} : r.error());
        }

    private:
        RpcEndpointRef to_;
    };
    auto b = envs[0].setup_endpoint("blocker", std::make_unique<Blocker>(server.ref())).value();
    auto r = b.ask(ping(0)).get(RpcTimeout{3s, "test"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == RpcErrc::aborted);
    CHECK_THAT(r.error().message, Catch::Contains("would wait for itself"));
}
