// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// AuthHandshake: the mutual authentication that opens every connection of an env with
/// ember.authenticate on, before any frame (the role of Spark's AuthEngine), as a state machine
/// without I/O so it can be tested and fuzzed alone.
///
/// Protocol version 1. Integers are big-endian; a MAC is HMAC-SHA256, keyed with
/// K = HKDF-SHA256(ikm = secret, salt = "ember-auth-v1", info = "mac", 32 bytes).
///
///     client -> server  ClientHello  "EMBRAUTH" | version 1 | flags | client nonce[32] | client key[32]
///     server -> client  ServerHello  "EMBRAUTH" | version 1 | flags | server nonce[32] | server key[32]
///                                    | MAC(K, "ember-v1 server" | ClientHello | ServerHello up to here)
///     client -> server  ClientProof  MAC(K, "ember-v1 client" | ClientHello | ServerHello)
///     server -> client  Accepted     0x00
///
/// Nonces are 32 random bytes (RAND_bytes) from each side, so a recorded handshake does not
/// verify on a new connection. Flag bit 0 asks for encryption; the session is encrypted if
/// either side asks. Keys are ephemeral X25519 public keys, used only for an encrypted session
/// (an all-zero key says "cannot encrypt"); the session keys are then
/// HKDF-SHA256(ikm = X25519 shared secret | K, salt = client nonce | server nonce,
/// info = "ember-v1 session", 72 bytes) = client-to-server key[32] | server-to-client key[32] |
/// client-to-server IV salt[4] | server-to-client IV salt[4] (see RecordCipher), which gives
/// forward secrecy. A side that rejects the other sends, instead of its next message, a
/// failure record "EMBRFAIL" | u16 length | UTF-8 text, and closes.
///
/// Threading: single-threaded (one per connection).

#include "rpc/rpc_error.hpp"
#include "rpc/security/security_config.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ember::rpc::security {

inline constexpr std::size_t kClientHelloBytes = 74;
inline constexpr std::size_t kServerHelloBytes = 106;
inline constexpr std::size_t kProofBytes = 32;
/// "EMBRFAIL": a failure record (also recognised by the frame decoder of a peer that did not
/// authenticate, so it reads the reason instead of garbage).
inline constexpr std::string_view kFailMagic = "EMBRFAIL";

/// Keys of an encrypted session, per direction.
struct SessionKeys {
    std::array<std::uint8_t, 32> send_key{};
    std::array<std::uint8_t, 32> recv_key{};
    std::array<std::uint8_t, 4> send_iv{};
    std::array<std::uint8_t, 4> recv_iv{};
};

class AuthHandshake {
public:
    enum class Side { client, server };
    /// `peer` names the other side in error messages ("client 10.0.0.3:51512").
    AuthHandshake(Side side, const SecurityConfig& config, std::string peer);
    ~AuthHandshake();
    AuthHandshake(const AuthHandshake&) = delete;
    AuthHandshake& operator=(const AuthHandshake&) = delete;

    /// Bytes to send now (the client's hello right away; then replies to what was fed).
    std::vector<std::byte> take_output();
    /// How many bytes to read next (exactly that many, then feed them); 0 when finished or failed.
    std::size_t wants() const noexcept;
    /// Feeds the bytes wants() asked for. A rejection queues a failure record for the peer (take
    /// the output, send it, then close) and sets error().
    void feed(std::span<const std::byte> bytes);

    bool done() const noexcept { return state_ == State::done; }
    bool failed() const noexcept { return state_ == State::failed; }
    /// Why it failed: authentication_failed with a message naming this side, the peer and the
    /// key involved.
    const RpcError& error() const noexcept { return error_; }
    /// Once done: true if the session is encrypted, and its keys.
    bool encrypted() const noexcept { return encrypted_; }
    const SessionKeys& keys() const noexcept { return keys_; }

private:
    enum class State { client_wait_hello_magic, client_wait_hello, client_wait_accept, client_wait_fail_rest,
                       server_wait_magic, server_wait_hello, server_wait_proof, fail_text_length, fail_text, done,
                       failed };
    void fail(std::string why, std::string tell_peer);
    void derive_session_keys(std::span<const std::uint8_t> peer_key);

    struct Crypto;  // OpenSSL state, kept out of this header
    Side side_;
    SecurityConfig config_;
    std::string peer_;
    std::unique_ptr<Crypto> crypto_;
    State state_;
    std::vector<std::byte> out_;
    std::vector<std::uint8_t> client_hello_, server_hello_;  // the transcript
    std::size_t fail_length_ = 0;
    bool encrypted_ = false;
    SessionKeys keys_;
    RpcError error_;
};

/// The reason in a failure record "EMBRFAIL" | u16 length | text, if `bytes` starts with one
/// (nullopt if it does not, or is too short to tell).
std::optional<std::string> parse_failure_record(std::span<const std::byte> bytes);

}  // namespace ember::rpc::security
