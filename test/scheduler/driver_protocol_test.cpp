// SPDX-License-Identifier: Apache-2.0
// A fake executor, played by a test-kit Probe, against a real driver: it registers, receives
// LaunchTask, answers with StatusUpdate, and watches how the driver reacts.
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/probe.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/ember.hpp"
#include "scheduler/registry.hpp"
#include "shuffle/map_status.hpp"
#include "storage/serializer.hpp"
#include "test/support/process.hpp"

#include <catch2/catch.hpp>

#include <future>
#include <set>
#include <thread>

using namespace ember;
using namespace ember::rpc;
using namespace std::chrono_literals;
namespace sw = ember::scheduler::wire;

namespace {

OutgoingMessage status(const std::string& executor, std::int64_t task, sw::TaskState state, const std::string& result,
                       const std::string& error = {}) {
    auto m = OutgoingMessage::make<sw::StatusUpdate>();
    auto b = m.payload<sw::StatusUpdate>();
    b.setExecutorId(executor);
    auto u = b.initUpdates(1)[0];
    u.setTaskId(task);
    u.setState(state);
    u.setResult(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(result.data()), result.size()));
    if (!error.empty()) {
        auto f = u.initFailure().initExceptionFailure();
        f.setClassName("fake.Error");
        f.setDescription(error);
    }
    u.initMetrics();
    return m;
}

using StageAttempt = std::pair<int, int>;

/// The next LaunchTask that carries tasks. The stage attempts it, or a task-less LaunchTask
/// before it, tells the executor to drop (removeStages) are added to `dropped`.
testkit::Expected<sw::LaunchTask> next_tasks(testkit::Probe& executor, std::set<StageAttempt>& dropped) {
    for (;;) {
        auto l = executor.expect_msg<sw::LaunchTask>(5s);
        for (auto r : l->getRemoveStages()) dropped.emplace(r.getStageId(), r.getStageAttempt());
        if (l->getTasks().size() > 0) return l;
    }
}

StageAttempt stage_of(sw::TaskDescription::Reader t) { return {t.getStageId(), t.getStageAttempt()}; }

struct Removed : scheduler::SparkListener {
    std::promise<std::string> reason;
    void on_executor_removed(const scheduler::SparkListenerExecutorRemoved& e) override { reason.set_value(e.reason); }
};

}  // namespace

