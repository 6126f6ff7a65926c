// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The shuffle-at-scale workloads of `ember-bench shuffle` and of test/shuffle's scale test: a
/// generated text file of fixed-size records, sort_by_key and reduce_by_key jobs over it, GNU
/// sort as the independent oracle and baseline, and the job's health (fetch failures, stage
/// retries, executors' peak memory).
///
/// Records are 100-byte lines: a 10-character key, a space, an 8-digit number, a space, 79
/// pseudo-random lowercase letters and '\n'. Keys are distinct (a bijection of the line number
/// onto 60-bit values, written in 64 symbols), so sorting by key sorts whole lines and
/// `LC_ALL=C sort` of the file is the exact expected output of the sort job. The letters barely
/// compress with LZ4, so shuffle blocks are about as large as their records.

#include "scheduler/ember.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace shuffle_jobs {

inline constexpr std::size_t kRecordBytes = 100;
inline constexpr std::size_t kKeyBytes = 10;

/// Writes `records` lines to `path` (see the file comment); throws std::runtime_error on I/O
/// errors. About 1 GB/s.
inline void generate_records(const std::string& path, std::uint64_t records) {
    static constexpr char kSymbols[] = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> out(std::fopen(path.c_str(), "wb"), &std::fclose);
    if (!out) throw std::runtime_error(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
    constexpr std::uint64_t kMask = (std::uint64_t{1} << 60) - 1;
    for (std::uint64_t i = 0; i < records; ++i) {
        // x -> a*x + b mod 2^60 with a odd is a bijection: distinct keys that look random.
        std::uint64_t x = (i * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) & kMask;
        char line[kRecordBytes];
        for (std::size_t c = 0; c < kKeyBytes; ++c) line[c] = kSymbols[(x >> (54 - 6 * c)) & 63];
        line[10] = ' ';
        std::uint64_t number = (x >> 7) % 100000000;
        for (int c = 18; c >= 11; --c) {
            line[c] = static_cast<char>('0' + number % 10);
            number /= 10;
        }
        line[19] = ' ';
        std::uint64_t r = x | 1;  // xorshift64 from the key
        for (std::size_t c = 20; c < kRecordBytes - 1; ++c) {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            line[c] = static_cast<char>('a' + r % 26);
        }
        line[kRecordBytes - 1] = '\n';
        if (std::fwrite(line, 1, kRecordBytes, out.get()) != kRecordBytes) break;
    }
    if (std::ferror(out.get()) || std::fclose(out.release()) != 0) {
        throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    }
}

/// A line as (key, rest of the line).
struct SplitKey {
    std::pair<std::string, std::string> operator()(std::string&& line) const {
        std::string key = line.substr(0, std::min(kKeyBytes, line.size()));
        line.erase(0, std::min(kKeyBytes + 1, line.size()));
        return {std::move(key), std::move(line)};
    }
};

/// A line as (the first `chars` characters of its key, its number).
struct KeyPrefixNumber {
    std::size_t chars = 6;
    std::pair<std::string, std::int64_t> operator()(std::string&& line) const {
        std::int64_t n = 0;
        for (std::size_t c = kKeyBytes + 1; c < kKeyBytes + 9 && c < line.size(); ++c) n = n * 10 + (line[c] - '0');
        line.resize(std::min(chars, line.size()));
        return {std::move(line), n};
    }
    EMBER_SERDE(chars)
};

/// The configuration that makes text_file(input, maps) read `input` (of `bytes` bytes) as
/// exactly `maps` partitions.
inline void set_map_partitions(ember::Conf& conf, std::uint64_t bytes, int maps) {
    conf.set("ember.files.maxPartitionBytes", std::to_string(bytes / static_cast<std::uint64_t>(maps) + (64 << 20)));
}

/// sort_by_key over the records into `maps` x `reduces` partitions, written as lines to `out`.
inline void sort_job(ember::SparkContext& sc, const std::string& input, int maps, int reduces, const std::string& out) {
    sc.text_file(input, maps)
        .map(SplitKey{})
        .sort_by_key(true, reduces)
        .map([](std::pair<std::string, std::string>&& kv) {
            kv.first += ' ';
            kv.first += kv.second;
            return std::move(kv.first);
        })
        .save_as_text_file(out);
}

/// reduce_by_key summing the numbers of the records whose keys share their first
/// `prefix_chars` characters, written to `out` as "prefix sum" lines.
inline void reduce_job(ember::SparkContext& sc, const std::string& input, int maps, int reduces, std::size_t prefix_chars,
                       const std::string& out) {
    sc.text_file(input, maps)
        .map(KeyPrefixNumber{prefix_chars})
        .reduce_by_key([](std::int64_t a, std::int64_t b) { return a + b; }, reduces)
        .map([](std::pair<std::string, std::int64_t>&& kv) { return kv.first + ' ' + std::to_string(kv.second); })
        .save_as_text_file(out);
}

/// Counts what a healthy cluster never has: fetch failures and stage attempts after the first.
struct JobHealth final : ember::scheduler::SparkListener {
    std::atomic<int> fetch_failed{0};
    std::atomic<int> retried_stages{0};
    std::atomic<std::uint64_t> remote_bytes_to_disk{0};
    std::atomic<std::uint64_t> spilled_bytes{0};
    void on_task_end(const ember::scheduler::SparkListenerTaskEnd& e) override {
        if (e.reason.find("FetchFailed") != std::string::npos) ++fetch_failed;
        remote_bytes_to_disk += e.task_metrics.shuffle_read.remote_bytes_read_to_disk;
        spilled_bytes += e.task_metrics.disk_bytes_spilled;
    }
    void on_stage_submitted(const ember::scheduler::SparkListenerStageSubmitted& e) override {
        if (e.stage_info.attempt_id > 0) ++retried_stages;
    }
};

/// Peak resident memory of process `pid` in bytes (VmHWM), or 0 if it cannot be read.
inline std::uint64_t peak_rss_bytes(int pid) {
    std::string path = pid > 0 ? "/proc/" + std::to_string(pid) + "/status" : "/proc/self/status";
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return 0;
    char line[256];
    std::uint64_t kb = 0;
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, "VmHWM:", 6) == 0) kb = std::strtoull(line + 6, nullptr, 10);
    }
    std::fclose(f);
    return kb << 10;
}

