// SPDX-License-Identifier: Apache-2.0
#include "scheduler/spark_context.hpp"

#include "rpc/log.hpp"
#include "rpc/security/security_config.hpp"
#include "rpc/rpc_env.hpp"
#include "rpc/sim/simulation.hpp"
#include "scheduler/app.hpp"
#include "scheduler/broadcast/broadcast_manager.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/cluster/coarse_grained_scheduler_backend.hpp"
#include "scheduler/cluster/heartbeat_receiver.hpp"
#include "scheduler/cluster/local_cluster.hpp"
#include "scheduler/cluster/slurm_launcher.hpp"
#include "scheduler/context_cleaner.hpp"
#include "scheduler/dag_scheduler.hpp"
#include "scheduler/deploy/config_keys.hpp"
#include "scheduler/deploy/redaction.hpp"
#include "scheduler/local/local_scheduler_backend.hpp"
#include "scheduler/master_url.hpp"
#include "scheduler/rdd/closure_check.hpp"
#include "scheduler/rdd/rdd.hpp"
#include "scheduler/rdd/text_file_rdd.hpp"
#include "scheduler/util/huge_pages.hpp"
#include "scheduler/sim/simulated_executor.hpp"
#include "scheduler/task_scheduler_impl.hpp"
#include "shuffle/index_shuffle_block_resolver.hpp"
#include "shuffle/map_output_tracker.hpp"
#include "scheduler/status/app_status_store.hpp"
#include "scheduler/status/event_log.hpp"
#include "scheduler/task_result_getter.hpp"
#include "scheduler/ui/console_progress_bar.hpp"
#include "scheduler/ui/spark_ui.hpp"
#include "scheduler/util/shutdown_hook_manager.hpp"
#include "scheduler/util/sim_clock.hpp"
#include "scheduler/util/sim_wait.hpp"
#include "scheduler/version.hpp"
#include "storage/block_manager.hpp"
#include "storage/block_manager_master_endpoint.hpp"

#include <fmt/chrono.h>
#include <fmt/compile.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <random>
#include <set>
#include <thread>

#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ember {

using namespace scheduler;

namespace {

std::string make_app_id() {
    auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    ::localtime_r(&now, &tm);
    std::mt19937 rng(std::random_device{}());
    return fmt::format("app-{:%Y%m%d%H%M%S}-{:04d}", tm, rng() % 10000);
}

std::string self_executable() {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string("/proc/self/exe") : p.string();
}

std::vector<std::string> split_words(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == ' ' || c == '\t') {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
}

}  // namespace

/// Spark's sparkUser: SPARK_USER's counterpart EMBER_USER, else the login name.
static std::string spark_user() {
    if (const char* u = std::getenv("EMBER_USER"); u && *u) return u;
    if (const char* u = std::getenv("USER"); u && *u) return u;
    if (passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_name) return pw->pw_name;
    return "unknown";
}

struct SparkContext::Impl {
    Conf conf;
    std::shared_ptr<util::Clock> clock = util::system_clock();
    MasterUrl master;
    std::string master_string;
    std::string app_id = make_app_id();
    std::atomic<int> next_rdd_id{0};
    std::atomic<int> next_shuffle_id{0};

    std::unique_ptr<rpc::RpcEnv> own_env;  // null in a simulation, whose envs it owns
    rpc::RpcEnv* env = nullptr;            // the driver's env
    // master sim[...]: the simulation the driver and its executors run in, and whether its
    // executors' boots (rerun by restarts) may still start executors.
    sim::Simulation* sim = nullptr;
    std::shared_ptr<bool> sim_executors_enabled = std::make_shared<bool>(true);
    std::vector<std::string> sim_executor_envs;
    std::unique_ptr<storage::BlockManager> block_manager;
    std::unique_ptr<broadcast::BroadcastManager> broadcast_manager;  // borrows block_manager
    std::unique_ptr<shuffle::IndexShuffleBlockResolver> resolver;
    shuffle::MapOutputTrackerMaster tracker;
    std::unique_ptr<ContextCleaner> cleaner;  // null without ember.cleaner.referenceTracking
    std::unique_ptr<ExecutorServices> services;
    ListenerBus bus;
    std::unique_ptr<TaskSchedulerImpl> task_scheduler;
    std::unique_ptr<TaskResultGetter> result_getter;
    storage::BlockManagerMasterEndpoint* block_manager_master = nullptr;  // owned by env
    std::unique_ptr<LocalSchedulerBackend> local_backend;
    std::unique_ptr<CoarseGrainedSchedulerBackend> cluster_backend;
    std::unique_ptr<DAGScheduler> dag;
    std::unique_ptr<LocalCluster> local_cluster;
    HeartbeatReceiver* heartbeat_receiver = nullptr;  // owned by env
    rpc::RpcEndpointRef heartbeat_ref;

    // Monitoring: the status store behind the UI and REST API, and the UI itself.
    std::shared_ptr<status::AppStatusStore> status_store;
    std::unique_ptr<ui::SparkUI> ui;
    std::shared_ptr<EventLoggingListener> event_log;  // ember.eventLog.enabled
    std::shared_ptr<ConsoleProgressBar> progress_bar;  // ember.ui.showConsoleProgress
    // Block manager events raised before the scheduler loop runs, delivered after the
    // application's start (guarded by events_mu; events_ready once they are posted directly).
    std::mutex events_mu;
    std::vector<SparkListenerEvent> early_events;
    bool events_ready = false;
    /// Posts `e` on the scheduler loop, or keeps it until the application has started.
    void post_event(SparkListenerEvent e) {
        {
            std::lock_guard lk(events_mu);
            if (!events_ready) {
                early_events.push_back(std::move(e));
                return;
            }
        }
        post([this, e = std::move(e)] { bus.post(e); });
    }
    void start_monitoring();
    SparkListenerEnvironmentUpdate environment_update() const;

    // Driver-side storage status (rdd_storage_info): persisted RDDs, weakly held, and where
    // their blocks are, from the BlockManagerMaster's updates (guarded by storage_mu).
    mutable std::mutex storage_mu;
    std::map<int, std::weak_ptr<RddBase>> persistent_rdds;
    // rdd id -> partition -> executor id -> (memory bytes, disk bytes)
    std::map<int, std::map<int, std::map<std::string, std::pair<std::uint64_t, std::uint64_t>>>> rdd_blocks;
    void record_block(const std::string& executor_id, const storage::RddBlockId& block,
                      const storage::StorageLevel& level, std::uint64_t mem, std::uint64_t disk) {
        std::lock_guard lk(storage_mu);
        auto& holders = rdd_blocks[block.rdd_id][block.split_index];
        if (level.is_valid()) {
            holders[executor_id] = {mem, disk};
            return;
        }
        holders.erase(executor_id);
        if (holders.empty()) rdd_blocks[block.rdd_id].erase(block.split_index);
        if (rdd_blocks[block.rdd_id].empty()) rdd_blocks.erase(block.rdd_id);
    }
    void forget_executor_blocks(const std::string& executor_id) {
        std::lock_guard lk(storage_mu);
        for (auto rit = rdd_blocks.begin(); rit != rdd_blocks.end();) {
            for (auto pit = rit->second.begin(); pit != rit->second.end();) {
                pit->second.erase(executor_id);
                pit = pit->second.empty() ? rit->second.erase(pit) : std::next(pit);
            }
            rit = rit->second.empty() ? rdd_blocks.erase(rit) : std::next(rit);
        }
    }

