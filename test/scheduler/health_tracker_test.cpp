// SPDX-License-Identifier: Apache-2.0
// excludeOnFailure without processes (issue 11, part 5): TaskSetExcludelist and HealthTracker
// driven with a fake clock, checked against Spark 3.3's documented thresholds (task, stage and
// application levels, the timeout, fetch failures) and its listener events; the configuration
// checks of Spark's validateExcludeOnFailureConfs; the events' JSON and the /api/v1 executor
// fields they set.
#include "scheduler/health_tracker.hpp"
#include "scheduler/listener.hpp"
#include "scheduler/status/api_v1.hpp"
#include "scheduler/status/app_status_store.hpp"
#include "scheduler/status/json_protocol.hpp"

#include <boost/json.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ember;
using namespace ember::scheduler;

namespace {

/// Exclusion events in delivery order, as "<kind> <id> <count> [<stage>.<attempt>]".
struct Recorder : SparkListener {
    std::mutex mu;
    std::vector<std::string> events;
    void add(std::string s) {
        std::lock_guard lk(mu);
        events.push_back(std::move(s));
    }
    void on_executor_excluded(const SparkListenerExecutorExcluded& e) override {
        add("ExecutorExcluded " + e.executor_id + " " + std::to_string(e.task_failures));
    }
    void on_executor_unexcluded(const SparkListenerExecutorUnexcluded& e) override {
        add("ExecutorUnexcluded " + e.executor_id);
    }
    void on_node_excluded(const SparkListenerNodeExcluded& e) override {
        add("NodeExcluded " + e.host_id + " " + std::to_string(e.executor_failures));
    }
    void on_node_unexcluded(const SparkListenerNodeUnexcluded& e) override { add("NodeUnexcluded " + e.host_id); }
    void on_executor_excluded_for_stage(const SparkListenerExecutorExcludedForStage& e) override {
        add("ExecutorExcludedForStage " + e.executor_id + " " + std::to_string(e.task_failures) + " " +
            std::to_string(e.stage_id) + "." + std::to_string(e.stage_attempt_id));
    }
    void on_node_excluded_for_stage(const SparkListenerNodeExcludedForStage& e) override {
        add("NodeExcludedForStage " + e.host_id + " " + std::to_string(e.executor_failures) + " " +
            std::to_string(e.stage_id) + "." + std::to_string(e.stage_attempt_id));
    }
    std::vector<std::string> take() {
        std::lock_guard lk(mu);
        auto out = std::move(events);
        events.clear();
        return out;
    }
};

struct Fixture {
    std::int64_t now = 1'000'000;
    ListenerBus bus;
    std::shared_ptr<Recorder> rec = std::make_shared<Recorder>();
    ExcludeOnFailureSettings settings;
    Fixture() {
        bus.add(rec);  // synchronous: events are there when post() returns
        settings.enabled = true;
    }
    ExcludeClock clock() {
        return [this] { return now; };
    }
};

Conf enabled_conf() {
    Conf c;
    c.set("ember.excludeOnFailure.enabled", "true");
    return c;
}

}  // namespace

