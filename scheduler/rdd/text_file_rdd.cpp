// SPDX-License-Identifier: Apache-2.0
#include "scheduler/rdd/text_file_rdd.hpp"

#include "scheduler/registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ember::scheduler {

namespace {

struct InputFile {
    std::string path;
    std::uint64_t size;
};

/// Throws "Input file is not readable" unless the caller (its real uid, as access(2)) may read
/// `name` in directory `dirfd` (AT_FDCWD: `name` is a path), whose stat is `sb`. The caller's
/// own file with its owner-read bit is readable without asking the kernel (for the owner its
/// bits decide alone, and an ACL's owner entry is those bits); anyone else's (group, other and
/// ACL entries) goes to faccessat, which costs as much as the stat.
void check_readable(int dirfd, const char* name, const struct stat& sb, uid_t uid, std::string_view shown) {
    if (sb.st_uid == uid && (sb.st_mode & S_IRUSR)) return;
    if (::faccessat(dirfd, name, R_OK, 0) != 0) {
        throw std::runtime_error(fmt::format("Input file is not readable: {}: {}", shown, std::strerror(errno)));
    }
}

/// Lists one directory `dir` (its descriptor walk: openat, fstatat, faccessat, so each file
/// costs a lookup of its own name, not of its whole path): regular files to `files`,
/// subdirectories to `subdirs`.
void list_directory(const std::string& dir, uid_t uid, std::vector<InputFile>& files, std::vector<std::string>& subdirs) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
    if (!d) {
        int err = errno;
        if (fd >= 0) ::close(fd);
        throw std::runtime_error(fmt::format("Cannot read input directory {}: {}", dir, std::strerror(err)));
    }
    struct Closer {
        DIR* d;
        ~Closer() { ::closedir(d); }
    } closer{d};
    const std::string prefix = dir == "/" ? dir : dir + '/';
    for (;;) {
        errno = 0;  // readdir's end and its failure differ only in errno
        const dirent* e = ::readdir(d);
        if (!e) {
            if (errno != 0) {
                throw std::runtime_error(fmt::format("Cannot read input directory {}: {}", dir, std::strerror(errno)));
            }
            break;
        }
        std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        // Regular files only, as `find -type f`: a symlink inside the tree is not followed,
        // so a file linked twice is not counted twice.
        if (e->d_type != DT_REG && e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
        struct stat sb;
        if (::fstatat(fd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            throw std::runtime_error(fmt::format("Cannot read input directory {}: {}: {}", dir, name, std::strerror(errno)));
        }
        if (S_ISDIR(sb.st_mode)) {
            subdirs.push_back(prefix + e->d_name);
        } else if (S_ISREG(sb.st_mode)) {
            std::string file = prefix + e->d_name;
            check_readable(fd, e->d_name, sb, uid, file);
            files.push_back({std::move(file), static_cast<std::uint64_t>(sb.st_size)});
        }
    }
}

/// Walks the tree under `root` with `threads` threads (the calling thread alone if 1): each
/// takes the next directory nobody has read yet. The first error is rethrown once every thread
/// has stopped. Files come out in no particular order.
void list_tree(const std::string& root, int threads, uid_t uid, std::vector<InputFile>& found) {
    if (threads <= 1) {
        std::vector<std::string> dirs{root};
        while (!dirs.empty()) {
            std::string dir = std::move(dirs.back());
            dirs.pop_back();
            list_directory(dir, uid, found, dirs);
        }
        return;
    }
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> pending{root};  // guarded by mu
    int reading = 0;                         // directories being read; guarded by mu
    std::exception_ptr error;                // the first failure; guarded by mu
    std::vector<std::vector<InputFile>> per_thread(static_cast<std::size_t>(threads));
    auto walk = [&](std::vector<InputFile>& files) {
        std::vector<std::string> subdirs;
        std::unique_lock lk(mu);
        for (;;) {
            cv.wait(lk, [&] { return error || !pending.empty() || reading == 0; });
            if (error || pending.empty()) return;  // failed, or nothing left and nobody reading
            std::string dir = std::move(pending.back());
            pending.pop_back();
            ++reading;
            lk.unlock();
            subdirs.clear();
            std::exception_ptr failed;
            try {
                list_directory(dir, uid, files, subdirs);
            } catch (...) {
                failed = std::current_exception();
            }
            lk.lock();
            --reading;
            if (failed && !error) error = failed;
            for (auto& s : subdirs) pending.push_back(std::move(s));
            cv.notify_all();
        }
    };
    // No exception leaves a walking thread (nor the caller while helpers still walk): the first
    // one stops every thread and is rethrown after the joins.
    auto run = [&](std::vector<InputFile>& files) noexcept {
        try {
            walk(files);
        } catch (...) {
            std::lock_guard lk(mu);
            if (!error) error = std::current_exception();
            cv.notify_all();
        }
    };
    std::vector<std::thread> helpers;
    helpers.reserve(static_cast<std::size_t>(threads - 1));
    for (int i = 1; i < threads; ++i) {
        try {
            helpers.emplace_back([&, i] { run(per_thread[static_cast<std::size_t>(i)]); });
        } catch (const std::system_error&) {
            break;  // no more threads to be had: fewer walk
        }
    }
    run(per_thread[0]);
    for (auto& t : helpers) t.join();
    if (error) std::rethrow_exception(error);
    for (auto& files : per_thread) {
        found.insert(found.end(), std::make_move_iterator(files.begin()), std::make_move_iterator(files.end()));
    }
}

void list_input(const std::string& path, int threads, std::vector<InputFile>& out) {
    const uid_t uid = ::getuid();
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) throw std::runtime_error(fmt::format("Input path does not exist: {}", path));
    if (S_ISREG(st.st_mode)) {
        check_readable(AT_FDCWD, path.c_str(), st, uid, path);
        out.push_back({path, static_cast<std::uint64_t>(st.st_size)});
        return;
    }
    if (!S_ISDIR(st.st_mode)) throw std::runtime_error(fmt::format("Input path is not a file or directory: {}", path));
    std::vector<InputFile> found;
    std::string root = path;
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    list_tree(root, threads, uid, found);
    std::sort(found.begin(), found.end(), [](auto& a, auto& b) { return a.path < b.path; });
    out.insert(out.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
}

}  // namespace

std::vector<std::pair<std::string, std::uint64_t>> TextFileRdd::list_files(const std::vector<std::string>& paths,
                                                                          int threads) {
    std::vector<InputFile> files;
    for (auto& p : paths) list_input(p, threads, files);
    std::vector<std::pair<std::string, std::uint64_t>> out;
    for (auto& f : files) out.emplace_back(f.path, f.size);
    return out;
}

TextFileRdd::TextFileRdd(int id, std::vector<std::vector<FileSplit>> partitions)
    : RddNode<std::string>(id, static_cast<int>(partitions.size())), partitions_(std::move(partitions)) {}

const char* TextFileRdd::type_key() const { return rdd_type_key<TextFileRdd>(); }

std::shared_ptr<RddBase> TextFileRdd::decode(LineageDecoder&, Decoder&, int id, int parts) {
    return std::shared_ptr<TextFileRdd>(new TextFileRdd(id, parts));
}

bool TextFileRdd::write_partition_data(int p, Encoder& e) const {
    if (from_tasks_) return false;  // an executor's copy holds no splits
    e.write(partitions_.at(static_cast<std::size_t>(p)));
    return true;
}

std::vector<std::vector<FileSplit>> TextFileRdd::plan(const std::vector<std::string>& paths, int min_partitions,
                                                      std::uint64_t max_partition_bytes, std::uint64_t open_cost,
                                                      int list_threads, int cores) {
    std::vector<InputFile> files;
    for (auto& p : paths) list_input(p, list_threads, files);
    if (files.empty()) {
        throw std::runtime_error(fmt::format("Input path has no files: {}", fmt::join(paths, ", ")));
    }
    std::uint64_t total = 0;
    for (auto& f : files) total += f.size + open_cost;
    std::uint64_t target = total / static_cast<std::uint64_t>(std::max(min_partitions, 1));
    target = std::clamp<std::uint64_t>(target, 1, std::max<std::uint64_t>(max_partition_bytes, 1));
    // The size a partition that starts with `left` bytes (open costs included) still to plan
    // aims at: the target, or, near the end, a share of what is left (see the class comment);
    // only where maxPartitionBytes set the target, not a partition count the caller asked for.
    const bool shrink = cores > 0 && target < total / static_cast<std::uint64_t>(std::max(min_partitions, 1));
    auto goal = [&](std::uint64_t left) {
        if (!shrink) return target;
        return std::clamp<std::uint64_t>(left / (2 * static_cast<std::uint64_t>(cores)), std::max<std::uint64_t>(target / 4, 1),
                                         target);
    };

    std::vector<std::vector<FileSplit>> parts;
    std::vector<FileSplit> cur;
    std::uint64_t cur_bytes = 0;
    std::uint64_t left = total;
    std::uint64_t cur_goal = goal(left);
    for (auto& f : files) {
        for (std::uint64_t pos = 0; pos < f.size;) {  // empty files have no lines: no split
            std::uint64_t take = std::min(f.size - pos, std::max<std::uint64_t>(cur_goal - std::min(cur_goal, cur_bytes), 1));
            cur.push_back(FileSplit{f.path, pos, take});
            cur_bytes += take + open_cost;
            pos += take;
            if (cur_bytes >= cur_goal) {
                parts.push_back(std::move(cur));
                cur.clear();
                left -= std::min(left, cur_bytes);
                cur_bytes = 0;
                cur_goal = goal(left);
            }
        }
        if (f.size == 0) left -= std::min(left, open_cost);
    }
    if (!cur.empty()) parts.push_back(std::move(cur));
    if (parts.empty()) parts.emplace_back();  // only empty files: one empty partition
    return parts;
}

namespace {

/// Buffered line reader over one file from a given offset. The buffer is not zero-filled (a
/// 1 MiB std::string resize per file cost more than the words of a small file), and reads ask
/// for what the split still holds (at least 64 KiB, at most 1 MiB), so small files take small
/// buffers.
class LineReader {
public:
    LineReader(int fd, const std::string& path, std::uint64_t offset, std::uint64_t end)
        : fd_(fd), path_(path), buf_off_(offset), end_(end) {}