    // Rdd::checkpoint (Spark's checkpointDir): dir/<uuid>, guarded by checkpoint_mu.
    mutable std::mutex checkpoint_mu;
    std::optional<std::string> checkpoint_dir;
    /// Spark's RDD.doCheckpoint after a job: writes the marked RDDs of `rdd`'s lineage.
    void do_checkpoint(SparkContext& sc, const std::shared_ptr<RddBase>& rdd, std::set<int>& seen);

    // local-cluster: how to start an executor, and replacements (Spark's standalone Master).
    std::string driver_url;
    std::atomic<int> next_executor_id{0};
    std::atomic<int> executor_failures{0};  // exits since the last registration
    int max_executor_retries = 10;
    // master slurm: each executor is one srun step in the driver's allocation (its node index).
    std::optional<SlurmExecutorPlan> slurm;
    std::string slurm_node_name;
    std::mutex slurm_mu;
    std::map<std::string, int> slurm_node_of;  // executor id -> node index, guarded by slurm_mu

    std::mutex startup_mu;  // held by init() while start() runs: the shutdown hook waits for it
    std::mutex start_mu;
    std::string start_failure;  // guarded by start_mu: an executor died during start-up
    std::atomic<bool> started{false};
    std::atomic<bool> keep_executor_logs{false};  // an executor ended abnormally: keep its logs
    std::atomic<bool> stopped{false};
    // Stops this context on SIGTERM/SIGINT/SIGHUP (Spark's shutdown hook); 0 once removed.
    std::atomic<util::ShutdownHookManager::Handle> shutdown_hook{0};

    SchedulerBackend& backend() {
        return local_backend ? static_cast<SchedulerBackend&>(*local_backend) : *cluster_backend;
    }
    bool post(std::function<void()> fn) {
        return local_backend ? local_backend->post(std::move(fn)) : cluster_backend->post(std::move(fn));
    }

    void start();
    void start_heartbeat_receiver();
    void launch_local_cluster();
    /// master sim[E,C,M]: E executor envs in the simulation, each on a host of its own,
    /// restartable by the simulation (each incarnation registers under a new executor id).
    void launch_simulated_executors();

    /// The launcher's arguments for executor `id` (master slurm: srun's, then the executor's).
    std::vector<std::string> executor_args(const std::string& id);
    std::vector<std::string> executor_command;  // master slurm: the command srun starts
    void on_executor_exit(const std::string& id, int pid, int status, const std::string& error);
    /// The ContextCleaner's work for shuffle `shuffle_id` (Spark's doCleanupShuffle): forget
    /// its map statuses and have every BlockManager delete its files (RemoveShuffle through the
    /// BlockManagerMaster); waits for them when `blocking`
    /// (ember.cleaner.referenceTracking.blocking.shuffle), throwing if the master does not
    /// answer in time. On the cleaner's thread.
    void clean_shuffle(int shuffle_id, bool blocking);
    /// SparkContext::unpersist_rdd; also the ContextCleaner's work for a persisted RDD the
    /// driver no longer refers to (Spark's doCleanupRDD), on the cleaner's thread, waiting for
    /// the BlockManagers when `blocking` (ember.cleaner.referenceTracking.blocking).
    void unpersist_rdd(int rdd_id, bool blocking);
    void stop();
    class LifecycleListener;
};

/// Keeps the HeartbeatReceiver's executor list in step with registrations and removals, and
/// resets the local-cluster failure count when an executor registers (Spark's Master resets an
/// application's retry count when one of its executors starts running).
class SparkContext::Impl::LifecycleListener final : public SparkListener {
public:
    explicit LifecycleListener(Impl& impl) : impl_(impl) {}
    void on_executor_added(const SparkListenerExecutorAdded& e) override {
        impl_.executor_failures = 0;
        if (impl_.heartbeat_receiver) impl_.heartbeat_receiver->executor_added(*impl_.env, impl_.heartbeat_ref, e.executor_id);
    }
    void on_executor_removed(const SparkListenerExecutorRemoved& e) override {
        if (impl_.heartbeat_receiver) {
            impl_.heartbeat_receiver->executor_removed(*impl_.env, impl_.heartbeat_ref, e.executor_id);
        }
    }

private:
    Impl& impl_;
};

