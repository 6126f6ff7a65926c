// SPDX-License-Identifier: Apache-2.0
#include "apps/bench/wordcount_bench.hpp"

#include "apps/bench/bench_support.hpp"
#include "apps/bench/shuffle_jobs.hpp"
#include "apps/wordcount/word_count_job.hpp"
#include "scheduler/ember.hpp"
#include "scheduler/master_url.hpp"
#include "scheduler/rdd/string_combine_map.hpp"
#include "scheduler/rdd/text_file_rdd.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace bench {
namespace {

namespace fs = std::filesystem;
using Files = std::vector<std::pair<std::string, std::uint64_t>>;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// Reads the whole file into `buf` (reused between files, grown but never zero-filled per
/// file); returns its bytes.
std::string_view read_file(const std::string& path, std::string& buf) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    std::size_t have = 0;
    for (;;) {
        if (buf.size() - have < (1 << 16)) buf.resize(std::max<std::size_t>(buf.size() * 2, 1 << 20));
        ssize_t n = ::read(fd, buf.data() + have, buf.size() - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            throw std::runtime_error(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
        }
        if (n == 0) break;
        have += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return std::string_view(buf.data(), have);
}

/// The baselines' tricks are ember's: XXH3 (as stable_hash), the map side's table
/// (StringCombineMap: an open-addressing table of 16-byte slots over records in an arena, walked
/// in the order they were written) and its batched, prefetched lookups (count_text).
using CountMap = ember::scheduler::StringCombineMap<std::uint64_t>;

void add_word(CountMap& m, std::string_view w, std::uint64_t h, std::uint64_t n) {
    if (std::uint64_t* c = m.find(w, h)) {
        *c += n;
    } else {
        m.insert(w, h, std::uint64_t{n});
    }
}

/// Counts the words of `text` into map_of(hash) as ember's map side does: in batches of 16, each
/// word's slot prefetched when it is hashed and looked up when its batch is full.
template <class MapOf>
void count_text(std::string_view text, MapOf&& map_of) {
    constexpr std::size_t kBatch = ember::scheduler::kPrefetchBatch;
    std::string_view words[kBatch];
    std::uint64_t hashes[kBatch];
    std::size_t n = 0;
    auto flush = [&] {
        for (std::size_t i = 0; i < n; ++i) add_word(map_of(hashes[i]), words[i], hashes[i], 1);
        n = 0;
    };
    for (std::string_view w : wordcount::Words(text)) {
        std::uint64_t h = XXH3_64bits(w.data(), w.size());
        map_of(h).prefetch(h);
        words[n] = w;
        hashes[n] = h;
        if (++n == kBatch) flush();
    }
    flush();
}

void add_to_stats(wordcount::WordStats& s, CountMap& m) {
    wordcount::AddToStats add{20};
    m.for_each([&](std::string_view w, std::uint64_t, std::uint64_t n) {
        if (s.top.size() < 20 || n >= s.top.front().second) {
            s = add(std::move(s), wordcount::WordCount(std::string(w), n));
        } else {
            s.total += n;
            ++s.distinct;
            s.digest += wordcount::count_digest(w, n);
        }
    });
}

/// One thread: every file into one map, then the stats.
wordcount::WordStats count_1thread(const Files& files) {
    CountMap counts;
    std::string buf;
    for (const auto& f : files) {
        count_text(read_file(f.first, buf), [&](std::uint64_t) -> CountMap& { return counts; });
    }
    wordcount::WordStats s;
    add_to_stats(s, counts);
    std::sort(s.top.begin(), s.top.end(), wordcount::more_frequent);
    return s;
}

/// Two threads: each takes the next file (largest first) and counts it into one of two maps by
/// a bit of the word's hash; then thread t merges the maps of half t of both threads, and
/// computes its stats; the driver merges the two stats.
wordcount::WordStats count_2threads(const Files& files) {
    std::vector<std::size_t> order(files.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return files[a].second > files[b].second; });
    std::atomic<std::size_t> next{0};
    struct Side {
        CountMap half[2];
        wordcount::WordStats stats;
    };
    Side side[2];
    auto count = [&](Side& me) {
        std::string buf;
        for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < order.size();) {
            count_text(read_file(files[order[i]].first, buf),
                       [&](std::uint64_t h) -> CountMap& { return me.half[(h >> 20) & 1]; });
        }
    };
    auto merge = [&](int t) {
        // Merge into the larger map (the smaller one's records read in order).
        CountMap& a = side[0].half[t].size() >= side[1].half[t].size() ? side[0].half[t] : side[1].half[t];
        CountMap& b = &a == &side[0].half[t] ? side[1].half[t] : side[0].half[t];
        // In batches, each word's slot prefetched as it is read, as ember's reduce side merges
        // the map outputs (the words are views into b's arena, alive until b.clear()).
        constexpr std::size_t kBatch = ember::scheduler::kPrefetchBatch;
        std::string_view words[kBatch];
        std::uint64_t hashes[kBatch];
        std::uint64_t counts[kBatch];
        std::size_t n = 0;
        auto flush = [&] {
            for (std::size_t i = 0; i < n; ++i) add_word(a, words[i], hashes[i], counts[i]);
            n = 0;
        };
        b.for_each([&](std::string_view w, std::uint64_t h, std::uint64_t c) {
            a.prefetch(h);
            words[n] = w;
            hashes[n] = h;
            counts[n] = c;
            if (++n == kBatch) flush();
        });
        flush();
        b.clear();
        add_to_stats(side[t].stats, a);
    };
    {
        std::jthread other([&] { count(side[1]); });
        count(side[0]);
    }
    {
        std::jthread other([&] { merge(1); });
        merge(0);
    }
    auto s = wordcount::MergeStats{20}(std::move(side[0].stats), std::move(side[1].stats));
    std::sort(s.top.begin(), s.top.end(), wordcount::more_frequent);
    return s;
}

