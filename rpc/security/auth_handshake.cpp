// SPDX-License-Identifier: Apache-2.0
#include "rpc/security/auth_handshake.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace ember::rpc::security {
namespace {

constexpr std::string_view kMagic = "EMBRAUTH";
constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kWantsEncryption = 1;
constexpr std::size_t kNonce = 32;
constexpr std::size_t kKey = 32;
constexpr std::size_t kMac = 32;
constexpr std::size_t kMaxFailText = 512;

std::span<const std::uint8_t> as_u8(std::span<const std::byte> b) {
    return {reinterpret_cast<const std::uint8_t*>(b.data()), b.size()};
}

void append(std::vector<std::byte>& out, std::span<const std::uint8_t> b) {
    auto* p = reinterpret_cast<const std::byte*>(b.data());
    out.insert(out.end(), p, p + b.size());
}

/// HKDF-SHA256 into `out` (OpenSSL's HKDF; nothing hand-written).
void hkdf(std::span<const std::uint8_t> ikm, std::span<const std::uint8_t> salt, std::string_view info,
          std::span<std::uint8_t> out) {
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr),
                                                                    &EVP_PKEY_CTX_free);
    std::size_t len = out.size();
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 || EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) <= 0 ||
        EVP_PKEY_CTX_set1_hkdf_salt(ctx.get(), salt.data(), static_cast<int>(salt.size())) <= 0 ||
        EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), ikm.data(), static_cast<int>(ikm.size())) <= 0 ||
        EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), reinterpret_cast<const unsigned char*>(info.data()),
                                    static_cast<int>(info.size())) <= 0 ||
        EVP_PKEY_derive(ctx.get(), out.data(), &len) <= 0 || len != out.size()) {
        throw std::runtime_error("HKDF failed");
    }
}

std::array<std::uint8_t, kMac> hmac(std::span<const std::uint8_t> key, std::string_view label,
                                    std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    std::vector<std::uint8_t> data(label.begin(), label.end());
    data.insert(data.end(), a.begin(), a.end());
    data.insert(data.end(), b.begin(), b.end());
    std::array<std::uint8_t, kMac> mac{};
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), mac.data(), &len) ||
        len != kMac) {
        throw std::runtime_error("HMAC failed");
    }
    return mac;
}

bool all_zero(std::span<const std::uint8_t> b) {
    return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

}  // namespace

/// OpenSSL state: the ephemeral X25519 key and the MAC key.
struct AuthHandshake::Crypto {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{nullptr, &EVP_PKEY_free};
    std::array<std::uint8_t, kKey> public_key{};  // all zero until generated
    std::array<std::uint8_t, 32> mac_key{};
    std::array<std::uint8_t, kNonce> nonce{};

    void generate_key() {
        std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr),
                                                                        &EVP_PKEY_CTX_free);
        EVP_PKEY* k = nullptr;
        if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 || EVP_PKEY_keygen(ctx.get(), &k) <= 0) {
            throw std::runtime_error("X25519 key generation failed");
        }
        key.reset(k);
        std::size_t len = public_key.size();
        if (EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &len) <= 0 || len != kKey) {
            throw std::runtime_error("X25519 public key export failed");
        }
    }
    std::array<std::uint8_t, 32> shared_secret(std::span<const std::uint8_t> peer) const {
        std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> peer_key(
            EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()), &EVP_PKEY_free);
        std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new(key.get(), nullptr),
                                                                        &EVP_PKEY_CTX_free);
        std::array<std::uint8_t, 32> out{};
        std::size_t len = out.size();
        if (!peer_key || !ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 ||
            EVP_PKEY_derive_set_peer(ctx.get(), peer_key.get()) <= 0 || EVP_PKEY_derive(ctx.get(), out.data(), &len) <= 0 ||
            len != out.size()) {
            throw std::runtime_error("X25519 key agreement failed (a low-order peer key?)");
        }
        return out;
    }
};

