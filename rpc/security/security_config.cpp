// SPDX-License-Identifier: Apache-2.0
#include "rpc/security/security_config.hpp"

#include <fmt/format.h>

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

}  // namespace ember::rpc::security