TEST_CASE("A fake executor registers with a real driver, runs its tasks and sees retries", "[scheduler][protocol]") {
    std::uint16_t port = ember::test::free_port();
    Conf conf;
    conf.set("ember.driver.port", std::to_string(port))
        .set("ember.driver.host", "127.0.0.1")
        .set("ember.driver.bindAddress", "127.0.0.1")
        .set("ember.task.maxFailures", "2");
    auto context = std::async(std::launch::async, [&] { return std::make_unique<SparkContext>("cluster[1]", "protocol", conf); });

    testkit::LocalEnvs envs(1);
    testkit::Probe executor(envs[0], "Executor");
    auto driver = envs[0].endpoint_ref({"127.0.0.1", port}, "CoarseGrainedScheduler");

    // 1. Registration: the application's configuration, then RegisterExecutor, then LaunchedExecutor.
    RpcResult<Message> app = RpcError{};
    for (int i = 0; i < 200 && !app; ++i) {  // the driver may not be listening yet
        app = executor.ask(driver, OutgoingMessage::make<sw::RetrieveSparkAppConfig>(
                                       [](sw::RetrieveSparkAppConfig::Builder b) { b.setExecutorId("fake-1"); }));
        if (!app) std::this_thread::sleep_for(20ms);
    }
    REQUIRE(app);
    REQUIRE(app->is<sw::SparkAppConfig>());
    CHECK(std::string(app->get<sw::SparkAppConfig>().getAppId().cStr()).rfind("app-", 0) == 0);

    auto reg = OutgoingMessage::make<sw::RegisterExecutor>([&](sw::RegisterExecutor::Builder b) {
        b.setExecutorId("fake-1");
        write_ref(b.initExecutorRef(), executor.ref());
        b.setHostname("127.0.0.1");
        b.setCores(1);
        b.setBuildId(scheduler::build_id());
        auto bm = b.initBlockManagerId();
        bm.setExecutorId("fake-1");
        bm.setHost("127.0.0.1");
        bm.setPort(envs[0].address().port);
    });
    auto registered = executor.ask(driver, std::move(reg));
    REQUIRE(registered);
    CHECK(registered->is<sw::RegisteredExecutor>());
    // A second registration under the same id is refused.
    auto dup = executor.ask(driver, OutgoingMessage::make<sw::RegisterExecutor>([&](sw::RegisterExecutor::Builder b) {
        b.setExecutorId("fake-1");
        b.setBuildId(scheduler::build_id());
    }));
    REQUIRE_FALSE(dup);
    CHECK(dup.error().message == "Duplicate executor ID: fake-1");
    executor.send(driver, OutgoingMessage::make<sw::LaunchedExecutor>(
                              [](sw::LaunchedExecutor::Builder b) { b.setExecutorId("fake-1"); }));
    auto sc = context.get();
    auto removed = std::make_shared<Removed>();
    sc->add_spark_listener(removed);

    // 2. A job: the driver sends the stage binary and the task; our StatusUpdate ends the job.
    auto rdd = sc->parallelize(std::vector<int>{10, 20, 30}, 1);
    auto job = std::async(std::launch::async, [&] { return rdd.count(); });
    std::set<StageAttempt> dropped;
    auto launch = next_tasks(executor, dropped);
    REQUIRE(launch->getTasks().size() == 1);
    CHECK(launch->getStages().size() == 1);  // the stage's code and lineage, once
    CHECK(dropped.empty());
    auto task = launch->getTasks()[0];
    CHECK(task.getAttemptNumber() == 0);
    CHECK(std::string(task.getExecutorId().cStr()) == "fake-1");
    executor.send(driver, status("fake-1", task.getTaskId(), sw::TaskState::FINISHED, encode(std::uint64_t{3})));
    CHECK(job.get() == 3);

    // 3. A failed attempt is retried; the retry does not carry the stage binary again.
    auto job2 = std::async(std::launch::async, [&] { return rdd.count(); });
    // The finished stage's binary is dropped, with this launch or just before it.
    auto first = next_tasks(executor, dropped);
    REQUIRE(first->getTasks().size() == 1);
    CHECK(first->getStages().size() == 1);
    CHECK(dropped == std::set<StageAttempt>{stage_of(task)});
    executor.send(driver, status("fake-1", first->getTasks()[0].getTaskId(), sw::TaskState::FAILED, "", "disk on fire"));
    auto retry = next_tasks(executor, dropped);
    REQUIRE(retry->getTasks().size() == 1);
    CHECK(retry->getTasks()[0].getAttemptNumber() == 1);
    CHECK(retry->getTasks()[0].getPartitionId() == first->getTasks()[0].getPartitionId());
    CHECK(retry->getStages().size() == 0);
    executor.send(driver, status("fake-1", retry->getTasks()[0].getTaskId(), sw::TaskState::FINISHED,
                                 encode(std::uint64_t{3})));
    CHECK(job2.get() == 3);

    // 4. Failing every attempt aborts the job with Spark's message carrying our error text.
    //    Its stage's binary is dropped too: with no task to go first, by the next periodic revive.
    auto job3 = std::async(std::launch::async, [&] { return rdd.count(); });
    StageAttempt stage3;
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto l = next_tasks(executor, dropped);
        stage3 = stage_of(l->getTasks()[0]);
        executor.send(driver, status("fake-1", l->getTasks()[0].getTaskId(), sw::TaskState::FAILED, "", "still burning"));
    }
    CHECK(dropped == std::set<StageAttempt>{stage_of(task), stage_of(first->getTasks()[0])});
    CHECK_THROWS_WITH(job3.get(), Catch::Contains("failed 2 times") && Catch::Contains("fake.Error: still burning"));
    auto removal = executor.expect_msg<sw::LaunchTask>(3s);  // ember.scheduler.revive.interval is 1s
    CHECK(removal->getTasks().size() == 0);
    CHECK(removal->getStages().size() == 0);
    REQUIRE(removal->getRemoveStages().size() == 1);
    CHECK(StageAttempt(removal->getRemoveStages()[0].getStageId(), removal->getRemoveStages()[0].getStageAttempt()) ==
          stage3);
    executor.expect_no_msg(1500ms);

    // 5. The executor goes away: the driver removes it.
    envs[0].shutdown();
    auto reason = removed->reason.get_future();
    REQUIRE(reason.wait_for(5s) == std::future_status::ready);
    CHECK_THAT(reason.get(), Catch::Contains("disassociated"));
}