void SparkContext::Impl::start() {
    master_string = conf.get("ember.master", "local-cluster[2,1,1024]");
    master = MasterUrl::parse(master_string);
    if (master.kind == MasterUrl::Kind::slurm) {
        try {
            auto allocation = SlurmAllocation::from_environment();
            slurm = SlurmExecutorPlan::make(conf, allocation);
            slurm_node_name = allocation.node_name;
        } catch (const std::exception& ex) {
            throw SparkException(ex.what());
        }
        master.executors = slurm->executors;
        master.cores = slurm->cores;
        master.memory_mb = slurm->memory_mb;
        conf.set_if_missing("ember.executor.cores", std::to_string(slurm->cores));
    }

    if (conf.get_bool("ember.authenticate", false) && master.kind != MasterUrl::Kind::cluster &&
        !conf.contains("ember.authenticate.secret") && !conf.contains("ember.authenticate.secret.file") &&
        !std::getenv(rpc::security::kSecretEnvVar)) {
        // This driver starts its executors itself: a fresh secret per application, as Spark's
        // SecurityManager makes for YARN and local masters. It reaches executors through
        // their environment.
        conf.set("ember.authenticate.secret", rpc::security::generate_secret());
    }
    if (master.kind == MasterUrl::Kind::sim) {
        sim = sim::Simulation::current();
        if (!sim) {
            throw SparkException("master " + master_string +
                                 " runs the driver and its executors in an ember::sim::Simulation: create one on "
                                 "this thread first");
        }
        if (!sim->can_block()) {
            throw SparkException("master " + master_string + ": a SparkContext cannot start inside an env's handler");
        }
        // One thread runs everything: no UI server or progress bar threads by default.
        conf.set_if_missing("ember.ui.enabled", "false");
        conf.set_if_missing("ember.ui.showConsoleProgress", "false");
        // The scheduler's timers become events of the simulation.
        if (clock == util::system_clock()) clock = std::make_shared<util::SimClock>(*sim);
    }
    rpc::RpcEnvConfig cfg;
    cfg.name = "driver";
    bool cluster = master.kind == MasterUrl::Kind::cluster || master.kind == MasterUrl::Kind::slurm;
    cfg.bind_address = conf.get("ember.driver.bindAddress", cluster ? "0.0.0.0" : "127.0.0.1");
    // master slurm: executors on other nodes reach the driver by its Slurm node name.
    cfg.advertise_address = conf.get("ember.driver.host", slurm ? slurm_node_name : cluster ? "" : "127.0.0.1");
    cfg.port = static_cast<std::uint16_t>(conf.get_int("ember.driver.port", 0));
    cfg.conf = conf;
    if (sim) {
        try {
            env = &sim->create_env(cfg, "driver");
        } catch (const std::exception& ex) {
            throw SparkException(std::string("Cannot start the driver's RpcEnv: ") + ex.what());
        }
    } else {
        auto e = rpc::RpcEnv::create(cfg);
        if (!e) throw SparkException("Cannot start the driver's RpcEnv: " + e.error().message);
        own_env = std::move(*e);
        env = own_env.get();
    }

    int cores = master.kind == MasterUrl::Kind::local ? master.threads : master.cores;
    std::uint64_t memory = master.kind == MasterUrl::Kind::local
                               ? static_cast<std::uint64_t>(conf.get_size_bytes("ember.driver.memory", "1g", "m"))
                               : static_cast<std::uint64_t>(master.memory_mb) << 20;
    start_monitoring();
    auto master_endpoint = std::make_unique<storage::BlockManagerMasterEndpoint>();
    master_endpoint->set_observer(storage::BlockManagerMasterEndpoint::Observer{
        [this](const storage::BlockManagerId& id, std::uint64_t max_memory) {
            post_event(SparkListenerBlockManagerAdded{now_ms(), id.executor_id, id.host, id.port, max_memory});
        },
        [this](const storage::BlockManagerId& id) {
            forget_executor_blocks(id.executor_id);
            post_event(SparkListenerBlockManagerRemoved{now_ms(), id.executor_id, id.host, id.port});
        },
        [this](const storage::BlockManagerId& id, const storage::BlockId& block, const storage::StorageLevel& level,
               std::uint64_t mem, std::uint64_t disk) {
            if (!std::holds_alternative<storage::RddBlockId>(block)) return;  // the UI shows cached RDDs; other blocks are not logged
            record_block(id.executor_id, std::get<storage::RddBlockId>(block), level, mem, disk);
            SparkListenerBlockUpdated u;
            u.executor_id = id.executor_id;
            u.host = id.host;
            u.port = id.port;
            u.block_id = storage::name(block);
            u.use_disk = level.use_disk;
            u.use_memory = level.use_memory || level.use_off_heap;
            u.deserialized = level.deserialized;
            u.replication = level.is_valid() ? level.replication : 0;
            u.memory_size = mem;
            u.disk_size = disk;
            post_event(std::move(u));
        }});
    block_manager_master = master_endpoint.get();
    auto master_ref = env->setup_endpoint(std::string(storage::BlockManagerMaster::kEndpointName), std::move(master_endpoint));
    if (!master_ref) throw SparkException("Cannot start the BlockManagerMaster: " + master_ref.error().message);
    try {
        block_manager = std::make_unique<storage::BlockManager>(
            "driver", *env, conf,
            master.kind == MasterUrl::Kind::local
                ? memory
                : static_cast<std::uint64_t>(conf.get_size_bytes("ember.driver.memory", "1g", "m")));
        resolver = std::make_unique<shuffle::IndexShuffleBlockResolver>(block_manager->disk_block_manager());
        block_manager->set_shuffle_block_resolver(resolver.get());
        broadcast_manager = std::make_unique<broadcast::BroadcastManager>(*block_manager, conf, true);
        block_manager->set_broadcast_removed_listener(
            [bm = broadcast_manager.get()](std::int64_t id) { bm->forget(id); });
        broadcast_manager->make_current();
        block_manager->initialize();
        block_manager->register_with_master(*master_ref);
    } catch (const std::exception& ex) {
        throw SparkException(ex.what());
    }
    tracker.start_endpoint(*env);

    services = std::make_unique<ExecutorServices>(
        ExecutorServices{"driver", conf, *block_manager, *resolver, tracker, task_memory_bytes(conf, memory, cores)});
    if (master.kind == MasterUrl::Kind::local) {
        set_huge_page_cache_limit(huge_page_cache_limit_for_tasks(conf, memory));  // tasks run here
    }

    if (master.kind == MasterUrl::Kind::local_cluster && !conf.contains("ember.executor.cores")) {
        conf.set("ember.executor.cores", std::to_string(master.cores));  // as a standalone worker's executors
    }
    int max_failures = master.kind == MasterUrl::Kind::local
                           ? master.max_failures
                           : static_cast<int>(conf.get_int("ember.task.maxFailures", 4));
    try {
        task_scheduler = std::make_unique<TaskSchedulerImpl>(conf, max_failures, bus);
        task_scheduler->set_clock(clock);
    } catch (const std::exception& ex) {
        throw SparkException(ex.what());  // a bad ember.scheduler.mode or allocation file
    }
    if (master.kind == MasterUrl::Kind::local) {
        local_backend = std::make_unique<LocalSchedulerBackend>(*env, *task_scheduler, master.threads, *services);
        task_scheduler->set_backend(local_backend.get());
    } else {
        cluster_backend = std::make_unique<CoarseGrainedSchedulerBackend>(*env, *task_scheduler, bus, conf, app_id);
        task_scheduler->set_backend(cluster_backend.get());
    }
    dag = std::make_unique<DAGScheduler>(conf, *task_scheduler, tracker, bus,
                                         [this](std::function<void()> fn) { return post(std::move(fn)); });
    task_scheduler->set_dag_scheduler(dag.get());
    dag->set_block_manager_master(block_manager_master);
    // Not in a simulation: the cleaner's thread would act outside the simulation's order.
    if (!sim && conf.get_bool("ember.cleaner.referenceTracking", true)) {
        // Spark's defaults: the cleaner waits for RDD removals, not for shuffle deletions.
        const bool blocking = conf.get_bool("ember.cleaner.referenceTracking.blocking", true);
        const bool blocking_shuffle = conf.get_bool("ember.cleaner.referenceTracking.blocking.shuffle", false);
        cleaner = std::make_unique<ContextCleaner>(ContextCleaner::Actions{
            .clean_rdd = [this, blocking](int id) { unpersist_rdd(id, blocking); },
            .clean_shuffle = [this, blocking_shuffle](int id) { clean_shuffle(id, blocking_shuffle); },
        });
    }
    result_getter = std::make_unique<TaskResultGetter>(*task_scheduler, *block_manager,
                                                       [this](std::function<void()> fn) { return post(std::move(fn)); });
    task_scheduler->set_result_getter(result_getter.get());
    if (local_backend) {
        local_backend->start();
    } else {
        // local-cluster's launcher reports each executor's exit: a loss then names its cause.
        if (master.kind == MasterUrl::Kind::local_cluster || slurm) cluster_backend->expect_exit_reports(std::chrono::seconds(2));
        cluster_backend->start();
        // Spark runs no speculation in local mode.
        task_scheduler->start_speculation([this](std::function<void()> fn) { return post(std::move(fn)); });
    }
    log::get("scheduler")->info("Driver {} at {} (master {})", app_id, env->address().host_port(), master_string);
    {
        post([this, name = conf.get("ember.app.name", "ember"), user = spark_user(),
              local_cores = master.kind == MasterUrl::Kind::local ? master.threads : 0] {
            // Spark posts the environment first, then the application's start.
            bus.post(environment_update());
            bus.post(SparkListenerApplicationStart{name, app_id, now_ms(), user});
            // Spark's LocalSchedulerBackend announces the driver as the one executor.
            if (local_cores > 0) bus.post(SparkListenerExecutorAdded{now_ms(), "driver", env->address().host, local_cores});
            std::vector<SparkListenerEvent> early;
            {
                std::lock_guard lk(events_mu);
                events_ready = true;
                early.swap(early_events);
            }
            for (auto& e : early) bus.post(e);
        });
    }

    if (master.kind == MasterUrl::Kind::local) return;
    start_heartbeat_receiver();
    if (master.kind == MasterUrl::Kind::local_cluster || slurm) launch_local_cluster();
    if (sim) launch_simulated_executors();
    auto wait = conf.get_time_ms("ember.scheduler.maxRegisteredResourcesWaitingTime", "30s");
    auto failure = cluster_backend->wait_for_executors(master.executors, wait, [this]() -> std::optional<std::string> {
        std::lock_guard lk(start_mu);
        if (start_failure.empty()) return std::nullopt;
        return start_failure;
    });
    if (failure) throw SparkException(*failure);
    started = true;
}

