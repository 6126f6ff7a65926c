// SPDX-License-Identifier: Apache-2.0
// Executor metrics in heartbeats (Spark's ExecutorMetrics) and the richer task metrics (CPU
// times, spills, peak execution memory): real executor processes, and a fake executor whose
// heartbeats lie.
#include "rpc/testkit/local_envs.hpp"
#include "rpc/testkit/probe.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/cluster/heartbeat_receiver.hpp"
#include "scheduler/ember.hpp"
#include "scheduler/executor/process_metrics.hpp"
#include "scheduler/registry.hpp"
#include "test/support/process.hpp"
#include "test/support/wait_until.hpp"

#include <capnp/message.h>
#include <catch2/catch.hpp>

#include <future>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>

using namespace ember;
using namespace std::chrono_literals;
namespace sw = ember::scheduler::wire;
using scheduler::ExecutorMetrics;

namespace {

/// Records executor metrics updates per executor, task ends and completed stages.
struct Recorder : scheduler::SparkListener {
    std::mutex mu;
    std::map<std::string, std::vector<ExecutorMetrics>> updates;  // guarded by mu
    std::vector<scheduler::SparkListenerTaskEnd> task_ends;       // guarded by mu
    std::vector<scheduler::StageInfo> stages;                     // guarded by mu
    void on_executor_metrics_update(const scheduler::SparkListenerExecutorMetricsUpdate& e) override {
        std::lock_guard lk(mu);
        updates[e.executor_id].push_back(e.metrics);
    }
    void on_task_end(const scheduler::SparkListenerTaskEnd& e) override {
        std::lock_guard lk(mu);
        task_ends.push_back(e);
    }
    void on_stage_completed(const scheduler::SparkListenerStageCompleted& e) override {
        std::lock_guard lk(mu);
        stages.push_back(e.stage_info);
    }
    std::vector<ExecutorMetrics> of(const std::string& id) {
        std::lock_guard lk(mu);
        auto it = updates.find(id);
        return it == updates.end() ? std::vector<ExecutorMetrics>{} : it->second;
    }
};

/// Burns 50 ms of the task thread's CPU, however busy the machine is.
constexpr std::uint64_t kBurnNs = 50'000'000;
struct Burn {
    int operator()(int x) const {
        auto t0 = scheduler::thread_cpu_time_ns();
        volatile std::uint64_t sink = 0;
        while (static_cast<std::uint64_t>(scheduler::thread_cpu_time_ns() - t0) < kBurnNs) {
            for (int i = 0; i < 1000; ++i) sink = sink + static_cast<std::uint64_t>(i);
        }
        return x;
    }
    EMBER_SERDE()
};

std::string master_for(const std::string& which) {
    return which == "cluster" ? "local-cluster[2,1,512]" : "local[2]";
}

/// A Heartbeat from executor `id`, with `m` as its metric fields if given.
rpc::OutgoingMessage heartbeat(const std::string& id, std::uint16_t port, std::optional<ExecutorMetrics> m) {
    return rpc::OutgoingMessage::make<sw::Heartbeat>([&](sw::Heartbeat::Builder b) {
        b.setExecutorId(id);
        auto bm = b.initBlockManagerId();
        bm.setExecutorId(id);
        bm.setHost("127.0.0.1");
        bm.setPort(port);
        if (m) scheduler::to_wire(b.initMetrics(), *m);
    });
}

ExecutorMetrics plausible(std::int64_t cpu) {
    ExecutorMetrics m;
    m.process_rss_bytes = 50 << 20;
    m.process_vmem_bytes = 400 << 20;
    m.storage_memory_bytes = 1 << 20;
    m.cpu_time_ns = cpu;
    return m;
}

}  // namespace

TEST_CASE("sample_process_metrics reads this process's memory and CPU time", "[scheduler][metrics]") {
    auto a = scheduler::sample_process_metrics();
    CHECK(a.process_rss_bytes > (1 << 20));
    CHECK(a.process_vmem_bytes >= a.process_rss_bytes);
    CHECK(a.storage_memory_bytes == 0);
    CHECK(a.execution_memory_bytes == 0);
    // 16 MiB touched page by page raise the resident set; 50 ms of CPU raise the CPU time.
    std::vector<char> touched(16 << 20);
    for (std::size_t i = 0; i < touched.size(); i += 4096) touched[i] = 1;
    Burn{}(0);
    auto b = scheduler::sample_process_metrics();
    CHECK(b.process_rss_bytes >= a.process_rss_bytes + (8 << 20));
    CHECK(b.cpu_time_ns >= a.cpu_time_ns + static_cast<std::int64_t>(kBurnNs));
    // Cheap enough for every heartbeat.
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000; ++i) (void)scheduler::sample_process_metrics();
    auto per_sample = (std::chrono::steady_clock::now() - t0) / 1000;
    INFO("one sample: " << std::chrono::duration_cast<std::chrono::nanoseconds>(per_sample).count() << " ns");
    CHECK(per_sample < 200us);
}