namespace {

struct KeyMod3 {
    std::pair<int, int> operator()(int x) const { return {x % 3, x}; }
    EMBER_SERDE()
};
struct AddInts {
    int operator()(int a, int b) const { return a + b; }
    EMBER_SERDE()
};

/// RetrieveSparkAppConfig, RegisterExecutor and LaunchedExecutor as `id`, from `executor`.
void register_fake(testkit::Probe& executor, const RpcEndpointRef& driver, const std::string& id, std::uint16_t port) {
    RpcResult<Message> app = RpcError{};
    for (int i = 0; i < 200 && !app; ++i) {
        app = executor.ask(driver, OutgoingMessage::make<sw::RetrieveSparkAppConfig>(
                                       [&](sw::RetrieveSparkAppConfig::Builder b) { b.setExecutorId(id); }));
        if (!app) std::this_thread::sleep_for(20ms);
    }
    REQUIRE(app);
    auto registered = executor.ask(driver, OutgoingMessage::make<sw::RegisterExecutor>([&](sw::RegisterExecutor::Builder b) {
        b.setExecutorId(id);
        write_ref(b.initExecutorRef(), executor.ref());
        b.setHostname("127.0.0.1");
        b.setCores(1);
        b.setBuildId(scheduler::build_id());
        auto bm = b.initBlockManagerId();
        bm.setExecutorId(id);
        bm.setHost("127.0.0.1");
        bm.setPort(port);
    }));
    REQUIRE(registered);
    REQUIRE(registered->is<sw::RegisteredExecutor>());
    executor.send(driver, OutgoingMessage::make<sw::LaunchedExecutor>(
                              [&](sw::LaunchedExecutor::Builder b) { b.setExecutorId(id); }));
}

}  // namespace

TEST_CASE("The driver believes a StatusUpdate only from the executor that runs the task, and checks MapStatus",
          "[scheduler][protocol][security]") {
    // Before: forged StatusUpdate(FINISHED) frames from any connection were counted (a word count
    // exited 0 with a wrong total), and a malformed MapStatus marked its task done without
    // registering output, so the job hung.
    std::uint16_t port = ember::test::free_port();
    Conf conf;
    conf.set("ember.driver.port", std::to_string(port))
        .set("ember.driver.host", "127.0.0.1")
        .set("ember.driver.bindAddress", "127.0.0.1")
        .set("ember.task.maxFailures", "2");
    auto context = std::async(std::launch::async, [&] { return std::make_unique<SparkContext>("cluster[1]", "forgery", conf); });
    testkit::LocalEnvs envs(2);
    testkit::Probe executor(envs[0], "Executor");
    testkit::Probe forger(envs[1], "Forger");  // another connection, with no registration
    auto driver = envs[0].endpoint_ref({"127.0.0.1", port}, "CoarseGrainedScheduler");
    auto driver_from_forger = envs[1].endpoint_ref({"127.0.0.1", port}, "CoarseGrainedScheduler");
    register_fake(executor, driver, "fake-1", envs[0].address().port);
    auto sc = context.get();

    // 1. A result for fake-1's task from another connection is ignored; so is a result for a
    //    task id fake-1 was never given. fake-1's own result ends the job.
    auto rdd = sc->parallelize(std::vector<int>{10, 20, 30}, 1);
    auto job = std::async(std::launch::async, [&] { return rdd.count(); });
    auto launch = executor.expect_msg<sw::LaunchTask>(5s);
    REQUIRE(launch->getTasks().size() == 1);
    auto tid = launch->getTasks()[0].getTaskId();
    forger.send(driver_from_forger, status("fake-1", tid, sw::TaskState::FINISHED, encode(std::uint64_t{999})));
    executor.send(driver, status("fake-1", tid + 1000, sw::TaskState::FINISHED, encode(std::uint64_t{998})));
    CHECK(job.wait_for(500ms) == std::future_status::timeout);
    executor.send(driver, status("fake-1", tid, sw::TaskState::FINISHED, encode(std::uint64_t{3})));
    CHECK(job.get() == 3);

    // 2. A shuffle map task whose MapStatus does not decode fails, is retried, and the job fails
    //    after ember.task.maxFailures: it never hangs.
    auto sums = sc->parallelize(std::vector<int>{1, 2, 3, 4, 5, 6}, 1).map(KeyMod3{}).reduce_by_key(AddInts{}, 3);
    auto job2 = std::async(std::launch::async, [&] { return sums.collect(); });
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto l = executor.expect_msg<sw::LaunchTask>(5s);
        REQUIRE(l->getTasks().size() == 1);
        CHECK(l->getTasks()[0].getAttemptNumber() == attempt);
        auto t = l->getTasks()[0];
        std::string bad = std::string("\x01\x02garbage", 9);  // does not decode
        if (attempt == 1) {  // decodes, but has 2 block sizes for 3 reduce partitions
            shuffle::MapStatus ms{{"fake-1", "127.0.0.1", envs[0].address().port}, t.getTaskId(),
                                  static_cast<int>(t.getPartitionId()), {0, 0}};
            bad = encode(ms);
        }
        executor.send(driver, status("fake-1", t.getTaskId(), sw::TaskState::FINISHED, bad));
    }
    REQUIRE(job2.wait_for(10s) == std::future_status::ready);
    CHECK_THROWS_WITH(job2.get(), Catch::Contains("ember.InvalidMapStatus") &&
                                       Catch::Contains("2 block sizes for 3 reduce partitions"));
}
