// SPDX-License-Identifier: Apache-2.0
// The driver's web UI and REST API over real HTTP while a multi-stage job runs on local-cluster
// (an executor is SIGKILLed in the middle), then the job's event log replayed by a real
// ember-history-server process, whose /api/v1 answers must equal what the live driver answered
// at the end of the job.
#include "scheduler/ember.hpp"
#include "test/support/http_get.hpp"
#include "test/support/process.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace ember;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;

extern char** environ;

namespace {

std::uint16_t port_of(const std::string& url) {
    return static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
}

json::value get_json(std::uint16_t port, const std::string& target) {
    auto a = test::http_get(port, target);
    INFO(target << " -> " << a.status << "\n" << a.body);
    REQUIRE(a.status == 200);
    REQUIRE(a.headers.find("application/json") != std::string::npos);
    return json::parse(a.body);
}

/// The fields of an executor that the event log must reproduce (its liveness changes at stop).
json::array executor_counts(const json::value& execs) {
    json::array out;
    for (auto& e : execs.as_array()) {
        auto& o = e.as_object();
        out.push_back(json::object{{"id", o.at("id")},
                                   {"totalCores", o.at("totalCores")},
                                   {"completedTasks", o.at("completedTasks")},
                                   {"failedTasks", o.at("failedTasks")},
                                   {"totalTasks", o.at("totalTasks")},
                                   {"totalShuffleWrite", o.at("totalShuffleWrite")},
                                   {"hostPort", o.at("hostPort")}});
    }
    return out;
}

/// The path of the first difference between two JSON values ("" if equal), for messages.
std::string first_difference(const json::value& a, const json::value& b, const std::string& path = "") {
    if (a.kind() != b.kind()) return path + " (kinds differ)";
    if (a.is_object()) {
        for (auto& kv : a.as_object()) {
            auto key = std::string(kv.key());
            if (!b.as_object().contains(kv.key())) return path + "." + key + " (missing on the right)";
            auto d = first_difference(kv.value(), b.as_object().at(kv.key()), path + "." + key);
            if (!d.empty()) return d;
        }
        for (auto& kv : b.as_object()) {
            if (!a.as_object().contains(kv.key())) return path + "." + std::string(kv.key()) + " (missing on the left)";
        }
        return "";
    }
    if (a.is_array()) {
        if (a.as_array().size() != b.as_array().size()) return path + " (sizes differ)";
        for (std::size_t i = 0; i < a.as_array().size(); ++i) {
            auto d = first_difference(a.as_array()[i], b.as_array()[i], path + "[" + std::to_string(i) + "]");
            if (!d.empty()) return d;
        }
        return "";
    }
    return a == b ? "" : path + ": " + json::serialize(a) + " vs " + json::serialize(b);
}

#define CHECK_SAME_JSON(a, b)                        \
    do {                                             \
        auto da = (a);                               \
        auto db = (b);                               \
        INFO("first difference: " << first_difference(da, db)); \
        CHECK(first_difference(da, db).empty());     \
    } while (0)

}  // namespace