TEST_CASE("read_executor_metrics believes only plausible numbers", "[scheduler][metrics]") {
    auto read = [](const ExecutorMetrics& m, bool with_metrics = true) {
        capnp::MallocMessageBuilder mb;
        auto b = mb.initRoot<sw::Heartbeat>();
        b.setExecutorId("1");
        if (with_metrics) scheduler::to_wire(b.initMetrics(), m);
        std::string why;
        auto r = scheduler::read_executor_metrics(b.asReader(), &why);
        return std::make_pair(r, why);
    };
    auto ok = read(plausible(123));
    REQUIRE(ok.first);
    CHECK(ok.first->process_rss_bytes == 50 << 20);
    CHECK(ok.first->process_vmem_bytes == 400 << 20);
    CHECK(ok.first->storage_memory_bytes == 1 << 20);
    CHECK(ok.first->cpu_time_ns == 123);
    CHECK_FALSE(read(plausible(1), false).first);  // an older executor's heartbeat: no metrics

    auto bad = [&](auto mutate, const char* expect) {
        auto m = plausible(1);
        mutate(m);
        auto [r, why] = read(m);
        CHECK_FALSE(r);
        CHECK_THAT(why, Catch::Contains(expect));
    };
    bad([](ExecutorMetrics& m) { m.process_rss_bytes = -1; }, "processRssBytes is negative");
    bad([](ExecutorMetrics& m) { m.storage_memory_bytes = -5; }, "storageMemoryBytes is negative");
    bad([](ExecutorMetrics& m) { m.execution_memory_bytes = INT64_MIN; }, "executionMemoryBytes is negative");
    bad([](ExecutorMetrics& m) { m.cpu_time_ns = -1; }, "cpuTimeNs is negative");
    bad([](ExecutorMetrics& m) { m.process_vmem_bytes = -1; }, "processVmemBytes is negative");
    bad([](ExecutorMetrics& m) { m.storage_memory_bytes = scheduler::kMaxPlausibleMemoryBytes; }, "implausibly large");
    bad([](ExecutorMetrics& m) { m.process_vmem_bytes = INT64_MAX; }, "processVmemBytes is implausibly large");
    bad([](ExecutorMetrics& m) { m.process_rss_bytes = m.process_vmem_bytes + 1; }, "exceeds processVmemBytes");
    bad([](ExecutorMetrics& m) { m.cpu_time_ns = INT64_MAX; }, "cpuTimeNs is implausibly large");
    // An address-sanitized process reserves terabytes of virtual memory: still believed.
    auto asan = plausible(1);
    asan.process_vmem_bytes = std::int64_t{20} << 40;
    CHECK(read(asan).first);
}

TEST_CASE("Executors report their memory and a growing CPU time in heartbeats", "[scheduler][metrics][heartbeat]") {
    Conf conf;
    conf.set("ember.executor.heartbeatInterval", "200ms");
    SparkContext sc("local-cluster[2,1,512]", "executor-metrics", conf);
    auto rec = std::make_shared<Recorder>();
    sc.add_spark_listener(rec);
    for (std::string id : {"0", "1"}) {
        INFO("executor " << id);
        REQUIRE(ember::test::wait_until([&] { return !rec->of(id).empty(); }, 10s));
        auto first = rec->of(id).front();
        CHECK(first.process_rss_bytes > (1 << 20));
        CHECK(first.process_vmem_bytes >= first.process_rss_bytes);
        CHECK(first.cpu_time_ns > 0);
        CHECK(first.execution_memory_bytes == 0);
    }

    // CPU-busy tasks, and a cached RDD in the executors' MemoryStores.
    std::vector<int> xs(4);
    std::iota(xs.begin(), xs.end(), 0);
    CHECK(sc.parallelize(xs, 4).map(Burn{}).collect() == xs);
    std::vector<int> many(200000);
    std::iota(many.begin(), many.end(), 0);
    auto cached = sc.parallelize(many, 2).cache();
    CHECK(cached.count() == 200000);

    for (std::string id : {"0", "1"}) {
        INFO("executor " << id);
        auto first = rec->of(id).front();
        CHECK(ember::test::wait_until([&] { return rec->of(id).back().cpu_time_ns > first.cpu_time_ns; }, 10s));
        CHECK(ember::test::wait_until([&] { return rec->of(id).back().storage_memory_bytes > 100000; }, 10s));
        for (auto& m : rec->of(id)) {
            CHECK(m.process_rss_bytes > (1 << 20));
            CHECK(m.process_vmem_bytes >= m.process_rss_bytes);
        }
        // An executor's process CPU time never goes back.
        auto all = rec->of(id);
        for (std::size_t i = 1; i < all.size(); ++i) CHECK(all[i].cpu_time_ns >= all[i - 1].cpu_time_ns);
    }
    {
        std::lock_guard lk(rec->mu);
        for (auto& [id, _] : rec->updates) CHECK((id == "0" || id == "1"));
    }
    sc.stop();
}