/// Runs `argv` (stdin from /dev/null, stdout to `out_path` or inherited if empty); returns its
/// peak RSS in bytes. Throws std::runtime_error if it cannot start or fails.
inline std::uint64_t run_command(const std::vector<std::string>& argv, const std::string& out_path = {}) {
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
    if (pid == 0) {
        if (!out_path.empty()) {
            int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0 || ::dup2(fd, 1) < 0) ::_exit(126);
        }
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    int status = 0;
    rusage usage{};
    while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw std::runtime_error(fmt::format("{} failed (status {})", argv[0], status));
    }
    return static_cast<std::uint64_t>(usage.ru_maxrss) << 10;
}

/// GNU sort of `input` into `output` as the sort job's oracle and baseline, with the memory and
/// threads of the executors (`-S memory --parallel=threads`); returns its peak RSS in bytes.
/// GNU sort gets transparent huge pages as ember's programs do (rpc/allocator_options.cpp):
/// glibc's malloc advises them on its memory under GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (glibc
/// 2.35+; `env` sets it for sort alone and execs it in the same process), which took a 200 MB
/// sort from 2.6-3.2 s to 1.6-1.8 s on this machine class.
inline std::uint64_t gnu_sort(const std::string& input, const std::string& output, const std::string& memory,
                              int threads, const std::string& tmp_dir) {
    ::setenv("LC_ALL", "C", 1);
    return run_command({"env", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1", "sort", "-S", memory,
                        "--parallel=" + std::to_string(threads), "-T", tmp_dir, "-o", output, input});
}

/// The part files of a save_as_text_file directory, in partition order.
inline std::vector<std::string> part_files(const std::string& dir) {
    std::vector<std::string> parts;
    for (auto& e : std::filesystem::directory_iterator(dir)) {
        if (e.path().filename().string().rfind("part-", 0) == 0) parts.push_back(e.path().string());
    }
    std::sort(parts.begin(), parts.end());
    return parts;
}