void SparkContext::Impl::start_monitoring() {
    if (ConsoleProgressBar::enabled_by_conf(conf, 2)) {
        progress_bar = std::make_shared<ConsoleProgressBar>(ConsoleProgressBar::options_from_conf(conf));
        bus.add_async(progress_bar);
    }
    if (conf.get_bool("ember.eventLog.enabled", false)) {
        try {
            event_log = std::make_shared<EventLoggingListener>(EventLogOptions::from_conf(conf), app_id,
                                                               std::string(kVersion));
        } catch (const std::exception& e) {
            throw SparkException(std::string("Cannot start the event log (ember.eventLog.dir): ") + e.what());
        }
        log::get("scheduler")->info("Logging events to {}", event_log->path());
        bus.add_async(event_log);
    }
    // The store exists for the UI: with ember.ui.enabled off the scheduler feeds neither.
    if (!conf.get_bool("ember.ui.enabled", true)) return;
    status_store = std::make_shared<status::AppStatusStore>(status::StoreLimits::from_conf(conf));
    bus.add_async(status_store->listener());
    Conf ui_conf = conf;
    ui_conf.set_if_missing("ember.driver.host", env->address().host);
    try {
        ui = std::make_unique<ui::SparkUI>(ui_conf, status_store, std::string(kVersion));
    } catch (const std::invalid_argument&) {
        throw;  // a malformed ember.ui.* value
    } catch (const std::exception& e) {
        // The job matters more than its UI (Spark would fail the SparkContext here).
        log::get("scheduler")->error("Cannot start the web UI, running without it: {}", e.what());
    }
}

SparkListenerEnvironmentUpdate SparkContext::Impl::environment_update() const {
    SparkListenerEnvironmentUpdate u;
    std::error_code exe_ec;
    auto program = std::filesystem::read_symlink("/proc/self/exe", exe_ec).string();
    // Spark's "JVM Information" keys, holding what they mean for a C++ process.
    u.runtime_information = {{"Java Version", fmt::format("ember {} (C++ {})", kVersion, __cplusplus)},
                             {"Java Home", program},
                             {"Scala Version", "compiler " __VERSION__}};
    std::optional<KeyRedactor> redactor;
    try {
        redactor.emplace(conf);
    } catch (const std::invalid_argument& e) {
        log::get("scheduler")->warn("{}", e.what());
        redactor.emplace(Conf{});  // Spark's default pattern only
    }
    for (auto& [k, v] : conf.entries()) u.spark_properties.emplace_back(k, redactor->shown(k, v));
    u.spark_properties.emplace_back("ember.app.id", app_id);
    std::sort(u.spark_properties.begin(), u.spark_properties.end());
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    std::error_code ec;
    auto cwd = std::filesystem::current_path(ec);
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    u.system_properties = {{"host.name", host},
                           {"process.id", std::to_string(::getpid())},
                           {"program", exe.string()},
                           {"user.dir", cwd.string()},
                           {"user.name", spark_user()}};
    return u;
}

void SparkContext::Impl::start_heartbeat_receiver() {
    // Spark validates these when the SparkConf is made: a heartbeat interval at or above the
    // timeout would expire every executor.
    auto interval = conf.get_time_ms("ember.executor.heartbeatInterval", "10s");
    auto network_timeout = conf.get_time_ms("ember.network.timeout", "120s");
    if (network_timeout <= interval) {
        throw SparkException(fmt::format("The value of ember.network.timeout={}ms must be greater than the value of "
                                         "ember.executor.heartbeatInterval={}ms.",
                                         network_timeout.count(), interval.count()));
    }
    auto timeout = conf.contains("ember.network.executorTimeout")
                       ? conf.get_time_ms("ember.network.executorTimeout", "120s")
                       : network_timeout;
    auto check = conf.get_time_ms("ember.network.timeoutInterval", "60s");
    auto receiver = std::make_unique<HeartbeatReceiver>(
        timeout, check, [this](const std::string& id, const std::string& message) {
            // Spark: RemoveExecutor to the driver endpoint, and killAndReplaceExecutor. A hung
            // process cannot be asked to stop: it is killed, and its exit brings a replacement.
            if (cluster_backend) {
                cluster_backend->driver_ref().send<wire::RemoveExecutor>([&](wire::RemoveExecutor::Builder b) {
                    b.setExecutorId(id);
                    b.setReason(message);
                });
            }
            if (local_cluster) local_cluster->kill(id, SIGKILL);
        },
        [this](const std::string& id, const rpc::Message& msg) {
            return !cluster_backend || cluster_backend->is_executor_connection(id, msg);
        },
        [this](const std::string& id, const ExecutorMetrics& m) {
            post([this, id, m] { bus.post(SparkListenerExecutorMetricsUpdate{now_ms(), id, m}); });
        },
        clock);
    heartbeat_receiver = receiver.get();
    auto ref = env->setup_endpoint(std::string(HeartbeatReceiver::kEndpointName), std::move(receiver));
    if (!ref) throw SparkException("Cannot start the HeartbeatReceiver: " + ref.error().message);
    heartbeat_ref = *ref;
    bus.add(std::make_shared<LifecycleListener>(*this));
}