    /// The next line (without '\n') and the file offset where it starts; false at end of file.
    bool next(std::string_view& line, std::uint64_t& line_start) {
        for (;;) {
            auto* nl = size_ > at_ ? static_cast<const char*>(std::memchr(buf_.get() + at_, '\n', size_ - at_))
                                   : nullptr;
            if (nl) {
                std::size_t end = static_cast<std::size_t>(nl - buf_.get());
                line = std::string_view(buf_.get() + at_, end - at_);
                line_start = buf_off_ + at_;
                at_ = end + 1;
                return true;
            }
            if (eof_) {
                if (at_ == size_) return false;
                line = std::string_view(buf_.get() + at_, size_ - at_);
                line_start = buf_off_ + at_;
                at_ = size_;
                return true;
            }
            // Keep only the unfinished line, then read more after it.
            if (at_ > 0) {
                std::memmove(buf_.get(), buf_.get() + at_, size_ - at_);
                size_ -= at_;
                buf_off_ += at_;
                at_ = 0;
            }
            fill();
        }
    }
    std::uint64_t bytes_read() const noexcept { return bytes_read_; }

private:
    void fill() {
        constexpr std::size_t kMin = 64 << 10, kMax = 1 << 20;
        std::uint64_t pos = buf_off_ + size_;
        std::size_t want = static_cast<std::size_t>(std::clamp<std::uint64_t>(end_ > pos ? end_ - pos + 1 : 0, kMin, kMax));
        if (cap_ - size_ < want) {
            std::size_t cap = std::max(size_ + want, cap_ * 2);
            auto bigger = std::make_unique_for_overwrite<char[]>(cap);
            if (size_ > 0) std::memcpy(bigger.get(), buf_.get(), size_);
            buf_ = std::move(bigger);
            cap_ = cap;
        }
        ssize_t n;
        do {
            n = ::pread(fd_, buf_.get() + size_, want, static_cast<off_t>(pos));
        } while (n < 0 && errno == EINTR);
        if (n < 0) throw std::runtime_error(fmt::format("Cannot read {}: {}", path_, std::strerror(errno)));
        size_ += static_cast<std::size_t>(n);
        bytes_read_ += static_cast<std::uint64_t>(n);
        if (n == 0) eof_ = true;
    }

