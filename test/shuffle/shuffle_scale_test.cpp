// SPDX-License-Identifier: Apache-2.0
// Shuffles at the size this machine allows in CI (1 GB of 100-byte records) on a healthy local
// cluster of two 512 MiB executors: the shapes that used to stall (few, large reduce partitions,
// 48 MiB of fetches in flight, a short fetch timeout) complete exactly without a single
// FetchFailed or stage retry, and every executor's peak memory stays under its declared size.
// A sort's output must be the input's lines in byte order (order and completeness checked); a
// reduce_by_key's must equal GNU sort piped into a group-by. `ember-bench shuffle` runs the same
// jobs at 4 GB.
//
// Disk: the input, the map outputs, the reducers' spills and fetched-to-disk blocks and the
// output peak at about 3.5 GB at once, all in one scratch directory (the executors' local dirs
// too). It is made under TMPDIR (or /tmp) if that has room, else under /dev/shm; with room in
// neither the test fails at once, saying how much it needs and where.
#include "apps/bench/shuffle_jobs.hpp"
#include "test/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

#include <sys/statvfs.h>

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kRecords = 10'000'000;  // 1 GB
constexpr int kExecutorMiB = 512;
// The peak measured (3.5 GB, see the file comment) and a margin for what else the machine writes.
constexpr std::uint64_t kScratchBytes = std::uint64_t{4} << 30;

std::uint64_t free_bytes(const fs::path& dir) {
    struct statvfs st {};
    if (::statvfs(dir.c_str(), &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

/// Where the scratch directory goes: the temp directory, or /dev/shm if only it has room.
fs::path scratch_root() {
    fs::path tmp = fs::temp_directory_path();
    std::uint64_t tmp_free = free_bytes(tmp);
    if (tmp_free >= kScratchBytes) return tmp;
    std::uint64_t shm_free = fs::is_directory("/dev/shm") ? free_bytes("/dev/shm") : 0;
    if (shm_free >= kScratchBytes) {
        WARN("shuffle_scale: " << tmp << " has " << (tmp_free >> 20) << " MiB free; scratch goes to /dev/shm");
        return "/dev/shm";
    }
    FAIL("shuffle_scale needs " << (kScratchBytes >> 20) << " MiB of scratch space: " << tmp << " has "
                                << (tmp_free >> 20) << " MiB free and /dev/shm " << (shm_free >> 20)
                                << " MiB; point TMPDIR at a larger file system");
    return tmp;
}

struct Input {
    std::string dir = ember::test::fresh_temp_dir("shuffle-scale", scratch_root());
    std::string records = dir + "/records.txt";
    shuffle_jobs::LinesDigest digest;
    Input() {
        shuffle_jobs::generate_records(records, kRecords);
        digest = shuffle_jobs::digest_files({records});
    }
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
    conf.set("ember.local.dir", input().dir);  // shuffle files and spills beside the input
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

/// Sorts the input into `maps` x `reduces` partitions; checks the run's health and that its
/// output is the input's lines in order.
Run sort_and_check(int maps, int reduces) {
    auto& in = input();
    std::string out = fmt::format("{}/sorted-{}x{}", in.dir, maps, reduces);
    Run r = run_job(maps, out, [&](ember::SparkContext& sc) { shuffle_jobs::sort_job(sc, in.records, maps, reduces, out); });
    check_healthy(r);
    CHECK(r.parts.size() == static_cast<std::size_t>(reduces));
    CHECK(shuffle_jobs::check_sorted_permutation(r.parts, in.digest) == "");
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

TEST_CASE("The sort check finds lines out of order, missing, extra or changed", "[shuffle][scale]") {
    std::string dir = ember::test::fresh_temp_dir("sort-check");
    auto write = [&](const std::string& name, const std::string& text) {
        std::string path = dir + "/" + name;
        std::FILE* f = std::fopen(path.c_str(), "wb");
        REQUIRE(f);
        std::fputs(text.c_str(), f);
        std::fclose(f);
        return path;
    };
    auto digest = shuffle_jobs::digest_files({write("input", "b 2\na 1\nc 3\nb 2\n")});
    CHECK(shuffle_jobs::check_sorted_permutation({write("p0", "a 1\nb 2\n"), write("p1", "b 2\nc 3\n")}, digest) == "");
    // Across part files, as within one.
    CHECK_THAT(shuffle_jobs::check_sorted_permutation({write("q0", "a 1\nb 2\nc 3\n"), write("q1", "b 2\n")}, digest),
               Catch::Contains("line 4 (b 2) is before line 3"));
    CHECK_THAT(shuffle_jobs::check_sorted_permutation({write("r0", "a 1\nb 2\nc 3\n")}, digest),
               Catch::Contains("3 lines, the input has 4"));
    CHECK_THAT(shuffle_jobs::check_sorted_permutation({write("s0", "a 1\nb 2\nb 2\nc 3\nc 3\n")}, digest),
               Catch::Contains("5 lines, the input has 4"));
    CHECK_THAT(shuffle_jobs::check_sorted_permutation({write("t0", "a 1\nb 2\nb 3\nc 3\n")}, digest),
               Catch::Contains("digests differ"));
    CHECK_THAT(shuffle_jobs::check_sorted_permutation({dir + "/missing"}, digest), Catch::Contains("cannot open"));
}
