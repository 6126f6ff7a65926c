// SPDX-License-Identifier: Apache-2.0
// Shuffles at the size this machine allows in CI (1 GB of 100-byte records) on a healthy local
// cluster of two 512 MiB executors: the shapes that used to stall (few, large reduce partitions,
// 48 MiB of fetches in flight, a short fetch timeout) complete exactly (checked against GNU
// sort) without a single FetchFailed or stage retry, and every executor's peak memory stays
// under its declared size. `ember-bench shuffle` runs the same jobs at 4 GB.
#include "apps/bench/shuffle_jobs.hpp"
#include "test/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kRecords = 10'000'000;  // 1 GB
constexpr int kExecutorMiB = 512;

struct Input {
    std::string dir = ember::test::fresh_temp_dir("shuffle-scale");
    std::string records = dir + "/records.txt";
    Input() { shuffle_jobs::generate_records(records, kRecords); }
    ~Input() { fs::remove_all(dir); }
};

Input& input() {
    static Input in;  // generated once for the test cases of this process
    return in;
}

ember::Conf healthy_cluster_conf(int maps) {
    ember::Conf conf;
    conf.set("ember.master", fmt::format("local-cluster[2,1,{}]", kExecutorMiB));
    conf.set("ember.app.name", "shuffle-scale");
    // A reply that never came would show as a FetchFailed within 5 s, not a 120 s wait.
    conf.set("ember.shuffle.io.connectionTimeout", "5s");
    shuffle_jobs::set_map_partitions(conf, kRecords * shuffle_jobs::kRecordBytes, maps);
    return conf;
}

struct Run {
    std::shared_ptr<shuffle_jobs::JobHealth> health = std::make_shared<shuffle_jobs::JobHealth>();
    std::uint64_t peak_rss = 0;
    std::vector<std::string> parts;
};

template <class Job>
Run run_job(int maps, const std::string& out, Job&& job) {
    Run r;
    ember::SparkContext sc(healthy_cluster_conf(maps), {r.health});
    job(sc);
    auto pids = sc.executor_pids();
    REQUIRE(pids.size() == 2);
    for (int pid : pids) r.peak_rss = std::max(r.peak_rss, shuffle_jobs::peak_rss_bytes(pid));
    sc.stop();
    r.parts = shuffle_jobs::part_files(out);
    return r;
}

void check_healthy(const Run& r) {
    CHECK(r.health->fetch_failed == 0);
    CHECK(r.health->retried_stages == 0);
    CAPTURE(r.peak_rss >> 20);
    CHECK(r.peak_rss < (std::uint64_t{kExecutorMiB} << 20));
}

}  // namespace

/// GNU sort's output for the input, made once.
const std::string& gnu_sorted() {
    static const std::string path = [] {
        std::string p = input().dir + "/sorted-by-gnu";
        shuffle_jobs::gnu_sort(input().records, p, "512M", 2, input().dir);
        return p;
    }();
    return path;
}

/// Sorts the input into `maps` x `reduces` partitions; checks the run's health and its output
/// against GNU sort's.
Run sort_and_check(int maps, int reduces) {
    auto& in = input();
    std::string out = fmt::format("{}/sorted-{}x{}", in.dir, maps, reduces);
    Run r = run_job(maps, out, [&](ember::SparkContext& sc) { shuffle_jobs::sort_job(sc, in.records, maps, reduces, out); });
    check_healthy(r);
    CHECK(r.parts.size() == static_cast<std::size_t>(reduces));
    CHECK(shuffle_jobs::compare_concatenation(r.parts, gnu_sorted()) == "");
    fs::remove_all(out);
    return r;
}

TEST_CASE("A 1 GB sort into 3 large reduce partitions is exact with no fetch failure inside executor memory",
          "[shuffle][scale]") {
    // 16 x 3: about 21 MB per block with 48 MiB of fetches in flight, the shape whose replies
    // overran the connection queue and were dropped.
    sort_and_check(16, 3);
}

TEST_CASE("A 1 GB sort over 4 x 2 partitions streams its 128 MB blocks through files exactly",
          "[shuffle][scale]") {
    Run r = sort_and_check(4, 2);
    // Blocks of about 128 MB are over ember.network.maxRemoteBlockSizeFetchToMem (64m): the
    // remote ones were streamed to temp files instead of memory.
    CHECK(r.health->remote_bytes_to_disk > 0);
}

TEST_CASE("A 1 GB reduce_by_key over 4 x 2 partitions is exact with no fetch failure inside executor memory",
          "[shuffle][scale]") {
    auto& in = input();
    std::string out = in.dir + "/reduced-4x2";
    Run r = run_job(4, out, [&](ember::SparkContext& sc) { shuffle_jobs::reduce_job(sc, in.records, 4, 2, 6, out); });
    check_healthy(r);
    std::uint64_t gnu_rss = 0;
    auto expected = shuffle_jobs::gnu_sort_group_by(in.records, 6, "512M", 2, in.dir, gnu_rss);
    auto got = shuffle_jobs::digest_files(r.parts);
    CHECK(got.lines == expected.lines);
    CHECK(got == expected);
    fs::remove_all(out);
}
