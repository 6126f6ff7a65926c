// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// SecurityConfig: whether an env authenticates and encrypts its connections, read from the
/// configuration with Spark's keys (spark.authenticate, spark.authenticate.secret,
/// spark.authenticate.secret.file, spark.network.crypto.enabled, spark.network.auth.rpcTimeout).

#include "rpc/conf.hpp"

#include <chrono>
#include <string>

namespace ember::rpc::security {

/// The environment variable local-cluster hands executors the secret in (Spark's
/// _SPARK_AUTH_SECRET): never on a command line, where `ps` shows it.
inline constexpr const char* kSecretEnvVar = "EMBER_AUTH_SECRET";

/// Threading: immutable after from_conf.
struct SecurityConfig {
    /// ember.authenticate (false): every connection runs the handshake before any frame.
    bool authenticate = false;
    /// The shared secret: ember.authenticate.secret.file (its contents, trailing newline
    /// dropped), else ember.authenticate.secret, else the EMBER_AUTH_SECRET environment variable.
    std::string secret;
    /// ember.network.crypto.enabled (false): connections are encrypted with AES-256-GCM under
    /// keys agreed in the handshake. Needs ember.authenticate, as in Spark.
    bool encrypt = false;
    /// ember.network.auth.rpcTimeout (30s): the handshake must finish within this.
    std::chrono::milliseconds timeout{30000};

    /// Reads the keys above. Throws std::invalid_argument naming the key for an inconsistent
    /// configuration (authentication without a secret, an unreadable secret file, encryption
    /// without authentication).
    static SecurityConfig from_conf(const Conf& conf);
};

}  // namespace ember::rpc::security
