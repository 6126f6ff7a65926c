// SPDX-License-Identifier: Apache-2.0
// A local-cluster with ember.authenticate and ember.network.crypto.enabled against the attacks
// of issue 9, as real processes on real sockets: a job's result is exact; the secret reaches
// executors through their environment, never their command line; peers without the secret, or
// with a wrong one, achieve nothing against the driver's and the executors' ports; a peer with
// the secret (an insider, which is not the driver or an executor) cannot stop executors, launch
// or kill tasks, remove executors, take over a registration or read the secret back.
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/probe.hpp"
#include "rpc/testkit/raw_client.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/ember.hpp"
#include "shuffle/map_output_messages.capnp.h"
#include "storage/block_manager_messages.capnp.h"
#include "storage/block_transfer_messages.capnp.h"
#include "test/support/process.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace ember;
using namespace ember::rpc;
using namespace std::chrono_literals;
namespace sw = ember::scheduler::wire;
namespace stw = ember::storage::wire;
namespace shw = ember::shuffle::wire;

namespace {

constexpr const char* kSecret = "s3cret-4f9d2b7e-for-the-security-test";

struct KeyMod {
    std::pair<int, std::int64_t> operator()(int x) const { return {x % 101, static_cast<std::int64_t>(x)}; }
    EMBER_SERDE()
};
struct Sum {
    std::int64_t operator()(std::int64_t a, std::int64_t b) const { return a + b; }
    EMBER_SERDE()
};

/// Sums by key x % 101 over 1..n through a shuffle of 6 map and 5 reduce partitions, against the
/// same sums computed here.
void check_job(SparkContext& sc, int n = 20000) {
    std::vector<int> xs(static_cast<std::size_t>(n));
    std::map<int, std::int64_t> oracle;
    for (int i = 0; i < n; ++i) {
        xs[static_cast<std::size_t>(i)] = i + 1;
        oracle[(i + 1) % 101] += i + 1;
    }
    auto got = sc.parallelize(xs, 6).map(KeyMod{}).reduce_by_key(Sum{}, 5).collect();
    std::map<int, std::int64_t> as_map(got.begin(), got.end());
    CHECK(got.size() == oracle.size());
    CHECK(as_map == oracle);
}

Conf secure(const std::string& secret) {
    Conf c;
    c.set("ember.authenticate", "true").set("ember.authenticate.secret", secret).set("ember.network.crypto.enabled", "true");
    return c;
}

/// Every ask and send an attacker would try, from `env`, against the driver at `driver_port`
/// and the executors at `executor_ports`. Returns the asks' outcomes, "name: ok" or
/// "name: <error message>".
std::vector<std::string> attack(testkit::LocalEnvs& envs, std::uint16_t driver_port,
                                const std::vector<std::uint16_t>& executor_ports) {
    std::vector<std::string> outcomes;
    testkit::Probe probe(envs[0], "Attacker");
    RpcAddress driver_addr{"127.0.0.1", driver_port};
    auto driver = envs[0].endpoint_ref(driver_addr, "CoarseGrainedScheduler");
    auto record = [&](const std::string& name, const RpcResult<Message>& r) {
        outcomes.push_back(name + ": " + (r ? std::string("ok") : r.error().message));
    };
    // The driver: configuration, registration under a live executor's id and a new one,
    // forged results, removal of an executor, another BlockManager in a live one's place,
    // shuffle metadata.
    record("RetrieveSparkAppConfig", probe.ask(driver, OutgoingMessage::make<sw::RetrieveSparkAppConfig>(
                                                           [](auto b) { b.setExecutorId("0"); })));
    for (const char* id : {"0", "evil"}) {
        record(std::string("RegisterExecutor ") + id,
               probe.ask(driver, OutgoingMessage::make<sw::RegisterExecutor>([&](sw::RegisterExecutor::Builder b) {
                   b.setExecutorId(id);
                   write_ref(b.initExecutorRef(), probe.ref());
                   b.setHostname("127.0.0.1");
                   b.setCores(4);
                   // The live executor's id with the right build (an insider has the binary); a new
                   // id with a guessed one.
                   b.setBuildId(std::string_view(id) == "0" ? scheduler::build_id() : std::string("guess"));
               })));
    }
    for (std::int64_t tid = 0; tid < 50; ++tid) {
        auto m = OutgoingMessage::make<sw::StatusUpdate>();
        auto b = m.payload<sw::StatusUpdate>();
        b.setExecutorId(tid % 2 ? "1" : "0");
        auto u = b.initUpdates(1)[0];
        u.setTaskId(tid);
        u.setState(sw::TaskState::FINISHED);
        u.initMetrics();
        probe.send(driver, std::move(m));
    }
    for (const char* id : {"0", "1"}) {
        probe.send(driver, OutgoingMessage::make<sw::RemoveExecutor>([&](sw::RemoveExecutor::Builder b) {
            b.setExecutorId(id);
            b.setReason("attacker");
        }));
        probe.send(driver, OutgoingMessage::make<sw::KillTask>([&](sw::KillTask::Builder b) {
            b.setTaskId(1);
            b.setExecutorId(id);
            b.setReason("attacker");
        }));
    }
    auto master = envs[0].endpoint_ref(driver_addr, "BlockManagerMaster");
    record("RegisterBlockManager 0", probe.ask(master, OutgoingMessage::make<stw::RegisterBlockManager>(
                                                           [&](stw::RegisterBlockManager::Builder b) {
                                                               auto id = b.initBlockManagerId();
                                                               id.setExecutorId("0");
                                                               id.setHost("127.0.0.1");
                                                               id.setPort(1);
                                                               b.setMaxOnHeapMemory(1);
                                                               write_ref(b.initStorageEndpoint(), probe.ref());
                                                           })));
    record("GetMapOutputStatuses",
           probe.ask(envs[0].endpoint_ref(driver_addr, "MapOutputTracker"),
                     OutgoingMessage::make<shw::GetMapOutputStatuses>([](auto b) { b.setShuffleId(0); })));
    // The executors: stop, launch, kill; and their blocks.
    for (auto port : executor_ports) {
        RpcAddress addr{"127.0.0.1", port};
        auto exec = envs[0].endpoint_ref(addr, "Executor");
        probe.send(exec, OutgoingMessage::make<sw::LaunchTask>([](sw::LaunchTask::Builder b) {
            auto t = b.initTasks(1)[0];
            t.setTaskId(999999);
            t.setExecutorId("0");
        }));
        probe.send(exec, OutgoingMessage::make<sw::KillTask>([](sw::KillTask::Builder b) { b.setTaskId(1); }));
        probe.send(exec, OutgoingMessage::make<sw::StopExecutor>());
        probe.send(envs[0].endpoint_ref(addr, "BlockManagerEndpoint"),
                   OutgoingMessage::make<stw::RemoveBlock>([](auto b) { b.setBlockId("rdd_0_0"); }));
        record("FetchBlocks", probe.ask(envs[0].endpoint_ref(addr, "block-transfer"),
                                        OutgoingMessage::make<stw::FetchBlocks>([](stw::FetchBlocks::Builder b) {
                                            b.initBlockIds(1).set(0, "shuffle_0_0_0");
                                        })));
    }
    std::this_thread::sleep_for(300ms);  // the one-way messages arrive
    return outcomes;
}

}  // namespace

