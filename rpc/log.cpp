// SPDX-License-Identifier: Apache-2.0
#include "rpc/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <pthread.h>

namespace ember::log {
namespace {

std::mutex g_mu;
std::atomic<int> g_level{-1};  // -1: not decided yet

spdlog::level::level_enum default_level() {
    int l = g_level.load();
    if (l >= 0) return static_cast<spdlog::level::level_enum>(l);
    const char* env = std::getenv("EMBER_LOG_LEVEL");
    auto lvl = env ? spdlog::level::from_str(env) : spdlog::level::warn;
    if (env && lvl == spdlog::level::off && std::string_view(env) != "off") lvl = spdlog::level::warn;
    return lvl;
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

}  // namespace

std::shared_ptr<spdlog::logger> get(std::string_view name) {
    std::string n(name);
    if (auto l = spdlog::get(n)) return l;
    std::lock_guard lk(g_mu);
    if (auto l = spdlog::get(n)) return l;
    auto logger = spdlog::stderr_logger_mt(n);
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<ThreadNameFlag>('N').set_pattern("[%H:%M:%S.%e] [%n] [%l] [%N] %v");
    logger->set_formatter(std::move(formatter));
    logger->set_level(default_level());
    logger->flush_on(spdlog::level::warn);
    return logger;
}

void set_level(spdlog::level::level_enum level) {
    g_level.store(static_cast<int>(level));
    spdlog::apply_all([level](const std::shared_ptr<spdlog::logger>& l) { l->set_level(level); });
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
