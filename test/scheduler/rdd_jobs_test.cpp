// SPDX-License-Identifier: Apache-2.0
// The Rdd API end to end, in local[2] and on a local cluster of executor processes: results,
// stage structure, closures that carry values, and task failures.
#include "apps/wordcount/words.hpp"
#include "scheduler/ember.hpp"
#include "test/support/process.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/wait_until.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

using namespace ember;
using ember::scheduler::SparkListener;

namespace {

/// Records stage completions and job starts.
struct Recorder : SparkListener {
    std::mutex mu;
    std::vector<scheduler::StageInfo> completed;
    std::vector<scheduler::SparkListenerJobStart> jobs;
    void on_stage_completed(const scheduler::SparkListenerStageCompleted& e) override {
        std::lock_guard lk(mu);
        completed.push_back(e.stage_info);
    }
    void on_job_start(const scheduler::SparkListenerJobStart& e) override {
        std::lock_guard lk(mu);
        jobs.push_back(e);
    }
};

struct Threshold {
    int min = 0;
    bool operator()(int x) const { return x >= min; }
    EMBER_SERDE(min)
};

std::string master_for(const std::string& which) {
    return which == "cluster" ? "local-cluster[2,1,512]" : "local[2]";
}

}  // namespace

TEST_CASE("Narrow transformations and actions give the single-process answers", "[scheduler][rdd]") {
    for (std::string which : {"local", "cluster"}) {
        SECTION(which) {
            SparkContext sc(master_for(which), "rdd-test");
            std::vector<int> data(1000);
            std::iota(data.begin(), data.end(), 0);
            auto rdd = sc.parallelize(data, 7);
            CHECK(rdd.num_partitions() == 7);
            CHECK(rdd.count() == 1000);
            auto squares = rdd.map([](int x) { return static_cast<std::int64_t>(x) * x; }).collect();
            REQUIRE(squares.size() == 1000);
            for (int i = 0; i < 1000; ++i) CHECK(squares[static_cast<std::size_t>(i)] == static_cast<std::int64_t>(i) * i);
            auto odd = rdd.filter([](int x) { return x % 2 == 1; });
            CHECK(odd.count() == 500);
            CHECK(odd.reduce([](int a, int b) { return a + b; }) == 250000);
            int min = 990;  // a captured number travels with the task
            CHECK(rdd.filter([min](int x) { return x >= min; }).count() == 10);
            CHECK(rdd.filter(Threshold{995}).count() == 5);
            std::string needle = "7";
            auto with7 = rdd.map([](int x) { return std::to_string(x); })
                             .filter(ember::bind([](const std::string& n, const std::string& s) {
                                 return s.find(n) != std::string::npos;
                             }, needle));
            CHECK(with7.count() == 271);  // numbers below 1000 containing the digit 7
            auto words = sc.parallelize(std::vector<std::string>{"a b", "", "c  d e"}, 2)
                             .flat_map([](const std::string& s) {
                                 std::vector<std::string> out;
                                 std::string cur;
                                 for (char c : s + " ") {
                                     if (c == ' ') {
                                         if (!cur.empty()) out.push_back(cur);
                                         cur.clear();
                                     } else {
                                         cur += c;
                                     }
                                 }
                                 return out;
                             })
                             .collect();
            CHECK(words == std::vector<std::string>{"a", "b", "c", "d", "e"});
            CHECK(rdd.top(3) == std::vector<int>{999, 998, 997});
            CHECK(rdd.take_ordered(2) == std::vector<int>{0, 1});
            auto sum = rdd.aggregate(std::int64_t{0}, [](std::int64_t acc, int x) { return acc + x; },
                                     [](std::int64_t a, std::int64_t b) { return a + b; });
            CHECK(sum == 499500);
            CHECK_THROWS_WITH(sc.parallelize(std::vector<int>{}, 2).reduce([](int a, int b) { return a + b; }),
                              "empty collection");
        }
    }
}