TEST_CASE("Spark 3.3's defaults are read, and exclusion is off unless enabled", "[scheduler][exclude]") {
    auto off = ExcludeOnFailureSettings::from_conf(Conf{});
    CHECK_FALSE(off.enabled);
    auto s = ExcludeOnFailureSettings::from_conf(enabled_conf());
    CHECK(s.enabled);
    CHECK(s.max_task_attempts_per_executor == 1);
    CHECK(s.max_task_attempts_per_node == 2);
    CHECK(s.stage_max_failed_tasks_per_executor == 2);
    CHECK(s.stage_max_failed_executors_per_node == 2);
    CHECK(s.app_max_failed_tasks_per_executor == 2);
    CHECK(s.app_max_failed_executors_per_node == 2);
    CHECK(s.timeout_ms == 3'600'000);
    CHECK_FALSE(s.kill_excluded_executors);
    CHECK_FALSE(s.fetch_failure_enabled);
    CHECK(s.unschedulable_task_set_timeout_ms == 120'000);
}

TEST_CASE("The configuration is validated as Spark's validateExcludeOnFailureConfs", "[scheduler][exclude]") {
    SECTION("maxTaskAttemptsPerNode must be below ember.task.maxFailures") {
        auto c = enabled_conf();
        c.set("ember.excludeOnFailure.task.maxTaskAttemptsPerNode", "4");
        CHECK_THROWS_WITH(ExcludeOnFailureSettings::from_conf(c),
                          Catch::Contains("ember.excludeOnFailure.task.maxTaskAttemptsPerNode ( = 4) was >= "
                                          "ember.task.maxFailures ( = 4 )"));
        c.set("ember.task.maxFailures", "5");
        CHECK_NOTHROW(ExcludeOnFailureSettings::from_conf(c));
        // Off: nothing is checked, as in Spark.
        c.set("ember.excludeOnFailure.enabled", "false");
        c.set("ember.task.maxFailures", "1");
        CHECK_NOTHROW(ExcludeOnFailureSettings::from_conf(c));
    }
    SECTION("counts must be positive") {
        auto c = enabled_conf();
        c.set("ember.excludeOnFailure.stage.maxFailedTasksPerExecutor", "0");
        CHECK_THROWS_AS(ExcludeOnFailureSettings::from_conf(c), std::invalid_argument);
        CHECK_THROWS_WITH(ExcludeOnFailureSettings::from_conf(c),
                          "ember.excludeOnFailure.stage.maxFailedTasksPerExecutor was 0, but must be > 0.");
    }
    SECTION("the timeout must be positive") {
        auto c = enabled_conf();
        c.set("ember.excludeOnFailure.timeout", "0");
        CHECK_THROWS_WITH(ExcludeOnFailureSettings::from_conf(c), Catch::Contains("ember.excludeOnFailure.timeout"));
    }
}

TEST_CASE("TaskSetExcludelist: a task is excluded on an executor after one failure, on a node after two",
          "[scheduler][exclude]") {
    Fixture f;
    TaskSetExcludelist ex(f.settings, &f.bus, 3, 1, f.clock());
    CHECK_FALSE(ex.is_executor_excluded_for_task("1", 0));
    ex.update_excluded_for_failed_task("hostA", "1", 0, "boom 1");
    CHECK(ex.is_executor_excluded_for_task("1", 0));
    CHECK_FALSE(ex.is_executor_excluded_for_task("1", 1));   // another task may still run there
    CHECK_FALSE(ex.is_executor_excluded_for_task("2", 0));   // and this task elsewhere
    CHECK_FALSE(ex.is_node_excluded_for_task("hostA", 0));  // one failure on the node
    CHECK_FALSE(ex.is_executor_excluded_for_task_set("1"));
    CHECK(ex.latest_failure_reason() == "boom 1");

    ex.update_excluded_for_failed_task("hostA", "2", 0, "boom 2");
    CHECK(ex.is_node_excluded_for_task("hostA", 0));        // two failures of task 0 on hostA
    CHECK_FALSE(ex.is_node_excluded_for_task("hostB", 0));
    CHECK_FALSE(ex.is_node_excluded_for_task("hostA", 1));
    CHECK(ex.latest_failure_reason() == "boom 2");
    CHECK(f.rec->take().empty());  // no stage-level exclusion yet: one failed task per executor
}

TEST_CASE("TaskSetExcludelist: two failed tasks exclude an executor for the stage, two such executors the node",
          "[scheduler][exclude]") {
    Fixture f;
    TaskSetExcludelist ex(f.settings, &f.bus, 3, 1, f.clock());
    ex.update_excluded_for_failed_task("hostA", "1", 0, "e");
    ex.update_excluded_for_failed_task("hostA", "1", 0, "e");  // the same task again: still one task
    CHECK_FALSE(ex.is_executor_excluded_for_task_set("1"));
    ex.update_excluded_for_failed_task("hostA", "1", 1, "e");
    CHECK(ex.is_executor_excluded_for_task_set("1"));
    CHECK_FALSE(ex.is_node_excluded_for_task_set("hostA"));
    CHECK(f.rec->take() == std::vector<std::string>{"ExecutorExcludedForStage 1 2 3.1"});

    ex.update_excluded_for_failed_task("hostA", "2", 5, "e");
    ex.update_excluded_for_failed_task("hostA", "2", 6, "e");
    CHECK(ex.is_executor_excluded_for_task_set("2"));
    CHECK(ex.is_node_excluded_for_task_set("hostA"));
    CHECK(f.rec->take() ==
          std::vector<std::string>{"ExecutorExcludedForStage 2 2 3.1", "NodeExcludedForStage hostA 2 3.1"});

    // The record handed to the HealthTracker.
    const auto& failures = ex.exec_to_failures();
    REQUIRE(failures.count("1"));
    CHECK(failures.at("1").node == "hostA");
    CHECK(failures.at("1").failures_of(0) == 2);
    CHECK(failures.at("1").unique_tasks_with_failures() == 2);
}

TEST_CASE("Custom thresholds are honoured", "[scheduler][exclude]") {
    Fixture f;
    f.settings.max_task_attempts_per_executor = 2;
    f.settings.stage_max_failed_tasks_per_executor = 3;
    TaskSetExcludelist ex(f.settings, &f.bus, 0, 0, f.clock());
    ex.update_excluded_for_failed_task("h", "1", 0, "e");
    CHECK_FALSE(ex.is_executor_excluded_for_task("1", 0));
    ex.update_excluded_for_failed_task("h", "1", 0, "e");
    CHECK(ex.is_executor_excluded_for_task("1", 0));
    ex.update_excluded_for_failed_task("h", "1", 1, "e");
    CHECK_FALSE(ex.is_executor_excluded_for_task_set("1"));
    ex.update_excluded_for_failed_task("h", "1", 2, "e");
    CHECK(ex.is_executor_excluded_for_task_set("1"));
}

TEST_CASE("HealthTracker: failures of successful task sets exclude an executor until the timeout",
          "[scheduler][exclude]") {
    Fixture f;
    HealthTracker ht(f.settings, &f.bus, f.clock());
    std::vector<std::string> killed;
    ht.set_kill_executor([&](const std::string& e, const std::string&) { killed.push_back(e); });

    // Stage 0: one failed task on executor 1 is not enough.
    TaskSetExcludelist s0(f.settings, &f.bus, 0, 0, f.clock());
    s0.update_excluded_for_failed_task("hostA", "1", 0, "e");
    ht.update_excluded_for_successful_task_set(0, 0, s0.exec_to_failures());
    CHECK_FALSE(ht.is_executor_excluded("1"));
    CHECK(ht.failures_of("1") == 1);

    // Stage 1, ten minutes later: a second distinct failed task excludes it.
    f.now += 600'000;
    TaskSetExcludelist s1(f.settings, &f.bus, 1, 0, f.clock());
    s1.update_excluded_for_failed_task("hostA", "1", 0, "e");
    ht.update_excluded_for_successful_task_set(1, 0, s1.exec_to_failures());
    CHECK(ht.is_executor_excluded("1"));
    CHECK_FALSE(ht.is_node_excluded("hostA"));
    CHECK(f.rec->take() == std::vector<std::string>{"ExecutorExcluded 1 2"});
    CHECK(killed.empty());  // killExcludedExecutors is off

    // Still excluded just before the hour is over, lifted after it.
    f.now += 3'600'000 - 1;
    ht.apply_exclude_on_failure_timeout();
    CHECK(ht.is_executor_excluded("1"));
    f.now += 2;
    ht.apply_exclude_on_failure_timeout();
    CHECK_FALSE(ht.is_executor_excluded("1"));
    CHECK(f.rec->take() == std::vector<std::string>{"ExecutorUnexcluded 1"});
}

TEST_CASE("HealthTracker: failures older than the timeout no longer count", "[scheduler][exclude]") {
    Fixture f;
    f.settings.timeout_ms = 1000;
    HealthTracker ht(f.settings, &f.bus, f.clock());
    TaskSetExcludelist s0(f.settings, &f.bus, 0, 0, f.clock());
    s0.update_excluded_for_failed_task("h", "1", 0, "e");
    ht.update_excluded_for_successful_task_set(0, 0, s0.exec_to_failures());
    f.now += 1001;
    TaskSetExcludelist s1(f.settings, &f.bus, 1, 0, f.clock());
    s1.update_excluded_for_failed_task("h", "1", 0, "e");
    ht.update_excluded_for_successful_task_set(1, 0, s1.exec_to_failures());
    CHECK_FALSE(ht.is_executor_excluded("1"));
    CHECK(ht.failures_of("1") == 1);
}

TEST_CASE("HealthTracker: two excluded executors exclude their node; killExcludedExecutors kills them",
          "[scheduler][exclude]") {
    Fixture f;
    f.settings.kill_excluded_executors = true;
    HealthTracker ht(f.settings, &f.bus, f.clock());
    std::vector<std::string> killed, killed_hosts;
    ht.set_kill_executor([&](const std::string& e, const std::string&) { killed.push_back(e); });
    ht.set_kill_executors_on_host([&](const std::string& h, const std::string&) { killed_hosts.push_back(h); });

    TaskSetExcludelist s(f.settings, &f.bus, 7, 0, f.clock());
    for (const char* e : {"1", "2"}) {
        s.update_excluded_for_failed_task("hostA", e, 0, "x");
        s.update_excluded_for_failed_task("hostA", e, 1, "x");
    }
    s.update_excluded_for_failed_task("hostB", "3", 2, "x");
    f.rec->take();
    ht.update_excluded_for_successful_task_set(7, 0, s.exec_to_failures());
    CHECK(ht.is_executor_excluded("1"));
    CHECK(ht.is_executor_excluded("2"));
    CHECK_FALSE(ht.is_executor_excluded("3"));
    CHECK(ht.is_node_excluded("hostA"));
    CHECK_FALSE(ht.is_node_excluded("hostB"));
    CHECK(ht.excluded_nodes() == std::set<std::string>{"hostA"});
    CHECK(f.rec->take() ==
          std::vector<std::string>{"ExecutorExcluded 1 2", "ExecutorExcluded 2 2", "NodeExcluded hostA 2"});
    CHECK(killed == std::vector<std::string>{"1", "2"});
    CHECK(killed_hosts == std::vector<std::string>{"hostA"});

    f.now += 3'600'001;
    ht.apply_exclude_on_failure_timeout();
    CHECK_FALSE(ht.is_node_excluded("hostA"));
    CHECK(f.rec->take() ==
          std::vector<std::string>{"ExecutorUnexcluded 1", "ExecutorUnexcluded 2", "NodeUnexcluded hostA"});
}

TEST_CASE("HealthTracker: a fetch failure excludes the serving executor only when fetchFailure is enabled",
          "[scheduler][exclude]") {
    Fixture f;
    {
        HealthTracker ht(f.settings, &f.bus, f.clock());
        ht.update_excluded_for_fetch_failure("hostA", "4");
        CHECK_FALSE(ht.is_executor_excluded("4"));
    }
    f.settings.fetch_failure_enabled = true;
    HealthTracker ht(f.settings, &f.bus, f.clock());
    ht.update_excluded_for_fetch_failure("hostA", "4");
    CHECK(ht.is_executor_excluded("4"));
    CHECK(f.rec->take() == std::vector<std::string>{"ExecutorExcluded 4 1"});
}

TEST_CASE("HealthTracker: a removed executor's failure record is dropped", "[scheduler][exclude]") {
    Fixture f;
    HealthTracker ht(f.settings, &f.bus, f.clock());
    TaskSetExcludelist s0(f.settings, &f.bus, 0, 0, f.clock());
    s0.update_excluded_for_failed_task("h", "1", 0, "e");
    ht.update_excluded_for_successful_task_set(0, 0, s0.exec_to_failures());
    ht.handle_removed_executor("1");
    CHECK(ht.failures_of("1") == 0);
}

TEST_CASE("Exclusion events are written as Spark's Jackson-serialized events and read back",
          "[scheduler][exclude][json]") {
    auto j = to_json(SparkListenerExecutorExcluded{123, "7", 2});
    CHECK(j.at("Event").as_string() == "org.apache.spark.scheduler.SparkListenerExecutorExcluded");
    CHECK(j.at("time").as_int64() == 123);
    CHECK(j.at("executorId").as_string() == "7");
    CHECK(j.at("taskFailures").as_int64() == 2);
    auto n = to_json(SparkListenerNodeExcludedForStage{5, "hostA", 2, 3, 1});
    CHECK(n.at("Event").as_string() == "org.apache.spark.scheduler.SparkListenerNodeExcludedForStage");
    CHECK(n.at("hostId").as_string() == "hostA");
    CHECK(n.at("executorFailures").as_int64() == 2);
    CHECK(n.at("stageId").as_int64() == 3);
    CHECK(n.at("stageAttemptId").as_int64() == 1);

    std::vector<SparkListenerEvent> all{
        SparkListenerExecutorExcluded{1, "1", 2},         SparkListenerExecutorUnexcluded{2, "1"},
        SparkListenerNodeExcluded{3, "h", 2},             SparkListenerNodeUnexcluded{4, "h"},
        SparkListenerExecutorExcludedForStage{5, "2", 2, 0, 0}, SparkListenerNodeExcludedForStage{6, "h", 2, 1, 2}};
    for (const auto& e : all) {
        auto json = std::visit([](const auto& ev) { return to_json(ev); }, e);
        auto back = event_from_json(json);
        REQUIRE(back);
        CHECK(back->index() == e.index());
        CHECK(std::visit([](const auto& ev) { return to_json(ev); }, *back) == json);
    }
}

TEST_CASE("/api/v1 executors show isExcluded and excludedInStages from the exclusion events",
          "[scheduler][exclude][status]") {
    constexpr std::int64_t t0 = 1714564800000;
    status::AppStatusStore store;
    auto& l = *store.listener();
    l.on_application_start(SparkListenerApplicationStart{"demo", "app-1", t0, "alice"});
    l.on_executor_added(SparkListenerExecutorAdded{t0 + 1, "0", "hostA", 1});
    l.on_executor_added(SparkListenerExecutorAdded{t0 + 2, "1", "hostA", 1});
    l.on_executor_added(SparkListenerExecutorAdded{t0 + 3, "2", "hostB", 1});
    StageInfo stage;
    stage.stage_id = 4;
    stage.num_tasks = 2;
    stage.name = "map at job.cpp:1";
    stage.submission_time = t0 + 4;
    l.on_stage_submitted(SparkListenerStageSubmitted{stage});

    auto executors = [&] {
        status::SingleApplicationSource src(std::shared_ptr<const status::AppStatusStore>(&store, [](auto*) {}));
        auto r = status::handle_api_v1(src, "/applications/app-1/executors", {}, "0.1.0");
        REQUIRE(r.status == 200);
        std::map<std::string, boost::json::object> by_id;
        auto body = boost::json::parse(r.body);
        for (auto& e : body.as_array()) {
            by_id[std::string(e.at("id").as_string())] = e.as_object();
        }
        return by_id;
    };
    l.on_executor_excluded_for_stage(SparkListenerExecutorExcludedForStage{t0 + 5, "0", 2, 4, 0});
    auto e = executors();
    CHECK(e.at("0").at("excludedInStages") == boost::json::array{4});
    CHECK(e.at("0").at("blacklistedInStages") == boost::json::array{4});
    CHECK(e.at("0").at("isExcluded") == false);
    CHECK(e.at("1").at("excludedInStages") == boost::json::array{});

    l.on_executor_excluded(SparkListenerExecutorExcluded{t0 + 6, "0", 2});
    e = executors();
    CHECK(e.at("0").at("isExcluded") == true);
    CHECK(e.at("0").at("isBlacklisted") == true);
    CHECK(e.at("1").at("isExcluded") == false);

    l.on_node_excluded(SparkListenerNodeExcluded{t0 + 7, "hostA", 2});
    e = executors();
    CHECK(e.at("1").at("isExcluded") == true);
    CHECK(e.at("2").at("isExcluded") == false);

    stage.completion_time = t0 + 8;
    l.on_stage_completed(SparkListenerStageCompleted{stage});
    l.on_node_unexcluded(SparkListenerNodeUnexcluded{t0 + 9, "hostA"});
    e = executors();
    CHECK(e.at("0").at("excludedInStages") == boost::json::array{});
    CHECK(e.at("0").at("isExcluded") == false);
    CHECK(e.at("1").at("isExcluded") == false);
}
