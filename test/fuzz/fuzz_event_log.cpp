// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: an event log file as the History Server replays it (FsHistoryProvider:
// replay_event_log into an AppStatusStore's listener with its unlimited job and stage limits),
// then the store read through /api/v1 as the UI and REST clients read it: the application, its
// jobs and their stage graphs, every stage with details and summaries, a stage's attempts, task
// summary and task lists, the executors, the cached RDDs and the environment. Whoever can write
// the log directory writes these files.
//
// A log that does not parse may make replay throw std::runtime_error naming the line (what the
// History Server logs, skipping the file); anything else escaping replay is a finding. The store
// is queried whether or not the replay finished, and every answer must be well formed
// (check_api_response: 200 with JSON, or a 4xx with a message).
//
// Input: byte 0 picks the file's name, and so its codec and whether it is in progress
// (bits 0-1: 0 and 3 plain "app-1", 1 "app-1.zstd", 2 "app-1.lz4"; bit 2: ".inprogress", replayed
// with maybe_truncated); the rest is the file's content.
#include "scheduler/status/replay.hpp"
#include "test/fuzz/fuzz_support.hpp"
#include "test/fuzz/status_fuzz_support.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>

using namespace ember;
namespace fs = std::filesystem;

namespace {

struct LogDir {
    fs::path root;
    LogDir() {
        // tmpfs when there is one: every run writes the file.
        std::string base =
            fs::is_directory("/dev/shm") ? "/dev/shm" : fs::temp_directory_path().string();
        std::string tmpl = base + "/ember-fuzz-event-log.XXXXXX";
        if (!::mkdtemp(tmpl.data()))
            std::abort();
        root = tmpl;
    }
    ~LogDir() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
};

void write_file(const std::string& path, const std::uint8_t* data, std::size_t n) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        std::abort();
    while (n > 0) {
        ssize_t w = ::write(fd, data, n);
        if (w <= 0)
            std::abort();
        data += w;
        n -= static_cast<std::size_t>(w);
    }
    ::close(fd);
}

void get(const status::ApplicationSource& src, const std::string& path,
         const status::QueryParams& query = {}) {
    fuzz::check_api_response(status::handle_api_v1(src, path, query, "0.1.0"), path);
}

// What the UI and REST clients read of one application.
void query(const std::shared_ptr<const status::AppStatusStore>& store) {
    fuzz::AnyIdSource src(store);
    const std::string app = "/applications/app-1";
    get(src, "/applications");
    get(src, "/applications", {{"status", "completed"}, {"minDate", "2024-05-01"}});
    get(src, app);
    get(src, app + "/jobs");
    get(src, app + "/stages", {{"details", "true"}, {"withSummaries", "true"}});
    get(src, app + "/executors");
    get(src, app + "/allexecutors");
    get(src, app + "/storage/rdd");
    get(src, app + "/environment");

    // A few of each by id: the first and last job, stage attempt and RDD.
    struct Ids {
        std::vector<int> jobs;
        std::vector<std::pair<int, int>> stages;
        std::vector<int> rdds;
    };
    Ids ids = store->read([](const status::AppState& st) {
        Ids out;
        if (!st.jobs.empty()) {
            out.jobs = {st.jobs.begin()->first, st.jobs.rbegin()->first};
        }
        if (!st.stages.empty()) {
            out.stages = {st.stages.begin()->first, st.stages.rbegin()->first};
        }
        if (!st.rdds.empty()) {
            out.rdds = {st.rdds.begin()->first, st.rdds.rbegin()->first};
        }
        return out;
    });
    for (int j : ids.jobs) {
        get(src, app + "/jobs/" + std::to_string(j));
        get(src, app + "/jobs/" + std::to_string(j) + "/stageGraph");
    }
    // (The stage list above already had every attempt with details and summaries.)
    for (auto [s, a] : ids.stages) {
        std::string attempt = app + "/stages/" + std::to_string(s) + "/" + std::to_string(a);
        get(src, attempt + "/taskSummary", {{"quantiles", "0.01,0.5,0.99"}});
        get(src, attempt + "/taskList", {{"sortBy", "-DURATION"}, {"length", "50"}});
    }
    if (!ids.stages.empty()) {
        auto [s, a] = ids.stages.back();
        std::string stage = app + "/stages/" + std::to_string(s);
        get(src, stage);
        get(src, stage + "/" + std::to_string(a), {{"taskStatus", "SUCCESS"}});
        get(src, stage + "/" + std::to_string(a) + "/taskList", {{"sortBy", "runtime"}, {"status", "failed,killed"}});
    }
    for (int r : ids.rdds)
        get(src, app + "/storage/rdd/" + std::to_string(r));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static LogDir dir;
    fuzz::Selector in(data, size);
    static const char* const codecs[] = {"", ".zstd", ".lz4", ""};
    const bool in_progress = (in.which & 4) != 0;
    std::string path = (dir.root / "app-1").string() + codecs[in.which & 3] +
                       (in_progress ? ".inprogress" : "");
    write_file(path, in.rest.data(), in.rest.size());

    // The History Server keeps everything of an application it shows.
    status::StoreLimits unlimited;
    unlimited.retained_jobs = unlimited.retained_stages = std::numeric_limits<std::size_t>::max() / 2;
    auto store = std::make_shared<status::AppStatusStore>(unlimited);
    try {
        auto r = scheduler::replay_event_log(path, *store->listener(), in_progress);
        if (!r.spark_version.empty())
            store->set_app_version(r.spark_version);
    } catch (const std::runtime_error&) {
        // A bad line, corrupt compressed data: the History Server logs it and skips the file.
    }
    query(store);
    ::unlink(path.c_str());
    return 0;
}