TEST_CASE("reduce_by_key and group_by_key shuffle into two stages, reused by later jobs", "[scheduler][rdd][shuffle]") {
    for (std::string which : {"local", "cluster"}) {
        SECTION(which) {
            SparkContext sc(master_for(which), "shuffle-test");
            auto rec = std::make_shared<Recorder>();
            sc.add_spark_listener(rec);
            std::vector<std::pair<std::string, int>> pairs;
            std::map<std::string, int> expected;
            std::map<std::string, std::vector<int>> grouped;
            for (int i = 0; i < 5000; ++i) {
                std::string k = "k" + std::to_string(i % 97);
                pairs.emplace_back(k, i);
                expected[k] += i;
                grouped[k].push_back(i);
            }
            auto sums = sc.parallelize(pairs, 6).reduce_by_key([](int a, int b) { return a + b; }, 4);
            CHECK(sums.num_partitions() == 4);
            auto got = sums.collect();
            CHECK(std::map<std::string, int>(got.begin(), got.end()) == expected);
            {
                std::lock_guard lk(rec->mu);
                REQUIRE(rec->completed.size() == 2);
                CHECK(rec->completed[0].is_shuffle_map);
                CHECK(rec->completed[0].num_tasks == 6);
                CHECK(rec->completed[1].num_tasks == 4);
                CHECK(rec->completed[0].metrics.shuffle_write.bytes_written > 0);
                auto read = rec->completed[1].metrics.shuffle_read;
                CHECK(read.local_bytes_read + read.remote_bytes_read == rec->completed[0].metrics.shuffle_write.bytes_written);
                if (which == "cluster") CHECK(read.remote_bytes_read > 0);
                rec->completed.clear();
            }
            // A second action reuses the map output: only the result stage runs. As in Spark, the
            // first job's stages were forgotten when it ended, so the skipped map stage is a new
            // stage (a new id) over the same shuffle.
            CHECK(sums.count() == 97);
            {
                std::lock_guard lk(rec->mu);
                REQUIRE(rec->completed.size() == 1);
                CHECK_FALSE(rec->completed[0].is_shuffle_map);
                REQUIRE(rec->jobs.size() == 2);
                REQUIRE(rec->jobs.back().stage_infos.size() == 2);  // the skipped map stage is listed
                for (auto& first : rec->jobs.front().stage_infos) {
                    for (auto& second : rec->jobs.back().stage_infos) CHECK(first.stage_id != second.stage_id);
                }
            }
            auto groups = sc.parallelize(pairs, 3).group_by_key(5).collect();
            REQUIRE(groups.size() == 97);
            for (auto& [k, vs] : groups) {
                std::sort(vs.begin(), vs.end());
                CHECK(vs == grouped[k]);
            }
            // Once its jobs ended, the driver holds no stage of theirs: dropping the last handle
            // frees the lineage, parallelize's slices included, however many jobs ran before.
            std::weak_ptr<scheduler::RddBase> input;
            {
                auto data = sc.parallelize(pairs, 2);
                input = data.node();
                auto once = data.reduce_by_key([](int a, int b) { return a + b; }, 2);
                CHECK(once.count() == 97);
                CHECK(once.count() == 97);
            }
            CHECK(input.expired());
        }
    }
}

namespace {

/// Map output files (data, index, checksum) of shuffle `shuffle_id` under `dir`.
int shuffle_files(const std::string& dir, int shuffle_id) {
    const std::string prefix = "shuffle_" + std::to_string(shuffle_id) + "_";
    int n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (it->path().filename().string().starts_with(prefix)) ++n;
    }
    return n;
}

template <class T>
int shuffle_id_of(const Rdd<T>& rdd) {
    return rdd.node()->shuffle_dependencies().at(0)->shuffle_id();
}

}  // namespace

