// SPDX-License-Identifier: Apache-2.0
// Accumulators (issue 11, part 3): long, double, collection and user-defined accumulators with
// Spark's semantics, on local[2] and on local-cluster executor processes: sums equal a
// single-process oracle; a result stage counts each partition once even when a task fails after
// adding or its executor is SIGKILLed; a map stage that runs again after an executor loss counts
// again (Spark's documented behaviour for transformations); count_failed_values counts failed
// attempts; the driver drops bad updates; TaskEnd/StageCompleted, the event log and the REST
// API show named accumulators.
#include "scheduler/ember.hpp"
#include "scheduler/status/api_v1.hpp"
#include "scheduler/status/app_status_store.hpp"
#include "scheduler/status/replay.hpp"
#include "test/support/http_get.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>

#include <unistd.h>

using namespace ember;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;
using scheduler::AccumulableInfo;
using scheduler::TaskContext;

namespace {

/// A user-defined accumulator: the largest value added (Spark's AccumulatorV2 contract).
struct MaxAccumulator {
    std::int64_t max = std::numeric_limits<std::int64_t>::min();
    void add(std::int64_t v) { max = std::max(max, v); }
    void merge(const MaxAccumulator& o) { max = std::max(max, o.max); }
    std::int64_t value() const { return max; }
    void reset() { max = std::numeric_limits<std::int64_t>::min(); }
    bool is_zero() const { return max == std::numeric_limits<std::int64_t>::min(); }
    EMBER_SERDE(max)
};

/// Another: the distinct strings added (no is_zero: zero is "encodes like the default").
struct DistinctAccumulator {
    std::vector<std::string> items;  // sorted, unique
    void add(const std::string& s) {
        auto it = std::lower_bound(items.begin(), items.end(), s);
        if (it == items.end() || *it != s) items.insert(it, s);
    }
    void merge(const DistinctAccumulator& o) {
        for (const auto& s : o.items) add(s);
    }
    std::set<std::string> value() const { return {items.begin(), items.end()}; }
    void reset() { items.clear(); }
    EMBER_SERDE(items)
};

/// TaskEnd and StageCompleted events, for assertions.
struct Events : scheduler::SparkListener {
    std::mutex mu;
    std::vector<scheduler::SparkListenerTaskEnd> task_ends;
    std::vector<scheduler::StageInfo> completed;
    std::function<bool(const scheduler::SparkListenerTaskStart&)> on_task_start_hook;
    std::function<bool(const scheduler::StageInfo&)> on_stage_completed_hook;

    void on_task_end(const scheduler::SparkListenerTaskEnd& e) override {
        std::lock_guard lk(mu);
        task_ends.push_back(e);
    }
    void on_stage_completed(const scheduler::SparkListenerStageCompleted& e) override {
        std::function<bool(const scheduler::StageInfo&)> hook;
        {
            std::lock_guard lk(mu);
            completed.push_back(e.stage_info);
            hook = on_stage_completed_hook;
        }
        if (hook && hook(e.stage_info)) {
            std::lock_guard lk(mu);
            on_stage_completed_hook = nullptr;
        }
    }
    void on_task_start(const scheduler::SparkListenerTaskStart& e) override {
        std::function<bool(const scheduler::SparkListenerTaskStart&)> hook;
        {
            std::lock_guard lk(mu);
            hook = on_task_start_hook;
        }
        if (hook && hook(e)) {
            std::lock_guard lk(mu);
            on_task_start_hook = nullptr;
        }
    }
};

const AccumulableInfo* find_accumulable(const std::vector<AccumulableInfo>& accs, std::int64_t id) {
    for (const auto& a : accs) {
        if (a.id == id) return &a;
    }
    return nullptr;
}

std::vector<long> range_of(long n) {
    std::vector<long> xs(static_cast<std::size_t>(n));
    std::iota(xs.begin(), xs.end(), 1L);
    return xs;
}

Conf base_conf(const std::string& local_dir) {
    Conf conf;
    conf.set("ember.local.dir", local_dir);
    conf.set("ember.scheduler.revive.interval", "100ms");
    return conf;
}

/// A task's partition, from inside the task.
int partition_id() { return TaskContext::get()->partition_id(); }

}  // namespace

