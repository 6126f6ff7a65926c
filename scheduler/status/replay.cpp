// SPDX-License-Identifier: Apache-2.0
#include "scheduler/status/replay.hpp"

#include "scheduler/status/json_protocol.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <lz4frame.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <system_error>

namespace ember::scheduler {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kReadChunk = 1 << 20;
constexpr std::string_view kInProgress = ".inprogress";

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/// A file name's codec after ".inprogress" is dropped: "", "zstd", "lz4", or the name of one
/// ember cannot read.
std::string codec_of(std::string_view name) {
    if (ends_with(name, kInProgress)) name.remove_suffix(kInProgress.size());
    for (std::string_view c : {"zstd", "zst", "lz4", "lzf", "snappy"}) {
        if (name.size() > c.size() + 1 && ends_with(name, c) && name[name.size() - c.size() - 1] == '.') {
            return c == "zst" ? "zstd" : std::string(c);
        }
    }
    return "";
}

/// Cuts decoded text into lines and replays each.
class LineReplayer {
public:
    LineReplayer(const std::string& path, const std::function<void(const SparkListenerEvent&)>& on_event,
                 bool maybe_truncated)
        : path_(path), on_event_(on_event), maybe_truncated_(maybe_truncated) {}

    void feed(const char* p, std::size_t n) {
        while (n > 0) {
            const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
            if (!nl) {
                pending_.append(p, n);
                return;
            }
            std::size_t len = static_cast<std::size_t>(nl - p);
            if (pending_.empty()) {
                line(std::string_view(p, len));
            } else {
                pending_.append(p, len);
                line(pending_);
                pending_.clear();
            }
            p = nl + 1;
            n -= len + 1;
        }
    }

    ReplayResult finish() {
        if (!pending_.empty()) {
            line(pending_);
            pending_.clear();
        }
        if (deferred_error_) result_.truncated = true;  // only set with maybe_truncated
        return std::move(result_);
    }

    [[noreturn]] void fail(std::string_view what) const {
        throw std::runtime_error(fmt::format("event log {} line {}: {}", path_, line_no_, what));
    }
    void set_stream_truncated() { result_.truncated = true; }

private:
    void line(std::string_view s) {
        ++line_no_;
        if (s.find_first_not_of(" \t\r") == std::string_view::npos) return;
        // A bad line is only forgiven if nothing follows it.
        if (deferred_error_) throw std::runtime_error(*deferred_error_);

        json::error_code ec;
        parser_.reset(json::storage_ptr(&mr_));
        parser_.write(s.data(), s.size(), ec);
        if (ec) {
            bad_line(ec.message());
            return;
        }
        {
            json::value v = parser_.release();
            if (!v.is_object()) {
                bad_line("not a JSON object");
                return;
            }
            handle(v.get_object());
        }
        mr_.release();
    }

    void bad_line(const std::string& why) {
        std::string msg = fmt::format("event log {} line {}: not a JSON object: {}", path_, line_no_, why);
        if (!maybe_truncated_) throw std::runtime_error(msg);
        deferred_error_ = std::move(msg);
    }

    void handle(const json::object& o) {
        auto ev = o.find("Event");
        if (ev != o.end() && ev->value().is_string() && ev->value().get_string() == "SparkListenerLogStart") {
            auto v = o.find("Spark Version");
            if (v != o.end() && v->value().is_string()) result_.spark_version = std::string(v->value().get_string());
            return;
        }
        std::optional<SparkListenerEvent> e;
        try {
            e = event_from_json(o);
        } catch (const std::exception& ex) {
            fail(ex.what());
        }
        if (!e) {
            ++result_.skipped;
            return;
        }
        on_event_(*e);
        ++result_.events;
    }

    const std::string& path_;
    const std::function<void(const SparkListenerEvent&)>& on_event_;
    bool maybe_truncated_;
    std::string pending_;
    std::size_t line_no_ = 0;
    std::optional<std::string> deferred_error_;
    ReplayResult result_;
    alignas(std::max_align_t) unsigned char arena_[16 * 1024];
    json::monotonic_resource mr_{arena_, sizeof arena_};
    json::parser parser_;
};

/// An open file, closed on scope exit.
class File {
public:
    explicit File(const std::string& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
        if (fd_ < 0) throw std::runtime_error("event log " + path + ": cannot open: " + errno_text(errno));
    }
    ~File() { ::close(fd_); }
    File(const File&) = delete;
    File& operator=(const File&) = delete;