    int fd_;
    const std::string& path_;
    std::unique_ptr<char[]> buf_;
    std::size_t cap_ = 0;
    std::size_t size_ = 0;   // bytes in buf_
    std::uint64_t buf_off_;  // file offset of buf_[0]
    std::uint64_t end_;      // where the split ends (reads past it finish its last line)
    std::size_t at_ = 0;     // next unread byte in buf_
    bool eof_ = false;
    std::uint64_t bytes_read_ = 0;
};

}  // namespace

void TextFileRdd::read_split(const FileSplit& split, TaskContext* tc, FunctionRef<void(std::string&&)> out) {
    int fd = ::open(split.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(fmt::format("Cannot open {}: {}", split.path, std::strerror(errno)));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};

    const std::uint64_t end = split.start + split.length;
    LineReader reader(fd, split.path, split.start, end);
    std::string_view line;
    std::uint64_t line_start = 0;
    if (split.start > 0) {
        // A split owns the lines that start inside it: unless the byte before it ends a line,
        // the first (partial) line belongs to the previous split.
        char prev = 0;
        ssize_t n;
        do {
            n = ::pread(fd, &prev, 1, static_cast<off_t>(split.start - 1));
        } while (n < 0 && errno == EINTR);
        if (n != 1) throw std::runtime_error(fmt::format("Cannot read {}: {}", split.path, std::strerror(errno)));
        if (prev != '\n' && !reader.next(line, line_start)) return;
    }
    std::uint64_t records = 0;
    // One string for every line: unless a consumer takes it (moves from it), its buffer is
    // reused, so a line costs no allocation.
    std::string record;
    while (reader.next(line, line_start) && line_start < end) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        record.assign(line.data(), line.size());
        out(std::move(record));
        ++records;
    }
    if (tc) {
        tc->metrics().input_bytes_read += reader.bytes_read();
        tc->metrics().input_records_read += records;
    }
}

void TextFileRdd::compute(int p, TaskContext& tc, FunctionRef<void(std::string&&)> out) {
    auto read = [&](const std::vector<FileSplit>& splits) {
        for (const auto& split : splits) {
            tc.kill_if_interrupted();
            read_split(split, &tc, out);
        }
    };
    if (!from_tasks_) {
        read(partitions_.at(static_cast<std::size_t>(p)));
        return;
    }
    auto bytes = tc.partition_data(id(), p);
    if (!bytes) {
        throw std::runtime_error(fmt::format("the task carries no splits for partition {} of HadoopRDD {}", p, id()));
    }
    Decoder d(*bytes);
    auto splits = d.read<std::vector<FileSplit>>();
    if (!d.done()) throw DecodeError("trailing bytes after the splits in the task's partition data");
    read(splits);
}

}  // namespace ember::scheduler
