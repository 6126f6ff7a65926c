// SPDX-License-Identifier: Apache-2.0
#include "scheduler/deploy/redaction.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace ember::scheduler {

namespace {

// Spark's spark.redaction.regex default, "(?i)secret|password|token|access[.]?key".
const std::regex& default_pattern() {
    static const std::regex re("secret|password|token|access[.]?key", std::regex::icase);
    return re;
}

}  // namespace

KeyRedactor::KeyRedactor(const Conf& conf) {
    std::string pattern = conf.get("ember.redaction.regex", "");
    std::string_view body = pattern;
    if (body.starts_with("(?i)")) body.remove_prefix(4);  // std::regex has no inline flags
    if (body.empty()) return;
    try {
        user_ = std::regex(body.begin(), body.end(), std::regex::icase);
        has_user_ = true;
    } catch (const std::regex_error&) {
        throw std::invalid_argument(
            fmt::format("ember.redaction.regex is not a valid regular expression: '{}'", pattern));
    }
}

bool KeyRedactor::redacts(std::string_view key) const {
    return std::regex_search(key.begin(), key.end(), default_pattern()) ||
           (has_user_ && std::regex_search(key.begin(), key.end(), user_));
}

std::string KeyRedactor::shown(std::string_view key, std::string_view value) const {
    return std::string(redacts(key) ? kRedacted : value);
}

}  // namespace ember::scheduler