TEST_CASE("live REST API during a job with a killed executor; the History Server replays the same answers",
          "[status][ui]") {
    auto events = test::fresh_temp_dir("live-ui-events");
    Conf conf;
    conf.set("ember.ui.port", "0");
    conf.set("ember.eventLog.enabled", "true");
    conf.set("ember.eventLog.dir", events);
    // The killed executor's logs are kept there (a failed executor's are): removed at exit.
    conf.set("ember.local.dir", test::fresh_temp_dir("live-ui-local"));
    SparkContext sc("local-cluster[3,1,512]", "live-ui-test", conf);
    auto url = sc.ui_web_url();
    REQUIRE(url);
    const auto port = port_of(*url);
    const std::string app = "/api/v1/applications/" + sc.app_id();

    // The application is listed while it runs, with the driver among its executors.
    auto apps = get_json(port, "/api/v1/applications");
    REQUIRE(apps.as_array().size() == 1);
    CHECK(apps.as_array()[0].at("id").as_string() == sc.app_id().c_str());
    CHECK(apps.as_array()[0].at("attempts").as_array()[0].at("completed") == false);
    // The store hears events on the listener bus's queue thread: a few ms behind the scheduler.
    REQUIRE(test::wait_until([&] { return get_json(port, app + "/executors").as_array().size() == 4; }, 10s));
    auto execs = get_json(port, app + "/executors");
    CHECK(execs.as_array()[0].at("id") == "driver");

    // A multi-stage job slow enough to watch: 12 map tasks of 400 ms, a shuffle, 4 reducers.
    std::vector<long> xs(1200);
    for (long i = 0; i < 1200; ++i) xs[static_cast<std::size_t>(i)] = i;
    auto job = std::async(std::launch::async, [&] {
        return sc.parallelize(xs, 12)
            .map_partitions([](std::vector<long> part) {
                std::this_thread::sleep_for(400ms);
                return part;
            })
            .map([](long x) { return std::make_pair(x % 7, x); })
            .reduce_by_key([](long a, long b) { return a + b; }, 4)
            .collect();
    });
    REQUIRE(test::wait_until(
        [&] {
            auto running = get_json(port, app + "/jobs?status=running");
            return !running.as_array().empty();
        },
        20s));
    REQUIRE(test::wait_until(
        [&] { return !get_json(port, app + "/stages?status=active").as_array().empty(); }, 10s));
    auto active = get_json(port, app + "/stages?status=active");
    CHECK(active.as_array()[0].at("status") == "ACTIVE");
    auto pending = get_json(port, app + "/stages?status=pending");
    CHECK(pending.as_array().size() == 1);  // the reduce stage waits for the map stage

    // Lose an executor in the middle of the map stage.
    int victim = sc.executor_pid("1");
    REQUIRE(victim > 0);
    ::kill(victim, SIGKILL);

    auto result = job.get();
    std::map<long, long> want;
    for (long x : xs) want[x % 7] += x;
    REQUIRE(std::map<long, long>(result.begin(), result.end()) == want);

    REQUIRE(test::wait_until(
        [&] { return get_json(port, app + "/jobs?status=succeeded").as_array().size() == 1; }, 10s));
    auto jobs = get_json(port, app + "/jobs");
    REQUIRE(jobs.as_array().size() == 1);
    auto& j = jobs.as_array()[0].as_object();
    CHECK(j.at("status") == "SUCCEEDED");
    CHECK(j.at("numCompletedStages").to_number<int>() >= 2);
    auto all = get_json(port, app + "/allexecutors");
    bool dead_seen = false;
    for (auto& e : all.as_array()) {
        if (e.at("id") == "1") {
            dead_seen = true;
            CHECK(e.at("isActive") == false);
            CHECK(e.as_object().contains("removeReason"));
        }
    }
    CHECK(dead_seen);
    auto stages = get_json(port, app + "/stages?details=true");
    auto live_jobs = jobs;
    auto live_execs = executor_counts(all);
    auto live_stage0 = get_json(port, app + "/stages/0");
    auto summary = get_json(port, app + "/stages/1/0/taskSummary");
    CHECK(summary.as_object().contains("quantiles"));
    // Pages and metrics answer too.
    CHECK(test::http_get(port, "/jobs/").status == 200);
    CHECK(test::http_get(port, "/").status == 302);
    CHECK(test::http_get(port, "/no/such/page").status == 404);
    auto prom = test::http_get(port, "/metrics/executors/prometheus");
    CHECK(prom.body.find("metrics_executor_completedTasks_total{") != std::string::npos);
    auto driver_prom = test::http_get(port, "/metrics/prometheus");
    CHECK(driver_prom.body.find("ember_tasks_total{") != std::string::npos);

    const std::string app_id = sc.app_id();
    sc.stop();
    REQUIRE(fs::exists(fs::path(events) / app_id));
    REQUIRE_FALSE(fs::exists(fs::path(events) / (app_id + ".inprogress")));

    // The History Server, a real process, over the same directory.
    const char* hs = std::getenv("EMBER_HISTORY_SERVER");
    REQUIRE(hs);
    auto hport = test::free_port();
    std::vector<std::string> args{hs, "--dir", events, "--port", std::to_string(hport)};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    REQUIRE(posix_spawn(&pid, hs, nullptr, nullptr, argv.data(), environ) == 0);
    struct Reaper {
        pid_t pid;
        ~Reaper() {
            ::kill(pid, SIGTERM);
            int st = 0;
            ::waitpid(pid, &st, 0);
        }
    } reaper{pid};
    REQUIRE(test::wait_until([&] { return test::http_get(hport, "/api/v1/version").status == 200; }, 20s));
    auto happs = get_json(hport, "/api/v1/applications");
    REQUIRE(happs.as_array().size() == 1);
    CHECK(happs.as_array()[0].at("attempts").as_array()[0].at("completed") == true);
    CHECK_SAME_JSON(get_json(hport, app + "/jobs"), live_jobs);
    CHECK_SAME_JSON(get_json(hport, app + "/stages?details=true"), stages);
    CHECK_SAME_JSON(get_json(hport, app + "/stages/0"), live_stage0);
    CHECK_SAME_JSON(json::value(executor_counts(get_json(hport, app + "/allexecutors"))), json::value(live_execs));
    CHECK(test::http_get(hport, "/history/" + app_id + "/jobs/").status == 200);
    CHECK(test::http_get(hport, "/history/no-such-app/jobs/").status == 404);
}