TEST_CASE("A shuffle's files go once the driver holds no reference to it (ContextCleaner)",
          "[scheduler][rdd][shuffle]") {
    for (std::string which : {"local", "cluster", "local, reference tracking off"}) {
        SECTION(which) {
            const bool tracking = which != "local, reference tracking off";
            Conf conf;
            const std::string dir =
                ember::test::fresh_temp_dir(which == "cluster" ? "cleaner-cluster" : tracking ? "cleaner-local" : "cleaner-off");
            conf.set("ember.local.dir", dir).set("ember.cleaner.referenceTracking", tracking ? "true" : "false");
            SparkContext sc(which == "cluster" ? master_for("cluster") : master_for("local"), "cleaner-test", conf);
            auto rec = std::make_shared<Recorder>();
            sc.add_spark_listener(rec);
            std::vector<std::pair<int, int>> pairs;
            for (int i = 0; i < 3000; ++i) pairs.emplace_back(i % 40, i);
            auto add = [](int a, int b) { return a + b; };

            auto kept = sc.parallelize(pairs, 3).reduce_by_key(add, 2);
            CHECK(kept.count() == 40);
            const int kept_id = shuffle_id_of(kept);
            const int kept_files = shuffle_files(dir, kept_id);
            CHECK(kept_files >= 6);  // three map outputs, a data and an index file each
            int dropped_id = -1;
            {
                auto dropped = sc.parallelize(pairs, 3).reduce_by_key(add, 2);
                CHECK(dropped.count() == 40);
                CHECK(dropped.map_values([](int v) { return v + 1; }).count() == 40);  // reuses the shuffle
                dropped_id = shuffle_id_of(dropped);
                CHECK(shuffle_files(dir, dropped_id) == kept_files);
            }
            if (tracking) {
                CHECK(ember::test::wait_until([&] { return shuffle_files(dir, dropped_id) == 0; }));
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(300));
                CHECK(shuffle_files(dir, dropped_id) == kept_files);
            }
            // The shuffle still referenced keeps its files and outputs: its map stage is skipped.
            CHECK(shuffle_files(dir, kept_id) == kept_files);
            {
                std::lock_guard lk(rec->mu);
                rec->completed.clear();
            }
            CHECK(kept.count() == 40);
            std::lock_guard lk(rec->mu);
            REQUIRE(rec->completed.size() == 1);
            CHECK_FALSE(rec->completed[0].is_shuffle_map);
        }
    }
}

/// The (word, n) pieces of one line as views into it, n = the word's length (see
/// RddNode::iterator_borrowed: reduce_by_key borrows them).
struct WordPieces {
    std::vector<std::pair<std::string_view, int>> operator()(const std::string& line) const {
        std::vector<std::pair<std::string_view, int>> out;
        for (std::string_view w : wordcount::Words(line)) out.emplace_back(w, static_cast<int>(w.size()));
        return out;
    }
};

TEST_CASE("flat_map to (string_view, V) pieces feeds reduce_by_key keys that outlive their lines",
          "[scheduler][rdd][shuffle]") {
    // Words longer than the small-string buffer, repeated across lines and partitions: the
    // map-side combine copies new keys out of the line, which is gone once the next arrives.
    std::vector<std::string> lines;
    std::map<std::string, int> expected;
    for (int i = 0; i < 3000; ++i) {
        std::string line;
        for (int j = 0; j < 7; ++j) {
            std::string w = "a-rather-long-word-number-" + std::to_string((i * 7 + j * 13) % 211);
            if (j % 3 == 0) w = std::to_string(j);  // and short ones
            line += w + " ";
            expected[w] += static_cast<int>(w.size());
        }
        lines.push_back(std::move(line));
    }
    for (std::string which : {"local", "cluster"}) {
        SECTION(which) {
            SparkContext sc(master_for(which), "borrowed-keys");
            auto pieces = sc.parallelize(lines, 5).flat_map(WordPieces{});
            auto sum = [](int a, int b) { return a + b; };
            auto direct = pieces.reduce_by_key(sum, 3).collect();
            CHECK(std::map<std::string, int>(direct.begin(), direct.end()) == expected);
            // Through a narrow step (records lent one by one) and from a cached parent.
            auto filtered = pieces.filter([](const std::pair<std::string, int>& kv) { return kv.second > 0; });
            auto lent = filtered.reduce_by_key(sum, 4).collect();
            CHECK(std::map<std::string, int>(lent.begin(), lent.end()) == expected);
            pieces.cache();
            CHECK(pieces.count() == 3000 * 7);
            auto cached = pieces.reduce_by_key(sum, 2).collect();
            CHECK(std::map<std::string, int>(cached.begin(), cached.end()) == expected);
        }
    }
}

