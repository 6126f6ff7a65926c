// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Which configuration values are never shown: Spark's `spark.redaction.regex` and
/// Utils.redact, for the environment page, the event log and `ember-submit --verbose`.

#include "rpc/conf.hpp"

#include <regex>
#include <string>
#include <string_view>

namespace ember::scheduler {

/// Decides, by key, which values are replaced by "*********(redacted)". A key is redacted when it
/// matches Spark's default pattern `secret|password|token|access[.]?key` or the pattern of
/// `ember.redaction.regex` (a std::regex ECMAScript pattern searched anywhere in the key); both
/// ignore case (a leading `(?i)`, as Spark's patterns are written, is accepted and dropped).
/// Threading: immutable after construction; const methods may be called from any thread.
class KeyRedactor {
public:
    static constexpr std::string_view kRedacted = "*********(redacted)";

    /// Reads `ember.redaction.regex` from `conf`. Throws std::invalid_argument
    /// ("ember.redaction.regex is not a valid regular expression: '<pattern>'") for a bad one.
    explicit KeyRedactor(const Conf& conf);

    /// True if the value of `key` must not be shown.
    bool redacts(std::string_view key) const;

    /// `value`, or kRedacted when redacts(key).
    std::string shown(std::string_view key, std::string_view value) const;

private:
    std::regex user_;
    bool has_user_ = false;
};

}  // namespace ember::scheduler
