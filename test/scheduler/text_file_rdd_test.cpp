// SPDX-License-Identifier: Apache-2.0
// TextFileRdd: splits own exactly the lines that start in them; planning packs files.
#include "scheduler/rdd/text_file_rdd.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace ember;
using namespace ember::scheduler;

namespace {

struct TempDir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("ember-text-" + std::to_string(std::random_device{}()));
    TempDir() { std::filesystem::create_directories(path); }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& name, const std::string& content) const {
        auto p = path / name;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << content;
        return p.string();
    }
};

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < s.size()) {
        auto nl = s.find('\n', start);
        std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        out.push_back(line);
        if (nl == std::string::npos) break;
        start = nl + 1;
    }
    return out;
}

std::vector<std::string> read_all(const std::vector<FileSplit>& splits) {
    std::vector<std::string> out;
    for (auto& s : splits) TextFileRdd::read_split(s, nullptr, [&](std::string&& l) { out.push_back(std::move(l)); });
    return out;
}

}  // namespace

TEST_CASE("Every cut of a file into two splits yields each line exactly once", "[scheduler][text_file]") {
    TempDir dir;
    std::string content = "alpha\nbeta gamma\n\n\ndelta\r\nepsilon zeta eta\nlast line without newline";
    auto path = dir.write("f.txt", content);
    auto expected = lines_of(content);
    for (std::uint64_t cut = 0; cut <= content.size(); ++cut) {
        std::vector<FileSplit> splits{{path, 0, cut}, {path, cut, content.size() - cut}};
        CAPTURE(cut);
        CHECK(read_all(splits) == expected);
    }
}

TEST_CASE("Random cuts into many splits yield each line exactly once", "[scheduler][text_file]") {
    TempDir dir;
    std::mt19937 rng(42);
    std::string content;
    for (int i = 0; i < 3000; ++i) {
        int len = static_cast<int>(rng() % 200);
        for (int j = 0; j < len; ++j) content += static_cast<char>('a' + rng() % 26);
        content += (rng() % 7 == 0) ? "\r\n" : "\n";
    }
    auto path = dir.write("big.txt", content);
    auto expected = lines_of(content);
    for (int trial = 0; trial < 50; ++trial) {
        std::vector<std::uint64_t> cuts{0, content.size()};
        for (int k = 0; k < 1 + trial % 9; ++k) cuts.push_back(rng() % content.size());
        std::sort(cuts.begin(), cuts.end());
        std::vector<FileSplit> splits;
        for (std::size_t i = 0; i + 1 < cuts.size(); ++i) splits.push_back({path, cuts[i], cuts[i + 1] - cuts[i]});
        CAPTURE(trial);
        CHECK(read_all(splits) == expected);
    }
}

TEST_CASE("Planning covers every byte of every file once, in path order", "[scheduler][text_file]") {
    TempDir dir;
    std::string big(1 << 20, 'x');
    for (std::size_t i = 100; i < big.size(); i += 101) big[i] = '\n';
    dir.write("a/1.txt", "one\n");
    dir.write("a/2.txt", big);
    dir.write("b/.hidden", "hidden words\n");
    dir.write("b/empty.txt", "");
    dir.write("c.txt", "c\n");
    for (int min_parts : {1, 2, 3, 8, 64}) {
        auto parts = TextFileRdd::plan({dir.path.string()}, min_parts, 128 << 20, 4096);
        std::map<std::string, std::uint64_t> covered;
        std::map<std::string, std::uint64_t> next;
        for (auto& p : parts) {
            for (auto& s : p) {
                CHECK(s.start == next[s.path]);
                next[s.path] = s.start + s.length;
                covered[s.path] += s.length;
            }
        }
        CAPTURE(min_parts);
        CHECK(covered.size() == 4);  // the empty file has no split
        CHECK(covered[(dir.path / "a/2.txt").string()] == big.size());
        CHECK(covered[(dir.path / "b/.hidden").string()] == 13);
        CHECK(parts.size() >= 1);
    }
}

