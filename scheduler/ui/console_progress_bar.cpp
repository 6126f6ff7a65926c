// SPDX-License-Identifier: Apache-2.0
#include "scheduler/ui/console_progress_bar.hpp"

#include "rpc/log.hpp"
#include "rpc/transport/no_sigpipe.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>

#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace ember::scheduler {

namespace {

// Spark refreshes an unchanged line once a minute, so that idle SSH sessions are not closed.
constexpr auto kKeepAlive = std::chrono::minutes(1);

}  // namespace

ConsoleProgressBar::ConsoleProgressBar(Options options) : options_(std::move(options)) {
    thread_ = std::thread([this] { run(); });
}

ConsoleProgressBar::~ConsoleProgressBar() { stop(); }

ConsoleProgressBar::Options ConsoleProgressBar::options_from_conf(const Conf& conf) {
    Options o;
    o.update_interval = std::max(std::chrono::milliseconds(1),
                                 conf.get_time_ms("ember.ui.consoleProgress.update.interval", "200ms"));
    return o;
}

bool ConsoleProgressBar::enabled_by_conf(const Conf& conf, int fd) {
    if (conf.contains("ember.ui.showConsoleProgress")) return conf.get_bool("ember.ui.showConsoleProgress", false);
    return ::isatty(fd) == 1;
}

void ConsoleProgressBar::finish_all() {
    {
        std::lock_guard lk(mu_);
        last_finish_ = Clock::now();
        clear_requested_ = true;
    }
    cv_.notify_one();
}

void ConsoleProgressBar::stop() {
    std::call_once(stop_once_, [this] {
        {
            std::lock_guard lk(mu_);
            stopping_ = true;
        }
        cv_.notify_one();
        if (thread_.joinable()) thread_.join();
    });
}

void ConsoleProgressBar::on_stage_submitted(const SparkListenerStageSubmitted& e) {
    const auto& info = e.stage_info;
    std::lock_guard lk(mu_);
    stages_[{info.stage_id, info.attempt_id}] = Stage{{info.stage_id, info.num_tasks, 0, 0}, Clock::now()};
}

void ConsoleProgressBar::on_stage_completed(const SparkListenerStageCompleted& e) {
    std::lock_guard lk(mu_);
    stages_.erase({e.stage_info.stage_id, e.stage_info.attempt_id});
}

void ConsoleProgressBar::on_task_start(const SparkListenerTaskStart& e) {
    std::lock_guard lk(mu_);
    if (auto it = stages_.find({e.stage_id, e.stage_attempt_id}); it != stages_.end()) {
        ++it->second.progress.num_active_tasks;
    }
}

void ConsoleProgressBar::on_task_end(const SparkListenerTaskEnd& e) {
    std::lock_guard lk(mu_);
    if (auto it = stages_.find({e.stage_id, e.stage_attempt_id}); it != stages_.end()) {
        auto& p = it->second.progress;
        if (p.num_active_tasks > 0) --p.num_active_tasks;
        if (e.reason == "Success") ++p.num_complete_tasks;
    }
}

void ConsoleProgressBar::on_job_end(const SparkListenerJobEnd&) {
    bool idle = false;
    {
        std::lock_guard lk(mu_);
        idle = stages_.empty();
    }
    if (idle) finish_all();
}

std::string ConsoleProgressBar::render_stage(const StageProgress& s, int width) {
    auto header = fmt::format("[Stage {}:", s.stage_id);
    auto tail = fmt::format("({} + {}) / {}]", s.num_complete_tasks, s.num_active_tasks, s.num_tasks);
    std::int64_t w = std::int64_t{width} - static_cast<std::int64_t>(header.size() + tail.size());
    std::string bar;
    if (w > 0) {
        std::int64_t done = s.num_tasks > 0 ? w * s.num_complete_tasks / s.num_tasks : 0;
        bar.reserve(static_cast<std::size_t>(w));
        for (std::int64_t i = 0; i < w; ++i) bar += i < done ? '=' : i == done ? '>' : ' ';
    }
    return header + bar + tail;
}