bool same(const wordcount::WordStats& a, const wordcount::WordStats& b) {
    return a.total == b.total && a.distinct == b.distinct && a.digest == b.digest && a.top == b.top;
}

/// The corpus's paths: the inputs, /usr/include/boost, or the Linux tree (unpacked on first use
/// from /usr/src/linux-source-6.1.tar.xz, installing Debian's linux-source-6.1 if missing).
std::vector<std::string> corpus_paths(const WordCountBenchOptions& o) {
    if (!o.inputs.empty()) return o.inputs;
    fs::path root;
    if (o.corpus == "boost") {
        root = "/usr/include/boost";
    } else if (o.corpus == "linux") {
        fs::path cache = o.cache_dir;
        if (cache.empty()) {
            const char* xdg = std::getenv("XDG_CACHE_HOME");
            const char* home = std::getenv("HOME");
            cache = xdg && *xdg ? fs::path(xdg) : fs::path(home && *home ? home : "/tmp") / ".cache";
            cache /= "ember-bench";
        }
        root = cache / "linux-source-6.1";
        if (!fs::exists(root / "Makefile")) {
            const std::string tarball = "/usr/src/linux-source-6.1.tar.xz";
            if (!fs::exists(tarball)) {
                fmt::print(stderr, "wordcount-corpus: installing linux-source-6.1\n");
                ::setenv("DEBIAN_FRONTEND", "noninteractive", 1);
                shuffle_jobs::run_command({"apt-get", "install", "-y", "-q", "linux-source-6.1"}, "/dev/null");
            }
            fs::path tmp = cache / fmt::format("unpacking-{}", ::getpid());
            fs::create_directories(tmp);
            fmt::print(stderr, "wordcount-corpus: unpacking {} into {}\n", tarball, root.string());
            shuffle_jobs::run_command({"tar", "xf", tarball, "-C", tmp.string()});
            fs::remove_all(root);
            fs::rename(tmp / "linux-source-6.1", root);
            fs::remove_all(tmp);
        }
    } else {
        throw std::invalid_argument("unknown corpus '" + o.corpus + "' (linux or boost)");
    }
    if (!o.subset.empty()) root /= o.subset;
    if (!fs::exists(root)) throw std::invalid_argument(root.string() + " does not exist");
    return {root.string()};
}