TEST_CASE("Planning for N cores shrinks the last partitions so that the cores finish together",
          "[scheduler][text_file]") {
    TempDir dir;
    std::string line(99, 'w');
    line += '\n';
    std::string file;
    for (int i = 0; i < 1000; ++i) file += line;  // 100,000 bytes a file
    for (int i = 0; i < 40; ++i) dir.write(fmt::format("f{:02}.txt", i), file);
    const std::uint64_t target = 500'000;  // five files a partition, before the open costs
    auto bytes = [](const std::vector<FileSplit>& p) {
        std::uint64_t n = 0;
        for (auto& s : p) n += s.length;
        return n;
    };
    auto even = TextFileRdd::plan({dir.path.string()}, 1, target, 0, 1, 0);
    REQUIRE(even.size() == 8);
    for (auto& p : even) CHECK(bytes(p) == target);
    for (int cores : {1, 2, 4}) {
        CAPTURE(cores);
        auto parts = TextFileRdd::plan({dir.path.string()}, 1, target, 0, 1, cores);
        std::uint64_t covered = 0;
        std::uint64_t left = 4'000'000;
        for (std::size_t i = 0; i < parts.size(); ++i) {
            CAPTURE(i);
            std::uint64_t want = std::clamp<std::uint64_t>(left / (2 * cores), target / 4, target);
            CHECK(bytes(parts[i]) == std::min(want, left));
            if (i > 0) CHECK(bytes(parts[i]) <= bytes(parts[i - 1]));
            covered += bytes(parts[i]);
            left -= bytes(parts[i]);
        }
        CHECK(covered == 4'000'000);
        CHECK(parts.size() > even.size());
        // Every byte once, in order, whatever the cores.
        std::map<std::string, std::uint64_t> next;
        for (auto& p : parts) {
            for (auto& s : p) {
                CHECK(s.start == next[s.path]);
                next[s.path] = s.start + s.length;
            }
        }
        CHECK(next.size() == 40);
        for (auto& [path, end] : next) CHECK(end == file.size());
        // A partition count the caller asked for (the target below maxPartitionBytes) is kept.
        auto asked = TextFileRdd::plan({dir.path.string()}, 8, 10'000'000, 0, 1, cores);
        REQUIRE(asked.size() == 8);
        for (auto& p : asked) CHECK(bytes(p) == target);
    }
}

TEST_CASE("Symlinks inside a directory are skipped like find -type f", "[scheduler][text_file]") {
    TempDir dir;
    auto target = dir.write("real.txt", "once\n");
    std::filesystem::create_symlink(target, dir.path / "link.txt");
    auto files = TextFileRdd::list_files({dir.path.string()});
    REQUIRE(files.size() == 1);
    CHECK(files[0].first == target);
    // Named explicitly, a symlink is read.
    CHECK(TextFileRdd::list_files({(dir.path / "link.txt").string()}).size() == 1);
}

TEST_CASE("A directory lists its files recursively in path order, as find -type f | sort", "[scheduler][text_file]") {
    TempDir dir;
    // Names around '/' in byte order ('-' and '.' sort before it, '0' after), a deep one, an
    // empty directory, a symlinked directory (not followed) and a hidden file.
    for (const char* f : {"d/x", "d-2/y", "d.3", "d0/z", "d/e/f/g/deep.txt", ".hidden", "d/e/h"}) dir.write(f, "w\n");
    std::filesystem::create_directories(dir.path / "empty");
    std::filesystem::create_directory_symlink(dir.path / "d", dir.path / "linked");
    std::vector<std::string> expected;
    for (const char* f : {".hidden", "d-2/y", "d.3", "d/e/f/g/deep.txt", "d/e/h", "d/x", "d0/z"}) {
        expected.push_back((dir.path / f).string());
    }
    for (int threads : {1, 2, 4}) {
        for (std::string root : {dir.path.string(), dir.path.string() + "/", dir.path.string() + "//"}) {
            CAPTURE(threads, root);
            std::vector<std::string> got;
            for (auto& [path, size] : TextFileRdd::list_files({root}, threads)) {
                got.push_back(path);
                CHECK(size == 2);
            }
            CHECK(got == expected);
        }
    }
}

