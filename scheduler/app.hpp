// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ember::run: the main of an ember application, which is both the driver and its executors;
/// and the configuration submitted to it: by `ember-submit` (through the environment) and on its
/// command line (`--conf KEY=VALUE`).

#include "rpc/conf.hpp"

#include <functional>
#include <string>
#include <string_view>

namespace ember {

/// Call from main(): `return ember::run(argc, argv, [](int argc, char** argv) { ... });`
///
/// One executable is the driver and, started again by the master with `--ember-executor` as its
/// first argument, each executor; run() recognises that flag before any user code runs and then
/// runs the executor instead of `driver_main`. So executors have all the application's code and
/// nothing needs registering. An exception escaping `driver_main` is printed as one line
/// ("<program>: error: <what>") and gives exit code 1.
///
/// The configuration `ember-submit` resolved (its defaults file, `--conf`, `--master`, ...)
/// arrives in the environment variable kSubmitConfEnvVar; run() reads it into submitted_conf()
/// and removes the variable, so neither executors nor programs the app starts inherit it. Then
/// every `--conf KEY=VALUE` and `--conf=KEY=VALUE` of the driver's command line (anywhere before
/// a `--`) is taken out of argv before `driver_main` sees it and goes over those (Spark's
/// spark-submit --conf). Every SparkContext of the process starts from submitted_conf(). A
/// malformed one prints one error line and gives exit code 1 without running `driver_main`.
///
/// `SPDLOG_LEVEL=SPEC` arguments (spdlog's argv syntax, e.g. `SPDLOG_LEVEL=info,scheduler=debug`)
/// are taken out of argv too and set the log levels over the environment's, in the driver and
/// its local-cluster executors (log::take_argv_levels).
int run(int argc, char** argv, const std::function<int(int, char**)>& driver_main);

/// The configuration submitted to run(): ember-submit's (kSubmitConfEnvVar) under the `--conf`
/// of the command line; empty before run() and in programs that do not use it. A SparkContext starts from it and overlays the Conf given to its
/// constructor, so values set in code win (Spark: defaults < --conf < SparkConf set in code).
/// Threading: set once by run() before `driver_main` starts; read-only after.
const Conf& submitted_conf() noexcept;

/// The environment variable through which `ember-submit` hands its resolved configuration to
/// the application it starts (encode_submitted_conf's format).
inline constexpr const char* kSubmitConfEnvVar = "EMBER_SUBMIT_CONF";

/// `conf` as text for kSubmitConfEnvVar: one `KEY=VALUE` line per entry, in key order, with
/// `\\` for a backslash and `\n` for a newline in keys and values (so any bytes but NUL
/// travel). Throws std::invalid_argument for an empty key or one holding '=' (`--conf` and
/// properties files never make one). Threading: pure.
std::string encode_submitted_conf(const Conf& conf);

/// Sets the entries of encode_submitted_conf's `text` in `conf`. Returns "" on success, else the
/// error (a line without '=' or with an empty key, or an unknown escape), and then leaves
/// `conf` as it was. Threading: pure but for `conf`.
[[nodiscard]] std::string decode_submitted_conf(std::string_view text, Conf& conf);

/// Moves every `--conf KEY=VALUE` and `--conf=KEY=VALUE` out of argv[1..argc) into `conf`
/// (a later one replaces an earlier one of the same key), compacting argv and updating argc;
/// argv[argc] stays nullptr. Scanning stops at `--`, which stays with what follows it.
/// A KEY is non-empty; a VALUE may be empty or contain '='.
/// Returns "" on success, else the error (e.g. "--conf expects KEY=VALUE, got 'x'"), and then
/// leaves argc, argv and `conf` as they were.
/// Threading: single-threaded (it rewrites argv).
[[nodiscard]] std::string take_conf_args(int& argc, char** argv, Conf& conf);

}  // namespace ember
