// SPDX-License-Identifier: Apache-2.0
#include "scheduler/deploy/config_keys.hpp"

#include "rpc/log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace ember::scheduler {

namespace {

// Sorted by key (the test checks). Defaults are Spark 3.3's unless the doc says otherwise.
constexpr ConfigKey kKeys[] = {
    {"ember.app.id", "", "the application's id, set by the driver (read-only; shown in the environment)"},
    {"ember.app.name", "ember", "the application's name (SparkContext's app_name)"},
    {"ember.authenticate", "false", "authenticate every connection with a shared secret"},
    {"ember.authenticate.secret", "", "the shared secret (else .secret.file, else EMBER_AUTH_SECRET)"},
    {"ember.authenticate.secret.file", "", "a file holding the shared secret"},
    {"ember.broadcast.blockSize", "4m", "size of each piece of a broadcast variable; unit k if bare"},
    {"ember.broadcast.checksum", "true", "checksum each broadcast piece and verify it when fetched"},
    {"ember.broadcast.compress", "true", "LZ4-compress broadcast variables before cutting them into pieces"},
    {"ember.cleaner.referenceTracking", "true",
     "remove a persisted RDD's blocks, and a shuffle's map statuses and files, once the driver "
     "holds no reference to them"},
    {"ember.cleaner.referenceTracking.blocking", "true",
     "the cleaner waits for the executors to drop a persisted RDD's blocks"},
    {"ember.cleaner.referenceTracking.blocking.shuffle", "false",
     "the cleaner waits for the executors to delete a shuffle's files"},
    {"ember.default.parallelism", "total executor cores (min 2)", "partitions of parallelize and shuffles"},
    {"ember.deploy.maxExecutorRetries", "10", "local-cluster, slurm: executor failures in a row before the app fails"},
    {"ember.diskStore.subDirectories", "64", "subdirectories per local dir of the DiskBlockManager"},
    {"ember.driver.bindAddress", "127.0.0.1 (cluster: 0.0.0.0)", "address the driver listens on"},
    {"ember.driver.host", "127.0.0.1 (cluster: hostname)", "address executors use to reach the driver"},
    {"ember.driver.maxResultSize", "1g", "cap on the total size of one job's serialized results"},
    {"ember.driver.memory", "1g", "the driver's memory (sizes its BlockManager); unit m if bare"},
    {"ember.driver.port", "0", "the driver's RPC port (0: any free port)"},
    {"ember.eventLog.buffer.kb", "100k", "bytes of serialized events buffered between event log flushes"},
    {"ember.eventLog.compress", "false", "compress the event log"},
    {"ember.eventLog.compression.codec", "zstd", "codec of a compressed event log"},
    {"ember.eventLog.dir", "/tmp/spark-events", "directory of event logs"},
    {"ember.eventLog.enabled", "false", "write the application's events as Spark JSON lines"},
    {"ember.eventLog.logBlockUpdates.enabled", "false", "also log BlockUpdated events"},
    {"ember.eventLog.logStageExecutorMetrics", "false", "also log per-stage executor metric peaks"},
    {"ember.eventLog.overwrite", "false", "replace an existing event log of the same name"},
    {"ember.excludeOnFailure.application.fetchFailure.enabled", "false", "exclude an executor at once when a shuffle fetch from it fails"},
    {"ember.excludeOnFailure.application.maxFailedExecutorsPerNode", "2", "excluded executors that exclude their node for the app"},
    {"ember.excludeOnFailure.application.maxFailedTasksPerExecutor", "2", "failed tasks (successful stages) that exclude an executor"},
    {"ember.excludeOnFailure.enabled", "false", "stop scheduling on executors and nodes where tasks keep failing"},
    {"ember.excludeOnFailure.killExcludedExecutors", "false", "stop executors excluded for the application"},
    {"ember.excludeOnFailure.stage.maxFailedExecutorsPerNode", "2", "excluded executors that exclude their node for a stage"},
    {"ember.excludeOnFailure.stage.maxFailedTasksPerExecutor", "2", "failed tasks that exclude an executor for a stage"},
    {"ember.excludeOnFailure.task.maxTaskAttemptsPerExecutor", "1", "failed attempts of a task that exclude an executor for it"},
    {"ember.excludeOnFailure.task.maxTaskAttemptsPerNode", "2", "failed attempts of a task that exclude a node for it"},
    {"ember.excludeOnFailure.timeout", "1h", "how long an application-level exclusion lasts"},
    {"ember.executor.command", "this program", "executable local-cluster starts as executors"},
    {"ember.executor.cores", "1 (local-cluster: C)", "cores per executor"},
    {"ember.executor.driverLookupTimeout", "30s", "executor: how long to try reaching the driver"},
    {"ember.executor.heartbeat.maxFailures", "60", "failed heartbeats after which an executor exits"},
    {"ember.executor.heartbeatInterval", "10s", "interval of executor heartbeats to the driver"},
    {"ember.executor.instances", "slurm: SLURM_NTASKS, else 2", "executors a cluster manager starts (master slurm: srun steps; ember-submit --num-executors)"},
    {"ember.executor.logs.keep", "false", "keep local-cluster executor logs after a clean exit"},
    {"ember.executor.memory", "1g", "an executor's memory (sizes its BlockManager); unit m if bare"},
    {"ember.executor.stopTimeout", "10s", "how long the driver waits for executors to stop"},
    {"ember.files.maxPartitionBytes", "128m", "largest input split of text_file"},
    {"ember.files.openCostInBytes", "4k", "cost of opening a file, in bytes, when packing splits"},
    {"ember.hadoop.mapreduce.input.fileinputformat.list-status.num-threads", "CPUs, at most 8",
     "threads that list a text_file input tree (Hadoop's key; its default is 1)"},
    {"ember.history.fs.logDirectory", "/tmp/spark-events", "event logs the history server reads"},
    {"ember.history.fs.update.interval", "10s", "how often the history server rescans its directory"},
    {"ember.history.retainedApplications", "50", "application UIs the history server keeps loaded"},
    {"ember.history.ui.port", "18080", "port of the history server"},
    {"ember.jobGroup.id", "", "job property: the job group (set_job_group), not a configuration key"},
    {"ember.local.dir", "/tmp", "scratch directory for blocks, shuffle files and executor logs"},
    {"ember.locality.wait", "3s", "delay-scheduling wait per locality level"},
    {"ember.locality.wait.legacyResetOnTaskLaunch", "false", "reset the locality timer on every launch"},
    {"ember.locality.wait.node", "ember.locality.wait", "wait at NODE_LOCAL"},
    {"ember.locality.wait.process", "ember.locality.wait", "wait at PROCESS_LOCAL"},
    {"ember.locality.wait.rack", "ember.locality.wait", "wait at RACK_LOCAL"},
    {"ember.master", "local-cluster[2,1,1024]", "local[N], local-cluster[E,C,M], cluster[E], slurm or sim[E,C,M]"},
    {"ember.memory.fraction", "0.6", "share of memory for execution and storage"},
    {"ember.memory.storageFraction", "0.5", "share of that protected for storage"},
    {"ember.metrics.appStatusSource.enabled", "false", "expose job, stage and task counters as metrics"},
    {"ember.metrics.conf.", "", "metrics system settings, Spark's metrics.properties as keys"},
    {"ember.metrics.executorMetricsSource.enabled", "true", "expose executor memory and CPU metrics"},
    {"ember.metrics.namespace", "the app id", "prefix of metric names"},
    {"ember.metrics.staticSources.enabled", "true", "expose the static metric sources"},
    {"ember.network.auth.rpcTimeout", "30s", "timeout of the authentication handshake"},
    {"ember.network.crypto.enabled", "false", "encrypt connections (needs ember.authenticate)"},
    {"ember.network.executorTimeout", "ember.network.timeout", "silence after which an executor is lost"},
    {"ember.network.maxRemoteBlockSizeFetchToMem", "64m", "larger remote blocks are fetched to disk"},
    {"ember.network.timeout", "120s", "default for every network timeout"},
    {"ember.network.timeoutInterval", "60s", "how often the driver checks for lost executors"},
    {"ember.port.maxRetries", "16", "ports tried after a busy one before binding fails"},
    {"ember.rdd.limit.scaleUpFactor", "4", "take(): growth factor of the partitions scanned per job (at least 2)"},
    {"ember.redaction.regex", "", "extra regex of configuration keys whose values are redacted (besides secret|password|token|access[.]?key)"},
    {"ember.reducer.maxBlocksInFlightPerAddress", "2147483647", "remote blocks in flight per serving address per reducer"},
    {"ember.reducer.maxReqsInFlight", "2147483647", "remote fetch requests in flight per reducer"},
    {"ember.reducer.maxSizeInFlight", "48m", "bytes of shuffle fetches in flight per reducer"},
    {"ember.rpc.askTimeout", "ember.network.timeout", "default timeout of an ask"},
    {"ember.rpc.io.connectionCreationTimeout", "ember.rpc.io.connectionTimeout", "timeout of a connect"},
    {"ember.rpc.io.connectionTimeout", "ember.network.timeout", "idle connections are closed after it"},
    {"ember.rpc.io.lendToWaiters", "true", "threads waiting for the env's events may run its I/O loop (drive_io_until)"},
    {"ember.rpc.io.maxBodySize", "2g", "largest bulk body (block bytes) accepted"},
    {"ember.rpc.io.maxBufferedBytes", "1g", "bytes all connections of an env may buffer"},
    {"ember.rpc.io.maxBufferedBytesPerConnection", "max(256m, 2 x message.maxSize)",
     "bytes one connection may buffer"},
    {"ember.rpc.io.maxConnections", "2048", "accepted connections beyond it are closed"},
    {"ember.rpc.io.maxQueuedBytes", "64m", "outbox bytes queued per peer before back-pressure"},
    {"ember.rpc.io.spinTime", "50us (0 on one CPU)", "how long an I/O thread polls before sleeping"},
    {"ember.rpc.io.threads", "1", "I/O threads of an RpcEnv"},
    {"ember.rpc.lookupTimeout", "ember.network.timeout", "timeout of an endpoint lookup"},
    {"ember.rpc.message.maxSize", "128", "largest RPC message, MiB"},
    {"ember.scheduler.allocation.file", "", "FAIR pools file (Spark's fairscheduler.xml)"},
    {"ember.scheduler.excludeOnFailure.unschedulableTaskSetTimeout", "120s",
     "wait for a usable executor before aborting a task set excluded everywhere"},
    {"ember.scheduler.maxRegisteredResourcesWaitingTime", "30s", "wait for executors before the first job"},
    {"ember.scheduler.mode", "FIFO", "FIFO or FAIR"},
    {"ember.scheduler.pool", "default", "job property: the FAIR pool of a job, not a configuration key"},
    {"ember.scheduler.revive.interval", "1s", "interval of resource offers"},
    {"ember.scheduler.shortTaskDuration", "1ms", "ember: tasks shorter than this are launched in batches"},
    {"ember.scheduler.shortTaskQueueDepth", "32", "ember: tasks queued per core for short tasks"},
    {"ember.shuffle.checksum.algorithm", "ADLER32", "shuffle checksum algorithm: ADLER32 or CRC32"},
    {"ember.shuffle.checksum.enabled", "true", "write per-partition shuffle checksums, diagnose corrupt blocks"},
    {"ember.shuffle.compress", "true", "compress shuffle output (lz4)"},
    {"ember.shuffle.io.connectionTimeout", "ember.network.timeout", "timeout of a shuffle fetch"},
    {"ember.shuffle.io.maxRetries", "3", "retries of a shuffle fetch that failed with an I/O error"},
    {"ember.shuffle.io.retryWait", "5s", "wait before each shuffle fetch retry"},
    {"ember.shuffle.reduceLocality.enabled", "true", "run reducers where most of their input is"},
    {"ember.shuffle.spill.numElementsForceSpillThreshold", "0 (never)", "records after which to spill"},
    {"ember.sim.executorRestartDelay", "1s", "master sim: virtual time before an exited executor is replaced"},
    {"ember.sim.jobTimeout", "1h", "master sim: virtual time a job may take before run_job gives up"},
    {"ember.speculation", "false", "re-launch slow tasks speculatively"},
    {"ember.speculation.interval", "100ms", "how often to check for slow tasks"},
    {"ember.speculation.minTaskRuntime", "100ms", "tasks shorter than this are never speculated"},
    {"ember.speculation.multiplier", "1.5", "a task this many times the median is slow"},
    {"ember.speculation.quantile", "0.75", "share of tasks done before speculating"},
    {"ember.speculation.task.duration.threshold", "", "speculate tasks longer than this in small stages"},
    {"ember.stage.maxConsecutiveAttempts", "4", "failed attempts of a stage before its jobs fail"},
    {"ember.storage.cachedPeersTtl", "60s", "how long a BlockManager keeps the peers it replicates to"},
    {"ember.storage.maxReplicationFailures", "1", "failed uploads of a replica before giving up on it"},
    {"ember.storage.memoryCapacity", "from ember.*.memory", "ember: the BlockManager's memory, bytes"},
    {"ember.storage.replication.proactive", "false", "re-replicate a lost executor's cached RDD blocks"},
    {"ember.submit.deployMode", "client", "where the driver runs, set by ember-submit (client only)"},
    {"ember.task.cpus", "1", "cores per task"},
    {"ember.task.maxDirectResultSize", "1m", "larger results go through the BlockManager"},
    {"ember.task.maxFailures", "4 (local: 1)", "failures of one task before its job fails"},
    {"ember.task.reaper.enabled", "false", "watch killed tasks and kill the executor if one does not stop"},
    {"ember.task.reaper.killTimeout", "-1", "how long a killed task may run before its executor exits (-1: never)"},
    {"ember.task.reaper.pollingInterval", "10s", "how often the task reaper checks a killed task"},
    {"ember.task.reaper.threadDump", "true", "log the killed task thread's state while it runs"},
    {"ember.testing.dagScheduler.ignoreFetchFailures", "0", "testing: a planted bug, the first N FetchFailed are dropped"},
    {"ember.ui.bindAddress", "ember.driver.bindAddress", "ember: address the web UI listens on"},
    {"ember.ui.consoleProgress.update.interval", "200ms", "refresh interval of the console progress bar"},
    {"ember.ui.enabled", "true", "serve the web UI and REST API"},
    {"ember.ui.port", "4040", "port of the web UI (the next ones are tried if busy)"},
    {"ember.ui.prometheus.enabled", "false", "serve executor metrics as Prometheus text on the UI"},
    {"ember.ui.retainedDeadExecutors", "100", "dead executors the UI remembers"},
    {"ember.ui.retainedJobs", "1000", "jobs the UI remembers"},
    {"ember.ui.retainedStages", "1000", "stages the UI remembers"},
    {"ember.ui.retainedTasks", "100000", "tasks per stage the UI remembers"},
    {"ember.ui.showConsoleProgress", "isatty(stderr)", "show the progress bar on stderr (Spark: false)"},
};

// Levenshtein distance, ignoring ASCII case.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

}  // namespace

