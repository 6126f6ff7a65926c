// SPDX-License-Identifier: Apache-2.0
#include "scheduler/cluster/local_cluster.hpp"

#include "rpc/log.hpp"
#include "storage/disk_block_manager.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ember::scheduler {

namespace {

/// This process's environment with `extra` "KEY=VALUE" entries added (replacing same keys).
std::vector<std::string> with_environment(std::vector<std::string> extra) {
    std::vector<std::string> out;
    for (char** e = environ; e && *e; ++e) {
        std::string_view entry(*e);
        auto key = entry.substr(0, entry.find('=') + 1);
        bool replaced = false;
        for (auto& x : extra) replaced |= x.rfind(key, 0) == 0;
        if (!replaced) out.emplace_back(entry);
    }
    for (auto& x : extra) out.push_back(std::move(x));
    return out;
}

}  // namespace

LocalCluster::LocalCluster(std::vector<std::string> command, std::string log_dir, ExitHandler on_exit,
                           std::vector<std::string> environment, std::vector<std::string> local_roots,
                           int parent_death_signal)
    : command_(std::move(command)),
      environment_(with_environment(std::move(environment))),
      log_dir_(std::move(log_dir)),
      on_exit_(std::move(on_exit)),
      local_roots_(std::move(local_roots)),
      parent_death_signal_(parent_death_signal),
      thread_([this] { run(); }) {}

void LocalCluster::remove_block_dirs(const std::string& executor_id) {
    std::string name;
    {
        std::lock_guard lk(mu_);
        auto it = block_dir_names_.find(executor_id);
        if (it == block_dir_names_.end()) return;
        name = it->second;
    }
    for (const auto& root : local_roots_) {
        std::error_code ec;
        auto dir = std::filesystem::path(root) / name;
        if (!std::filesystem::exists(dir, ec)) continue;
        std::filesystem::remove_all(dir, ec);
        if (ec) {
            log::get("scheduler")->warn("Cannot remove {} of executor {}: {}", dir.string(), executor_id, ec.message());
        } else {
            log::get("scheduler")->info("Removed {}, left by executor {}", dir.string(), executor_id);
        }
    }
}

std::string LocalCluster::last_error_line(const std::string& executor_id) const {
    std::ifstream in(log_dir_ + "/executor-" + executor_id + "/stderr");
    std::string line, last;
    while (std::getline(in, line)) {
        if (!line.empty()) last = line;
    }
    return last;
}

std::string LocalCluster::log_tail(const std::string& executor_id, std::size_t max_lines, std::size_t max_bytes) const {
    std::ifstream in(log_dir_ + "/executor-" + executor_id + "/stderr", std::ios::binary);
    if (!in) return {};
    // The tail of the file is enough: max_lines lines longer than this are cut anyway.
    const std::streamoff window = static_cast<std::streamoff>(std::max<std::size_t>(max_bytes * 4, 4096));
    in.seekg(0, std::ios::end);
    std::streamoff size = in.tellg();
    std::streamoff from = size > window ? size - window : 0;
    in.seekg(from);
    std::string text(static_cast<std::size_t>(size - from), '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    std::vector<std::string> lines;
    std::size_t start = 0;
    if (from > 0) start = text.find('\n') == std::string::npos ? 0 : text.find('\n') + 1;  // a partial line
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) lines.push_back(std::move(line));
        start = end + 1;
    }
    if (lines.size() > max_lines) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(max_lines));
    std::size_t total = 0;
    for (auto& l : lines) total += l.size() + 1;
    while (lines.size() > 1 && total > max_bytes) {
        total -= lines.front().size() + 1;
        lines.erase(lines.begin());
    }
    if (lines.size() == 1 && lines[0].size() > max_bytes) lines[0] = "..." + lines[0].substr(lines[0].size() - max_bytes);
    std::string out;
    for (auto& l : lines) {
        if (!out.empty()) out += '\n';
        out += l;
    }
    return out;
}

LocalCluster::~LocalCluster() { stop(std::chrono::seconds(5)); }

