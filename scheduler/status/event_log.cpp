// SPDX-License-Identifier: Apache-2.0
#include "scheduler/status/event_log.hpp"

#include "rpc/log.hpp"
#include "scheduler/status/json_protocol.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serializer.hpp>
#include <fcntl.h>
#include <lz4frame.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <vector>

namespace ember::scheduler {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

enum class Codec { none, zstd, lz4 };

/// How much of the buffer a drain hands to LZ4F_compressUpdate at once.
constexpr std::size_t kLz4Chunk = 64 * 1024;
/// Spark's default zstd level for event logs and shuffle (spark.io.compression.zstd.level).
constexpr int kZstdLevel = 1;

/// What a drain does besides writing the buffer out.
enum class Drain { keep_going, flush, end };

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

}  // namespace

struct EventLoggingListener::Impl {
    EventLogOptions options;
    std::string final_path;
    std::string inprogress_path;
    Codec codec = Codec::none;

    mutable std::mutex mu;
    std::string current_path;  // guarded by mu
    int fd = -1;               // guarded by mu
    bool stopped = false;      // guarded by mu
    bool failed = false;       // guarded by mu
    std::uint64_t events = 0;  // guarded by mu

    // Serialization, reused for every event (guarded by mu): the event's JSON tree lives in
    // `arena` (monotonic, released after each line), its text goes straight into `buf`.
    alignas(std::max_align_t) unsigned char arena[32 * 1024];
    json::monotonic_resource mr{arena, sizeof arena};
    json::serializer sr;
    TaskEventJson task_json;  // task events, the bulk of a log, reuse their trees
    std::vector<char> buf;
    std::size_t used = 0;

    // Compression state (guarded by mu).
    ZSTD_CCtx* zstd = nullptr;
    LZ4F_cctx* lz4 = nullptr;
    LZ4F_preferences_t lz4_prefs{};
    std::vector<char> out;  // compressed bytes on their way to the file

    ~Impl() {
        if (zstd) ZSTD_freeCCtx(zstd);
        if (lz4) LZ4F_freeCompressionContext(lz4);
        if (fd >= 0) ::close(fd);
    }

    void fail(const std::string& what) {
        if (failed) return;
        failed = true;
        log::get("scheduler")->error("Event log {}: {}; no more events are logged and the file keeps its "
                                     ".inprogress name",
                                     inprogress_path, what);
    }

    bool write_all(const char* p, std::size_t n) {
        while (n > 0 && !failed) {
            ssize_t w = ::write(fd, p, n);
            if (w < 0) {
                if (errno == EINTR) continue;
                fail("write failed: " + errno_text(errno));
                return false;
            }
            p += w;
            n -= static_cast<std::size_t>(w);
        }
        return !failed;
    }

    /// Hands the buffered text to the file (through the codec), then empties the buffer.
    void drain(Drain mode) {
        if (!failed) {
            switch (codec) {
                case Codec::none: write_all(buf.data(), used); break;
                case Codec::zstd: drain_zstd(mode); break;
                case Codec::lz4: drain_lz4(mode); break;
            }
        }
        used = 0;  // after a failure the text is dropped
    }

    void drain_zstd(Drain mode) {
        ZSTD_EndDirective directive =
            mode == Drain::end ? ZSTD_e_end : mode == Drain::flush ? ZSTD_e_flush : ZSTD_e_continue;
        ZSTD_inBuffer in{buf.data(), used, 0};
        for (;;) {
            ZSTD_outBuffer o{out.data(), out.size(), 0};
            std::size_t remaining = ZSTD_compressStream2(zstd, &o, &in, directive);
            if (ZSTD_isError(remaining)) {
                fail(std::string("zstd: ") + ZSTD_getErrorName(remaining));
                return;
            }
            if (!write_all(out.data(), o.pos)) return;
            bool done = directive == ZSTD_e_continue ? in.pos == in.size : remaining == 0;
            if (done) return;
        }
    }