TEST_CASE("Task metrics carry CPU times within their run times", "[scheduler][metrics]") {
    for (std::string which : {"local", "cluster"}) {
        SECTION(which) {
            SparkContext sc(master_for(which), "task-cpu");
            auto rec = std::make_shared<Recorder>();
            sc.add_spark_listener(rec);
            std::vector<int> xs(4);
            std::iota(xs.begin(), xs.end(), 0);
            CHECK(sc.parallelize(xs, 4).map(Burn{}).collect() == xs);
            std::lock_guard lk(rec->mu);
            REQUIRE(rec->task_ends.size() == 4);
            std::uint64_t deserialize_cpu = 0;
            for (auto& e : rec->task_ends) {
                auto& m = e.task_metrics;
                INFO("task " << e.task_info.task_id << " run " << m.executor_run_time_ns << " cpu "
                             << m.executor_cpu_time_ns);
                CHECK(m.executor_cpu_time_ns >= kBurnNs);
                CHECK(m.executor_cpu_time_ns <= m.executor_run_time_ns);
                CHECK(m.executor_deserialize_cpu_time_ns <= m.executor_deserialize_time_ns);
                deserialize_cpu += m.executor_deserialize_cpu_time_ns;
            }
            CHECK(deserialize_cpu > 0);  // the first task on each executor rebuilt the stage
            REQUIRE(rec->stages.size() == 1);
            CHECK(rec->stages[0].metrics.executor_cpu_time_ns >= 4 * kBurnNs);
        }
    }
}

TEST_CASE("Spills and peak execution memory reach the task metrics", "[scheduler][metrics][shuffle]") {
    for (std::string which : {"local", "cluster"}) {
        SECTION(which) {
            Conf conf;
            conf.set("ember.shuffle.spill.numElementsForceSpillThreshold", "500");
            SparkContext sc(master_for(which), "spill-metrics", conf);
            auto rec = std::make_shared<Recorder>();
            sc.add_spark_listener(rec);
            std::vector<std::pair<int, int>> pairs;
            for (int i = 0; i < 20000; ++i) pairs.emplace_back(i % 3000, i);
            auto groups = sc.parallelize(pairs, 4).group_by_key(3).collect();
            CHECK(groups.size() == 3000);
            std::lock_guard lk(rec->mu);
            REQUIRE(rec->stages.size() == 2);
            auto& map = rec->stages[0].is_shuffle_map ? rec->stages[0] : rec->stages[1];
            auto& reduce = rec->stages[0].is_shuffle_map ? rec->stages[1] : rec->stages[0];
            CHECK(map.metrics.peak_execution_memory > 0);
            CHECK(map.metrics.result_serialization_time_ns > 0);  // the MapStatus encodings
            CHECK(reduce.metrics.memory_bytes_spilled > 0);
            CHECK(reduce.metrics.disk_bytes_spilled > 0);
            CHECK(reduce.metrics.peak_execution_memory > 0);
            // The task ends carry them one by one; the stage sums them.
            std::uint64_t disk = 0, memory = 0;
            for (auto& e : rec->task_ends) {
                if (e.stage_id != reduce.stage_id) continue;
                disk += e.task_metrics.disk_bytes_spilled;
                memory += e.task_metrics.memory_bytes_spilled;
            }
            CHECK(disk == reduce.metrics.disk_bytes_spilled);
            CHECK(memory == reduce.metrics.memory_bytes_spilled);
        }
    }
}