std::string LocalCluster::describe_status(int status) {
    if (WIFEXITED(status)) return fmt::format("exited with code {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char* abbrev = ::sigabbrev_np(sig);  // "SEGV"
        return fmt::format("was killed by signal {} ({}){}", sig,
                           abbrev ? std::string("SIG") + abbrev : std::string(::strsignal(sig)),
                           WCOREDUMP(status) ? " (core dumped)" : "");
    }
    return fmt::format("ended with wait status {}", status);
}

int LocalCluster::launch(const std::string& executor_id, const std::vector<std::string>& args, std::string& error) {
    Request r{executor_id, args};
    {
        std::unique_lock lk(mu_);
        if (stopping_) {
            error = "the cluster is stopping";
            return -1;
        }
        requests_.push_back(&r);
        cv_.notify_all();
        cv_.wait(lk, [&] { return r.done; });
    }
    error = r.error;
    return r.pid;
}

void LocalCluster::launch_async(const std::string& executor_id, const std::vector<std::string>& args) {
    auto* r = new Request{executor_id, args};
    r->async = true;
    {
        std::lock_guard lk(mu_);
        if (!stopping_) {
            requests_.push_back(r);
            cv_.notify_all();
            return;
        }
    }
    delete r;
}

bool LocalCluster::kill(const std::string& executor_id, int signal) {
    std::lock_guard lk(mu_);
    for (auto& [pid, id] : children_) {
        if (id == executor_id) return ::kill(pid, signal) == 0;
    }
    return false;
}

void LocalCluster::spawn(Request& r) {
    std::vector<std::string> argv_s = command_;
    argv_s.insert(argv_s.end(), r.args.begin(), r.args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string block_dir_name = "blockmgr-" + storage::random_uuid();
    std::string block_dir_env = std::string(storage::kBlockManagerDirNameEnvVar) + "=" + block_dir_name;
    {
        std::lock_guard lk(mu_);
        block_dir_names_[r.executor_id] = block_dir_name;
    }
    std::vector<char*> envp;  // built before fork: the child may only make async-signal-safe calls
    for (auto& e : environment_) envp.push_back(const_cast<char*>(e.c_str()));
    if (!local_roots_.empty()) envp.push_back(block_dir_env.data());
    envp.push_back(nullptr);

    std::string dir = log_dir_ + "/executor-" + r.executor_id;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    int out_fd = ::open((dir + "/stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err_fd = ::open((dir + "/stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0 || err_fd < 0) {
        r.pid = -1;
        r.error = fmt::format("cannot start executor {}: cannot create its logs in {}: {}", r.executor_id, dir,
                              std::strerror(errno));
        if (out_fd >= 0) ::close(out_fd);
        if (err_fd >= 0) ::close(err_fd);
        return;
    }
    struct Fds {
        int a, b;
        ~Fds() {
            ::close(a);
            ::close(b);
        }
    } fds{out_fd, err_fd};
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
        r.pid = -1;
        r.error = fmt::format("cannot start executor {}: pipe: {}", r.executor_id, std::strerror(errno));
        return;
    }
    pid_t parent = ::getpid();
    int max_fd = 1024;  // for kernels without close_range(2) (before 5.11)
    if (struct rlimit rl; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        max_fd = static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 20));
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        r.pid = -1;
        r.error = fmt::format("cannot start executor {}: fork: {}", r.executor_id, std::strerror(errno));
        ::close(pipefd[0]);
        ::close(pipefd[1]);
        return;
    }
    if (pid == 0) {
        // Child: only async-signal-safe calls until exec.
        // SIGTERM, not SIGKILL: the executor's orderly exit removes its block manager dirs.
        if (parent_death_signal_ != 0) {
            ::prctl(PR_SET_PDEATHSIG, parent_death_signal_);
            if (::getppid() != parent) ::_exit(127);  // the driver died before prctl
        }
        ::dup2(out_fd, 1);  // dup2 clears CLOEXEC on the new descriptors
        ::dup2(err_fd, 2);
        // Nothing but stdio crosses exec: not the driver's listening sockets, connections or
        // files, whoever opened them without O_CLOEXEC (Asio, iostreams, libraries) or in
        // another thread between open and fcntl. The exec-error pipe is CLOEXEC already.
        if (::close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) != 0) {
            for (int fd = 3; fd < max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        ::execve(argv[0], argv.data(), envp.data());
        int err = errno;
        ssize_t ignored = ::write(pipefd[1], &err, sizeof err);
        (void)ignored;
        ::_exit(127);
    }
    ::close(pipefd[1]);
    int err = 0;
    ssize_t n;
    do {
        n = ::read(pipefd[0], &err, sizeof err);
    } while (n < 0 && errno == EINTR);
    ::close(pipefd[0]);
    if (n == static_cast<ssize_t>(sizeof err)) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        r.pid = -1;
        r.error = fmt::format("cannot start executor {}: {}: {}", r.executor_id, argv_s[0], std::strerror(err));
        return;
    }
    r.pid = pid;
    log::get("scheduler")->info("Started executor {} (pid {}); its stdout and stderr are in {}/", r.executor_id, pid, dir);
    std::lock_guard lk(mu_);
    children_[pid] = r.executor_id;
}

