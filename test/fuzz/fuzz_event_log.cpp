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
//
// Byte mutations rarely keep a line valid JSON, so half the mutations of a plain log are made on
// its JSON instead (LLVMFuzzerCustomMutator below): one line is parsed, and one of its values is
// replaced by a value at the edge of a type (+-2^63, 2^31, 2^64-1, -1, a huge double, another
// type), a key is dropped, or the line is repeated elsewhere.
#include "scheduler/status/replay.hpp"
#include "test/fuzz/fuzz_support.hpp"
#include "test/fuzz/status_fuzz_support.hpp"

#include <boost/json.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

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

// Every scalar value (and container) in `v`, for the JSON mutator; object members by key too.
void collect(boost::json::value& v, std::vector<boost::json::value*>& values,
             std::vector<std::pair<boost::json::object*, std::string>>& keys) {
    values.push_back(&v);
    if (auto* o = v.if_object()) {
        for (auto& kv : *o) {
            keys.emplace_back(o, std::string(kv.key()));
            collect(kv.value(), values, keys);
        }
    } else if (auto* a = v.if_array()) {
        for (auto& e : *a) collect(e, values, keys);
    }
}

// One JSON-aware mutation of a plain log's text (without byte 0); "" if it cannot make one.
std::string mutate_json(std::string_view text, std::minstd_rand& rng) {
    std::vector<std::string_view> lines;
    for (std::size_t pos = 0; pos < text.size();) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        lines.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    if (lines.empty()) return {};
    std::size_t pick = rng() % lines.size();
    std::string out_line;
    if (rng() % 8 == 0) {
        // Repeat a line elsewhere (a task ending twice, a stage submitted again, ...).
        lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(rng() % (lines.size() + 1)), lines[pick]);
    } else {
        boost::system::error_code ec;
        boost::json::value v = boost::json::parse(lines[pick], ec);
        if (ec) return {};
        std::vector<boost::json::value*> values;
        std::vector<std::pair<boost::json::object*, std::string>> keys;
        collect(v, values, keys);
        if (!keys.empty() && rng() % 6 == 0) {
            auto& [o, k] = keys[rng() % keys.size()];
            o->erase(k);
        } else {
            // Not the line's own object (values[0]) unless it is all there is.
            boost::json::value& target = *values[values.size() > 1 ? 1 + rng() % (values.size() - 1) : 0];
            switch (rng() % 16) {
                case 0: target = std::numeric_limits<std::int64_t>::min(); break;
                case 1: target = std::numeric_limits<std::int64_t>::max(); break;
                case 2: target = std::numeric_limits<std::uint64_t>::max(); break;
                case 3: target = std::int64_t{std::numeric_limits<int>::max()}; break;
                case 4: target = std::int64_t{std::numeric_limits<int>::max()} + 1; break;
                case 5: target = std::int64_t{std::numeric_limits<int>::min()}; break;
                case 6: target = -1; break;
                case 7: target = 0; break;
                case 8: target = 1e300; break;
                case 9: target = -0.5; break;
                case 10: target = ""; break;
                case 11: target = nullptr; break;
                case 12: target = true; break;
                case 13: target = boost::json::array{}; break;
                case 14: target = boost::json::object{}; break;
                default: target = *values[rng() % values.size()]; break;  // another value of the line
            }
        }
        out_line = boost::json::serialize(v);
        lines[pick] = out_line;
    }
    std::string out;
    for (auto l : lines) {
        out.append(l);
        out += '\n';
    }
    return out;
}

}  // namespace

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                               unsigned int seed) {
    std::minstd_rand rng(seed);
    const bool plain = size > 1 && (data[0] & 3) != 1 && (data[0] & 3) != 2;
    if (plain && rng() % 2 == 0) {
        std::string text = mutate_json(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), rng);
        if (!text.empty() && text.size() + 1 <= max_size) {
            std::memcpy(data + 1, text.data(), text.size());
            return text.size() + 1;
        }
    }
    return LLVMFuzzerMutate(data, size, max_size);
}

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