AuthHandshake::AuthHandshake(Side side, const SecurityConfig& config, std::string peer)
    : side_(side),
      config_(config),
      peer_(std::move(peer)),
      crypto_(std::make_unique<Crypto>()),
      state_(side == Side::client ? State::client_wait_hello_magic : State::server_wait_magic) {
    static constexpr std::string_view kSalt = "ember-auth-v1";
    hkdf({reinterpret_cast<const std::uint8_t*>(config_.secret.data()), config_.secret.size()},
         {reinterpret_cast<const std::uint8_t*>(kSalt.data()), kSalt.size()}, "mac", crypto_->mac_key);
    if (RAND_bytes(crypto_->nonce.data(), static_cast<int>(crypto_->nonce.size())) != 1) {
        throw std::runtime_error("RAND_bytes failed");
    }
    if (side_ == Side::client) {
        crypto_->generate_key();  // the server decides whether the session is encrypted
        client_hello_.assign(kMagic.begin(), kMagic.end());
        client_hello_.push_back(kVersion);
        client_hello_.push_back(config_.encrypt ? kWantsEncryption : 0);
        client_hello_.insert(client_hello_.end(), crypto_->nonce.begin(), crypto_->nonce.end());
        client_hello_.insert(client_hello_.end(), crypto_->public_key.begin(), crypto_->public_key.end());
        append(out_, client_hello_);
    }
}

AuthHandshake::~AuthHandshake() = default;

std::vector<std::byte> AuthHandshake::take_output() { return std::exchange(out_, {}); }

std::size_t AuthHandshake::wants() const noexcept {
    switch (state_) {
        case State::client_wait_hello_magic: return kMagic.size();
        case State::client_wait_hello: return kServerHelloBytes - kMagic.size();
        case State::client_wait_accept: return 1;
        case State::client_wait_fail_rest: return kFailMagic.size() - 1;
        case State::server_wait_magic: return kMagic.size();
        case State::server_wait_hello: return kClientHelloBytes - kMagic.size();
        case State::server_wait_proof: return kProofBytes;
        case State::fail_text_length: return 2;
        case State::fail_text: return fail_length_;
        case State::done:
        case State::failed: return 0;
    }
    return 0;
}

void AuthHandshake::fail(std::string why, std::string tell_peer) {
    state_ = State::failed;
    error_ = RpcError{RpcErrc::authentication_failed, "authentication failed: " + std::move(why)};
    out_.clear();
    if (tell_peer.empty()) return;
    tell_peer.resize(std::min(tell_peer.size(), kMaxFailText));
    for (char c : kFailMagic) out_.push_back(static_cast<std::byte>(c));
    out_.push_back(static_cast<std::byte>(tell_peer.size() >> 8));
    out_.push_back(static_cast<std::byte>(tell_peer.size() & 0xff));
    for (char c : tell_peer) out_.push_back(static_cast<std::byte>(c));
}

void AuthHandshake::derive_session_keys(std::span<const std::uint8_t> peer_key) {
    auto shared = crypto_->shared_secret(peer_key);
    std::vector<std::uint8_t> ikm(shared.begin(), shared.end());
    ikm.insert(ikm.end(), crypto_->mac_key.begin(), crypto_->mac_key.end());
    std::vector<std::uint8_t> salt(client_hello_.begin() + 10, client_hello_.begin() + 10 + kNonce);  // client nonce
    salt.insert(salt.end(), server_hello_.begin() + 10, server_hello_.begin() + 10 + kNonce);        // server nonce
    std::array<std::uint8_t, 72> okm{};
    hkdf(ikm, salt, "ember-v1 session", okm);
    auto* p = okm.data();
    bool client = side_ == Side::client;
    std::copy(p, p + 32, client ? keys_.send_key.begin() : keys_.recv_key.begin());
    std::copy(p + 32, p + 64, client ? keys_.recv_key.begin() : keys_.send_key.begin());
    std::copy(p + 64, p + 68, client ? keys_.send_iv.begin() : keys_.recv_iv.begin());
    std::copy(p + 68, p + 72, client ? keys_.recv_iv.begin() : keys_.send_iv.begin());
    OPENSSL_cleanse(okm.data(), okm.size());
    OPENSSL_cleanse(shared.data(), shared.size());
    OPENSSL_cleanse(ikm.data(), ikm.size());
}

