// SPDX-License-Identifier: Apache-2.0
#include "rpc/security/security_config.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ember::rpc::security {

SecurityConfig SecurityConfig::from_conf(const Conf& conf) {
    SecurityConfig c;
    c.authenticate = conf.get_bool("ember.authenticate", false);
    c.encrypt = conf.get_bool("ember.network.crypto.enabled", false);
    c.timeout = conf.get_time_ms("ember.network.auth.rpcTimeout", "30s");
    if (c.encrypt && !c.authenticate) {
        throw std::invalid_argument(
            "ember.network.crypto.enabled needs ember.authenticate=true (the keys come from its handshake)");
    }
    if (!c.authenticate) return c;
    if (auto file = conf.get("ember.authenticate.secret.file")) {
        std::ifstream in(*file, std::ios::binary);
        if (!in) {
            throw std::invalid_argument(
                fmt::format("ember.authenticate.secret.file: cannot read {}: {}", *file, std::strerror(errno)));
        }
        std::ostringstream s;
        s << in.rdbuf();
        c.secret = s.str();
        while (!c.secret.empty() && (c.secret.back() == '\n' || c.secret.back() == '\r')) c.secret.pop_back();
    } else if (auto secret = conf.get("ember.authenticate.secret")) {
        c.secret = *secret;
    } else if (const char* env = std::getenv(kSecretEnvVar)) {
        c.secret = env;
    }
    if (c.secret.empty()) {
        throw std::invalid_argument(fmt::format(
            "ember.authenticate is true but there is no secret: set ember.authenticate.secret, "
            "ember.authenticate.secret.file or the {} environment variable",
            kSecretEnvVar));
    }
    return c;
}

std::string generate_secret() {
    std::array<unsigned char, 32> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        throw std::runtime_error("RAND_bytes failed: cannot generate ember.authenticate.secret");
    }
    std::string hex;
    for (unsigned char b : bytes) hex += fmt::format("{:02x}", b);
    return hex;
}

bool is_executor_startup_key(std::string_view key) noexcept {
    return !is_secret_key(key) && (key == "ember.authenticate" || key == "ember.network.crypto.enabled" ||
                                   key == "ember.network.auth.rpcTimeout" || key.starts_with("ember.rpc.") ||
                                   key.starts_with("ember.network.") || key == "ember.port.maxRetries");
}

bool is_secret_key(std::string_view key) noexcept {
    std::string lower(key);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    for (const char* word : {"secret", "password", "token", "accesskey", "access.key"}) {
        if (lower.find(word) != std::string::npos) return true;
    }
    return false;
}

}  // namespace ember::rpc::security
