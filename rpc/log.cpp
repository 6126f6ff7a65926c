// SPDX-License-Identifier: Apache-2.0
#include "rpc/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

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

}  // namespace ember::log

namespace ember::detail {

void assert_failed(const char* cond, const char* file, int line, const std::string& msg) {
    log::get("ember")->critical("assertion failed at {}:{}: {}: {}", file, line, cond, msg);
    std::abort();
}

}  // namespace ember::detail
