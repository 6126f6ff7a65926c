// SPDX-License-Identifier: Apache-2.0
// Closures that capture pointers or references are refused on the driver, before any task is
// sent, in local[N] and on local-cluster (scheduler/closure.hpp, scheduler/rdd/closure_check.hpp);
// by-value captures and ember::bind still run. The oracle for results is the same computation
// in this process; for the refusals, the message, the executors' pids and the task count.
#include "scheduler/ember.hpp"
#include "scheduler/rdd/closure_check.hpp"
#include "test/support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

using namespace ember;
namespace fs = std::filesystem;

namespace {

long g_offset = 7;  // a global the tests point at

#pragma pack(push, 1)
/// A pointer at an odd offset: found too (words are checked at every multiple of the alignment).
struct PackedPointer {
    char tag;
    long* p;
    long operator()(long x) const { return x + *p + tag; }
};
#pragma pack(pop)
static_assert(alignof(PackedPointer) == 1 && sizeof(PackedPointer) == 9);

/// Counts tasks started: a refused job must start none.
struct TaskCounter : scheduler::SparkListener {
    std::atomic<int> started{0};
    void on_task_start(const scheduler::SparkListenerTaskStart&) override { ++started; }
};

std::vector<long> numbers() {
    std::vector<long> xs(100);
    std::iota(xs.begin(), xs.end(), 1L);
    return xs;
}

long sum(const std::vector<long>& v) { return std::accumulate(v.begin(), v.end(), 0L); }

/// Runs `job`, which must throw SparkException; returns its message.
template <class Job>
std::string refusal(Job&& job) {
    try {
        job();
    } catch (const SparkException& e) {
        return e.what();
    }
    FAIL("the job was not refused");
    return {};
}

std::string line_ref(int line) { return "closure_check_test.cpp:" + std::to_string(line); }

/// The checks every master must pass; `sc` is local[2] or local-cluster.
void check_refusals(SparkContext& sc) {
    auto counter = std::make_shared<TaskCounter>();
    sc.add_spark_listener(counter);
    auto xs = numbers();
    auto rdd = sc.parallelize(xs, 4);

    // The lambda: a reference to a local.
    long offset = 1000;
    int line = __LINE__ + 1;
    auto msg = refusal([&] { rdd.map([&offset](long x) { return x + offset; }).collect(); });
    CHECK_THAT(msg, Catch::StartsWith("map at " + line_ref(line) + " captures a pointer or reference (0x"));
    CHECK_THAT(msg, Catch::Contains(": the driver's stack); it would be meaningless on an executor. Capture by "
                                    "value, or use ember::bind(fn, values...)"));

    // [&] in filter, counted by count().
    line = __LINE__ + 1;
    msg = refusal([&] { rdd.filter([&](long x) { return x > offset; }).count(); });
    CHECK_THAT(msg, Catch::StartsWith("filter at " + line_ref(line) + " captures a pointer or reference"));

    // A pointer to the heap (a small block: the main thread's [heap], or an arena mapping).
    auto boxed = std::make_unique<long>(5);
    long* heap_ptr = boxed.get();
    line = __LINE__ + 1;
    msg = refusal([&] { rdd.map([heap_ptr](long x) { return x * *heap_ptr; }).collect(); });
    CHECK_THAT(msg, Catch::StartsWith("map at " + line_ref(line)));
    CHECK_THAT(msg, Catch::Contains("the driver's heap") || Catch::Contains("anonymous mapping"));

    // A pointer to a global.
    long* global_ptr = &g_offset;
    line = __LINE__ + 1;
    msg = refusal([&] { rdd.map([global_ptr](long x) { return x + *global_ptr; }).collect(); });
    CHECK_THAT(msg, Catch::StartsWith("map at " + line_ref(line)));
    CHECK_THAT(msg, Catch::Contains("a global or static variable of the driver's executable"));

    // Nested closures: the function inside ember::bind, reduce_by_key's aggregator, take_ordered's
    // comparator, top's reversed comparator and reduce's fold.
    line = __LINE__ + 1;
    msg = refusal([&] { rdd.map(ember::bind([&offset](long k, long x) { return x + k + offset; }, 3L)).collect(); });
    CHECK_THAT(msg, Catch::StartsWith("map at " + line_ref(line) + " captures a pointer or reference"));
    auto pairs = rdd.map([](long x) { return std::pair<long, long>{x % 5, x}; });
    line = __LINE__ + 1;
    msg = refusal([&] { pairs.reduce_by_key([&offset](long a, long b) { return a + b + offset; }).collect(); });
    CHECK_THAT(msg, Catch::StartsWith("reduceByKey at " + line_ref(line)));
    line = __LINE__ + 1;
    msg = refusal([&] { rdd.take_ordered(3, [&offset](long a, long b) { return a % offset < b % offset; }); });
    CHECK_THAT(msg, Catch::StartsWith("takeOrdered at " + line_ref(line)));
    line = __LINE__ + 1;
    msg = refusal([&] { rdd.top(3, [&offset](long a, long b) { return a % offset < b % offset; }); });
    CHECK_THAT(msg, Catch::StartsWith("takeOrdered at " + line_ref(line)));
    line = __LINE__ + 1;
    msg = refusal([&] { rdd.reduce([&offset](long a, long b) { return a + b + 0 * offset; }); });
    CHECK_THAT(msg, Catch::Contains("at " + line_ref(line) + " captures a pointer or reference"));
    // A refused transformation stays refused in a longer lineage, behind a shuffle.
    auto bad = rdd.map([&offset](long x) { return std::pair<long, long>{x % 3, x + offset}; });
    line = __LINE__ - 1;
    msg = refusal([&] { bad.reduce_by_key([](long a, long b) { return a + b; }).map([](auto kv) { return kv.second; }).collect(); });
    CHECK_THAT(msg, Catch::StartsWith("map at " + line_ref(line)));

    line = __LINE__ + 1;
    msg = refusal([&] { rdd.map(PackedPointer{1, &g_offset}).collect(); });
    CHECK_THAT(msg, Catch::StartsWith("map at " + line_ref(line)));
    CHECK_THAT(msg, Catch::Contains("at byte 1 of the 9-byte closure"));

    CHECK(counter->started.load() == 0);

    // By value, ember::bind and EMBER_SERDE-free lambdas still run, with exact results.
    long expected = sum(xs) + 100 * offset;
    CHECK(sum(rdd.map([offset](long x) { return x + offset; }).collect()) == expected);
    CHECK(sum(rdd.map(ember::bind([](long k, long x) { return x + k; }, offset)).collect()) == expected);
    // Several numbers with padding between them (a char then a long): the padding is cleared.
    char c = 2;
    double scale = 1.0;
    CHECK(sum(rdd.map([c, offset, scale](long x) { return static_cast<long>(x * scale) * c + offset; }).collect()) ==
          2 * sum(xs) + 100 * offset);
    auto top = rdd.top(2, [](long a, long b) { return a < b; });
    CHECK(top == std::vector<long>{100, 99});
    CHECK(counter->started.load() > 0);
}

Conf cluster_conf(const std::string& dir) {
    Conf conf;
    conf.set("ember.local.dir", dir);
    return conf;
}

}  // namespace

