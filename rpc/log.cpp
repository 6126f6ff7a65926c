// SPDX-License-Identifier: Apache-2.0
#include "rpc/log.hpp"

#include <spdlog/cfg/helpers.h>
#include <spdlog/details/registry.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <pthread.h>

namespace ember::log {
namespace {

std::mutex g_mu;

/// The level spec in force: EMBER_LOG_LEVEL, SPDLOG_LEVEL and load_levels() entries, joined with
/// commas (spdlog's loader replaces the per-logger levels it was given before, so each load passes
/// all of them; later entries win), and what it says: whether it sets the default level, and
/// which loggers it names. Guarded by g_spec_mu.
std::mutex g_spec_mu;
std::string g_spec;
bool g_spec_has_default = false;
std::unordered_set<std::string> g_spec_names;

std::string env_or_empty(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

std::string trimmed(std::string s) {
    s.erase(0, s.find_first_not_of(" \t\r\n"));
    s.erase(s.find_last_not_of(" \t\r\n") + 1);
    return s;
}

/// Notes what `spec`'s valid entries set (as spdlog's loader reads them), appends them to
/// `valid`, and returns the entries whose level spdlog does not know (its loader would skip them,
/// but only after one replaced an earlier valid entry for the same logger).
std::vector<std::string> note_entries(std::string_view spec, std::string& valid) {
    std::vector<std::string> bad;
    for (std::size_t at = 0; at <= spec.size();) {
        std::size_t comma = std::min(spec.find(',', at), spec.size());
        std::string entry(spec.substr(at, comma - at));
        at = comma + 1;
        if (trimmed(entry).empty()) continue;
        auto eq = entry.find('=');
        std::string name = eq == std::string::npos ? std::string() : trimmed(entry.substr(0, eq));
        std::string level = trimmed(eq == std::string::npos ? entry : entry.substr(eq + 1));
        for (auto& c : level) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (spdlog::level::from_str(level) == spdlog::level::off && level != "off") {
            bad.push_back(trimmed(entry));
            continue;
        }
        if (name.empty()) {
            g_spec_has_default = true;
        } else {
            g_spec_names.insert(name);
        }
        if (!valid.empty()) valid += ',';
        valid += entry;
    }
    return bad;
}

/// Appends `more` to the spec in force and loads the whole with spdlog's loader. Returns the
/// entries of `more` that were ignored.
std::vector<std::string> apply_more(std::string_view more) {
    if (trimmed(std::string(more)).empty()) return {};
    std::lock_guard lk(g_spec_mu);
    // spdlog's loader ignores a spec over 512 characters whole.
    if (g_spec.size() + 1 + more.size() > 512) return {std::string(more) + " (the levels given add up to over 512 characters)"};
    std::string spec = g_spec;
    auto bad = note_entries(more, spec);
    if (spec != g_spec) {
        g_spec = std::move(spec);
        spdlog::cfg::helpers::load_levels(g_spec);
    }
    return bad;
}

/// True if the spec in force decides `name`'s level (else an ember logger starts at warn).
bool spec_decides(const std::string& name) {
    std::lock_guard lk(g_spec_mu);
    return g_spec_has_default || g_spec_names.count(name) > 0;
}

void warn_ignored(const char* where, const std::vector<std::string>& ignored);

/// Loads EMBER_LOG_LEVEL and SPDLOG_LEVEL once, before the first ember logger exists.
void init_levels() {
    static std::once_flag once;
    std::vector<std::string> ignored_ember, ignored_spdlog;
    bool first = false;
    std::call_once(once, [&] {
        first = true;
        ignored_ember = apply_more(env_or_empty("EMBER_LOG_LEVEL"));
        ignored_spdlog = apply_more(env_or_empty("SPDLOG_LEVEL"));
    });
    if (!first) return;
    warn_ignored("EMBER_LOG_LEVEL", ignored_ember);
    warn_ignored("SPDLOG_LEVEL", ignored_spdlog);
}

void warn_ignored(const char* where, const std::vector<std::string>& ignored) {
    for (const auto& e : ignored) {
        get("ember")->warn("{}: ignoring '{}': not a level (trace, debug, info, warn, error, critical, off)", where, e);
    }
}

// %N in the pattern: the thread's name (set_thread_name), as Spark logs show thread names.
class ThreadNameFlag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
        char name[16] = {};
        ::pthread_getname_np(::pthread_self(), name, sizeof name);
        dest.append(name, name + std::strlen(name));
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<ThreadNameFlag>();
    }
};

/// The registry's logger of that name, made on first use (get() caches its answer per thread).
std::shared_ptr<spdlog::logger> get_uncached(std::string_view name);

}  // namespace