TEST_CASE("Several threads list a wide, deep tree as one does", "[scheduler][text_file]") {
    // 300 directories three levels deep with 4 files each, and files beside the directories:
    // the threads share the directories, and the result is the one thread's, in path order.
    TempDir dir;
    std::size_t files = 0;
    for (int a = 0; a < 3; ++a) {
        for (int b = 0; b < 10; ++b) {
            for (int c = 0; c < 10; ++c) {
                for (int f = 0; f < 4; ++f, ++files) dir.write(fmt::format("{}/{}/{}/f{}", a, b, c, f), "w\n");
            }
            dir.write(fmt::format("{}/{}.txt", a, b), "w\n");
            ++files;
        }
    }
    auto one = TextFileRdd::list_files({dir.path.string()}, 1);
    CHECK(one.size() == files);
    CHECK(std::is_sorted(one.begin(), one.end()));
    for (int threads : {2, 3, 8}) {
        CAPTURE(threads);
        CHECK(TextFileRdd::list_files({dir.path.string()}, threads) == one);
        auto parts = TextFileRdd::plan({dir.path.string()}, 4, 128 << 20, 4096, threads);
        CHECK(parts == TextFileRdd::plan({dir.path.string()}, 4, 128 << 20, 4096, 1));
    }
}

TEST_CASE("Listing refuses a file its user cannot read, as access(2) decides", "[scheduler][text_file]") {
    // The owner's bits decide for the owner even when others may read (mode 004), and other
    // bits for everyone else. Run as an unprivileged user (root reads everything), in a child.
    if (::geteuid() != 0) {
        WARN("not root: cannot switch to an unprivileged user; skipped");
        return;
    }
    const uid_t nobody = 65534;
    TempDir dir;
    std::filesystem::permissions(dir.path, std::filesystem::perms(0755));
    auto file = dir.write("sub/f.txt", "w\n");
    std::filesystem::permissions(dir.path / "sub", std::filesystem::perms(0755));
    // In the child: 0 listed, 1 refused as not readable, 2 anything else. With three threads a
    // helper may meet the file: its error reaches the caller all the same.
    auto list_as_nobody = [&](int threads) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            if (::setgid(nobody) != 0 || ::setuid(nobody) != 0) ::_exit(2);
            try {
                TextFileRdd::list_files({dir.path.string()}, threads);
                ::_exit(0);
            } catch (const std::runtime_error& e) {
                ::_exit(std::string(e.what()).find("Input file is not readable: " + file) == 0 ? 1 : 2);
            } catch (...) {
                ::_exit(2);
            }
        }
        int status = 0;
        ::waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
    };
    struct Case {
        uid_t owner;
        unsigned mode;
        int expected;
    };
    for (Case c : {Case{nobody, 0400, 0}, Case{nobody, 0004, 1}, Case{nobody, 0000, 1}, Case{0, 0644, 0},
                   Case{0, 0640, 1}, Case{0, 0600, 1}}) {
        CAPTURE(c.owner, c.mode);
        REQUIRE(::chown(file.c_str(), c.owner, 0) == 0);
        REQUIRE(::chmod(file.c_str(), c.mode) == 0);
        CHECK(list_as_nobody(1) == c.expected);
        CHECK(list_as_nobody(3) == c.expected);
    }
}

TEST_CASE("A missing input names the path", "[scheduler][text_file]") {
    CHECK_THROWS_WITH(TextFileRdd::plan({"/nonexistent/ember/input"}, 2, 128 << 20, 4096),
                      Catch::Contains("Input path does not exist: /nonexistent/ember/input"));
}