TEST_CASE("The driver describes the addresses it has mapped, and not numbers", "[scheduler][closure]") {
    long local = 0;
    auto heap = std::make_unique<long>(0);
    auto d = [](const void* p) { return scheduler::describe_driver_address(reinterpret_cast<std::uintptr_t>(p)); };
    CHECK(d(&local) == "the driver's stack");
    REQUIRE(d(heap.get()).has_value());
    CHECK(d(&g_offset) == "a global or static variable of the driver's executable");
    CHECK(d(reinterpret_cast<const void*>(&numbers)) == "the driver's code (a function's address)");
    for (std::uint64_t n : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1000}, std::uint64_t{65535},
                            std::uint64_t{0x3ff0000000000000ull} /* 1.0 */, ~std::uint64_t{0},
                            static_cast<std::uint64_t>(-1000L)}) {
        CHECK_FALSE(scheduler::describe_driver_address(n).has_value());
    }
}

TEST_CASE("A closure shipped as bytes has its padding cleared", "[scheduler][closure]") {
    struct Padded {
        char c;
        long n;
        long operator()(long x) const { return x + c + n; }
    };
    static_assert(sizeof(Padded) == 16 && std::is_trivially_copyable_v<Padded>);
    alignas(Padded) unsigned char raw[sizeof(Padded)];
    std::memset(raw, 0xab, sizeof raw);  // stale bytes where the padding will be
    auto* f = new (raw) Padded;
    f->c = 1;
    f->n = 2;
    Encoder e;
    ClosureCodec<Padded>::encode(e, *f);
    Decoder dec(e.bytes());
    auto bytes = dec.get_bytes();
    REQUIRE(bytes.size() == sizeof(Padded));
#if defined(__has_builtin) && __has_builtin(__builtin_clear_padding)
    for (std::size_t i = 1; i < 8; ++i) CHECK(bytes[i] == 0);
#endif
    Decoder dec2(e.bytes());
    CHECK(ClosureCodec<Padded>::decode(dec2)(10) == 13);
}