    bool lz4_ok(std::size_t r) {
        if (LZ4F_isError(r)) fail(std::string("lz4: ") + LZ4F_getErrorName(r));
        return !LZ4F_isError(r);
    }

    void drain_lz4(Drain mode) {
        for (std::size_t off = 0; off < used;) {
            std::size_t n = std::min(kLz4Chunk, used - off);
            std::size_t r = LZ4F_compressUpdate(lz4, out.data(), out.size(), buf.data() + off, n, nullptr);
            if (!lz4_ok(r) || !write_all(out.data(), r)) return;
            off += n;
        }
        if (mode == Drain::keep_going) return;
        std::size_t r = mode == Drain::end ? LZ4F_compressEnd(lz4, out.data(), out.size(), nullptr)
                                           : LZ4F_flush(lz4, out.data(), out.size(), nullptr);
        if (lz4_ok(r)) write_all(out.data(), r);
    }

    /// Serializes `o` and a newline into the buffer, draining it whenever it fills up.
    void append(const json::object& o) {
        sr.reset(&o);
        while (!failed) {
            json::string_view s = sr.read(buf.data() + used, buf.size() - used);
            used += s.size();
            if (sr.done()) break;
            drain(Drain::keep_going);
        }
        if (used == buf.size()) drain(Drain::keep_going);
        buf[used++] = '\n';
    }

    template <class Event>
    void log_event(const Event& e, bool flush) {
        std::lock_guard lk(mu);
        if (stopped || failed) return;
        if constexpr (std::is_same_v<Event, SparkListenerTaskEnd> || std::is_same_v<Event, SparkListenerTaskStart>) {
            append(task_json(e));
        } else {
            {
                json::object o = to_json(e, json::storage_ptr(&mr));
                append(o);
            }
            mr.release();
        }
        ++events;
        if (flush) drain(Drain::flush);
    }

    void stop() {
        std::lock_guard lk(mu);
        if (stopped) return;
        stopped = true;
        if (!failed) drain(Drain::end);
        if (fd >= 0) {
            if (::close(fd) != 0 && !failed) fail("close failed: " + errno_text(errno));
            fd = -1;
        }
        if (failed) return;
        // Without overwrite, never replace a log that appeared meanwhile (Spark: "Target log
        // file already exists").
        int rc = ::renameat2(AT_FDCWD, inprogress_path.c_str(), AT_FDCWD, final_path.c_str(),
                             options.overwrite ? 0u : static_cast<unsigned>(RENAME_NOREPLACE));
        if (rc != 0 && errno == EINVAL && !options.overwrite) {
            // A file system without RENAME_NOREPLACE: check, then rename.
            rc = fs::exists(final_path) ? (errno = EEXIST, -1) : ::rename(inprogress_path.c_str(), final_path.c_str());
        }
        if (rc != 0) {
            log::get("scheduler")->error("Event log {}: cannot rename to {}: {}", inprogress_path, final_path,
                                         errno_text(errno));
            return;
        }
        current_path = final_path;
    }
};

EventLogOptions EventLogOptions::from_conf(const Conf& conf) {
    EventLogOptions o;
    o.dir = conf.get("ember.eventLog.dir", o.dir);
    // Spark's directory is a Hadoop URI; ember writes local files only.
    if (o.dir.rfind("file://", 0) == 0) {
        o.dir = o.dir.substr(7);
    } else if (o.dir.rfind("file:", 0) == 0) {
        o.dir = o.dir.substr(5);
    }
    o.compress = conf.get_bool("ember.eventLog.compress", o.compress);
    o.codec = conf.get("ember.eventLog.compression.codec", o.codec);
    if (o.codec != "zstd" && o.codec != "lz4") {
        throw std::invalid_argument("ember.eventLog.compression.codec: unsupported codec \"" + o.codec +
                                    "\" (zstd or lz4)");
    }
    o.overwrite = conf.get_bool("ember.eventLog.overwrite", o.overwrite);
    o.log_block_updates = conf.get_bool("ember.eventLog.logBlockUpdates.enabled", o.log_block_updates);
    o.log_executor_metrics = conf.get_bool("ember.eventLog.logStageExecutorMetrics", o.log_executor_metrics);
    o.buffer_bytes = static_cast<std::size_t>(conf.get_size_bytes("ember.eventLog.buffer.kb", "100k", "k"));
    return o;
}