std::vector<std::string> SparkContext::Impl::executor_args(const std::string& id) {
    std::vector<std::string> args;
    if (slurm) {
        // One srun step per executor: its exit is this executor's, and a replacement is one more
        // step on the node the lost one ran on. Without --hostname the executor advertises its
        // node's SLURMD_NODENAME, so locality is per node.
        int node = 0;
        {
            std::lock_guard lk(slurm_mu);
            node = slurm_node_of.emplace(id, std::stoi(id)).first->second;
        }
        args = slurm->srun_args(node, fmt::format("ember-{}-executor-{}", app_id, id));
        args.insert(args.end(), executor_command.begin(), executor_command.end());
    }
    args.insert(args.end(), {"--ember-executor", "--driver-url", driver_url, "--executor-id", id, "--cores",
                             std::to_string(master.cores), "--memory", std::to_string(master.memory_mb)});
    if (!slurm) args.insert(args.end(), {"--hostname", env->address().host});
    // What the executor needs to reach the driver at all; the secret goes in its environment.
    for (auto& [k, v] : conf.entries()) {
        if (rpc::security::is_executor_startup_key(k)) {
            args.push_back("--conf");
            args.push_back(k + "=" + v);
        }
    }
    return args;
}

void SparkContext::Impl::on_executor_exit(const std::string& id, int pid, int status, const std::string& error) {
    std::string what = pid < 0 ? fmt::format("executor {} could not be started: {}", id, error)
                               : fmt::format("executor {} (pid {}) {}", id, pid, LocalCluster::describe_status(status));
    if (pid < 0 || !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) keep_executor_logs = true;
    if (auto why = cluster_backend->registration_refusal(id)) {
        what += " during start-up: " + *why;
    } else if (!started && pid >= 0) {
        auto line = local_cluster->last_error_line(id);
        if (!line.empty()) what += " during start-up: " + line;
    }
    if (!started && !stopped) {
        std::lock_guard lk(start_mu);
        if (start_failure.empty()) {
            start_failure = what.find("during start-up") == std::string::npos ? what + " during start-up" : what;
            start_failure += fmt::format(" (executor logs: {}/executor-{})", local_cluster->log_dir(), id);
        }
    }
    if (stopped) return;
    if (pid >= 0) cluster_backend->executor_exited(id, LocalCluster::describe_status(status), local_cluster->log_tail(id));
    if (!started) return;
    // A replacement, as Spark's standalone Master relaunches the executors of a running app.
    int failures = ++executor_failures;
    if (failures > max_executor_retries) {
        auto message = fmt::format("executors failed {} times in a row (last: {}), more than "
                                   "ember.deploy.maxExecutorRetries ({}); not starting another",
                                   failures, what, max_executor_retries);
        log::get("scheduler")->error("{}", message);
        if (local_cluster->pids().empty()) dag->fail_all_jobs_with("no executor is left: " + message);
        return;
    }
    std::string new_id = std::to_string(next_executor_id.fetch_add(1));
    if (slurm) {
        std::lock_guard lk(slurm_mu);
        if (auto it = slurm_node_of.find(id); it != slurm_node_of.end()) slurm_node_of[new_id] = it->second;
    }
    log::get("scheduler")->info("Starting executor {} to replace executor {} ({})", new_id, id, what);
    local_cluster->launch_async(new_id, executor_args(new_id));
}

void SparkContext::Impl::launch_local_cluster() {
    std::vector<std::string> command;
    if (auto c = conf.get("ember.executor.command")) {
        command = split_words(*c);
    }
    if (command.empty()) command.push_back(self_executable());
    if (slurm) {
        // srun runs the executor command (ember.executor.command, or this program, which sbatch
        // and salloc users run from a directory every node sees).
        executor_command = std::move(command);
        try {
            command = {find_srun()};
        } catch (const std::exception& ex) {
            throw SparkException(ex.what());
        }
    }
    driver_url =
        rpc::RpcEndpointAddress{env->address(), std::string(CoarseGrainedSchedulerBackend::kEndpointName)}.to_string();
    max_executor_retries = static_cast<int>(conf.get_int("ember.deploy.maxExecutorRetries", 10));
    // Executor stdout/stderr go to <ember.local.dir>/ember-<app id>/executor-<id>/ (Spark's
    // work/<app>/<executor> of a standalone worker).
    std::string root = conf.get("ember.local.dir", "/tmp");
    // The executors' block manager roots (as BlockManager splits ember.local.dir): local-cluster
    // removes the dirs of an executor that dies without cleaning up.
    std::vector<std::string> local_roots;
    for (std::size_t at = 0; at <= root.size();) {
        std::size_t comma = std::min(root.find(',', at), root.size());
        if (comma > at) local_roots.push_back(root.substr(at, comma - at));
        at = comma + 1;
    }
    if (local_roots.empty()) local_roots.push_back("/tmp");
    root = root.substr(0, root.find(','));
    std::string log_dir = root + "/ember-" + app_id;
    std::vector<std::string> environment;
    if (conf.get_bool("ember.authenticate", false)) {
        environment.push_back(std::string(rpc::security::kSecretEnvVar) + "=" +
                              rpc::security::SecurityConfig::from_conf(conf).secret);
    }
    local_cluster = std::make_unique<LocalCluster>(
        command, log_dir,
        [this](const std::string& id, int pid, int status, const std::string& error) {
            on_executor_exit(id, pid, status, error);
        },
        std::move(environment), local_roots, slurm ? 0 : SIGTERM);
    for (int i = 0; i < master.executors; ++i) {
        std::string id = std::to_string(next_executor_id.fetch_add(1));
        std::string error;
        int pid = local_cluster->launch(id, executor_args(id), error);
        if (pid < 0) throw SparkException(error);
    }
}