/// CPU seconds (user + system) process `pid` has used (0: this process), from /proc; 0 if gone.
double process_cpu_seconds(int pid) {
    std::string path = pid > 0 ? fmt::format("/proc/{}/stat", pid) : "/proc/self/stat";
    std::string buf;
    std::string_view stat;
    try {
        stat = read_file(path, buf);
    } catch (const std::runtime_error&) {
        return 0;
    }
    auto close = stat.rfind(')');
    if (close == std::string_view::npos) return 0;
    // After "pid (comm)" come state (field 3) ... utime (14) and stime (15), in clock ticks.
    std::istringstream in{std::string(stat.substr(close + 2))};
    std::string field;
    double ticks = 0;
    for (int f = 3; f <= 15 && in >> field; ++f) {
        if (f >= 14) ticks += std::stod(field);
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// CPU seconds of this process and `children` (the executors) together.
double cpu_seconds(const std::vector<int>& children) {
    double total = process_cpu_seconds(0);
    for (int pid : children) total += process_cpu_seconds(pid);
    return total;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int bench_wordcount_corpus(const WordCountBenchOptions& o) {
    auto inputs = corpus_paths(o);
    auto files = ember::scheduler::TextFileRdd::list_files(inputs);
    if (o.every > 1) {
        // Every N-th file by path: a sample of the whole tree, not of one corner of it.
        std::sort(files.begin(), files.end());
        Files sample;
        for (std::size_t i = 0; i < files.size(); i += static_cast<std::size_t>(o.every)) sample.push_back(files[i]);
        files = std::move(sample);
        inputs.clear();
        for (const auto& f : files) inputs.push_back(f.first);
    }
    std::uint64_t bytes = 0;
    {
        std::string buf;  // warms the page cache: every side reads from memory
        for (const auto& f : files) {
            read_file(f.first, buf);
            bytes += f.second;
        }
    }
    ember::Conf conf = ember::submitted_conf();
    conf.set("ember.master", o.master).set("ember.app.name", "ember-bench-wordcount-corpus");
    bool with_ember = std::find(o.sides.begin(), o.sides.end(), "ember") != o.sides.end();
    std::optional<ember::SparkContext> sc;
    if (with_ember) sc.emplace(conf);
    int parts = o.partitions > 0 ? o.partitions : sc ? 4 * sc->default_parallelism() : 0;

    std::vector<int> executors = sc ? sc->executor_pids() : std::vector<int>{};
    // ember's CPU is this process's and its executors': known only where the executors are this
    // process's children (local-cluster) or its threads (local). Elsewhere (master slurm: Slurm's
    // processes, on other hosts) it prints as null rather than as the driver's alone.
    const bool ember_cpu_known = [&] {
        if (!sc) return false;  // ember does not run: its CPU is never printed
        using Kind = ember::scheduler::MasterUrl::Kind;
        auto kind = ember::scheduler::MasterUrl::parse(o.master).kind;
        return kind == Kind::local || kind == Kind::local_cluster;
    }();
    auto ember_cpu_json = [&](double v) { return ember_cpu_known ? fmt::format("{:.4g}", v) : std::string("null"); };
    std::vector<double> ember_s, one_s, two_s;
    std::vector<double> ember_cpu, one_cpu, two_cpu;
    wordcount::WordStats expected;
    bool exact = true;
    for (int r = 0; r < o.repeats; ++r) {
        // Alternating, and each pass in a different order, so load spikes hit every side alike.
        std::vector<int> sides;
        for (int i = 0; i < 3; ++i) {
            static const char* kSides[] = {"ember", "1thread", "2threads"};
            if ((i == 0 || !o.ember_only) && std::find(o.sides.begin(), o.sides.end(), kSides[i]) != o.sides.end()) {
                sides.push_back(i);
            }
        }
        if (sides.empty()) throw std::invalid_argument("--sides names none of ember, 1thread, 2threads");
        std::rotate(sides.begin(), sides.begin() + r % static_cast<int>(sides.size()), sides.end());
        for (int side : sides) {
            auto t = Clock::now();
            double cpu0 = cpu_seconds(executors);
            wordcount::WordStats s;
            // Listing the input is part of every side's work, as it is of any program given a
            // tree: ember's driver lists it and plans its splits (two threads on two CPUs); the
            // hand-written programs list it with the same walk (TextFileRdd::list_files), on as
            // many threads as they count with.
            double plan = 0;
            if (side == 0) {
                auto lines = sc->text_file(inputs, parts);
                plan = seconds_since(t);
                s = wordcount::word_stats(wordcount::count_words(lines, parts), 20);
            } else {
                Files listed = ember::scheduler::TextFileRdd::list_files(inputs, side == 1 ? 1 : 2);
                plan = seconds_since(t);
                s = side == 1 ? count_1thread(listed) : count_2threads(listed);
            }
            double secs = seconds_since(t);
            double cpu = cpu_seconds(executors) - cpu0;
            (side == 0 ? ember_s : side == 1 ? one_s : two_s).push_back(secs);
            (side == 0 ? ember_cpu : side == 1 ? one_cpu : two_cpu).push_back(cpu);
            static const char* kNames[] = {"ember", "1thread", "2threads"};
            fmt::print("{{\"name\": \"{}-run\", \"pass\": {}, \"side\": \"{}\", \"seconds\": {:.4g}, "
                       "\"cpu_seconds\": {}, \"words\": {}, \"distinct\": {}, \"plan_seconds\": {:.3g}}}\n",
                       o.name, r, kNames[side], secs, side == 0 ? ember_cpu_json(cpu) : fmt::format("{:.4g}", cpu),
                       s.total, s.distinct, plan);
            std::fflush(stdout);
            if (r == 0 && side == sides.front()) {
                expected = s;
            } else if (!same(s, expected)) {
                exact = false;
                fmt::print(stderr, "wordcount-corpus: {} disagrees (total {} vs {}, distinct {} vs {}, digest {} vs {})\n",
                           kNames[side], s.total, expected.total, s.distinct, expected.distinct, s.digest,
                           expected.digest);
            }
        }
    }
    fmt::print(stderr, "{}: {} ({} files, {:.1f} MiB, {} words, {} distinct); master {}, {} partitions\n", o.name,
               o.every > 1 ? fmt::format("every {}th file", o.every) : fmt::format("{}", fmt::join(inputs, " ")),
               files.size(), static_cast<double>(bytes) / (1 << 20), expected.total,
               expected.distinct, o.master, parts);
    double e = median(ember_s), ec = median(ember_cpu);
    auto line = [&](const char* name, double base, double base_cpu) {
        fmt::print("{{\"name\": \"{}\", \"ember\": {:.4g}, \"baseline\": {:.4g}, \"ratio\": {:.4g}, \"unit\": \"s\", "
                   "\"ember_cpu\": {}, \"baseline_cpu\": {:.4g}, \"cpu_ratio\": {}, "
                   "\"bytes\": {}, \"files\": {}, \"every\": {}, \"words\": {}, \"distinct\": {}, \"repeats\": {}, "
                   "\"master\": \"{}\", \"exact\": {}}}\n",
                   name, e, base, base > 0 ? e / base : 0.0, ember_cpu_json(ec), base_cpu,
                   ember_cpu_json(base_cpu > 0 ? ec / base_cpu : 0.0), bytes,
                   files.size(), o.every, expected.total, expected.distinct, o.repeats, o.master,
                   exact ? "true" : "false");
    };
    if (!ember_s.empty() && !one_s.empty()) line((o.name + "-1thread").c_str(), median(one_s), median(one_cpu));
    if (!ember_s.empty() && !two_s.empty()) line((o.name + "-2threads").c_str(), median(two_s), median(two_cpu));
    std::fflush(stdout);
    return exact ? 0 : 1;
}

int bench_wordcount_scaling(WordCountBenchOptions o, const std::vector<int>& every, const std::vector<int>& executors) {
    if (every.empty()) throw std::invalid_argument("--every names no sample");
    int status = 0;
    o.name = "wordcount-scaling";
    for (int n : every) {
        o.every = n;
        status |= bench_wordcount_corpus(o);
    }
    const std::string size_series_master = o.master;
    std::vector<int> sorted = every;
    std::sort(sorted.begin(), sorted.end());
    o.every = sorted[sorted.size() / 2];  // the middle size
    for (int e : executors) {
        o.master = fmt::format("local-cluster[{},1,1024]", e);
        if (o.master == size_series_master) continue;  // measured in the size series
        status |= bench_wordcount_corpus(o);
    }
    return status;
}

}  // namespace bench