std::shared_ptr<spdlog::logger> get(std::string_view name) {
    // A registry lookup costs a mutex, a string and a hash (about 320 instructions, several times
    // per job on the driver). A logger, once registered, is never dropped or replaced (levels
    // are set on the logger objects), so each one is also kept here, in storage that is never
    // freed, and each thread remembers pointers into it. The per-thread list holds only plain
    // pointers: a static object's destructor that logs after the thread's exit-time cleanup
    // still finds it intact.
    struct Known {
        std::string name;
        std::shared_ptr<spdlog::logger> logger;
    };
    static auto* known = new std::deque<Known>();  // guarded by g_mu; never freed (see above)
    struct Cached {
        const std::string* name;
        const std::shared_ptr<spdlog::logger>* logger;
    };
    constexpr int kCached = 16;
    thread_local Cached t_cache[kCached] = {};
    thread_local int t_cached = 0;
    for (int i = 0; i < t_cached; ++i) {
        if (*t_cache[i].name == name) return *t_cache[i].logger;
    }
    auto logger = get_uncached(name);
    std::lock_guard lk(g_mu);
    const Known* k = nullptr;
    for (const auto& e : *known) {
        if (e.name == name) k = &e;
    }
    if (!k) k = &known->emplace_back(Known{std::string(name), logger});
    if (t_cached < kCached) t_cache[t_cached++] = Cached{&k->name, &k->logger};
    return k->logger;
}

namespace {

std::shared_ptr<spdlog::logger> get_uncached(std::string_view name) {
    init_levels();
    std::string n(name);
    if (auto l = spdlog::get(n)) return l;
    std::lock_guard lk(g_mu);
    if (auto l = spdlog::get(n)) return l;
    auto logger = spdlog::stderr_logger_mt(n);
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<ThreadNameFlag>('N').set_pattern("[%H:%M:%S.%e] [%n] [%l] [%N] %v");
    logger->set_formatter(std::move(formatter));
    // The registry gave it the spec's level; without one, ember's default is warn (spdlog's is
    // info, which stays the default of the application's own loggers).
    if (!spec_decides(n)) logger->set_level(spdlog::level::warn);
    logger->flush_on(spdlog::level::warn);
    return logger;
}

}  // namespace

void set_level(spdlog::level::level_enum level) {
    init_levels();
    std::lock_guard lk(g_spec_mu);
    g_spec = spdlog::level::to_string_view(level).data();
    g_spec_has_default = true;
    g_spec_names.clear();
    spdlog::details::registry::instance().set_levels({}, &level);
}

std::vector<std::string> load_levels(std::string_view spec) {
    init_levels();
    return apply_more(spec);
}

std::vector<std::string> take_argv_levels(int& argc, char** argv) {
    // spdlog::cfg::load_argv_levels reads the same arguments, but loads each alone (dropping
    // the environment's per-logger levels) and leaves them in argv for the application to trip on.
    constexpr std::string_view prefix = "SPDLOG_LEVEL=";
    std::string more;
    int kept = argc > 0 ? 1 : 0;
    for (int i = kept; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg.starts_with(prefix)) {
            if (!more.empty()) more += ',';
            more += arg.substr(prefix.size());
        } else {
            argv[kept++] = argv[i];
        }
    }
    argc = kept;
    argv[argc] = nullptr;
    if (more.empty()) return {};
    auto ignored = load_levels(more);
    warn_ignored("SPDLOG_LEVEL argument", ignored);
    std::string exported = env_or_empty("SPDLOG_LEVEL");
    exported += (exported.empty() ? "" : ",") + more;
    ::setenv("SPDLOG_LEVEL", exported.c_str(), 1);
    return ignored;
}

void set_thread_name(const std::string& name) {
    ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

struct RateLimitedLog::State {
    std::chrono::milliseconds interval;
    std::size_t max_keys;
    std::mutex mu;
    struct Entry {
        std::chrono::steady_clock::time_point last{};
        std::uint64_t suppressed = 0;
    };
    std::unordered_map<std::string, Entry> entries;  // guarded by mu
};

RateLimitedLog::RateLimitedLog(std::chrono::milliseconds interval, std::size_t max_keys)
    : state_(std::make_unique<State>()) {
    state_->interval = interval;
    state_->max_keys = max_keys;
}

RateLimitedLog::~RateLimitedLog() = default;

bool RateLimitedLog::admit(std::string_view key, std::uint64_t& suppressed) {
    auto now = std::chrono::steady_clock::now();
    std::lock_guard lk(state_->mu);
    auto& entries = state_->entries;
    auto it = entries.find(std::string(key));
    if (it == entries.end()) {
        if (entries.size() >= state_->max_keys) {
            // Forget the quiet ones; if all are busy, share one key.
            for (auto e = entries.begin(); e != entries.end();) {
                e = now - e->second.last > state_->interval && e->second.suppressed == 0 ? entries.erase(e) : std::next(e);
            }
        }
        it = entries.emplace(entries.size() < state_->max_keys ? std::string(key) : std::string("(others)"),
                             State::Entry{})
                 .first;
    }
    auto& e = it->second;
    if (e.last != std::chrono::steady_clock::time_point{} && now - e.last < state_->interval) {
        ++e.suppressed;
        return false;
    }
    e.last = now;
    suppressed = std::exchange(e.suppressed, 0);
    return true;
}

RateLimitedLog& peer_lines() {
    static RateLimitedLog lines;
    return lines;
}

std::string suppressed_suffix(std::uint64_t suppressed) {
    return suppressed == 0 ? std::string() : fmt::format(" ({} similar lines suppressed)", suppressed);
}

}  // namespace ember::log

namespace ember::detail {

void assert_failed(const char* cond, const char* file, int line, const std::string& msg) {
    log::get("ember")->critical("assertion failed at {}:{}: {}: {}", file, line, cond, msg);
    std::abort();
}

}  // namespace ember::detail