void SparkContext::Impl::launch_simulated_executors() {
    const rpc::RpcAddress driver = env->address();
    const int cores = master.cores;
    const std::uint64_t memory = static_cast<std::uint64_t>(master.memory_mb) << 20;
    for (int i = 1; i <= master.executors; ++i) {
        rpc::RpcEnvConfig cfg;
        cfg.name = fmt::format("executor-{}", i);
        cfg.conf = conf;
        std::string host = fmt::format("exec-{}", i);
        sim_executor_envs.push_back(cfg.name);
        // The boot runs again at every restart: a new incarnation is a new executor. An executor
        // that exits (StopExecutor, the driver lost, heartbeats failing) leaves as a process
        // does (Simulation::exit), and, as local-cluster's launcher does, is replaced after
        // ember.sim.executorRestartDelay, until this context stops.
        auto restart_delay = conf.get_time_ms("ember.sim.executorRestartDelay", "1s");
        auto boot = [this, enabled = sim_executors_enabled, driver, host, cores, memory, name = cfg.name,
                     restart_delay](rpc::RpcEnv& e) {
            if (!*enabled) return;
            std::string id = std::to_string(next_executor_id.fetch_add(1));
            auto* s = sim;
            auto on_exit = [s, enabled, name, id, restart_delay](int code, const std::string& why) {
                log::get("scheduler")->info("Simulated executor {} exits with code {}{}{}", id, code,
                                            why.empty() ? "" : ": ", why);
                s->note(fmt::format("executor {} ({}) exits with code {}", id, name, code));
                s->exit(name);  // what it sent (StopExecutor's ack) still arrives
                s->schedule(restart_delay, [s, enabled, name] {
                    if (*enabled && !s->env(name)) s->restart(name);  // (unless chaos restarted it first)
                });
            };
            try {
                sim->keep_alive(start_simulated_executor(e, id, host, driver, conf, cores, memory, on_exit));
            } catch (const std::exception& ex) {
                // (Registration failed: the driver cut off. Killed meanwhile: chaos restarts it.)
                log::get("scheduler")->error("Simulated executor {} on {} cannot start: {}", id, host, ex.what());
                if (!s->current_process_killed()) on_exit(1, ex.what());
            }
        };
        sim->create_env(std::move(cfg), host, std::move(boot), sim::SimEnvOptions{.faulty = true});
    }
}

void SparkContext::Impl::clean_shuffle(int shuffle_id, bool blocking) {
    // Spark's doCleanupShuffle: the statuses first, so no new reader is sent to deleted files.
    tracker.unregister_shuffle(shuffle_id);
    if (auto* master = block_manager ? block_manager->master() : nullptr) master->remove_shuffle(shuffle_id, blocking);
}

void SparkContext::Impl::stop() {
    if (stopped.exchange(true)) return;
    if (cleaner) cleaner->stop();
    if (dag) {
        // Spark posts the application's end first, then stops the schedulers.
        auto done = std::make_shared<std::promise<void>>();
        auto fut = done->get_future();
        if (post([this, done] {
                bus.post(SparkListenerApplicationEnd{now_ms()});
                done->set_value();
            })) {
            util::wait_future_for(fut, std::chrono::seconds(10));
        }
    }
    bus.wait_until_empty();  // the store, event log and progress bar have heard everything
    if (event_log) event_log->stop();  // done by ApplicationEnd, unless the loop was gone
    if (progress_bar) progress_bar->stop();
    if (task_scheduler) task_scheduler->stop();
    if (dag) dag->stop();
    *sim_executors_enabled = false;  // no executor restarts from now on (their boots use this context)
    if (cluster_backend) cluster_backend->stop();
    if (local_backend) local_backend->stop();
    if (local_cluster) {
        // Executors exit on StopExecutor; stragglers get SIGTERM, then SIGKILL.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!local_cluster->pids().empty() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        local_cluster->stop(std::chrono::seconds(3));
        std::error_code ec;
        if (keep_executor_logs || conf.get_bool("ember.executor.logs.keep", false)) {
            log::get("scheduler")->info("Executor logs kept in {}", local_cluster->log_dir());
        } else {
            std::filesystem::remove_all(local_cluster->log_dir(), ec);
        }
    }
    if (sim) {
        // The executors' envs that StopExecutor did not end. Killed incarnations stay with the
        // simulation.
        for (auto& name : sim_executor_envs) {
            if (auto* e = sim->env(name)) {
                e->shutdown();
                e->await_termination();
            }
        }
    }
    if (broadcast_manager) broadcast_manager->stop();
    if (env) {
        env->shutdown();
        env->await_termination();
    }
    if (block_manager) block_manager->stop();
    bus.stop();
    if (ui) ui->stop();
}

SparkContext::SparkContext(Conf conf, std::shared_ptr<util::Clock> clock,
                           std::vector<std::shared_ptr<SparkListener>> listeners)
    : impl_(std::make_unique<Impl>()) {
    if (!clock) throw std::invalid_argument("SparkContext: null clock");
    impl_->clock = std::move(clock);
    init(std::move(conf), std::move(listeners));
}

SparkContext::SparkContext(Conf conf, std::vector<std::shared_ptr<SparkListener>> listeners)
    : impl_(std::make_unique<Impl>()) {
    init(std::move(conf), std::move(listeners));
}

void SparkContext::init(Conf conf, std::vector<std::shared_ptr<SparkListener>> listeners) {
    impl_->conf = submitted_conf();  // Spark: defaults < --conf < SparkConf set in code
    if (auto submitted = impl_->conf.get("ember.master"), in_code = conf.get("ember.master");
        submitted && in_code && *submitted != *in_code) {
        log::get("scheduler")->warn("The application sets ember.master={} in code, over the submitted {}",
                                    *in_code, *submitted);
    }
    for (auto& [k, v] : conf.entries()) impl_->conf.set(k, v);
    warn_unknown_config_keys(impl_->conf);
    for (auto& l : listeners) impl_->bus.add(std::move(l));
    // Spark's SparkContext registers a shutdown hook that stops it (SPARK_CONTEXT_SHUTDOWN_PRIORITY)
    // at the end of its constructor, and the JVM turns a SIGTERM or SIGINT that comes earlier into
    // an orderly exit as well. Here the hook (and with it the signal handlers) comes before the
    // start-up and waits for it to end: a signal while the executors start stops the context once
    // they have, instead of killing the process with the signal's default action and leaving the
    // executors and the local directories behind.
    std::unique_lock starting(impl_->startup_mu);
    auto hook = [impl = impl_.get()] {
        std::lock_guard started(impl->startup_mu);  // start-up has ended, either way
        log::get("scheduler")->warn("Invoking stop() from shutdown hook");
        impl->stop();
    };
    impl_->shutdown_hook = util::ShutdownHookManager::add(util::ShutdownHookManager::kSparkContextPriority, hook);
    auto failed = [&] {
        starting.unlock();
        // As stop(): while a signal's hooks stop this context on another thread, remove() does
        // not return (that thread stops it, then the process exits).
        if (auto h = impl_->shutdown_hook.exchange(0)) util::ShutdownHookManager::remove(h);
        impl_->stop();
    };
    try {
        impl_->start();
    } catch (const std::invalid_argument& e) {
        failed();
        throw SparkException(e.what());
    } catch (...) {
        failed();
        throw;
    }
}

SparkContext::SparkContext(const std::string& master, const std::string& app_name, Conf conf,
                           std::vector<std::shared_ptr<SparkListener>> listeners)
    : SparkContext(std::move(conf.set("ember.master", master).set("ember.app.name", app_name)), std::move(listeners)) {}

SparkContext::~SparkContext() { stop(); }