/// Compares the concatenation of `parts` with the file `expected` byte for byte; "" if equal,
/// else where they first differ.
inline std::string compare_concatenation(const std::vector<std::string>& parts, const std::string& expected) {
    std::FILE* want = std::fopen(expected.c_str(), "rb");
    if (!want) return "cannot open " + expected;
    std::vector<char> a(1 << 20), b(1 << 20);
    std::uint64_t offset = 0;
    std::string diff;
    for (auto& p : parts) {
        std::FILE* got = std::fopen(p.c_str(), "rb");
        if (!got) {
            diff = "cannot open " + p;
            break;
        }
        std::size_t n;
        while (diff.empty() && (n = std::fread(a.data(), 1, a.size(), got)) > 0) {
            std::size_t m = std::fread(b.data(), 1, n, want);
            auto mis = std::mismatch(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(std::min(n, m)), b.begin());
            if (m != n || mis.first != a.begin() + static_cast<std::ptrdiff_t>(n)) {
                diff = fmt::format("output differs from {} at byte {} (in {})", expected,
                                   offset + static_cast<std::uint64_t>(mis.first - a.begin()), p);
            }
            offset += n;
        }
        std::fclose(got);
        if (!diff.empty()) break;
    }
    if (diff.empty() && std::fgetc(want) != EOF) diff = fmt::format("output ends at byte {}, before {}", offset, expected);
    std::fclose(want);
    return diff;
}

/// An order-independent digest of a set of lines: their count and the sum of their 64-bit FNV-1a
/// hashes (two different multisets of lines agree with probability about 2^-64).
struct LinesDigest {
    std::uint64_t lines = 0;
    std::uint64_t sum = 0;
    void add(std::string_view line) {
        std::uint64_t h = 0xcbf29ce484222325ull;
        for (char c : line) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
        ++lines;
        sum += h;
    }
    bool operator==(const LinesDigest&) const = default;
};

/// Calls `line(std::string_view)` with each line of `in`, without its '\n', until it returns
/// false; returns whether every line was read.
template <class F>
bool for_each_line(std::FILE* in, F&& line) {
    char* buf = nullptr;
    std::size_t cap = 0;
    ssize_t n;
    bool go_on = true;
    while (go_on && (n = ::getline(&buf, &cap, in)) > 0) {
        std::size_t len = static_cast<std::size_t>(n);
        if (buf[len - 1] == '\n') --len;
        go_on = line(std::string_view(buf, len));
    }
    std::free(buf);
    return go_on;
}

/// The digest of every line of `files`.
inline LinesDigest digest_files(const std::vector<std::string>& files) {
    LinesDigest d;
    for (auto& f : files) {
        std::FILE* in = std::fopen(f.c_str(), "rb");
        if (!in) throw std::runtime_error("cannot open " + f);
        for_each_line(in, [&](std::string_view line) {
            d.add(line);
            return true;
        });
        std::fclose(in);
    }
    return d;
}

/// A command whose standard output this process reads through a pipe (stdin from /dev/null,
/// stderr inherited), so an oracle's output streams into a check instead of a file on disk.
/// Not thread-safe; the destructor kills and reaps a command that was not finished.
class PipedCommand {
public:
    /// Starts `argv`; throws std::runtime_error if the pipe or the fork fails.
    explicit PipedCommand(const std::vector<std::string>& argv) : name_(argv.at(0)) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
        std::vector<std::string> copy = argv;
        std::vector<char*> args;
        for (auto& a : copy) args.push_back(a.data());
        args.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ < 0) {
            ::close(fds[0]);
            ::close(fds[1]);
            throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
        }
        if (pid_ == 0) {
            int null = ::open("/dev/null", O_RDONLY);
            if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(fds[1], 1) < 0) ::_exit(126);
            ::execvp(args[0], args.data());
            ::_exit(127);
        }
        ::close(fds[1]);
        out_ = ::fdopen(fds[0], "rb");
        if (!out_) ::close(fds[0]);
    }
    PipedCommand(const PipedCommand&) = delete;
    PipedCommand& operator=(const PipedCommand&) = delete;
    ~PipedCommand() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            reap();
        }
        if (out_) std::fclose(out_);
    }

    /// The command's standard output (null if it could not be opened).
    std::FILE* out() const { return out_; }

    /// Closes the pipe and waits for the command; returns its peak RSS in bytes. Throws
    /// std::runtime_error if it did not exit with status 0.
    std::uint64_t finish() {
        if (out_) std::fclose(out_);
        out_ = nullptr;
        auto [status, rss] = reap();
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            throw std::runtime_error(fmt::format("{} failed (status {})", name_, status));
        }
        return rss;
    }