std::string ConsoleProgressBar::render(const std::vector<StageProgress>& stages, int terminal_width) {
    std::string line;
    if (stages.empty()) return line;
    int width = terminal_width / static_cast<int>(stages.size());
    for (const auto& s : stages) line += render_stage(s, width);
    return line;
}

int ConsoleProgressBar::terminal_width(int fd) {
    winsize ws{};
    if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    if (const char* columns = std::getenv("COLUMNS")) {
        std::string_view v(columns);
        int n = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec == std::errc{} && end == v.data() + v.size() && n > 0) return n;
    }
    return 80;
}

int ConsoleProgressBar::width() const {
    return options_.width ? options_.width(options_.fd) : terminal_width(options_.fd);
}

std::vector<ConsoleProgressBar::StageProgress> ConsoleProgressBar::due_stages(Clock::time_point now) const {
    std::vector<StageProgress> due;
    for (const auto& [key, stage] : stages_) {  // by stage id, then attempt, as Spark's status store lists them
        if (now - stage.submitted <= options_.first_delay) continue;
        due.push_back(stage.progress);
        if (due.size() == kMaxStagesShown) break;
    }
    return due;
}

void ConsoleProgressBar::run() {
    log::set_thread_name("progress-bar");
    // Every write happens here; a SIGPIPE raised by one stays pending on this thread, harmless.
    rpc::transport::block_sigpipe_on_this_thread();
    std::unique_lock lk(mu_);
    auto next = Clock::now() + options_.first_delay;
    for (;;) {
        cv_.wait_until(lk, next, [this] { return stopping_ || clear_requested_; });
        if (stopping_) break;
        if (clear_requested_) {
            clear_requested_ = false;
            lk.unlock();
            clear();
            lk.lock();
            continue;
        }
        auto now = Clock::now();
        if (now < next) continue;
        next += options_.update_interval;
        if (next <= now) next = now + options_.update_interval;  // late (a slow write): skip ticks
        if (last_finish_ && now - *last_finish_ < options_.first_delay) continue;
        auto stages = due_stages(now);
        if (stages.empty()) continue;
        lk.unlock();  // never hold mu_ (which the scheduler's loop takes) across a write
        show(now, stages);
        lk.lock();
    }
    lk.unlock();
    clear();
}

void ConsoleProgressBar::show(Clock::time_point now, const std::vector<StageProgress>& stages) {
    auto line = render(stages, width());
    if (line == last_bar_ && now - last_update_ < kKeepAlive) return;
    if (write_out("\r" + line + "\r")) {
        last_bar_ = std::move(line);
        last_update_ = now;
    }
}

void ConsoleProgressBar::clear() {
    if (last_bar_.empty()) return;
    write_out("\r" + std::string(static_cast<std::size_t>(std::max(0, width())), ' ') + "\r");
    last_bar_.clear();
}

bool ConsoleProgressBar::write_out(const std::string& text) {
    if (broken_) return false;
    const char* p = text.data();
    std::size_t left = text.size();
    // Wait at most one update interval for room: a stopped terminal or a full pipe skips a
    // redraw instead of stalling this thread (and stop()).
    auto deadline = Clock::now() + options_.update_interval;
    while (left > 0) {
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        pollfd pfd{options_.fd, POLLOUT, 0};
        int r = ::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(0, wait)));
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) return false;
        if (r < 0 || (pfd.revents & (POLLERR | POLLNVAL))) {
            broken_ = true;  // closed fd, or a pipe without a reader: stay quiet from now on
            return false;
        }
        ssize_t n = ::write(options_.fd, p, left);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            broken_ = true;  // EPIPE, EBADF, EIO (terminal hung up): never report, never retry
            return false;
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace ember::scheduler