std::string EventLoggingListener::sanitize(const std::string& app_id) {
    std::string s = app_id;
    for (char& c : s) {
        if (c == ' ' || c == ':' || c == '/') {
            c = '-';
        } else if (c == '.' || c == '$' || c == '{' || c == '}' || c == '\'' || c == '"') {
            c = '_';
        } else if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return s;
}

EventLoggingListener::EventLoggingListener(EventLogOptions options, const std::string& app_id,
                                           const std::string& spark_version)
    : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    if (options.codec != "zstd" && options.codec != "lz4") {
        throw std::invalid_argument("event log: unsupported codec \"" + options.codec + "\" (zstd or lz4)");
    }
    m.codec = !options.compress ? Codec::none : options.codec == "zstd" ? Codec::zstd : Codec::lz4;
    m.options = std::move(options);
    const std::string& dir = m.options.dir;

    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir)) {
        throw std::runtime_error("event log directory " + dir + ": " +
                                 (ec ? ec.message() : std::string("not a directory")));
    }
    std::string name = sanitize(app_id);
    if (m.codec != Codec::none) name += "." + m.options.codec;
    m.final_path = (fs::path(dir) / name).string();
    m.inprogress_path = m.final_path + ".inprogress";
    for (const std::string& p : {m.final_path, m.inprogress_path}) {
        if (!fs::exists(fs::symlink_status(p))) continue;
        if (!m.options.overwrite) {
            throw std::runtime_error("event log " + p +
                                     " already exists (set ember.eventLog.overwrite=true to replace it)");
        }
        if (!fs::remove(p, ec) || ec) {
            throw std::runtime_error("event log " + p + ": cannot remove the old log: " + ec.message());
        }
    }
    m.fd = ::open(m.inprogress_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
    if (m.fd < 0) throw std::runtime_error("event log " + m.inprogress_path + ": cannot create: " + errno_text(errno));
    m.current_path = m.inprogress_path;

    m.buf.resize(std::max<std::size_t>(m.options.buffer_bytes, 4096));
    if (m.codec == Codec::zstd) {
        m.zstd = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(m.zstd, ZSTD_c_compressionLevel, kZstdLevel);
        ZSTD_CCtx_setParameter(m.zstd, ZSTD_c_checksumFlag, 1);
        m.out.resize(ZSTD_CStreamOutSize());
    } else if (m.codec == Codec::lz4) {
        std::size_t r = LZ4F_createCompressionContext(&m.lz4, LZ4F_VERSION);
        if (LZ4F_isError(r)) throw std::runtime_error(std::string("event log: lz4: ") + LZ4F_getErrorName(r));
        m.lz4_prefs.frameInfo.blockSizeID = LZ4F_max64KB;
        m.lz4_prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
        m.out.resize(std::max<std::size_t>(LZ4F_compressBound(kLz4Chunk, &m.lz4_prefs), LZ4F_HEADER_SIZE_MAX));
        r = LZ4F_compressBegin(m.lz4, m.out.data(), m.out.size(), &m.lz4_prefs);
        if (m.lz4_ok(r)) m.write_all(m.out.data(), r);
    }
    {
        std::lock_guard lk(m.mu);
        json::object start = log_start_json(spark_version, json::storage_ptr(&m.mr));
        m.append(start);
        m.drain(Drain::flush);
    }
    m.mr.release();
    if (m.failed) {
        std::string path = m.inprogress_path;
        ::close(m.fd);
        m.fd = -1;
        ::unlink(path.c_str());
        throw std::runtime_error("event log " + path + ": cannot write the first line");
    }
}

