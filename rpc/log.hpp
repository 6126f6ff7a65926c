// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Named spdlog loggers per subsystem ("rpc", "transport", "scheduler", ...), and EMBER_ASSERT /
/// EMBER_REQUIRE.

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ember::log {

/// The logger named `name` ("rpc", "transport", "scheduler", "storage", "shuffle", "ui",
/// "history", "ember"), created on first use with ember's pattern
/// `[time] [name] [level] [thread] message` on stderr. Its level comes from spdlog's registry:
/// warn unless the environment says otherwise. The first call loads the environment's levels
/// with spdlog's loader (spdlog/cfg), EMBER_LOG_LEVEL first and then SPDLOG_LEVEL (its entries
/// win), both in spdlog's syntax: `LEVEL` for every logger and `NAME=LEVEL` for one, separated by
/// commas, e.g. `SPDLOG_LEVEL=info,rpc=debug`. Levels: trace, debug, info, warn, error,
/// critical, off. Entries with an unknown level are ignored with a warning on "ember".
/// Threading: thread-safe. The loggers handed out are remembered for the process's life, and
/// each thread keeps pointers to the first 16 it asked for (no registry lookup after that), so
/// a logger dropped from spdlog's registry by the application (spdlog::drop_all) goes on being
/// used; ember never drops its own. A thread's remembered loggers stay usable in static
/// destructors (the list is plain pointers into storage never freed).
std::shared_ptr<spdlog::logger> get(std::string_view name);

/// Sets the level of every logger, now and for loggers created later, dropping per-logger levels.
void set_level(spdlog::level::level_enum level);

/// Applies a level spec in SPDLOG_LEVEL's syntax (see get()) with spdlog's loader
/// (spdlog::cfg::helpers::load_levels), as if it were the environment's: a `LEVEL` entry sets the
/// default, `NAME=LEVEL` entries replace the per-logger levels given before, for existing loggers
/// and those created later. Returns the entries it ignored: those with an unknown level, or the
/// whole spec if all levels given so far would add up to over 512 characters (spdlog's limit).
/// Threading: thread-safe.
std::vector<std::string> load_levels(std::string_view spec);

/// Takes `SPDLOG_LEVEL=SPEC` arguments (spdlog::cfg::load_argv_levels) out of argv and applies
/// them after the environment's levels, and exports the resulting spec as SPDLOG_LEVEL so
/// processes started later (local-cluster executors) log at the same levels. Call from main()
/// before any thread starts (it calls setenv). Returns the entries it ignored.
std::vector<std::string> take_argv_levels(int& argc, char** argv);

/// Names the calling thread (visible in logs, top and gdb); truncated to 15 characters.
void set_thread_name(const std::string& name);

/// Rate limit for lines a peer can cause (a bad frame, a failed handshake): per key (the peer's
/// host), one line goes out per `interval`, the others are counted, and the next line that goes
/// out says how many were suppressed. A peer sending garbage in a loop costs a line every few
/// seconds, not one per frame. At most `max_keys` keys are tracked; beyond them all share one.
/// Threading: thread-safe.
class RateLimitedLog {
public:
    explicit RateLimitedLog(std::chrono::milliseconds interval = std::chrono::seconds(5), std::size_t max_keys = 1024);
    ~RateLimitedLog();
    /// Calls `emit(suppressed)` if a line for `key` may go out now, where `suppressed` counts
    /// the lines for `key` held back since the last one; else only counts this one.
    template <class Emit>
    void log(std::string_view key, Emit&& emit) {
        std::uint64_t suppressed = 0;
        if (admit(key, suppressed)) emit(suppressed);
    }

private:
    bool admit(std::string_view key, std::uint64_t& suppressed);
    struct State;
    std::unique_ptr<State> state_;
};

/// "" for 0, else " (N similar lines suppressed)": the tail of a rate-limited line.
std::string suppressed_suffix(std::uint64_t suppressed);

/// The process-wide limiter for lines peers can cause in the transport and the RpcEnv (bad
/// frames, failed handshakes, refused connections), keyed by the peer's host.
RateLimitedLog& peer_lines();

/// Logs at `level` on `logger`, at most once per 5 s for `peer_host` (peer_lines()), with the
/// count of lines suppressed since.
template <class... Args>
void peer_log(const char* logger, spdlog::level::level_enum level, std::string_view peer_host,
              fmt::format_string<Args...> format, Args&&... args) {
    peer_lines().log(peer_host, [&](std::uint64_t suppressed) {
        get(logger)->log(level, "{}{}", fmt::format(format, std::forward<Args>(args)...), suppressed_suffix(suppressed));
    });
}

}  // namespace ember::log

namespace ember {

/// Thrown by EMBER_REQUIRE: the caller broke a documented precondition.
class ContractViolation : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

namespace detail {
[[noreturn]] void assert_failed(const char* cond, const char* file, int line, const std::string& msg);
}  // namespace detail

}  // namespace ember

/// Our bug: logs at critical level and aborts.
#define EMBER_ASSERT(cond, ...)                                                                  \
    do {                                                                                         \
        if (!(cond)) [[unlikely]] {                                                              \
            ::ember::detail::assert_failed(#cond, __FILE__, __LINE__, ::fmt::format(__VA_ARGS__)); \
        }                                                                                        \
    } while (0)

/// The caller's bug: throws ContractViolation with the formatted message.
#define EMBER_REQUIRE(cond, ...)                                                \
    do {                                                                        \
        if (!(cond)) [[unlikely]] {                                             \
            throw ::ember::ContractViolation(::fmt::format(__VA_ARGS__));       \
        }                                                                       \
    } while (0)