TEST_CASE("The driver validates accumulator updates and drops bad ones without crashing", "[scheduler][accumulator]") {
    SparkContext sc("local[1]", "acc-validate");
    auto total = sc.long_accumulator("total");
    auto other = sc.double_accumulator("other");
    auto good = encode(LongAccumulatorState{5, 2});
    const auto& tag = scheduler::TypedAccumulator<LongAccumulatorState>().type_tag();
    using scheduler::AccumulatorUpdate;
    using scheduler::AccumulatorContext;
    // Unknown id, wrong type, malformed and truncated bytes, trailing bytes: all dropped.
    std::vector<AccumulatorUpdate> bad{{999999, tag, good},
                                       {total.id(), other.state().count == 0 ? "d" : "x", good},
                                       {total.id(), tag, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"},
                                       {total.id(), tag, good.substr(0, 1)},
                                       {total.id(), tag, good + "zz"}};
    CHECK(AccumulatorContext::merge_updates(bad, false, "TID 1").empty());
    CHECK(total.value() == 0);
    CHECK(total.count() == 0);
    // A failed task's update of an accumulator that does not count failed values: dropped.
    CHECK(AccumulatorContext::merge_updates({{total.id(), tag, good}}, true, "TID 2").empty());
    CHECK(total.value() == 0);
    // A good one merges and is reported with the task's update and the merged value.
    total.add(10);  // on the driver: its own value
    auto infos = AccumulatorContext::merge_updates({{total.id(), tag, good}}, false, "TID 3");
    REQUIRE(infos.size() == 1);
    CHECK(infos[0].name == "total");
    CHECK(infos[0].update == "5");
    CHECK(infos[0].value == "15");
    CHECK(total.value() == 15);
    CHECK(total.count() == 3);
    CHECK(total.avg() == Approx(5.0));
    // Unnamed accumulators merge but are not shown; zero updates are not shown either.
    auto hidden = sc.long_accumulator();
    CHECK(AccumulatorContext::merge_updates({{hidden.id(), tag, good}}, false, "TID 4").empty());
    CHECK(hidden.value() == 5);
    CHECK(AccumulatorContext::merge_updates({{total.id(), tag, encode(LongAccumulatorState{})}}, false, "TID 5")
              .empty());
    // An unregistered handle says so.
    CHECK_THROWS_AS(LongAccumulator().add(1), std::logic_error);
    // Display strings follow Scala's toString.
    CHECK(detail::java_double_string(10.0) == "10.0");
    CHECK(detail::java_double_string(1.5) == "1.5");
    CHECK(detail::java_double_string(0.1 + 0.2) == "0.30000000000000004");
    CHECK(detail::java_double_string(1e10) == "1.0E10");
    CHECK(detail::display_string(std::vector<int>{1, 2}) == "[1, 2]");
}

TEST_CASE("Long, double, collection and user-defined accumulators sum what tasks add", "[scheduler][accumulator]") {
    for (const char* master : {"local[2]", "local-cluster[2,1,512]"}) {
        CAPTURE(master);
        auto dir = test::fresh_temp_dir("acc-kinds");
        SparkContext sc(master, "acc-kinds", base_conf(dir));
        auto sum = sc.long_accumulator("sum");
        auto half = sc.double_accumulator("half");
        auto seen = sc.collection_accumulator<int>("partitions");
        auto biggest = sc.register_accumulator(MaxAccumulator{}, "max");
        auto words = sc.register_accumulator(DistinctAccumulator{}, "distinct");
        auto xs = range_of(10000);
        // The handles are captured by value: the lambda is trivially copyable and ships as bytes.
        auto n = sc.parallelize(xs, 8)
                     .map([sum, half, biggest, words](long x) {
                         sum.add(x);
                         half.add(static_cast<double>(x) / 2);
                         biggest.add(x);
                         words.add(std::to_string(x % 13));
                         return x;
                     })
                     .map_partitions_with_index([seen](int p, std::vector<long> part) {
                         seen.add(p);
                         return part;
                     })
                     .count();
        CHECK(n == 10000);
        const long expected = 10000L * 10001L / 2;
        CHECK(sum.value() == expected);
        CHECK(sum.count() == 10000);
        CHECK(sum.avg() == Approx(5000.5));
        CHECK(half.value() == Approx(expected / 2.0));
        CHECK(half.count() == 10000);
        CHECK(biggest.value() == 10000);
        CHECK(words.value().size() == 13);
        // Counting how often each partition is computed: once per action.
        auto parts = seen.value();
        std::sort(parts.begin(), parts.end());
        CHECK(parts == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
        CHECK(sum.name() == "sum");
        // A second action over the same (uncached) RDD computes every partition again.
        auto rdd = sc.parallelize(xs, 4).map_partitions([seen](std::vector<long> part) {
            seen.add(100 + partition_id());
            return part;
        });
        rdd.count();
        rdd.count();
        parts = seen.value();
        CHECK(std::count(parts.begin(), parts.end(), 100) == 2);
        CHECK(std::count(parts.begin(), parts.end(), 103) == 2);
        sc.stop();
        fs::remove_all(dir);
    }
}

TEST_CASE("A result task that fails after adding: its update is dropped; count_failed_values counts the attempt",
          "[scheduler][accumulator]") {
    // local[2,4]: local[N] allows no retry (Spark's too).
    for (const char* master : {"local[2,4]", "local-cluster[2,1,512]"}) {
        CAPTURE(master);
        auto dir = test::fresh_temp_dir("acc-fail");
        SparkContext sc(master, "acc-fail", base_conf(dir));
        auto ev = std::make_shared<Events>();
        sc.add_spark_listener(ev);
        auto sum = sc.long_accumulator("sum");
        auto attempts = sc.long_accumulator("records tried", /*count_failed_values=*/true);
        auto xs = range_of(4000);
        auto n = sc.parallelize(xs, 4)
                     .map([sum, attempts](long x) {
                         sum.add(x);
                         attempts.add(1);
                         // The first attempt of partition 1 fails at its third record, after
                         // adding (value() inside a task is the task's own partial value).
                         if (partition_id() == 1 && TaskContext::get()->attempt_number() == 0 && attempts.value() == 3) {
                             throw std::runtime_error("injected failure after adding");
                         }
                         return x;
                     })
                     .count();
        CHECK(n == 4000);
        CHECK(sum.value() == 4000L * 4001L / 2);  // the failed attempt's 3 records are not in it
        CHECK(attempts.value() == 4000 + 3);      // ... but are counted as tried
        {
            std::lock_guard lk(ev->mu);
            int failures = 0;
            for (auto& t : ev->task_ends) {
                if (t.reason == "Success") {
                    // Each success shows both named accumulators: its update and the merged value.
                    auto* a = find_accumulable(t.task_info.accumulables, sum.id());
                    REQUIRE(a);
                    CHECK(a->name == "sum");
                    CHECK(a->update.has_value());
                    CHECK(a->value.has_value());
                    continue;
                }
                ++failures;
                CHECK_THAT(t.reason, Catch::Contains("injected failure"));
                CHECK(find_accumulable(t.task_info.accumulables, sum.id()) == nullptr);
                auto* a = find_accumulable(t.task_info.accumulables, attempts.id());
                REQUIRE(a);
                CHECK(a->update == "3");
                CHECK(a->count_failed_values);
            }
            CHECK(failures == 1);
            REQUIRE(!ev->completed.empty());
            auto* s = find_accumulable(ev->completed.back().accumulables, sum.id());
            REQUIRE(s);
            CHECK(s->value == std::to_string(4000L * 4001L / 2));
            CHECK(!s->update);
        }
        sc.stop();
        fs::remove_all(dir);
    }
}

TEST_CASE("A result stage counts each partition once when an executor is SIGKILLed mid-stage",
          "[scheduler][accumulator][sigkill]") {
    auto dir = test::fresh_temp_dir("acc-kill");
    SparkContext sc("local-cluster[2,1,512]", "acc-kill", base_conf(dir));
    auto ev = std::make_shared<Events>();
    sc.add_spark_listener(ev);
    std::atomic<bool> killed{false};
    ev->on_task_start_hook = [&](const scheduler::SparkListenerTaskStart& e) {
        if (e.task_info.task_id < 3) return false;  // both executors have finished or run tasks
        int pid = sc.executor_pid("0");
        killed = pid > 0 && ::kill(pid, SIGKILL) == 0;
        return true;
    };
    auto sum = sc.long_accumulator("sum");
    auto per_partition = sc.collection_accumulator<int>("partitions");
    auto xs = range_of(2000);
    auto n = sc.parallelize(xs, 10)
                 .map([sum, per_partition](long x) {
                     std::this_thread::sleep_for(200us);
                     sum.add(x);
                     if (x % 200 == 0) per_partition.add(partition_id());  // once per partition of 200
                     return x;
                 })
                 .count();
    CHECK(n == 2000);
    CHECK(killed);
    CHECK(sum.value() == 2000L * 2001L / 2);
    auto parts = per_partition.value();
    std::sort(parts.begin(), parts.end());
    CHECK(parts == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    {
        std::lock_guard lk(ev->mu);
        bool lost = false;
        for (auto& t : ev->task_ends) lost |= t.reason.find("ExecutorLostFailure") != std::string::npos;
        CHECK(lost);
    }
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("A map stage recomputed after an executor loss counts again; the result stage once",
          "[scheduler][accumulator][sigkill]") {
    auto dir = test::fresh_temp_dir("acc-map");
    SparkContext sc("local-cluster[2,1,512]", "acc-map", base_conf(dir));
    auto ev = std::make_shared<Events>();
    sc.add_spark_listener(ev);
    std::atomic<bool> killed{false};
    ev->on_stage_completed_hook = [&](const scheduler::StageInfo& s) {
        if (!s.is_shuffle_map) return false;
        int pid = sc.executor_pid("1");
        killed = pid > 0 && ::kill(pid, SIGKILL) == 0;
        return true;
    };
    auto map_records = sc.long_accumulator("map records");
    auto reduced_keys = sc.long_accumulator("reduced keys");
    auto xs = range_of(4000);
    auto out = sc.parallelize(xs, 8)
                   .map([map_records](long x) {
                       std::this_thread::sleep_for(50us);
                       map_records.add(1);
                       return std::make_pair(x % 101, x);
                   })
                   .reduce_by_key([](long a, long b) { return a + b; }, 4)
                   .map([reduced_keys](std::pair<long, long> kv) {
                       reduced_keys.add(1);
                       return kv;
                   })
                   .collect();
    CHECK(killed);
    std::map<long, long> expected;
    for (long x : xs) expected[x % 101] += x;
    CHECK(std::map<long, long>(out.begin(), out.end()) == expected);
    // The result stage's updates count exactly once per partition.
    CHECK(reduced_keys.value() == 101);
    // Spark: "each task's update may be applied more than once if tasks or job stages are
    // re-executed": every successful map task counted, the re-run ones again.
    std::int64_t from_tasks = 0;
    int map_successes = 0;
    {
        std::lock_guard lk(ev->mu);
        for (auto& t : ev->task_ends) {
            if (t.task_type != "ShuffleMapTask" || t.reason != "Success") continue;
            ++map_successes;
            auto* a = find_accumulable(t.task_info.accumulables, map_records.id());
            REQUIRE(a);
            from_tasks += std::stoll(*a->update);
        }
    }
    CHECK(map_successes > 8);
    CHECK(map_records.value() == from_tasks);
    CHECK(map_records.value() > 4000);
    CHECK(map_records.count() == map_records.value());
    sc.stop();
    fs::remove_all(dir);
}

TEST_CASE("The event log and the REST API show named accumulators as Spark's", "[scheduler][accumulator][status]") {
    auto dir = test::fresh_temp_dir("acc-log");
    auto events_dir = dir + "/events";
    fs::create_directories(events_dir);
    Conf conf = base_conf(dir);
    conf.set("ember.eventLog.enabled", "true");
    conf.set("ember.eventLog.dir", events_dir);
    conf.set("ember.ui.port", "0");
    SparkContext sc("local-cluster[2,1,512]", "acc-log", conf);
    auto records = sc.long_accumulator("records");
    auto hidden = sc.long_accumulator();  // unnamed: not shown anywhere
    auto xs = range_of(1000);
    auto n = sc.parallelize(xs, 4)
                 .map([records, hidden](long x) {
                     records.add(1);
                     hidden.add(1);
                     return x;
                 })
                 .count();
    CHECK(n == 1000);
    CHECK(records.value() == 1000);
    CHECK(hidden.value() == 1000);

    // Live REST: stage 0 lists the accumulator with its merged value, its tasks their updates.
    auto url = sc.ui_web_url();
    REQUIRE(url);
    auto port = static_cast<std::uint16_t>(std::stoi(url->substr(url->rfind(':') + 1)));
    const std::string stage_path = "/api/v1/applications/" + sc.app_id() + "/stages/0/0?details=true";
    json::value stage;
    REQUIRE(test::wait_until(
        [&] {
            auto a = test::http_get(port, stage_path);
            if (a.status != 200) return false;
            stage = json::parse(a.body);
            return stage.at("status") == "COMPLETE";
        },
        10s));
    auto check_stage = [&](const json::value& st) {
        INFO(json::serialize(st));
        auto& accs = st.at("accumulatorUpdates").as_array();
        REQUIRE(accs.size() == 1);
        CHECK(accs[0].at("id").to_number<std::int64_t>() == records.id());
        CHECK(accs[0].at("name") == "records");
        CHECK(accs[0].at("value") == "1000");
        CHECK(!accs[0].as_object().contains("update"));
        std::int64_t updates = 0;
        for (auto& [tid, t] : st.at("tasks").as_object()) {
            auto& ta = t.at("accumulatorUpdates").as_array();
            REQUIRE(ta.size() == 1);
            CHECK(ta[0].at("name") == "records");
            updates += std::stoll(std::string(ta[0].at("update").as_string()));
        }
        CHECK(updates == 1000);
    };
    check_stage(stage);
    sc.stop();

    // The event log: Spark's "Accumulables" in Task Info and Stage Info.
    auto path = sc.event_log_path();
    REQUIRE(path);
    std::ifstream in(*path);
    std::string line;
    int task_ends = 0, stage_completed = 0;
    std::int64_t updates = 0;
    while (std::getline(in, line)) {
        auto v = json::parse(line);
        auto ev = v.at("Event").as_string();
        if (ev == "SparkListenerTaskEnd") {
            ++task_ends;
            auto& accs = v.at("Task Info").at("Accumulables").as_array();
            REQUIRE(accs.size() == 1);
            CHECK(accs[0].at("ID").to_number<std::int64_t>() == records.id());
            CHECK(accs[0].at("Name") == "records");
            CHECK(accs[0].at("Internal") == false);
            CHECK(accs[0].at("Count Failed Values") == false);
            updates += std::stoll(std::string(accs[0].at("Update").as_string()));
            CHECK(accs[0].at("Value").is_string());
        } else if (ev == "SparkListenerStageCompleted") {
            ++stage_completed;
            auto& accs = v.at("Stage Info").at("Accumulables").as_array();
            REQUIRE(accs.size() == 1);
            CHECK(accs[0].at("Name") == "records");
            CHECK(accs[0].at("Value") == "1000");
            CHECK(!accs[0].as_object().contains("Update"));
        }
    }
    CHECK(task_ends == 4);
    CHECK(stage_completed == 1);
    CHECK(updates == 1000);

    // Replayed (as the History Server does), the REST API answers the same.
    auto store = std::make_shared<status::AppStatusStore>();
    auto listener = store->listener();
    scheduler::replay_event_log(*path, *listener, false);
    status::SingleApplicationSource source(store);
    auto replayed = status::handle_api_v1(source, "/applications/" + sc.app_id() + "/stages/0/0", {{"details", "true"}},
                                          "test");
    REQUIRE(replayed.status == 200);
    check_stage(json::parse(replayed.body));
    fs::remove_all(dir);
}

TEST_CASE("A speculative copy that wins and its straggler that also finishes count once",
          "[scheduler][accumulator][speculation]") {
    auto dir = test::fresh_temp_dir("acc-spec");
    auto conf = base_conf(dir);
    conf.set("ember.speculation", "true");
    SparkContext sc("local-cluster[2,1,512]", "acc-spec", conf);
    auto ev = std::make_shared<Events>();
    sc.add_spark_listener(ev);
    auto sum = sc.long_accumulator("sum");
    auto tries = sc.long_accumulator("tries", /*count_failed_values=*/true);
    std::vector<long> xs{1, 2, 3, 4, 5, 6, 7, 8};
    auto n = sc.parallelize(xs, 8)
                 .map([sum, tries](long x) {
                     auto* tc = TaskContext::get();
                     // The straggler sleeps without checking for a kill, then adds and finishes:
                     // its copy has won by then.
                     bool straggler = tc->partition_id() == 2 && tc->attempt_number() == 0;
                     std::this_thread::sleep_for(straggler ? 1500ms : 60ms);
                     sum.add(x);
                     tries.add(1);
                     return x;
                 })
                 .count();
    CHECK(n == 8);
    // Wait for the straggler's end: its update (if any) has been handled by then.
    REQUIRE(test::wait_until(
        [&] {
            std::lock_guard lk(ev->mu);
            for (auto& t : ev->task_ends) {
                if (t.task_info.index == 2 && t.task_info.attempt == 0) return true;
            }
            return false;
        },
        20s));
    std::this_thread::sleep_for(100ms);
    {
        std::lock_guard lk(ev->mu);
        bool speculated = false;
        for (auto& t : ev->task_ends) {
            speculated |= t.task_info.speculative && t.reason == "Success";
        }
        CHECK(speculated);
    }
    // Spark: a result task's duplicate success never counts, not even for accumulators that
    // count failed values (the straggler never checks for its kill, so it finishes: a duplicate).
    CHECK(tries.value() == 8);
    sc.stop();
    fs::remove_all(dir);
}