TEST_CASE("An authenticated, encrypted local-cluster computes exactly and outsiders and insiders achieve nothing",
          "[scheduler][security][cluster]") {
    std::uint16_t port = ember::test::free_port();
    std::string dir = ember::test::fresh_temp_dir("security");
    Conf conf = secure(kSecret);
    conf.set("ember.driver.port", std::to_string(port))
        .set("ember.driver.host", "127.0.0.1")
        .set("ember.driver.bindAddress", "127.0.0.1")
        .set("ember.local.dir", dir);
    SparkContext sc("local-cluster[2,1,512]", "security", conf);
    check_job(sc);

    // The secret travels in the executors' environment, never on their command line.
    auto pids = sc.executor_pids();
    REQUIRE(pids.size() == 2);
    for (int pid : pids) {
        std::string cmdline = ember::test::read_file_or_empty("/proc/" + std::to_string(pid) + "/cmdline");
        std::string environ = ember::test::read_file_or_empty("/proc/" + std::to_string(pid) + "/environ");
        CHECK_FALSE(cmdline.empty());
        CHECK(cmdline.find(kSecret) == std::string::npos);
        CHECK(environ.find(std::string("EMBER_AUTH_SECRET=") + kSecret) != std::string::npos);
    }

    // The executors' ports: every BlockManager but the driver's.
    std::vector<std::uint16_t> executor_ports;
    for (auto& [hostport, mem] : sc.executor_memory_status()) {
        auto p = static_cast<std::uint16_t>(std::stoi(hostport.substr(hostport.rfind(':') + 1)));
        if (p != port) executor_ports.push_back(p);
    }
    REQUIRE(executor_ports.size() == 2);

    SECTION("peers without the secret, or with a wrong one, are refused before any message") {
        for (bool wrong : {false, true}) {
            CAPTURE(wrong);
            testkit::LocalEnvs outsider(1, wrong ? secure("not-the-secret") : Conf{});
            auto outcomes = attack(outsider, port, executor_ports);
            REQUIRE(outcomes.size() == 7);
            for (auto& o : outcomes) {
                CAPTURE(o);
                CHECK_THAT(o, Catch::Contains("authentication failed"));
            }
            // Raw frames with no handshake: the connection is closed, nothing is read as a frame.
            for (auto p : executor_ports) {
                auto raw = testkit::RawClient::connect({"127.0.0.1", p}).value();
                raw->send_one_way("Executor", OutgoingMessage::make<sw::StopExecutor>());
                CHECK(raw->wait_closed(5s));
            }
        }
    }
    SECTION("a peer with the secret cannot steer the cluster or read the secret") {
        testkit::LocalEnvs insider(1, secure(kSecret));
        auto outcomes = attack(insider, port, executor_ports);
        REQUIRE(outcomes.size() == 7);
        CHECK_THAT(outcomes[0], Catch::StartsWith("RetrieveSparkAppConfig: ok"));
        CHECK_THAT(outcomes[1], Catch::Contains("Duplicate executor ID: 0"));
        CHECK_THAT(outcomes[2], Catch::Contains("RegisterExecutor evil:") && !Catch::Contains("ok") &&
                                    !Catch::Contains(scheduler::build_id()));
        CHECK_THAT(outcomes[3], Catch::Contains("RegisterBlockManager 0:") && !Catch::EndsWith(": ok"));
        // The executors saw the commands and refused them (rate-limited lines in their logs).
        for (const char* exec : {"0", "1"}) {
            std::string log_path = dir + "/ember-" + sc.app_id() + "/executor-" + exec + "/stderr";
            CHECK(ember::test::wait_until([&] {
                auto text = ember::test::read_file_or_empty(log_path);
                return text.find("only the driver's connection may send it") != std::string::npos;
            }));
        }
        // The configuration it is given has no secret.
        testkit::Probe probe(insider[0], "Reader");
        auto app = probe.ask(insider[0].endpoint_ref({"127.0.0.1", port}, "CoarseGrainedScheduler"),
                             OutgoingMessage::make<sw::RetrieveSparkAppConfig>([](auto b) { b.setExecutorId("x"); }));
        REQUIRE(app);
        for (auto kv : app->get<sw::SparkAppConfig>().getSparkProperties()) {
            CHECK(std::string(kv.getValue().cStr()).find(kSecret) == std::string::npos);
            CHECK(std::string(kv.getKey().cStr()) != "ember.authenticate.secret");
        }
    }

    // Whatever was tried, both executors are alive and registered, and jobs are exact.
    for (int pid : pids) CHECK(ember::test::process_alive(pid));
    CHECK(sc.executor_pids().size() == 2);
    CHECK(sc.executor_memory_status().size() == 3);
    check_job(sc, 30000);
}