    /// Up to `n` bytes; 0 at the end.
    std::size_t read(char* p, std::size_t n) {
        for (;;) {
            ssize_t r = ::read(fd_, p, n);
            if (r >= 0) return static_cast<std::size_t>(r);
            if (errno != EINTR) throw std::runtime_error("event log " + path_ + ": read failed: " + errno_text(errno));
        }
    }

private:
    const std::string& path_;
    int fd_;
};

void replay_plain(File& f, LineReplayer& lines) {
    std::vector<char> in(kReadChunk);
    while (std::size_t n = f.read(in.data(), in.size())) lines.feed(in.data(), n);
}

/// A zstd log that decodes to more than kMaxZstdRatio times the bytes read (past its first
/// kZstdRatioFloor decoded bytes) is a decompression bomb, not an event log: zstd's RLE blocks
/// let 10 KB decode to 300 MB, which would be held as one line or parsed for minutes. Real logs
/// compress about 10:1 to 30:1. (LZ4's format bounds its ratio near 255:1.)
constexpr std::uint64_t kMaxZstdRatio = 1000;
constexpr std::uint64_t kZstdRatioFloor = 4 << 20;

void replay_zstd(const std::string& path, File& f, LineReplayer& lines, bool maybe_truncated) {
    std::unique_ptr<ZSTD_DCtx, std::size_t (*)(ZSTD_DCtx*)> d(ZSTD_createDCtx(), ZSTD_freeDCtx);
    std::vector<char> in(ZSTD_DStreamInSize());
    std::vector<char> out(ZSTD_DStreamOutSize());
    std::size_t last = 0;  // 0: the last frame is complete
    bool any = false;
    std::uint64_t read_bytes = 0, decoded = 0;
    while (std::size_t n = f.read(in.data(), in.size())) {
        any = true;
        read_bytes += n;
        ZSTD_inBuffer src{in.data(), n, 0};
        for (;;) {
            ZSTD_outBuffer dst{out.data(), out.size(), 0};
            last = ZSTD_decompressStream(d.get(), &dst, &src);
            if (ZSTD_isError(last)) {
                throw std::runtime_error("event log " + path + ": corrupt zstd data: " + ZSTD_getErrorName(last));
            }
            decoded += dst.pos;
            if (decoded > kZstdRatioFloor && decoded / kMaxZstdRatio > read_bytes) {
                throw std::runtime_error(fmt::format("event log {}: {} bytes of zstd data decode to over {} bytes "
                                                     "(more than {}:1, not an event log)",
                                                     path, read_bytes, decoded, kMaxZstdRatio));
            }
            lines.feed(out.data(), dst.pos);
            if (src.pos == src.size && dst.pos < dst.size) break;
        }
    }
    if (any && last != 0) {
        if (!maybe_truncated) throw std::runtime_error("event log " + path + ": the zstd stream is truncated");
        lines.set_stream_truncated();
    }
}

void replay_lz4(const std::string& path, File& f, LineReplayer& lines, bool maybe_truncated) {
    LZ4F_dctx* raw = nullptr;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) {
        throw std::runtime_error("event log " + path + ": cannot create an LZ4 decoder");
    }
    std::unique_ptr<LZ4F_dctx, std::size_t (*)(LZ4F_dctx*)> d(raw, LZ4F_freeDecompressionContext);
    std::vector<char> in(kReadChunk);
    std::vector<char> out(4 * 64 * 1024);
    std::size_t last = 0;  // 0: the last frame is complete
    bool any = false;
    while (std::size_t n = f.read(in.data(), in.size())) {
        any = true;
        std::size_t off = 0;
        for (;;) {
            std::size_t dst_size = out.size();
            std::size_t src_size = n - off;
            last = LZ4F_decompress(d.get(), out.data(), &dst_size, in.data() + off, &src_size, nullptr);
            if (LZ4F_isError(last)) {
                throw std::runtime_error("event log " + path + ": corrupt LZ4 data: " + LZ4F_getErrorName(last));
            }
            off += src_size;
            lines.feed(out.data(), dst_size);
            if (off == n && dst_size < out.size()) break;
        }
    }
    if (any && last != 0) {
        if (!maybe_truncated) throw std::runtime_error("event log " + path + ": the LZ4 stream is truncated");
        lines.set_stream_truncated();
    }
}

}  // namespace

ReplayResult replay_event_log(const std::string& path, const std::function<void(const SparkListenerEvent&)>& on_event,
                              bool maybe_truncated) {
    std::string codec = codec_of(fs::path(path).filename().string());
    if (!codec.empty() && codec != "zstd" && codec != "lz4") {
        throw std::runtime_error("event log " + path + ": unsupported codec \"" + codec + "\" (zstd or lz4)");
    }
    File f(path);
    LineReplayer lines(path, on_event, maybe_truncated);
    if (codec == "zstd") {
        replay_zstd(path, f, lines, maybe_truncated);
    } else if (codec == "lz4") {
        replay_lz4(path, f, lines, maybe_truncated);
    } else {
        replay_plain(f, lines);
    }
    return lines.finish();
}

ReplayResult replay_event_log(const std::string& path, SparkListener& listener, bool maybe_truncated) {
    return replay_event_log(
        path, [&listener](const SparkListenerEvent& e) { dispatch(listener, e); }, maybe_truncated);
}

std::vector<EventLogInfo> list_event_logs(const std::string& dir) {
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) throw std::runtime_error("event log directory " + dir + ": " + ec.message());
    std::vector<EventLogInfo> logs;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) throw std::runtime_error("event log directory " + dir + ": " + ec.message());
        std::string name = it->path().filename().string();
        if (name.empty() || name[0] == '.') continue;
        struct stat st {};
        // stat, not lstat: a symlink to a log counts as the log.
        if (::stat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        EventLogInfo info;
        info.path = it->path().string();
        info.codec = codec_of(name);
        if (!info.codec.empty() && info.codec != "zstd" && info.codec != "lz4") continue;
        std::string_view stem = name;
        info.in_progress = ends_with(stem, kInProgress);
        if (info.in_progress) stem.remove_suffix(kInProgress.size());
        if (!info.codec.empty()) stem.remove_suffix(stem.size() - stem.rfind('.'));
        if (stem.empty()) continue;
        info.app_id = std::string(stem);
        info.size = static_cast<std::int64_t>(st.st_size);
        info.mtime_ms = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
        logs.push_back(std::move(info));
    }
    std::sort(logs.begin(), logs.end(), [](const EventLogInfo& a, const EventLogInfo& b) { return a.path < b.path; });
    return logs;
}

}  // namespace ember::scheduler
