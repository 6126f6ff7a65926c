// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The table of configuration keys ember knows, with defaults and one-line docs, and the
/// warning for unknown `ember.*` keys (Spark's ConfigEntry registry in
/// org.apache.spark.internal.config, reduced to a table; Spark's SparkSubmit warns the same way
/// about unknown keys).

#include "rpc/conf.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ember::scheduler {

/// One configuration key. A key ending in '.' is a prefix: every key under it is known (for keys
/// built at run time, such as Spark's `spark.metrics.conf.*`).
/// Threading: immutable.
struct ConfigKey {
    std::string_view key;            ///< "ember.ui.port", or a prefix "ember.metrics.conf."
    std::string_view default_value;  ///< as a user would write it ("4040", "200ms"); "" if none
    std::string_view doc;            ///< one line: what it does, and where ember differs from Spark
};

/// Every key ember reads, sorted by key. test/scheduler/config_keys_test.cpp fails when code uses
/// an `"ember.<...>"` literal that is not here.
/// Threading: immutable.
std::span<const ConfigKey> config_keys() noexcept;

/// The entry for `key`: its own, or the prefix entry it falls under; nullptr if unknown.
const ConfigKey* find_config_key(std::string_view key) noexcept;

/// The known key (not prefix) closest to `key` by edit distance, ignoring case, if it is close
/// enough to be a likely typo (at most max(2, length / 6) edits); nullopt otherwise.
std::optional<std::string_view> closest_config_key(std::string_view key);

/// The warning for one unknown key: "Ignoring unknown configuration key ember.foo" and, when a
/// known key is close, " (did you mean ember.bar?)".
std::string unknown_config_key_message(std::string_view key);

/// Logs one warning ("scheduler" logger) per `ember.*` key of `conf` that is not in the table,
/// and returns the lines. Keys outside `ember.` are the application's own and are not checked.
/// The values stay in the configuration (executors receive them unchanged).
/// Threading: thread-safe.
std::vector<std::string> warn_unknown_config_keys(const Conf& conf);

}  // namespace ember::scheduler