std::span<const ConfigKey> config_keys() noexcept { return kKeys; }

const ConfigKey* find_config_key(std::string_view key) noexcept {
    for (const auto& k : kKeys) {
        if (k.key == key || (k.key.ends_with('.') && key.starts_with(k.key))) return &k;
    }
    return nullptr;
}

std::optional<std::string_view> closest_config_key(std::string_view key) {
    std::optional<std::string_view> best;
    std::size_t best_distance = std::max<std::size_t>(2, key.size() / 6) + 1;
    for (const auto& k : kKeys) {
        if (k.key.ends_with('.')) continue;
        if (auto d = edit_distance(key, k.key); d < best_distance) {
            best_distance = d;
            best = k.key;
        }
    }
    return best;
}

std::string unknown_config_key_message(std::string_view key) {
    auto line = fmt::format("Ignoring unknown configuration key {}", key);
    if (auto near = closest_config_key(key)) line += fmt::format(" (did you mean {}?)", *near);
    return line;
}

std::vector<std::string> warn_unknown_config_keys(const Conf& conf) {
    std::vector<std::string> lines;
    for (const auto& [key, value] : conf.entries()) {
        if (!key.starts_with("ember.") || find_config_key(key)) continue;
        lines.push_back(unknown_config_key_message(key));
        log::get("scheduler")->warn("{}", lines.back());
    }
    return lines;
}

}  // namespace ember::scheduler