void LocalCluster::reap() {
    std::vector<std::pair<int, std::string>> kids;
    {
        std::lock_guard lk(mu_);
        kids.assign(children_.begin(), children_.end());
    }
    for (auto& [pid, id] : kids) {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r != pid) continue;
        {
            std::lock_guard lk(mu_);
            children_.erase(pid);
        }
        // Before anyone hears of the exit: the dirs of a killed executor are gone by then.
        remove_block_dirs(id);
        if (on_exit_) on_exit_(id, pid, status, {});
    }
}

void LocalCluster::run() {
    log::set_thread_name("executor-launcher");
    std::unique_lock lk(mu_);
    for (;;) {
        while (!requests_.empty()) {
            Request* r = requests_.front();
            requests_.erase(requests_.begin());
            if (stopping_) {
                // Nothing starts once stop() has signalled the children.
                if (r->async) {
                    delete r;
                } else {
                    r->pid = -1;
                    r->error = "the cluster is stopping";
                    r->done = true;
                    cv_.notify_all();
                }
                continue;
            }
            lk.unlock();
            spawn(*r);
            if (r->async) {
                std::unique_ptr<Request> owned(r);
                if (r->pid < 0 && on_exit_) on_exit_(r->executor_id, -1, -1, r->error);
                lk.lock();
                continue;
            }
            lk.lock();
            r->done = true;
            cv_.notify_all();
        }
        if (stopping_ && children_.empty()) return;
        lk.unlock();
        reap();
        lk.lock();
        cv_.wait_for(lk, std::chrono::milliseconds(20), [this] { return !requests_.empty(); });
    }
}

void LocalCluster::stop(std::chrono::milliseconds grace) {
    {
        std::lock_guard lk(mu_);
        if (!thread_.joinable()) return;
        stopping_ = true;
        for (auto& [pid, _] : children_) ::kill(pid, SIGTERM);
    }
    cv_.notify_all();
    auto until = std::chrono::steady_clock::now() + grace;
    for (;;) {
        {
            std::lock_guard lk(mu_);
            if (children_.empty()) break;
            if (std::chrono::steady_clock::now() >= until) {
                for (auto& [pid, id] : children_) {
                    log::get("scheduler")->warn("Executor {} (pid {}) did not exit in time; killing it", id, pid);
                    ::kill(pid, SIGKILL);
                }
                until = std::chrono::steady_clock::time_point::max();
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    thread_.join();
    // Stale dirs of executors that died while stopping (their exits are not reported).
    std::vector<std::string> ids;
    {
        std::lock_guard lk(mu_);
        for (auto& [id, _] : block_dir_names_) ids.push_back(id);
    }
    for (auto& id : ids) remove_block_dirs(id);
}

int LocalCluster::pid_of(const std::string& executor_id) const {
    std::lock_guard lk(mu_);
    for (auto& [pid, id] : children_) {
        if (id == executor_id) return pid;
    }
    return -1;
}

std::vector<int> LocalCluster::pids() const {
    std::lock_guard lk(mu_);
    std::vector<int> out;
    for (auto& [pid, _] : children_) out.push_back(pid);
    return out;
}

}  // namespace ember::scheduler