void AuthHandshake::feed(std::span<const std::byte> bytes) {
    auto in = as_u8(bytes);
    const bool client = side_ == Side::client;
    try {
        switch (state_) {
            case State::client_wait_hello_magic: {
                std::string_view magic(reinterpret_cast<const char*>(in.data()), in.size());
                if (magic == kFailMagic) {
                    state_ = State::fail_text_length;
                } else if (magic == kMagic) {
                    server_hello_.assign(in.begin(), in.end());
                    state_ = State::client_wait_hello;
                } else {
                    fail(fmt::format("server {} did not answer with the ember handshake (is ember.authenticate on "
                                     "there?)",
                                     peer_),
                         "");
                }
                return;
            }
            case State::client_wait_hello: {
                server_hello_.insert(server_hello_.end(), in.begin(), in.end());
                if (server_hello_[8] != kVersion) {
                    fail(fmt::format("server {} speaks handshake version {}, not {}", peer_, server_hello_[8], kVersion),
                         "unsupported handshake version");
                    return;
                }
                std::span<const std::uint8_t> hello(server_hello_.data(), kServerHelloBytes - kMac);
                auto expected = hmac(crypto_->mac_key, "ember-v1 server", client_hello_, hello);
                if (CRYPTO_memcmp(expected.data(), server_hello_.data() + kServerHelloBytes - kMac, kMac) != 0) {
                    fail(fmt::format("server {} did not prove it knows the secret (ember.authenticate.secret "
                                     "differs?)",
                                     peer_),
                         "authentication failed: the server's proof did not verify at the client (check "
                         "ember.authenticate.secret)");
                    return;
                }
                encrypted_ = config_.encrypt || (server_hello_[9] & kWantsEncryption);
                std::span<const std::uint8_t> server_key(server_hello_.data() + 10 + kNonce, kKey);
                if (encrypted_) {
                    if (all_zero(server_key)) {
                        fail(fmt::format("server {} cannot encrypt, and ember.network.crypto.enabled is on here", peer_),
                             "authentication failed: the client requires encryption (ember.network.crypto.enabled)");
                        return;
                    }
                    derive_session_keys(server_key);
                }
                auto proof = hmac(crypto_->mac_key, "ember-v1 client", client_hello_, server_hello_);
                append(out_, proof);
                state_ = State::client_wait_accept;
                return;
            }
            case State::client_wait_accept:
                if (in[0] == 0) {
                    state_ = State::done;
                } else if (in[0] == static_cast<std::uint8_t>(kFailMagic[0])) {
                    state_ = State::client_wait_fail_rest;  // a failure record: the rest of its magic
                } else {
                    fail(fmt::format("server {} sent an unknown handshake status {}", peer_, in[0]), "");
                }
                return;
            case State::server_wait_magic: {
                std::string_view magic(reinterpret_cast<const char*>(in.data()), in.size());
                if (magic != kMagic) {
                    fail(fmt::format("client {} did not start the ember handshake (is ember.authenticate on "
                                     "there?)",
                                     peer_),
                         "authentication failed: this env requires authentication (ember.authenticate) and the "
                         "connection did not start with its handshake");
                    return;
                }
                client_hello_.assign(in.begin(), in.end());
                state_ = State::server_wait_hello;
                return;
            }
            case State::server_wait_hello: {
                client_hello_.insert(client_hello_.end(), in.begin(), in.end());
                if (client_hello_[8] != kVersion) {
                    fail(fmt::format("client {} speaks handshake version {}, not {}", peer_, client_hello_[8], kVersion),
                         fmt::format("authentication failed: unsupported handshake version {} (this env speaks {})",
                                     client_hello_[8], kVersion));
                    return;
                }
                encrypted_ = config_.encrypt || (client_hello_[9] & kWantsEncryption);
                std::span<const std::uint8_t> client_key(client_hello_.data() + 10 + kNonce, kKey);
                if (encrypted_) {
                    if (all_zero(client_key)) {
                        fail(fmt::format("client {} cannot encrypt, and ember.network.crypto.enabled is on here",
                                         peer_),
                             "authentication failed: this env requires encryption (ember.network.crypto.enabled)");
                        return;
                    }
                    crypto_->generate_key();
                }
                server_hello_.assign(kMagic.begin(), kMagic.end());
                server_hello_.push_back(kVersion);
                server_hello_.push_back(config_.encrypt ? kWantsEncryption : 0);
                server_hello_.insert(server_hello_.end(), crypto_->nonce.begin(), crypto_->nonce.end());
                server_hello_.insert(server_hello_.end(), crypto_->public_key.begin(), crypto_->public_key.end());
                auto mac = hmac(crypto_->mac_key, "ember-v1 server", client_hello_, server_hello_);
                server_hello_.insert(server_hello_.end(), mac.begin(), mac.end());
                append(out_, server_hello_);
                if (encrypted_) derive_session_keys(client_key);
                state_ = State::server_wait_proof;
                return;
            }
            case State::server_wait_proof: {
                auto expected = hmac(crypto_->mac_key, "ember-v1 client", client_hello_, server_hello_);
                if (CRYPTO_memcmp(expected.data(), in.data(), kMac) != 0) {
                    fail(fmt::format("client {} did not prove it knows the secret (ember.authenticate.secret "
                                     "differs?)",
                                     peer_),
                         "authentication failed: the server could not verify this client's proof (check "
                         "ember.authenticate.secret)");
                    return;
                }
                out_.push_back(std::byte{0});
                state_ = State::done;
                return;
            }
            case State::client_wait_fail_rest:
                if (std::memcmp(in.data(), kFailMagic.data() + 1, kFailMagic.size() - 1) != 0) {
                    fail(fmt::format("server {} sent an unknown handshake status", peer_), "");
                } else {
                    state_ = State::fail_text_length;
                }
                return;
            case State::fail_text_length:
                fail_length_ = (std::size_t{in[0]} << 8) | in[1];
                if (fail_length_ == 0 || fail_length_ > kMaxFailText) {
                    fail(fmt::format("{} {} refused the connection", client ? "server" : "client", peer_), "");
                } else {
                    state_ = State::fail_text;
                }
                return;
            case State::fail_text: {
                std::string text(reinterpret_cast<const char*>(in.data()), in.size());
                for (char& c : text) {
                    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // no control characters in logs
                }
                fail(fmt::format("{} {} refused the connection: {}", client ? "server" : "client", peer_, text), "");
                return;
            }
            default:
                return;
        }
    } catch (const std::exception& e) {
        fail(fmt::format("handshake with {} failed: {}", peer_, e.what()), "authentication failed");
    }
}

std::optional<std::string> parse_failure_record(std::span<const std::byte> bytes) {
    if (bytes.size() < kFailMagic.size() + 2) return std::nullopt;
    if (std::memcmp(bytes.data(), kFailMagic.data(), kFailMagic.size()) != 0) return std::nullopt;
    auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data()) + kFailMagic.size();
    std::size_t n = (std::size_t{p[0]} << 8) | p[1];
    n = std::min({n, kMaxFailText, bytes.size() - kFailMagic.size() - 2});
    std::string text(reinterpret_cast<const char*>(p + 2), n);
    for (char& c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    return text;
}

}  // namespace ember::rpc::security