TEST_CASE("local[2] refuses closures with pointers or references before running a task", "[scheduler][closure]") {
    SparkContext sc("local[2]", "closure-check-local");
    check_refusals(sc);
}

TEST_CASE("local-cluster refuses them on the driver too: no executor crashes", "[scheduler][closure]") {
    auto dir = test::fresh_temp_dir("closure-check");
    {
        SparkContext sc("local-cluster[2,1,1024]", "closure-check-cluster", cluster_conf(dir));
        auto pids = sc.executor_pids();
        REQUIRE(pids.size() == 2);
        check_refusals(sc);
        auto after = sc.executor_pids();
        std::sort(pids.begin(), pids.end());
        std::sort(after.begin(), after.end());
        CHECK(after == pids);  // the same processes: none crashed or was replaced
    }
    fs::remove_all(dir);
}

TEST_CASE("EMBER_SERDE works in structs local to a function, as records and as closures", "[scheduler][serde]") {
    struct Point {
        long x = 0;
        std::string label;
        std::vector<int> tags;
        bool operator==(const Point&) const = default;
        EMBER_SERDE(x, label, tags)
    };
    struct Empty {
        EMBER_SERDE()
    };
    static_assert(Serializable<Point> && Serializable<Empty> && HasSerdeMember<Point>);
    Point p{42, "forty-two", {4, 2}};
    CHECK(decode<Point>(encode(p)) == p);
    CHECK(encode(Empty{}).empty());

    // A function object local to this function, whose non-trivial state (a string) ships with
    // its EMBER_SERDE fields to the executors.
    struct Tag {
        std::string prefix;
        std::string operator()(long x) const { return prefix + std::to_string(x); }
        EMBER_SERDE(prefix)
    };
    auto dir = test::fresh_temp_dir("closure-serde");
    {
        SparkContext sc("local-cluster[2,1,512]", "closure-serde", cluster_conf(dir));
        auto out = sc.parallelize(std::vector<long>{1, 2, 3}, 2).map(Tag{"n"}).collect();
        CHECK(out == std::vector<std::string>{"n1", "n2", "n3"});
        auto points = sc.parallelize(std::vector<Point>{p, Point{1, "one", {}}}, 2)
                          .map([](Point q) {
                              q.x *= 2;
                              return q;
                          })
                          .collect();
        REQUIRE(points.size() == 2);
        CHECK(points[0] == Point{84, "forty-two", {4, 2}});
        CHECK(points[1] == Point{2, "one", {}});
    }
    fs::remove_all(dir);
}
