// SPDX-License-Identifier: Apache-2.0
// run_executor: the main of an executor process (Spark's CoarseGrainedExecutorBackend.main).
#include "rpc/log.hpp"
#include "rpc/security/security_config.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/executor/coarse_grained_executor_backend.hpp"
#include "shuffle/index_shuffle_block_resolver.hpp"
#include "shuffle/map_output_tracker.hpp"
#include "scheduler/broadcast/broadcast_manager.hpp"
#include "scheduler/util/huge_pages.hpp"
#include "storage/block_manager.hpp"

#include <fmt/format.h>

#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace ember::scheduler {
namespace {

struct ExecutorArgs {
    std::string driver_url;
    std::string executor_id;
    std::string hostname = "127.0.0.1";
    std::string bind_address;
    int cores = 1;
    int memory_mb = 1024;
    Conf startup;  ///< --conf KEY=VALUE: what the executor needs to reach its driver (authentication)
};

/// One-line failure on stderr, as every ember process reports fatal errors.
int fail(const std::string& id, const std::string& why) {
    std::fprintf(stderr, "ember executor %s: %s\n", id.empty() ? "?" : id.c_str(), why.c_str());
    return 1;
}

bool parse_int(std::string_view s, int& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size() && out > 0;
}

std::optional<std::string> parse(int argc, char** argv, ExecutorArgs& a) {
    // An executor that srun started (master slurm) advertises its Slurm node name unless told.
    if (const char* node = std::getenv("SLURMD_NODENAME"); node && *node) a.hostname = node;
    for (int i = 2; i < argc; ++i) {
        std::string_view k = argv[i];
        if (i + 1 >= argc) return fmt::format("missing value for {}", k);
        std::string_view v = argv[++i];
        if (k == "--driver-url") {
            a.driver_url = v;
        } else if (k == "--executor-id") {
            a.executor_id = v;
        } else if (k == "--hostname") {
            a.hostname = v;
        } else if (k == "--bind-address") {
            a.bind_address = v;
        } else if (k == "--cores") {
            if (!parse_int(v, a.cores)) return fmt::format("--cores must be a positive integer, got '{}'", v);
        } else if (k == "--memory") {
            if (!parse_int(v, a.memory_mb)) return fmt::format("--memory must be a positive integer (MiB), got '{}'", v);
        } else if (k == "--conf") {
            auto eq = v.find('=');
            if (eq == std::string_view::npos || eq == 0) return fmt::format("--conf needs KEY=VALUE, got '{}'", v);
            std::string key(v.substr(0, eq));
            if (key == "ember.authenticate.secret") {
                std::fprintf(stderr,
                             "warning: ember.authenticate.secret on the command line is visible to every local user "
                             "(ps, /proc); pass it in %s or with ember.authenticate.secret.file\n",
                             rpc::security::kSecretEnvVar);
            }
            a.startup.set(key, std::string(v.substr(eq + 1)));
        } else {
            return fmt::format("unknown argument {}", k);
        }
    }
    if (a.driver_url.empty()) return std::string("missing --driver-url");
    if (a.executor_id.empty()) return std::string("missing --executor-id");
    return std::nullopt;
}

/// The driver's endpoint at `url`. An executor started by another launcher may come up before
/// its driver listens, or before the driver's endpoint exists: those two errors are retried
/// until `deadline` (ember.executor.driverLookupTimeout, 30s); other errors are final.
rpc::RpcResult<rpc::RpcEndpointRef> lookup_driver(rpc::RpcEnv& env, const std::string& url,
                                                  std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        auto driver = env.setup_endpoint_ref_by_uri(url);
        bool transient = !driver && (driver.error().code == rpc::RpcErrc::connection_failed ||
                                     driver.error().code == rpc::RpcErrc::endpoint_not_found);
        if (!transient || std::chrono::steady_clock::now() >= deadline) return driver;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

/// Removes an executor's local dirs (its block manager's), on a way out that cannot wait for the
/// orderly one; errors are ignored, as on any way out.
void remove_local_dirs(const std::vector<std::string>& dirs) {
    std::error_code ec;
    for (auto& d : dirs) std::filesystem::remove_all(d, ec);
}

/// "ember executor <id>: fatal signal " for on_fatal_signal, built before any task runs.
char fatal_prefix[160];

/// A task crashed the process: one line on stderr naming the signal and the thread, then the
/// signal's default action, so the driver sees both the wait status and why in the log's last
/// lines. Async-signal-safe calls only.
void on_fatal_signal(int sig) {
    char buf[320];
    std::size_t n = 0;
    auto put = [&](const char* s) {
        while (*s && n < sizeof buf - 1) buf[n++] = *s++;
    };
    put(fatal_prefix);
    char num[8];
    int len = 0;
    for (int v = sig; v > 0 && len < 7; v /= 10) num[len++] = static_cast<char>('0' + v % 10);
    while (len > 0 && n < sizeof buf - 1) buf[n++] = num[--len];
    put(" (SIG");
    const char* abbrev = ::sigabbrev_np(sig);
    put(abbrev ? abbrev : "?");
    put(") in thread ");
    char thread[17] = {};
    ::prctl(PR_GET_NAME, thread, 0, 0, 0);
    put(thread);
    put("\n");
    ssize_t ignored = ::write(STDERR_FILENO, buf, n);
    (void)ignored;
    ::raise(sig);  // SA_RESETHAND restored the default action: it runs when this handler returns
}

/// Installs on_fatal_signal for the signals a crashing task raises, unless something (a
/// sanitizer) already handles them.
void install_fatal_signal_handlers(const std::string& executor_id) {
    std::snprintf(fatal_prefix, sizeof fatal_prefix, "ember executor %s: fatal signal ", executor_id.c_str());
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
        struct sigaction old {};
        if (::sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) continue;
        struct sigaction sa {};
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        ::sigaction(sig, &sa, nullptr);
    }
}

}  // namespace