void SparkContext::stop() {
    // While a signal's hooks stop this context on another thread, remove() does not return.
    if (auto hook = impl_->shutdown_hook.exchange(0)) util::ShutdownHookManager::remove(hook);
    impl_->stop();
}

const Conf& SparkContext::conf() const { return impl_->conf; }
const std::string& SparkContext::app_id() const { return impl_->app_id; }
const std::string& SparkContext::master() const { return impl_->master_string; }

int SparkContext::default_parallelism() const {
    if (impl_->conf.contains("ember.default.parallelism")) {
        return static_cast<int>(impl_->conf.get_int("ember.default.parallelism", 2));
    }
    return impl_->backend().default_parallelism();
}

int SparkContext::new_rdd_id() { return impl_->next_rdd_id.fetch_add(1); }
void SparkContext::unpersist_rdd(int rdd_id, bool blocking) { impl_->unpersist_rdd(rdd_id, blocking); }

void SparkContext::Impl::unpersist_rdd(int rdd_id, bool blocking) {
    auto* master = block_manager ? block_manager->master() : nullptr;
    if (!master) return;
    post([this, rdd_id] { bus.post(SparkListenerUnpersistRDD{rdd_id}); });
    {
        std::lock_guard lk(storage_mu);
        rdd_blocks.erase(rdd_id);
        persistent_rdds.erase(rdd_id);
    }
    try {
        master->remove_rdd(rdd_id, blocking);
    } catch (const std::exception& e) {
        throw SparkException(e.what());
    }
}

std::optional<std::string> SparkContext::ui_web_url() const {
    if (!impl_->ui) return std::nullopt;
    return impl_->ui->web_url();
}

std::optional<std::string> SparkContext::event_log_path() const {
    if (!impl_->event_log) return std::nullopt;
    auto p = impl_->event_log->path();
    constexpr std::string_view suffix = ".inprogress";
    if (p.size() > suffix.size() && p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) {
        p.resize(p.size() - suffix.size());
    }
    return p;
}

int SparkContext::new_shuffle_id() { return impl_->next_shuffle_id.fetch_add(1); }

void SparkContext::track_shuffle(scheduler::ShuffleDependencyBase& dep) {
    if (impl_->cleaner) dep.set_cleanup_token(impl_->cleaner->track_shuffle(dep.shuffle_id()));
}

std::int64_t SparkContext::new_broadcast(std::string serialized, std::shared_ptr<const void> value,
                                         const std::type_info& type) {
    if (impl_->stopped || !impl_->broadcast_manager) {
        throw SparkException("Cannot broadcast a value: the SparkContext was stopped");
    }
    try {
        return impl_->broadcast_manager->new_broadcast(std::move(serialized), std::move(value), type);
    } catch (const std::runtime_error& e) {
        throw SparkException(e.what());
    }
}

std::vector<int> SparkContext::executor_pids() const {
    return impl_->local_cluster ? impl_->local_cluster->pids() : std::vector<int>{};
}

std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> SparkContext::executor_memory_status() const {
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> out;
    if (!impl_->block_manager_master || impl_->stopped) return out;
    for (auto& s : impl_->block_manager_master->memory_status()) {
        out[rpc::RpcAddress{s.id.host, s.id.port}.host_port()] = {s.max_memory,
                                                                  s.max_memory - std::min(s.max_memory, s.memory_used)};
    }
    return out;
}

int SparkContext::executor_pid(const std::string& executor_id) const {
    return impl_->local_cluster ? impl_->local_cluster->pid_of(executor_id) : -1;
}

namespace {
thread_local JobProperties local_properties;  // SparkContext::set_local_property of this thread
}  // namespace

void SparkContext::set_local_property(const std::string& key, std::optional<std::string> value) {
    if (value) {
        local_properties[key] = std::move(*value);
    } else {
        local_properties.erase(key);
    }
}

std::optional<std::string> SparkContext::get_local_property(const std::string& key) const {
    auto it = local_properties.find(key);
    if (it == local_properties.end()) return std::nullopt;
    return it->second;
}

void SparkContext::set_job_group(std::string group_id) { set_local_property(kJobGroupIdProperty, std::move(group_id)); }
void SparkContext::clear_job_group() { set_local_property(kJobGroupIdProperty, std::nullopt); }
void SparkContext::cancel_job(int job_id, std::optional<std::string> reason) { impl_->dag->cancel_job(job_id, std::move(reason)); }
void SparkContext::cancel_job_group(const std::string& group_id) { impl_->dag->cancel_job_group(group_id); }
void SparkContext::cancel_all_jobs() { impl_->dag->cancel_all_jobs(); }
std::vector<int> SparkContext::active_job_ids(std::optional<std::string> group_id) const {
    return impl_->dag->active_job_ids(std::move(group_id));
}

void SparkContext::add_spark_listener(std::shared_ptr<SparkListener> listener) { impl_->bus.add(std::move(listener)); }

std::string SparkContext::call_site(std::string_view op, const SourceLocation& loc) {
    std::string_view file = loc.file_name();
    if (auto slash = file.rfind('/'); slash != std::string_view::npos) file.remove_prefix(slash + 1);
    return fmt::format(FMT_COMPILE("{} at {}:{}"), op, file, loc.line());
}

namespace {
/// How many threads list a text_file input tree: Hadoop's key, as Spark users pass it
/// (spark.hadoop.mapreduce.input.fileinputformat.list-status.num-threads). Hadoop's default is
/// one thread; ember's is the machine's CPUs, at most 8 (the walk is system calls, and two
/// threads list the Linux tree's 78,579 files in 0.26-0.28 s against 0.39-0.40 s on two CPUs).
int list_status_threads(const Conf& conf) {
    const int cpus = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
    return static_cast<int>(std::clamp<std::int64_t>(
        conf.get_int("ember.hadoop.mapreduce.input.fileinputformat.list-status.num-threads", cpus), 1, 64));
}
}  // namespace

Rdd<std::string> SparkContext::text_file(const std::string& path, int min_partitions, SourceLocation loc) {
    return text_file(std::vector<std::string>{path}, min_partitions, loc);
}

Rdd<std::string> SparkContext::text_file(const std::vector<std::string>& paths, int min_partitions,
                                         SourceLocation loc) {
    std::vector<std::vector<FileSplit>> parts;
    try {
        parts = TextFileRdd::plan(paths, min_partitions > 0 ? min_partitions : default_parallelism(),
                                  static_cast<std::uint64_t>(conf().get_size_bytes("ember.files.maxPartitionBytes", "128m")),
                                  static_cast<std::uint64_t>(conf().get_size_bytes("ember.files.openCostInBytes", "4k")),
                                  list_status_threads(conf()), default_parallelism());
    } catch (const std::runtime_error& e) {
        throw SparkException(e.what());
    }
    auto node = std::make_shared<TextFileRdd>(new_rdd_id(), std::move(parts));
    node->set_name(call_site("textFile", loc));
    return Rdd<std::string>(this, std::move(node));
}