TEST_CASE("The driver drops a heartbeat's implausible metrics and posts plausible ones", "[scheduler][metrics][protocol]") {
    std::uint16_t port = ember::test::free_port();
    Conf conf;
    conf.set("ember.driver.port", std::to_string(port))
        .set("ember.driver.host", "127.0.0.1")
        .set("ember.driver.bindAddress", "127.0.0.1");
    auto rec = std::make_shared<Recorder>();
    auto context = std::async(std::launch::async, [&] {
        return std::make_unique<SparkContext>("cluster[1]", "lying-executor", conf,
                                              std::vector<std::shared_ptr<scheduler::SparkListener>>{rec});
    });
    rpc::testkit::LocalEnvs envs(2);
    rpc::testkit::Probe executor(envs[0], "Executor");
    rpc::testkit::Probe other(envs[1], "Other");
    auto driver = envs[0].endpoint_ref({"127.0.0.1", port}, "CoarseGrainedScheduler");
    auto receiver = envs[0].endpoint_ref({"127.0.0.1", port}, "HeartbeatReceiver");
    auto receiver_from_other = envs[1].endpoint_ref({"127.0.0.1", port}, "HeartbeatReceiver");

    rpc::RpcResult<rpc::Message> app = rpc::RpcError{};
    for (int i = 0; i < 200 && !app; ++i) {  // the driver may not be listening yet
        app = executor.ask(driver, rpc::OutgoingMessage::make<sw::RetrieveSparkAppConfig>(
                                       [](sw::RetrieveSparkAppConfig::Builder b) { b.setExecutorId("fake-1"); }));
        if (!app) std::this_thread::sleep_for(20ms);
    }
    REQUIRE(app);
    auto registered = executor.ask(driver, rpc::OutgoingMessage::make<sw::RegisterExecutor>([&](sw::RegisterExecutor::Builder b) {
        b.setExecutorId("fake-1");
        rpc::write_ref(b.initExecutorRef(), executor.ref());
        b.setHostname("127.0.0.1");
        b.setCores(1);
        b.setBuildId(scheduler::build_id());
        auto bm = b.initBlockManagerId();
        bm.setExecutorId("fake-1");
        bm.setHost("127.0.0.1");
        bm.setPort(envs[0].address().port);
    }));
    REQUIRE(registered);
    executor.send(driver, rpc::OutgoingMessage::make<sw::LaunchedExecutor>(
                              [](sw::LaunchedExecutor::Builder b) { b.setExecutorId("fake-1"); }));
    auto sc = context.get();
    std::uint16_t bm_port = envs[0].address().port;
    // The HeartbeatReceiver learns of the executor from the listener bus (Spark's
    // SparkListenerExecutorAdded), after the registration's reply: until then a heartbeat is
    // answered "reregister" and its metrics are not posted (a slow run, under TSan, got there
    // first). Wait for it with heartbeats that carry no metrics, which post nothing.
    REQUIRE(ember::test::wait_until(
        [&] {
            auto r = executor.ask(receiver, heartbeat("fake-1", bm_port, std::nullopt));
            return r && r->is<sw::HeartbeatResponse>() && !r->get<sw::HeartbeatResponse>().getReregisterBlockManager();
        },
        10s));
    auto beat = [&](ExecutorMetrics m) {
        auto r = executor.ask(receiver, heartbeat("fake-1", bm_port, m));
        REQUIRE(r);
        REQUIRE(r->is<sw::HeartbeatResponse>());
        CHECK_FALSE(r->get<sw::HeartbeatResponse>().getReregisterBlockManager());
    };

    // Lies, then the truth: heartbeats are handled in order, so once the truth is posted every
    // lie before it was dropped, not delayed.
    auto negative = plausible(1000);
    negative.process_rss_bytes = -4096;
    beat(negative);
    auto negative_cpu = plausible(1000);
    negative_cpu.cpu_time_ns = -1;
    beat(negative_cpu);
    auto absurd = plausible(1000);
    absurd.storage_memory_bytes = std::int64_t{1} << 62;
    beat(absurd);
    beat(plausible(2000));
    REQUIRE(ember::test::wait_until([&] { return !rec->of("fake-1").empty(); }, 5s));
    // Another connection speaking for fake-1 is refused, metrics and all.
    auto forged = other.ask(receiver_from_other, heartbeat("fake-1", bm_port, plausible(999)));
    CHECK_FALSE(forged);
    beat(plausible(3000));
    REQUIRE(ember::test::wait_until([&] { return rec->of("fake-1").size() >= 2; }, 5s));
    std::this_thread::sleep_for(100ms);
    auto got = rec->of("fake-1");
    REQUIRE(got.size() == 2);
    CHECK(got[0].cpu_time_ns == 2000);
    CHECK(got[0].process_rss_bytes == 50 << 20);
    CHECK(got[0].process_vmem_bytes == 400 << 20);
    CHECK(got[0].storage_memory_bytes == 1 << 20);
    CHECK(got[1].cpu_time_ns == 3000);
    {
        std::lock_guard lk(rec->mu);
        CHECK(rec->updates.size() == 1);
    }
    sc->stop();
}