int run_executor(int argc, char** argv) {
    ExecutorArgs args;
    if (auto err = parse(argc, argv, args)) return fail(args.executor_id, *err);
    log::set_thread_name("executor-main");
    {
        // Where this log goes: local-cluster executors write to
        // <ember.local.dir>/ember-<app id>/executor-<id>/stderr.
        std::error_code ec;
        auto target = std::filesystem::read_symlink("/proc/self/fd/2", ec);
        log::get("scheduler")->info("Executor {} (pid {}) started; its log: {}", args.executor_id, ::getpid(),
                                    ec ? std::string("stderr") : target.string());
    }

    // SIGTERM/SIGINT are handled by one thread (sigwait), so every other thread inherits the mask.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    install_fatal_signal_handlers(args.executor_id);

    std::promise<int> exit_promise;
    auto exit_code = exit_promise.get_future();
    std::once_flag exit_once;
    auto request_exit = [&](int code, const std::string& why) {
        std::call_once(exit_once, [&] {
            if (code != 0) std::fprintf(stderr, "ember executor %s: %s\n", args.executor_id.c_str(), why.c_str());
            exit_promise.set_value(code);
        });
    };

    // Signals (SIGTERM from local-cluster's launcher when the driver dies, from Slurm, from
    // Kubernetes, from a user) are taken by this thread from the start. Until the backend runs,
    // the main thread may be waiting on a driver that is gone (the lookup retries for
    // ember.executor.driverLookupTimeout, 30 s; the registration's ask has its own timeout), so
    // a signal then ends the process at once, removing the local dirs made so far; a blocked
    // signal with nobody to take it would wait for all of that. Once the backend runs, it asks
    // for an orderly exit (see the fallback after exit_code below).
    struct Startup {
        std::mutex mu;
        bool done = false;              // guarded by mu: the backend runs
        std::vector<std::string> dirs;  // guarded by mu: the block manager's local dirs, once made
    };
    auto startup = std::make_shared<Startup>();
    std::thread([sigs, startup, id = args.executor_id, &request_exit] {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0) return;
        {
            std::lock_guard lk(startup->mu);
            if (!startup->done) {
                remove_local_dirs(startup->dirs);
                std::fprintf(stderr, "ember executor %s: received signal %d while starting; leaving\n", id.c_str(),
                             sig);
                std::fflush(nullptr);
                ::_exit(128 + sig);
            }
        }
        request_exit(128 + sig, fmt::format("received signal {}", sig));
    }).detach();

    // Spark's driverPropsFetcher: a client-mode env with the startup settings (authentication;
    // the secret comes from EMBER_AUTH_SECRET) fetches the application's configuration, then the
    // executor's own env is built from it, so the app's ember.rpc.* and ember.network.* keys
    // govern every connection the executor makes or serves.
    auto lookup_deadline = std::chrono::steady_clock::now() +
                           args.startup.get_time_ms("ember.executor.driverLookupTimeout", "30s");
    Conf conf;
    {
        rpc::RpcEnvConfig fetcher_cfg;
        fetcher_cfg.name = "driverPropsFetcher";
        fetcher_cfg.client_mode = true;
        fetcher_cfg.conf = args.startup;
        auto fetcher = rpc::RpcEnv::create(fetcher_cfg);
        if (!fetcher) return fail(args.executor_id, fetcher.error().message);
        auto driver = lookup_driver(**fetcher, args.driver_url, lookup_deadline);
        if (!driver) {
            return fail(args.executor_id, "Cannot connect to driver at " + args.driver_url + ": " + driver.error().message);
        }
        auto req = rpc::OutgoingMessage::make<wire::RetrieveSparkAppConfig>(
            [&](wire::RetrieveSparkAppConfig::Builder b) { b.setExecutorId(args.executor_id); });
        auto app = driver->ask_sync<wire::SparkAppConfig>(std::move(req));
        if (!app) {
            return fail(args.executor_id,
                        "Cannot get the application configuration from the driver: " + app.error().message);
        }
        for (auto kv : app->get<wire::SparkAppConfig>().getSparkProperties()) conf.set(kv.getKey(), kv.getValue());
        for (auto& [k, v] : args.startup.entries()) conf.set_if_missing(k, v);
        (*fetcher)->shutdown();
        (*fetcher)->await_termination();
    }
    if (!conf.contains("ember.local.dir")) conf.set("ember.local.dir", "/tmp");

    rpc::RpcEnvConfig cfg;
    cfg.name = "executor-" + args.executor_id;
    cfg.bind_address = args.bind_address.empty() ? args.hostname : args.bind_address;
    cfg.advertise_address = args.hostname;
    cfg.conf = conf;
    auto env = rpc::RpcEnv::create(cfg);
    if (!env) return fail(args.executor_id, env.error().message);
    auto driver = lookup_driver(**env, args.driver_url, lookup_deadline);
    if (!driver) return fail(args.executor_id, "Cannot connect to driver at " + args.driver_url + ": " + driver.error().message);

    std::shared_ptr<storage::BlockManager> bm;  // shared: the signal thread below may outlive it
    try {
        bm = std::make_shared<storage::BlockManager>(args.executor_id, **env, conf,
                                                     static_cast<std::uint64_t>(args.memory_mb) << 20);
    } catch (const std::exception& e) {
        return fail(args.executor_id, e.what());
    }
    // A signal's way out, from here on: the fallback after exit_code below, or the signal thread
    // while start-up lasts.
    const std::vector<std::string> dirs = bm->disk_block_manager().local_dirs();
    {
        std::lock_guard lk(startup->mu);
        startup->dirs = dirs;
    }
    shuffle::IndexShuffleBlockResolver resolver(bm->disk_block_manager());
    bm->set_shuffle_block_resolver(&resolver);
    // Broadcast values of this executor, read on first use by its tasks.
    broadcast::BroadcastManager broadcasts(*bm, conf, false);
    bm->set_broadcast_removed_listener([&broadcasts](std::int64_t id) { broadcasts.forget(id); });
    broadcasts.make_current();
    shuffle::MapOutputTrackerWorker tracker(
        (*env)->endpoint_ref(driver->address(), std::string(shuffle::MapOutputTracker::kEndpointName)),
        rpc::RpcTimeout::ask(conf));
    // The driver's ContextCleaner removed the shuffle: its statuses go from this cache too.
    bm->set_shuffle_removed_listener([&tracker](int id) { tracker.unregister_shuffle(id); });
    bm->initialize();
    try {
        bm->register_with_master(
            (*env)->endpoint_ref(driver->address(), std::string(storage::BlockManagerMaster::kEndpointName)));
    } catch (const std::exception& e) {
        return fail(args.executor_id, e.what());
    }
    ExecutorServices services{args.executor_id, conf, *bm, resolver, tracker,
                              task_memory_bytes(conf, static_cast<std::uint64_t>(args.memory_mb) << 20, args.cores)};
    // Tasks free their aggregation tables' mappings as the next task maps the same sizes again.
    set_huge_page_cache_limit(huge_page_cache_limit_for_tasks(conf, static_cast<std::uint64_t>(args.memory_mb) << 20));

    // From here a signal asks for an orderly exit; if that hangs (a task that ignores kills), the
    // fallback after exit_code below removes the local dirs and leaves anyway, as Spark's
    // ShutdownHookManager deletes them on the way out. The DiskBlockManager's stop() keeps a
    // still-running task from making its dirs again.
    auto backend = std::make_unique<CoarseGrainedExecutorBackend>(args.executor_id, *driver, args.hostname,
                                                                  args.cores, services, &tracker, request_exit);
    if (auto r = (*env)->setup_endpoint(std::string(CoarseGrainedExecutorBackend::kEndpointName), std::move(backend));
        !r) {
        return fail(args.executor_id, r.error().message);
    }
    {
        std::lock_guard lk(startup->mu);
        startup->done = true;
    }
    int code = exit_code.get();
    // Whatever the reason (a signal, the driver lost or StopExecutor): Spark's executor leaves
    // with System.exit, so a task that ignores its kill (a long computation, a sleep) does not
    // keep the process. The orderly exit below joins the task threads (it takes milliseconds
    // when they stop); if it has not finished after 2 s, the local dirs are removed and the
    // process leaves anyway.
    std::thread([code, dirs, weak = std::weak_ptr<storage::BlockManager>(bm)] {
        std::this_thread::sleep_for(std::chrono::seconds(2));
        if (auto b = weak.lock()) {
            b->disk_block_manager().stop();
        } else {
            remove_local_dirs(dirs);
        }
        log::get("scheduler")->flush();
        std::fflush(nullptr);
        ::_exit(code);
    }).detach();
    (*env)->shutdown();
    (*env)->await_termination();
    bm->stop();
    return code;
}

}  // namespace ember::scheduler
