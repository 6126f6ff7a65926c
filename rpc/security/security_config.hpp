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

/// A fresh random secret (32 bytes from RAND_bytes, in hex), for a driver that starts its own
/// executors and was given none (as Spark's SecurityManager does on YARN and local masters).
std::string generate_secret();

/// The configuration keys an executor needs before it can reach its driver (Spark's
/// SparkConf.isExecutorStartupConf, less the secret): handed to executors on their command line.
/// Secrets never are: they travel in the environment (kSecretEnvVar).
bool is_executor_startup_key(std::string_view key) noexcept;

/// True for keys whose values must not be shown or sent (Spark's spark.redaction.regex:
/// secret, password, token, access key).
bool is_secret_key(std::string_view key) noexcept;

}  // namespace ember::rpc::security
