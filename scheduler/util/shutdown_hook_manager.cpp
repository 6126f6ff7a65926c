// SPDX-License-Identifier: Apache-2.0
#include "scheduler/util/shutdown_hook_manager.hpp"

#include "rpc/log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

namespace ember::scheduler::util {

namespace {

constexpr int kSignals[] = {SIGTERM, SIGINT, SIGHUP};

// Written by the signal handler: lock-free atomics and write(2) are async-signal-safe.
std::atomic<int> g_signal{0};
std::atomic<int> g_pipe_write{-1};
static_assert(std::atomic<int>::is_always_lock_free);

struct Hook {
    int priority;
    std::uint64_t order;
    std::function<void()> fn;
};

struct Registry {
    std::mutex mu;
    std::map<ShutdownHookManager::Handle, Hook> hooks;  // guarded by mu
    ShutdownHookManager::Handle next = 1;               // guarded by mu
    std::thread::id hook_thread;                        // set once by install(), under mu; none before
};

Registry& registry() {
    static auto* r = new Registry;  // never destroyed: hooks may run while statics are destroyed
    return *r;
}

const char* signal_name(int sig) {
    switch (sig) {
    case SIGTERM: return "TERM";
    case SIGINT: return "INT";
    case SIGHUP: return "HUP";
    default: return "?";
    }
}

void on_signal(int sig) {
    int saved = errno;
    int none = 0;
    if (g_signal.compare_exchange_strong(none, sig)) {
        unsigned char b = static_cast<unsigned char>(sig);
        ssize_t ignored = ::write(g_pipe_write.load(), &b, 1);
        (void)ignored;
    } else if (sig == SIGINT) {
        ::_exit(128 + sig);  // Ctrl-C again while the hooks run: leave now
    }
    errno = saved;
}

[[noreturn]] void leave(int sig) {
    spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
    std::fflush(nullptr);
    ::_exit(128 + sig);
}

[[noreturn]] void block_forever() {
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

void run_hooks(int sig) {
    auto logger = log::get("scheduler");
    logger->error("RECEIVED SIGNAL {}", signal_name(sig));
    std::vector<Hook> hooks;
    {
        auto& r = registry();
        std::lock_guard lk(r.mu);
        for (auto& [_, h] : r.hooks) hooks.push_back(h);
    }
    std::sort(hooks.begin(), hooks.end(), [](const Hook& a, const Hook& b) {
        return a.priority != b.priority ? a.priority > b.priority : a.order > b.order;
    });
    std::thread([sig] {
        std::this_thread::sleep_for(std::chrono::seconds(ShutdownHookManager::kTimeoutSeconds));
        log::get("scheduler")->error("Shutdown hooks did not finish within {} s; exiting without them",
                                     ShutdownHookManager::kTimeoutSeconds);
        leave(sig);
    }).detach();
    for (auto& h : hooks) {
        try {
            h.fn();
        } catch (const std::exception& e) {
            logger->warn("A shutdown hook failed: {}", e.what());
        } catch (...) {
            logger->warn("A shutdown hook failed with an unknown exception");
        }
    }
    leave(sig);
}

// Called with registry().mu held.
void install(Registry& r) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "shutdown hooks: pipe");
    g_pipe_write = fds[1];
    int read_fd = fds[0];
    // The watcher blocks every signal, so the handlers run on other threads and never interrupt it.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    std::thread watcher;
    try {
        watcher = std::thread([read_fd] {
            log::set_thread_name("shutdown-hook");
            unsigned char b = 0;
            for (;;) {
                ssize_t n = ::read(read_fd, &b, 1);
                if (n == 1) run_hooks(b);
                if (n == 0 || (n < 0 && errno != EINTR)) return;
            }
        });
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    r.hook_thread = watcher.get_id();
    watcher.detach();
    for (int sig : kSignals) {
        struct sigaction current {};
        if (::sigaction(sig, nullptr, &current) != 0 || (current.sa_flags & SA_SIGINFO) != 0 ||
            current.sa_handler != SIG_DFL) {
            continue;  // the program handles or ignores it itself
        }
        struct sigaction sa {};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        ::sigaction(sig, &sa, nullptr);
    }
    // Exit handlers and static destructors run in the reverse order of their registration: the
    // logger that run_hooks uses is made now, so that a main returning while the hooks run
    // blocks in this handler before it can destroy the logger under them.
    (void)log::get("scheduler");
    std::atexit([] { ShutdownHookManager::await_shutdown_if_started(); });
}

}  // namespace

ShutdownHookManager::Handle ShutdownHookManager::add(int priority, std::function<void()> hook) {
    auto& r = registry();
    std::lock_guard lk(r.mu);
    if (r.hook_thread == std::thread::id{}) install(r);
    Handle h = r.next++;
    r.hooks.emplace(h, Hook{priority, h, std::move(hook)});
    return h;
}

void ShutdownHookManager::remove(Handle handle) {
    auto& r = registry();
    {
        std::lock_guard lk(r.mu);
        if (!in_shutdown() || std::this_thread::get_id() == r.hook_thread) {
            r.hooks.erase(handle);
            return;
        }
    }
    block_forever();
}

bool ShutdownHookManager::in_shutdown() noexcept { return g_signal.load() != 0; }

void ShutdownHookManager::await_shutdown_if_started() {
    if (!in_shutdown()) return;
    auto& r = registry();
    {
        std::lock_guard lk(r.mu);
        if (std::this_thread::get_id() == r.hook_thread) return;
    }
    block_forever();
}

}  // namespace ember::scheduler::util