private:
    std::pair<int, std::uint64_t> reap() {
        int status = 0;
        rusage usage{};
        while (::wait4(pid_, &status, 0, &usage) < 0 && errno == EINTR) {
        }
        pid_ = -1;
        return {status, static_cast<std::uint64_t>(usage.ru_maxrss) << 10};
    }

    std::string name_;
    pid_t pid_ = -1;
    std::FILE* out_ = nullptr;
};

/// The reduce job's oracle and baseline: GNU sort of `input` (with gnu_sort's memory, threads
/// and huge pages) piped into a group-by that sums the numbers per key prefix, as `sort | awk`
/// would; returns the digest of its "prefix sum" lines and sets `peak_rss` to GNU sort's peak
/// RSS. Nothing but GNU sort's own temporary files (in `tmp_dir`) reaches the disk.
inline LinesDigest gnu_sort_group_by(const std::string& input, std::size_t prefix_chars, const std::string& memory,
                                     int threads, const std::string& tmp_dir, std::uint64_t& peak_rss) {
    ::setenv("LC_ALL", "C", 1);
    PipedCommand sort({"env", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1", "sort", "-S", memory,
                       "--parallel=" + std::to_string(threads), "-T", tmp_dir, input});
    if (!sort.out()) throw std::runtime_error("cannot read GNU sort's output");
    LinesDigest d;
    std::string key;
    std::int64_t sum = 0;
    bool have = false;
    KeyPrefixNumber split{prefix_chars};
    for_each_line(sort.out(), [&](std::string_view line) {
        auto [k, v] = split(std::string(line));
        if (have && k == key) {
            sum += v;
            return true;
        }
        if (have) d.add(key + ' ' + std::to_string(sum));
        key = std::move(k);
        sum = v;
        have = true;
        return true;
    });
    if (have) d.add(key + ' ' + std::to_string(sum));
    peak_rss = sort.finish();
    return d;
}

/// Checks that the concatenation of `parts` is the sorted permutation of the lines `input`
/// digests: every line is at least the one before it in byte order (LC_ALL=C sort's order)
/// and the lines are the same multiset (LinesDigest). "" if so, else what is wrong. Reads the
/// parts once, writes nothing.
inline std::string check_sorted_permutation(const std::vector<std::string>& parts, const LinesDigest& input) {
    LinesDigest got;
    std::string previous;
    std::string problem;
    for (auto& f : parts) {
        std::FILE* in = std::fopen(f.c_str(), "rb");
        if (!in) {
            problem = "cannot open " + f;
            break;
        }
        bool in_order = for_each_line(in, [&](std::string_view line) {
            if (got.lines > 0 && line < previous) {
                problem = fmt::format("line {} ({}) is before line {} in byte order (in {})", got.lines + 1,
                                      line.substr(0, kKeyBytes), got.lines, f);
                return false;
            }
            got.add(line);
            previous.assign(line);
            return true;
        });
        std::fclose(in);
        if (!in_order) break;
    }
    if (problem.empty() && got.lines != input.lines) {
        problem = fmt::format("{} lines, the input has {}", got.lines, input.lines);
    } else if (problem.empty() && got != input) {
        problem = "the lines are not the input's lines (their digests differ)";
    }
    return problem;
}

}  // namespace shuffle_jobs
