// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// SparkContext: the entry point of a driver program (Spark's SparkContext).

#include "rpc/conf.hpp"
#include "scheduler/stage.hpp"

#include <memory>
#include <source_location>
#include <string>
#include <vector>

namespace ember {

template <class T>
class Rdd;

namespace scheduler {
class SparkListener;
}

/// Connects a driver program to its executors and runs its jobs.
///
/// The master (ember.master) decides where tasks run: `local[N]` (threads of this process),
/// `local-cluster[E,C,M]` (E executor processes of this same executable, started and stopped
/// with the context; the default is local-cluster[2,1,1024]), or `cluster[E]` (executors
/// started elsewhere connect to ember.driver.host:ember.driver.port). The constructor returns
/// once every executor has registered; it throws SparkException naming the problem when the
/// master string is malformed or an executor cannot start or dies during start-up.
///
/// Config: ember.master, ember.app.name, ember.driver.host / ember.driver.bindAddress /
/// ember.driver.port, ember.local.dir, ember.default.parallelism, ember.task.maxFailures (4),
/// ember.executor.command (how to start executors; default this executable),
/// ember.scheduler.maxRegisteredResourcesWaitingTime (30s), and the keys of each layer.
///
/// Threading: thread-safe; actions may run from several threads (jobs run FIFO).
class SparkContext {
public:
    explicit SparkContext(Conf conf);
    SparkContext(const std::string& master, const std::string& app_name, Conf conf = {});
    ~SparkContext();
    SparkContext(const SparkContext&) = delete;
    SparkContext& operator=(const SparkContext&) = delete;

    /// Stops executors and frees everything. Idempotent; called by the destructor.
    void stop();

    const Conf& conf() const;
    const std::string& app_id() const;
    const std::string& master() const;
    /// Default number of partitions: ember.default.parallelism, else total executor cores.
    int default_parallelism() const;

    /// Lines of a file, or of every file under a directory (recursively). Splits files and packs
    /// small ones into about `min_partitions` partitions (default: default_parallelism()).
    /// Throws SparkException naming the path if it is missing, unreadable or empty.
    Rdd<std::string> text_file(const std::string& path, int min_partitions = 0,
                               std::source_location loc = std::source_location::current());
    Rdd<std::string> text_file(const std::vector<std::string>& paths, int min_partitions = 0,
                               std::source_location loc = std::source_location::current());
    /// A driver-side vector cut into `num_slices` partitions (default: default_parallelism()).
    template <class T>
    Rdd<T> parallelize(std::vector<T> data, int num_slices = 0,
                       std::source_location loc = std::source_location::current());

    /// Receives scheduler events (jobs, stages, tasks, executors).
    void add_spark_listener(std::shared_ptr<scheduler::SparkListener> listener);

    /// Runs `func` over `partitions` of `rdd` and blocks until the job ends; `handler` gets each
    /// partition's result bytes on the scheduler loop. Throws SparkException if the job fails.
    /// Rdd's actions are built on this.
    void run_job(std::shared_ptr<scheduler::RddBase> rdd, std::shared_ptr<scheduler::ResultFunctionBase> func,
                 std::vector<int> partitions, scheduler::ResultHandler handler, std::string call_site);

    int new_rdd_id();
    int new_shuffle_id();
    /// Pids of the local-cluster executor processes.
    std::vector<int> executor_pids() const;

    /// "<function> at <file>:<line>", as Spark names stages after their call site.
    static std::string call_site(std::string_view op, const std::source_location& loc);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ember