void SparkContext::run_job(std::shared_ptr<RddBase> rdd, std::shared_ptr<ResultFunctionBase> func,
                           std::vector<int> partitions, ResultHandler handler, std::string call_site) {
    if (impl_->stopped) throw SparkException("Cannot run a job: the SparkContext was stopped");
    // Before anything is sent, in every master: a closure holding a driver address would crash
    // or mislead the executors (scheduler/closure.hpp).
    check_closures(*rdd, func.get(), call_site);
    std::shared_ptr<JobWaiter> waiter;
    auto rdd_for_checkpoint = rdd;
    try {
        waiter = impl_->dag->submit_job(std::move(rdd), std::move(func), std::move(partitions), std::move(handler),
                                        std::move(call_site), local_properties);
    } catch (const std::invalid_argument& e) {
        throw SparkException(e.what());
    }
    if (impl_->sim) {
        // The caller's wait runs the simulation (the job's tasks and messages) until the job
        // ends, for ember.sim.jobTimeout of virtual time at most.
        auto limit = impl_->conf.get_time_ms("ember.sim.jobTimeout", "1h");
        impl_->sim->wait_until([&] { return waiter->done(); }, limit);
        if (!waiter->done()) {
            impl_->sim->note(fmt::format("job {} did not finish", waiter->job_id()));
            cancel_job(waiter->job_id());
            throw SparkException(fmt::format("Job {} did not finish within {} ms of simulated time "
                                             "(ember.sim.jobTimeout)",
                                             waiter->job_id(), limit.count()));
        }
    }
    // The job often ends within tens of microseconds: run the driver's I/O loop meanwhile
    // (its thread sleeps), so the last StatusUpdate is read and handled here, with no wake-up
    // between the I/O thread and this one; then wait as before if it did not end.
    if (!impl_->sim) impl_->env->drive_io_until([&waiter] { return waiter->ended(); });
    waiter->await(impl_->env->spin_time());
    std::set<int> seen;
    impl_->do_checkpoint(*this, rdd_for_checkpoint, seen);
}

void SparkContext::Impl::do_checkpoint(SparkContext& sc, const std::shared_ptr<RddBase>& rdd, std::set<int>& seen) {
    if (!rdd || !seen.insert(rdd->id()).second || rdd->is_checkpointed()) return;
    if (auto plan = rdd->checkpoint_plan()) {
        // Marked: write it (Spark's ReliableRDDCheckpointData.doCheckpoint), not its ancestors.
        // Cleared first, so this job's own end does not start another write; concurrent actions
        // may both write the same files, which is harmless (each file is renamed into place).
        rdd->clear_checkpoint_plan();
        try {
            std::vector<int> parts;
            for (int i = 0; i < rdd->num_partitions(); ++i) parts.push_back(i);
            sc.run_job(rdd, plan->writer, std::move(parts), [](int, std::string_view) {},
                       fmt::format("checkpoint of RDD {} ({})", rdd->id(), rdd->name()));
            for (int i = 0; i < rdd->num_partitions(); ++i) {
                auto file = std::filesystem::path(plan->dir) / checkpoint_file_name(i);
                if (!std::filesystem::exists(file)) {
                    throw SparkException(fmt::format("Checkpoint RDD has a different number of partitions from original "
                                                     "RDD. Original RDD [ID: {}, num of partitions: {}]; missing {}",
                                                     rdd->id(), rdd->num_partitions(), file.string()));
                }
            }
        } catch (...) {
            rdd->set_checkpoint_plan(*plan);  // a later job tries again
            throw;
        }
        auto reader = plan->make_reader(sc.new_rdd_id());
        reader->set_name(fmt::format("ReliableCheckpointRDD[{}]", rdd->id()));
        rdd->mark_checkpointed(std::move(reader), plan->dir);
        log::get("scheduler")->info("Done checkpointing RDD {} to {}", rdd->id(), plan->dir);
        return;
    }
    for (auto& dep : rdd->narrow_dependencies()) do_checkpoint(sc, dep.rdd, seen);
    for (auto& dep : rdd->shuffle_dependencies()) do_checkpoint(sc, dep->rdd(), seen);
}

void SparkContext::set_checkpoint_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    std::random_device rd;
    std::mt19937_64 rng((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
    std::uint64_t hi = rng(), lo = rng();
    hi = (hi & ~0xf000ULL) | 0x4000ULL;                      // version 4
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // IETF variant
    std::string uuid = fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff,
                                   lo >> 48, lo & 0xffffffffffffULL);
    fs::path path = fs::absolute(fs::path(dir)) / uuid;
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) throw SparkException(fmt::format("Cannot create checkpoint directory {}: {}", path.string(), ec.message()));
    std::lock_guard lk(impl_->checkpoint_mu);
    impl_->checkpoint_dir = path.string();
}

std::optional<std::string> SparkContext::checkpoint_dir() const {
    std::lock_guard lk(impl_->checkpoint_mu);
    return impl_->checkpoint_dir;
}

void SparkContext::register_persistent_rdd(std::shared_ptr<RddBase> rdd) {
    std::lock_guard lk(impl_->storage_mu);
    impl_->persistent_rdds[rdd->id()] = rdd;
    // Spark's registerRDDForCleanup; under storage_mu, so two persist() calls set one token.
    if (impl_->cleaner && !rdd->has_cleanup_token()) rdd->set_cleanup_token(impl_->cleaner->track_rdd(rdd->id()));
}

std::vector<RddStorageInfo> SparkContext::rdd_storage_info() const {
    std::vector<RddStorageInfo> out;
    std::lock_guard lk(impl_->storage_mu);
    for (auto it = impl_->persistent_rdds.begin(); it != impl_->persistent_rdds.end();) {
        auto rdd = it->second.lock();
        if (!rdd) {
            it = impl_->persistent_rdds.erase(it);
            continue;
        }
        ++it;
        auto level = rdd->storage_level();
        if (!level.is_valid()) continue;
        RddStorageInfo info;
        info.id = rdd->id();
        info.name = rdd->name();
        info.storage_level = level.description();
        info.num_partitions = rdd->num_partitions();
        if (auto b = impl_->rdd_blocks.find(rdd->id()); b != impl_->rdd_blocks.end()) {
            for (auto& [p, holders] : b->second) {
                if (holders.empty()) continue;
                ++info.num_cached_partitions;
                for (auto& [_, sizes] : holders) {
                    info.mem_size += sizes.first;
                    info.disk_size += sizes.second;
                }
            }
        }
        // Spark's RDDInfo.isCached: some partition is cached and it takes space.
        if (info.num_cached_partitions > 0 && info.mem_size + info.disk_size > 0) out.push_back(std::move(info));
    }
    return out;
}

}  // namespace ember