TEST_CASE("save_as_text_file writes part files and _SUCCESS, and refuses an existing directory", "[scheduler][rdd]") {
    SparkContext sc("local-cluster[2,1,512]", "save-test");
    auto dir = std::filesystem::temp_directory_path() / ("ember-save-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    auto pairs = sc.parallelize(std::vector<std::pair<std::string, int>>{{"a", 1}, {"b", 2}, {"c", 3}}, 2);
    pairs.save_as_text_file(dir.string());
    CHECK(std::filesystem::exists(dir / "_SUCCESS"));
    CHECK_FALSE(std::filesystem::exists(dir / "_temporary"));
    std::string all;
    for (int p = 0; p < 2; ++p) {
        std::ifstream in(dir / ("part-0000" + std::to_string(p)));
        all += std::string(std::istreambuf_iterator<char>(in), {});
    }
    CHECK(all == "(a,1)\n(b,2)\n(c,3)\n");
    CHECK_THROWS_WITH(pairs.save_as_text_file(dir.string()), Catch::Contains("already exists"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("A task that always throws fails the job with Spark's message and the cluster keeps working",
          "[scheduler][failure]") {
    ember::Conf conf;
    conf.set("ember.task.maxFailures", "3");
    SparkContext sc("local-cluster[2,1,512]", "failure-test", conf);
    auto rdd = sc.parallelize(std::vector<int>{1, 2, 3, 4}, 2);
    try {
        rdd.map([](int x) -> int {
               if (x == 3) throw std::runtime_error("bad record 3");
               return x;
           })
            .count();
        FAIL("the job should have failed");
    } catch (const SparkException& e) {
        std::string msg = e.what();
        CHECK_THAT(msg, Catch::StartsWith("Job aborted due to stage failure: Task 1 in stage"));
        CHECK_THAT(msg, Catch::Contains("failed 3 times, most recent failure: Lost task 1.2 in stage"));
        CHECK_THAT(msg, Catch::Contains("std::runtime_error: bad record 3"));
    }
    // The next job runs normally on the same executors.
    CHECK(rdd.count() == 4);
}

namespace {
/// A record whose encoding fails for negative values (as a user's Serde may refuse a value).
struct Refused {
    int v = 0;
};
}  // namespace

template <>
struct ember::Serde<Refused> {
    static void write(Encoder& e, const Refused& r) {
        if (r.v < 0) throw std::invalid_argument("negative values cannot be encoded");
        e.write(r.v);
    }
    static Refused read(Decoder& d) { return Refused{d.read<int>()}; }
};

TEST_CASE("A task whose records cannot be encoded aborts its stage when it launches, with Spark's message",
          "[scheduler][failure]") {
    SparkContext sc("local-cluster[1,1,512]", "unencodable");
    // parallelize's slices travel with their tasks and are encoded when each task launches (as
    // Spark serializes a task in resourceOffer); the second slice's cannot be.
    auto rdd = sc.parallelize(std::vector<Refused>{{1}, {2}, {-3}, {4}}, 2);
    try {
        rdd.count();
        FAIL("the job should have failed");
    } catch (const SparkException& e) {
        std::string msg = e.what();
        CHECK_THAT(msg, Catch::StartsWith("Job aborted due to stage failure: Failed to serialize task"));
        CHECK_THAT(msg, Catch::Contains("not attempting to retry it. Exception during serialization: "
                                        "negative values cannot be encoded"));
    }
    // Encodable slices run on the same context afterwards.
    CHECK(sc.parallelize(std::vector<Refused>{{1}, {2}, {3}}, 3).map([](Refused r) { return r.v; }).reduce(std::plus<int>{}) == 6);
}

TEST_CASE("In local mode a failed task is not retried", "[scheduler][failure]") {
    SparkContext sc("local[2]", "local-failure");
    auto rdd = sc.parallelize(std::vector<int>{1, 2}, 2);
    CHECK_THROWS_WITH(rdd.map([](int x) -> int { throw std::logic_error("nope " + std::to_string(x)); }).collect(),
                      Catch::Contains("failed 1 times"));
}

TEST_CASE("Frames over ember.rpc.message.maxSize fail the job with a message naming the limit; large results do not", "[scheduler][failure]") {
    ember::Conf conf;
    conf.set("ember.rpc.message.maxSize", "1");  // MiB
    conf.set("ember.task.maxFailures", "1");
    SparkContext sc("local-cluster[1,1,512]", "big-frames", conf);
    // A result that grows on the executor beyond the frame limit cannot travel in its
    // StatusUpdate: it comes back through the executor's BlockManager (an indirect result).
    auto big_result = sc.parallelize(std::vector<int>{4 << 20}, 1).map([](int n) { return std::string(static_cast<std::size_t>(n), 'x'); });
    auto got = big_result.collect();
    REQUIRE(got.size() == 1);
    CHECK(got[0] == std::string(4 << 20, 'x'));
    // A task whose lineage carries too much data is never sent (Spark's "Serialized task ... exceeds max allowed").
    std::vector<std::string> big(4, std::string(1 << 20, 'x'));
    CHECK_THROWS_WITH(sc.parallelize(big, 1).count(), Catch::Contains("exceeds max allowed: ember.rpc.message.maxSize"));
    // The context keeps working.
    CHECK(sc.parallelize(std::vector<int>{1, 2, 3}, 1).count() == 3);
    // Each task carries its own slice, not the whole collection (Spark's
    // ParallelCollectionPartition): 4 MiB in 8 slices of 512 KiB fit the 1 MiB frames, through
    // a shuffle and a union too (a union's task carries the slice of whichever parent it reads).
    std::vector<std::string> many;
    for (int i = 0; i < 8; ++i) many.push_back(std::string(512 << 10, static_cast<char>('a' + i)));
    auto sliced = sc.parallelize(many, 8);
    CHECK(sliced.map([](const std::string& s) { return s.size(); }).reduce([](std::size_t a, std::size_t b) { return a + b; }) ==
          std::size_t{4} << 20);
    auto firsts = sliced.map([](const std::string& s) { return std::pair(s.substr(0, 1), s.size()); })
                      .union_with(sc.parallelize(std::vector<std::pair<std::string, std::size_t>>{{"z", 1}}, 1))
                      .reduce_by_key([](std::size_t a, std::size_t b) { return a + b; }, 3)
                      .collect();
    std::sort(firsts.begin(), firsts.end());
    REQUIRE(firsts.size() == 9);
    CHECK(firsts.front() == std::pair<std::string, std::size_t>{"a", 512 << 10});
    CHECK(firsts.back() == std::pair<std::string, std::size_t>{"z", 1});
}

TEST_CASE("Tasks that fit ember.rpc.message.maxSize one by one launch when an executor takes several at once",
          "[scheduler][failure]") {
    ember::Conf conf;
    conf.set("ember.rpc.message.maxSize", "1");  // MiB
    conf.set("ember.task.maxFailures", "1");
    SparkContext sc("local-cluster[1,4,512]", "sliced-launches", conf);  // four tasks per offer
    std::vector<std::string> many;
    for (int i = 0; i < 8; ++i) many.push_back(std::string(400 << 10, static_cast<char>('a' + i)));
    auto sizes = sc.parallelize(many, 8).map([](const std::string& s) { return std::pair(s[0], s.size()); }).collect();
    std::sort(sizes.begin(), sizes.end());
    REQUIRE(sizes.size() == 8);
    for (int i = 0; i < 8; ++i) CHECK(sizes[static_cast<std::size_t>(i)] == std::pair(static_cast<char>('a' + i), std::size_t{400} << 10));
}

TEST_CASE("textFile tasks carry their own splits: a tree whose file list passes ember.rpc.message.maxSize runs",
          "[scheduler][rdd]") {
    // 5,000 files with 200-character names: about 1 MiB of names, more than the 1 MiB frames
    // allow. Each task carries its own part of the list (Spark's tasks carry their
    // HadoopPartition); a stage binary with every split in it could not be sent.
    auto dir = std::filesystem::temp_directory_path() / ("ember-many-files-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const int files = 5000;
    for (int i = 0; i < files; ++i) {
        auto name = std::to_string(i);
        std::ofstream(dir / (name + std::string(200 - name.size(), 'f'))) << "line " << i << "\nsecond " << i << "\n";
    }
    ember::Conf conf;
    conf.set("ember.rpc.message.maxSize", "1");  // MiB
    conf.set("ember.task.maxFailures", "1");
    conf.set("ember.files.openCostInBytes", "1");
    SparkContext sc("local-cluster[1,1,512]", "many-files", conf);
    auto lines = sc.text_file(dir.string(), 8);
    CHECK(lines.num_partitions() >= 8);
    auto counted = lines.map([](const std::string& l) { return std::pair(l.substr(0, l.find(' ')), 1); })
                       .reduce_by_key([](int a, int b) { return a + b; }, 2)
                       .collect();
    std::sort(counted.begin(), counted.end());
    CHECK(counted == std::vector<std::pair<std::string, int>>{{"line", files}, {"second", files}});
    sc.stop();
    std::filesystem::remove_all(dir);
}

TEST_CASE("Executors build their RpcEnv from the application's configuration", "[scheduler][conf]") {
    // Observable from outside: ember.rpc.io.threads names the executor's I/O threads
    // executor-<id>-io-<i>, so their number shows which configuration its env was built with.
    ember::Conf conf;
    conf.set("ember.rpc.io.threads", "3");
    SparkContext sc("local-cluster[2,1,512]", "executor-conf", conf);
    CHECK(sc.parallelize(std::vector<int>{1, 2, 3, 4}, 4).count() == 4);
    auto pids = sc.executor_pids();
    REQUIRE(pids.size() == 2);
    for (int pid : pids) {
        // Distinct names: a thread an I/O thread starts carries its creator's name until it
        // names itself, so the same name may show twice for a moment.
        auto io_threads = [pid] {
            std::set<std::string> names;
            for (auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
                std::string comm = ember::test::read_file_or_empty(t.path().string() + "/comm");
                if (comm.find("-io-") != std::string::npos && comm.rfind("executor-", 0) == 0) names.insert(comm);
            }
            return names.size();
        };
        CAPTURE(pid);
        // A thread names itself once it first runs, which a loaded machine may delay.
        ember::test::wait_until([&] { return io_threads() >= 3; }, std::chrono::seconds(5));
        CHECK(io_threads() == 3);
    }
}

TEST_CASE("Remote blocks over ember.network.maxRemoteBlockSizeFetchToMem are streamed through files in pieces",
          "[scheduler][shuffle][memory]") {
    struct ToDisk : SparkListener {
        std::atomic<std::uint64_t> to_disk{0}, remote{0};
        void on_task_end(const scheduler::SparkListenerTaskEnd& e) override {
            to_disk += e.task_metrics.shuffle_read.remote_bytes_read_to_disk;
            remote += e.task_metrics.shuffle_read.remote_bytes_read;
        }
    };
    ember::Conf conf;
    conf.set("ember.network.maxRemoteBlockSizeFetchToMem", "1k");  // every block of these jobs is larger
    conf.set("ember.reducer.maxSizeInFlight", "3k");                // pieces of 614 bytes, five in flight
    auto ev = std::make_shared<ToDisk>();
    SparkContext sc(ember::Conf(conf).set("ember.master", "local-cluster[2,1,512]"), {ev});
    std::vector<int> data(40000);
    std::iota(data.begin(), data.end(), 0);
    auto sums = sc.parallelize(data, 4)
                    .map([](int x) { return std::pair<int, std::int64_t>(x % 5000, x); })
                    .reduce_by_key([](std::int64_t a, std::int64_t b) { return a + b; }, 3)
                    .collect();
    std::map<int, std::int64_t> expected;
    for (int x : data) expected[x % 5000] += x;
    CHECK(std::map<int, std::int64_t>(sums.begin(), sums.end()) == expected);
    // sort_by_key over the same data: its blocks go through files too.
    auto sorted = sc.parallelize(data, 4).map([](int x) { return std::pair<int, int>(-x, x); }).sort_by_key(true, 3).collect();
    REQUIRE(sorted.size() == data.size());
    CHECK(std::is_sorted(sorted.begin(), sorted.end()));
    sc.stop();
    CHECK(ev->remote > 0);
    CHECK(ev->to_disk == ev->remote);
}
