// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ember-submit's arguments and the configuration they resolve to (Spark's SparkSubmitArguments
/// and SparkSubmitOptionParser, core/src/main/scala/org/apache/spark/deploy/ and
/// launcher/src/main/java/org/apache/spark/launcher/).

#include "rpc/conf.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ember::submit {

/// Thrown for bad input: what() is the one line ember-submit prints after "ember-submit: error: ".
struct SubmitError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The command line `ember-submit [OPTION]... APP [APP ARGUMENT]...`. Options are read up to the
/// first argument that does not start with '-' (APP); everything from APP on is the
/// application's. Each option takes its value as the next argument or after '=' (`--master
/// local[2]`, `--master=local[2]`); a repeated one replaces the earlier (Spark), except `--conf`,
/// which accumulates.
/// Threading: a plain value.
struct SubmitArguments {
    std::optional<std::string> master, deploy_mode, name, num_executors, executor_cores, executor_memory,
        driver_memory, properties_file;
    std::vector<std::string> confs;  ///< each `--conf` / `-c` value, KEY=VALUE, in order
    bool verbose = false;
    bool help = false;     ///< -h / --help: print usage() and stop
    bool version = false;  ///< --version
    std::string app;       ///< as given (a path, or a name looked up on PATH)
    std::vector<std::string> app_args;

    /// Parses `args` (without the program name). Throws SubmitError for an unknown option
    /// ("unknown option '--x' (ember-submit --help lists the options)"), an option without its
    /// value ("--master expects a value") or no APP.
    static SubmitArguments parse(const std::vector<std::string>& args);
};

/// The option list printed by --help.
std::string usage();

/// One resolved configuration entry and where its value came from: a file's path, "--conf", the
/// dedicated option ("--master", "--num-executors", ...) or "default".
struct Setting {
    std::string value;
    std::string source;
};

/// The configuration ember-submit hands to the application, each key with its source.
/// Threading: a plain value.
struct Resolved {
    std::map<std::string, Setting> settings;
    std::optional<std::filesystem::path> properties_file;  ///< the file read, if any
    std::filesystem::path defaults_path;                    ///< where ember-defaults.conf was looked for

    Conf conf() const;
};

/// Reads a properties file as Spark reads spark-defaults.conf (java.util.Properties): one entry
/// per line, the key up to the first unescaped whitespace, '=' or ':', then optional whitespace
/// and one '=' or ':'; the value is the rest of the line, trimmed (Spark trims values). Lines
/// starting with '#' or '!' and blank lines are skipped; a line ending in an odd number of
/// backslashes continues on the next (its leading whitespace dropped); escapes \t \n \r \f \uXXXX,
/// and `\c` for any other c. A later entry of the same key replaces an earlier one.
/// Throws SubmitError naming the file if it cannot be read, or for a malformed \u escape.
std::vector<std::pair<std::string, std::string>> read_properties_file(const std::filesystem::path& path);

/// Where ember-defaults.conf is looked for: `$EMBER_CONF_DIR/ember-defaults.conf`, else
/// `<directory of this executable>/../conf/ember-defaults.conf` (Spark: $SPARK_CONF_DIR, else
/// $SPARK_HOME/conf/spark-defaults.conf).
std::filesystem::path defaults_file_path();

/// The configuration, lowest precedence first: `--properties-file` if given (else
/// `defaults_path` if it exists), then each `--conf`, then the dedicated options (--master ->
/// ember.master, --deploy-mode -> ember.submit.deployMode (default client), --name ->
/// ember.app.name, --num-executors -> ember.executor.instances, --executor-cores ->
/// ember.executor.cores, --executor-memory -> ember.executor.memory, --driver-memory ->
/// ember.driver.memory). Values set in the application's code go over all of these (SparkContext).
/// Then validates the keys ember-submit owns, whatever their source: the master (MasterUrl),
/// the deploy mode (client; cluster is refused), memory sizes (positive, unit m if bare),
/// executor instances and cores (positive integers) and ember.redaction.regex.
/// Throws SubmitError naming the option or key, its source and the problem.
Resolved resolve(const SubmitArguments& args, const std::filesystem::path& defaults_path);

/// The lines of --verbose (without trailing newlines): the properties file used, then every
/// key as `  KEY=VALUE  (SOURCE)` in key order, values redacted as the environment page does
/// (scheduler::KeyRedactor, which also reads ember.redaction.regex).
std::vector<std::string> describe(const Resolved& resolved, const SubmitArguments& args,
                                  const std::string& app_path);

/// The executable APP names: APP itself if it holds a '/', else the first match on $PATH (as
/// execvp). Throws SubmitError if it does not exist ("application 'x' not found"), is not a
/// regular file, or is not executable.
std::string find_application(const std::string& app);

}  // namespace ember::submit
