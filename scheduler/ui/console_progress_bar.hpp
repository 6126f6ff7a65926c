// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ConsoleProgressBar: the `[Stage 3:=====>     (34 + 8) / 100]` line on stderr (Spark's
/// ui/ConsoleProgressBar).

#include "rpc/conf.hpp"
#include "scheduler/listener.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ember::scheduler {

/// Shows the progress of active stages on one terminal line, as Spark's ConsoleProgressBar does:
/// every `update_interval` (ember.ui.consoleProgress.update.interval, 200 ms) a timer thread
/// renders the stages submitted more than 500 ms ago, at most 3, side by side, each
/// `[Stage <id>:` + bar + `(<done> + <running>) / <total>]` in terminal_width / (stages shown)
/// columns, and writes "\r" + line + "\r" when the line changed or a minute passed (keeping SSH
/// sessions alive). Nothing is shown within 500 ms of the last finish_all(). When a job ends and
/// no stage is active any more (Spark's finishAll after each job), the line is cleared with "\r",
/// terminal-width spaces and "\r", if anything was shown.
///
/// Better than Spark: the width is read at every redraw (TIOCGWINSZ on the fd, else the COLUMNS
/// environment variable, else 80), so resizing the terminal takes effect at once.
///
/// Writes happen only on the timer thread, never on the scheduler's loop: the listener callbacks
/// only update counters under a mutex. A write waits at most an update interval for the fd to
/// become writable and is skipped otherwise; a write error (EPIPE: the reader of a stderr pipe
/// is gone; EBADF) silently turns the bar off. SIGPIPE is blocked on the timer thread, so a
/// closed pipe never kills the process.
///
/// Threading: thread-safe. Listener callbacks are cheap (a map update under a mutex).
/// Ownership: owns its timer thread, started by the constructor and joined by stop() or the
/// destructor; the fd is borrowed (never closed) and must stay open or closed, not be reused
/// for something else, until stop() returns.
class ConsoleProgressBar final : public SparkListener {
public:
    /// Terminal width in columns for an fd; must be cheap (it runs at every redraw).
    using WidthFunction = std::function<int(int fd)>;

    struct Options {
        int fd = 2;  ///< where the bar goes (stderr)
        /// Refresh period (ember.ui.consoleProgress.update.interval).
        std::chrono::milliseconds update_interval{200};
        /// Delay after a stage's submission and after finish_all() before anything shows
        /// (Spark's firstDelayMSec; fixed there, a parameter here for tests).
        std::chrono::milliseconds first_delay{500};
        /// Columns of the terminal; empty: terminal_width().
        WidthFunction width;
    };

    /// What the bar shows of one stage attempt.
    struct StageProgress {
        int stage_id = 0;
        int num_tasks = 0;
        int num_active_tasks = 0;
        int num_complete_tasks = 0;  ///< successful task ends
    };

    static constexpr std::size_t kMaxStagesShown = 3;

    /// Starts the timer thread.
    explicit ConsoleProgressBar(Options options);
    ConsoleProgressBar() : ConsoleProgressBar(Options{}) {}
    /// Stops the timer thread (stop()).
    ~ConsoleProgressBar() override;
    ConsoleProgressBar(const ConsoleProgressBar&) = delete;
    ConsoleProgressBar& operator=(const ConsoleProgressBar&) = delete;

    /// Options for stderr with ember.ui.consoleProgress.update.interval from `conf`.
    static Options options_from_conf(const Conf& conf);
    /// ember.ui.showConsoleProgress if set, else whether `fd` is a terminal.
    static bool enabled_by_conf(const Conf& conf, int fd = 2);

    /// Clears the line if something is shown (on the timer thread, soon after) and holds the
    /// bar back for first_delay (Spark's finishAll). Called by on_job_end when no stage is active.
    void finish_all();
    /// Clears the line if something is shown, stops the timer thread and joins it. Idempotent.
    void stop();

    void on_stage_submitted(const SparkListenerStageSubmitted& e) override;
    void on_stage_completed(const SparkListenerStageCompleted& e) override;
    void on_task_start(const SparkListenerTaskStart& e) override;
    void on_task_end(const SparkListenerTaskEnd& e) override;
    void on_job_end(const SparkListenerJobEnd& e) override;

    /// One stage as Spark renders it in `width` columns: `[Stage <id>:` + w bar characters +
    /// `(<done> + <running>) / <total>]`, where w = width - (header and tail lengths) and the
    /// bar is w * done / total '=' then '>' then spaces; no bar if w <= 0.
    static std::string render_stage(const StageProgress& s, int width);
    /// The whole line: each stage rendered in terminal_width / stages.size() columns,
    /// concatenated; "" if `stages` is empty. The caller limits the count (kMaxStagesShown).
    static std::string render(const std::vector<StageProgress>& stages, int terminal_width);
    /// Columns of the terminal on `fd` (TIOCGWINSZ), else $COLUMNS if a positive number, else 80.
    static int terminal_width(int fd);

private:
    using Clock = std::chrono::steady_clock;
    struct Stage {
        StageProgress progress;
        Clock::time_point submitted;
    };

    void run();
    std::vector<StageProgress> due_stages(Clock::time_point now) const;  // requires mu_
    int width() const;
    void show(Clock::time_point now, const std::vector<StageProgress>& stages);
    void clear();
    bool write_out(const std::string& text);

    const Options options_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::pair<int, int>, Stage> stages_;  // guarded by mu_; active attempts by (stage, attempt)
    std::optional<Clock::time_point> last_finish_;  // guarded by mu_
    bool clear_requested_ = false;                 // guarded by mu_
    bool stopping_ = false;                        // guarded by mu_

    // Timer thread only.
    std::string last_bar_;       // the line on screen ("" if none)
    Clock::time_point last_update_{};
    bool broken_ = false;        // a write failed: the bar is off for good

    std::once_flag stop_once_;
    std::thread thread_;
};

}  // namespace ember::scheduler
