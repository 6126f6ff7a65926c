// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// LocalCluster: starts and reaps the executor processes of `local-cluster[E,C,M]` (the role of
/// Spark's LocalSparkCluster, without its Master and Workers).

#include <chrono>
#include <csignal>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ember::scheduler {

/// Forks and execs executor processes of the same binary, and reports each one's exit.
///
/// Children get PR_SET_PDEATHSIG=SIGTERM (by default) from the launcher thread, which lives until
/// stop(), so no executor outlives the driver even if the driver is killed, and each one still
/// removes its block manager dirs on the way out (its SIGTERM handling: an orderly exit, or the
/// dirs removed and _exit after 2 s), as Spark's ShutdownHookManager deletes an executor's local
/// dirs.
/// Children inherit nothing but stdin and their stdout/stderr logs: every other descriptor
/// (the driver's listening sockets, its connections and files) is made close-on-exec in the
/// child before exec (close_range(2) with CLOSE_RANGE_CLOEXEC). A command that cannot be
/// executed is reported at once with the reason (a CLOEXEC pipe carries exec's errno).
///
/// Threading: thread-safe. Forks, exec failures and exits are handled on the "executor-launcher"
/// thread; `on_exit` runs there.
class LocalCluster {
public:
    /// (executor id, pid, wait status or -1 with `error` set when it could not be started)
    using ExitHandler = std::function<void(const std::string& executor_id, int pid, int status, const std::string& error)>;

    /// Each executor's stdout and stderr go to `<log_dir>/executor-<id>/{stdout,stderr}`.
    /// `environment`: "KEY=VALUE" entries added to the executors' environment (the
    /// authentication secret travels this way, never on a command line where `ps` shows it).
    /// `local_roots`: the executors' ember.local.dir roots. Each executor is told the name of its
    /// block manager dirs (`<root>/blockmgr-<uuid>`, storage::kBlockManagerDirNameEnvVar), so
    /// that the dirs of an executor that dies without cleaning up (SIGKILL, a crash) are removed
    /// when its exit is reaped, and any left are removed by stop().
    /// `parent_death_signal`: what each child gets when the launcher thread dies with the
    /// driver (PR_SET_PDEATHSIG); 0 for nothing. master slurm passes 0: its children are srun
    /// processes, and srun answers SIGTERM by cancelling its step at once (the executor is
    /// killed before it cleans up), while an executor whose driver died exits by itself on the
    /// lost connection, cleaning up, and its srun then ends with it.
    LocalCluster(std::vector<std::string> command, std::string log_dir, ExitHandler on_exit,
                 std::vector<std::string> environment = {}, std::vector<std::string> local_roots = {},
                 int parent_death_signal = SIGTERM);
    ~LocalCluster();
    LocalCluster(const LocalCluster&) = delete;
    LocalCluster& operator=(const LocalCluster&) = delete;

    /// Starts `command + args` as executor `executor_id`. Returns its pid, or -1 with the error in
    /// `error` when fork or exec failed.
    int launch(const std::string& executor_id, const std::vector<std::string>& args, std::string& error);
    /// Starts executor `executor_id` without waiting (callable from `on_exit`, on the launcher
    /// thread); a failure to start is reported through `on_exit` with status -1 and the error.
    void launch_async(const std::string& executor_id, const std::vector<std::string>& args);
    /// Sends `signal` to executor `executor_id`'s process; false if it has none running.
    bool kill(const std::string& executor_id, int signal);
    /// Sends SIGTERM, waits up to `grace` for every child, then SIGKILLs and reaps the rest.
    void stop(std::chrono::milliseconds grace);
    /// Pids of running children.
    std::vector<int> pids() const;
    /// Pid of executor `executor_id`, or -1 if it has no running process.
    int pid_of(const std::string& executor_id) const;
    /// Describes a wait status: "exited with code 1", "was killed by signal 11 (SIGSEGV)".
    static std::string describe_status(int status);
    /// The last non-empty line an executor wrote to stderr ("" if none).
    std::string last_error_line(const std::string& executor_id) const;
    /// The last `max_lines` non-empty lines of executor `executor_id`'s log (its stderr, where
    /// its logger writes), at most `max_bytes` bytes in all (earlier lines are dropped first),
    /// joined by newlines; "" if it wrote nothing.
    std::string log_tail(const std::string& executor_id, std::size_t max_lines = 10,
                         std::size_t max_bytes = 2048) const;
    const std::string& log_dir() const noexcept { return log_dir_; }

private:
    struct Request {
        std::string executor_id;
        std::vector<std::string> args;
        int pid = 0;
        std::string error;
        bool done = false;
        bool async = false;  ///< launch_async: owned by the launcher, reported through on_exit
    };
    void run();
    void spawn(Request& r);
    void reap();
    /// Removes executor `executor_id`'s block manager dirs under every root (after its exit).
    void remove_block_dirs(const std::string& executor_id);

    std::vector<std::string> command_;
    std::vector<std::string> environment_;  // this process's environment plus the extra entries
    std::string log_dir_;
    ExitHandler on_exit_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Request*> requests_;              // guarded by mu_
    std::map<int, std::string> children_;         // pid -> executor id, guarded by mu_
    std::vector<std::string> local_roots_;
    int parent_death_signal_;
    std::map<std::string, std::string> block_dir_names_;  // executor id -> "blockmgr-<uuid>", guarded by mu_
    bool stopping_ = false;                       // guarded by mu_
    std::thread thread_;
};

}  // namespace ember::scheduler
