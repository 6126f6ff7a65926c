// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Shutdown hooks run on SIGTERM, SIGINT and SIGHUP (Spark's ShutdownHookManager and the JVM's
/// shutdown on those signals): a driver that Slurm's scancel, Kubernetes or Ctrl-C stops still
/// stops its SparkContext, so its executors exit, its block manager and spill dirs are removed
/// and its event log is finished, and the process then exits with 128 + the signal's number (143
/// for SIGTERM, as a Spark driver's JVM).

#include <cstdint>
#include <functional>

namespace ember::scheduler::util {

/// Process-wide registry of shutdown hooks, after Spark's org.apache.spark.util.ShutdownHookManager.
///
/// The first add() installs a handler for SIGTERM, SIGINT and SIGHUP, each only if its
/// disposition is still the default (a program that handles or ignores one keeps it; one that
/// blocks it and waits with sigwait keeps it too). The handler only writes the signal's number to
/// a pipe; a watcher thread then logs "RECEIVED SIGNAL TERM" (Spark's SignalUtils) on the
/// "scheduler" logger, runs every hook (higher priority first; equal priorities newest first, as
/// Spark), each on its own with exceptions logged, and leaves with _exit(128 + signal). Hooks that
/// have not finished after kTimeoutSeconds are abandoned and the process leaves anyway. A second SIGINT
/// while the hooks run (a user pressing Ctrl-C again) leaves at once.
///
/// Only a signal runs the hooks: a normal return from main does not (SparkContext's destructor
/// stops it then). A program that returns from main or calls exit() while the hooks run waits for
/// them (an atexit handler, and ember::run), so static objects are not destroyed under them.
///
/// Threading: thread-safe. Hooks run on the "shutdown-hook" thread.
class ShutdownHookManager {
public:
    using Handle = std::uint64_t;

    /// Spark's SPARK_CONTEXT_SHUTDOWN_PRIORITY: a SparkContext stops before lower priorities
    /// (Spark's temp dir removal is 25).
    static constexpr int kSparkContextPriority = 50;
    /// How long the hooks may run in all before the process leaves without them, in seconds
    /// (Hadoop's default hook timeout, which Spark's manager runs under, is 30 s).
    static constexpr int kTimeoutSeconds = 30;

    /// Registers `hook`; returns the handle for remove(). Installs the signal handlers on first
    /// use. Throws std::system_error if the pipe or the watcher thread cannot be made.
    static Handle add(int priority, std::function<void()> hook);
    /// Unregisters a hook (unknown handles are ignored). Called from another thread while the
    /// hooks run, it does not return: the process is about to leave, and the hook may be using
    /// what the caller would destroy next.
    static void remove(Handle handle);
    /// True once a signal started the hooks.
    static bool in_shutdown() noexcept;
    /// Does not return if the hooks are running (on another thread); returns at once otherwise.
    static void await_shutdown_if_started();
};

}  // namespace ember::scheduler::util