EventLoggingListener::~EventLoggingListener() { stop(); }

void EventLoggingListener::stop() { impl_->stop(); }

std::string EventLoggingListener::path() const {
    std::lock_guard lk(impl_->mu);
    return impl_->current_path;
}

bool EventLoggingListener::failed() const {
    std::lock_guard lk(impl_->mu);
    return impl_->failed;
}

std::uint64_t EventLoggingListener::events_logged() const {
    std::lock_guard lk(impl_->mu);
    return impl_->events;
}

// Which events flush follows Spark's EventLoggingListener: task events do not.
void EventLoggingListener::on_job_start(const SparkListenerJobStart& e) { impl_->log_event(e, true); }
void EventLoggingListener::on_job_end(const SparkListenerJobEnd& e) { impl_->log_event(e, true); }
void EventLoggingListener::on_stage_submitted(const SparkListenerStageSubmitted& e) { impl_->log_event(e, true); }
void EventLoggingListener::on_stage_completed(const SparkListenerStageCompleted& e) { impl_->log_event(e, true); }
void EventLoggingListener::on_task_start(const SparkListenerTaskStart& e) { impl_->log_event(e, false); }
void EventLoggingListener::on_task_getting_result(const SparkListenerTaskGettingResult& e) { impl_->log_event(e, false); }
void EventLoggingListener::on_task_end(const SparkListenerTaskEnd& e) { impl_->log_event(e, false); }
void EventLoggingListener::on_executor_added(const SparkListenerExecutorAdded& e) { impl_->log_event(e, true); }
void EventLoggingListener::on_executor_removed(const SparkListenerExecutorRemoved& e) { impl_->log_event(e, true); }
void EventLoggingListener::on_application_start(const SparkListenerApplicationStart& e) { impl_->log_event(e, true); }
void EventLoggingListener::on_application_end(const SparkListenerApplicationEnd& e) {
    impl_->log_event(e, true);
    impl_->stop();
}
void EventLoggingListener::on_speculative_task_submitted(const SparkListenerSpeculativeTaskSubmitted& e) {
    impl_->log_event(e, false);
}
void EventLoggingListener::on_environment_update(const SparkListenerEnvironmentUpdate& e) { impl_->log_event(e, true); }
void EventLoggingListener::on_block_manager_added(const SparkListenerBlockManagerAdded& e) { impl_->log_event(e, true); }
void EventLoggingListener::on_block_manager_removed(const SparkListenerBlockManagerRemoved& e) {
    impl_->log_event(e, true);
}
void EventLoggingListener::on_unpersist_rdd(const SparkListenerUnpersistRDD& e) { impl_->log_event(e, true); }
void EventLoggingListener::on_block_updated(const SparkListenerBlockUpdated& e) {
    if (impl_->options.log_block_updates) impl_->log_event(e, true);
}
void EventLoggingListener::on_executor_metrics_update(const SparkListenerExecutorMetricsUpdate& e) {
    if (impl_->options.log_executor_metrics) impl_->log_event(e, false);
}

void EventLoggingListener::on_executor_excluded(const SparkListenerExecutorExcluded& e) { impl_->log_event(e, true); }
void EventLoggingListener::on_executor_unexcluded(const SparkListenerExecutorUnexcluded& e) {
    impl_->log_event(e, true);
}
void EventLoggingListener::on_node_excluded(const SparkListenerNodeExcluded& e) { impl_->log_event(e, true); }
void EventLoggingListener::on_node_unexcluded(const SparkListenerNodeUnexcluded& e) { impl_->log_event(e, true); }
void EventLoggingListener::on_executor_excluded_for_stage(const SparkListenerExecutorExcludedForStage& e) {
    impl_->log_event(e, true);
}
void EventLoggingListener::on_node_excluded_for_stage(const SparkListenerNodeExcludedForStage& e) {
    impl_->log_event(e, true);
}

}  // namespace ember::scheduler
