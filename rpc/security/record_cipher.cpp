// SPDX-License-Identifier: Apache-2.0
#include "rpc/security/record_cipher.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>
#include <stdexcept>

namespace ember::rpc::security {

struct RecordCipher::Ctx {
    EVP_CIPHER_CTX* enc = nullptr;
    EVP_CIPHER_CTX* dec = nullptr;
    ~Ctx() {
        EVP_CIPHER_CTX_free(enc);
        EVP_CIPHER_CTX_free(dec);
    }
};

RecordCipher::RecordCipher(const std::array<std::uint8_t, 32>& key, const std::array<std::uint8_t, 4>& iv_salt)
    : ctx_(std::make_unique<Ctx>()) {
    std::memcpy(nonce_.data(), iv_salt.data(), iv_salt.size());
    ctx_->enc = EVP_CIPHER_CTX_new();
    ctx_->dec = EVP_CIPHER_CTX_new();
    if (!ctx_->enc || !ctx_->dec || EVP_EncryptInit_ex(ctx_->enc, EVP_aes_256_gcm(), nullptr, key.data(), nullptr) != 1 ||
        EVP_DecryptInit_ex(ctx_->dec, EVP_aes_256_gcm(), nullptr, key.data(), nullptr) != 1) {
        throw std::runtime_error("AES-256-GCM setup failed");
    }
}

RecordCipher::~RecordCipher() = default;

std::optional<std::size_t> RecordCipher::plaintext_length(std::span<const std::byte, kHeader> h) noexcept {
    std::size_t n = (std::size_t{std::to_integer<std::uint8_t>(h[0])} << 24) |
                    (std::size_t{std::to_integer<std::uint8_t>(h[1])} << 16) |
                    (std::size_t{std::to_integer<std::uint8_t>(h[2])} << 8) | std::to_integer<std::uint8_t>(h[3]);
    if (n == 0 || n > kMaxPlaintext) return std::nullopt;
    return n;
}

std::size_t RecordCipher::seal(std::span<const std::byte> plaintext, std::byte* out) {
    const std::size_t n = plaintext.size();
    if (n == 0 || n > kMaxPlaintext) throw std::invalid_argument("record plaintext of a bad size");
    out[0] = std::byte(n >> 24);
    out[1] = std::byte(n >> 16);
    out[2] = std::byte(n >> 8);
    out[3] = std::byte(n);
    for (int i = 0; i < 8; ++i) nonce_[4 + i] = static_cast<std::uint8_t>(counter_ >> (56 - 8 * i));
    ++counter_;
    int len = 0;
    auto* o = reinterpret_cast<unsigned char*>(out);
    if (EVP_EncryptInit_ex(ctx_->enc, nullptr, nullptr, nullptr, nonce_.data()) != 1 ||
        EVP_EncryptUpdate(ctx_->enc, nullptr, &len, o, kHeader) != 1 ||
        EVP_EncryptUpdate(ctx_->enc, o + kHeader, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                          static_cast<int>(n)) != 1 ||
        EVP_EncryptFinal_ex(ctx_->enc, o + kHeader + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx_->enc, EVP_CTRL_GCM_GET_TAG, kTag, o + kHeader + n) != 1) {
        throw std::runtime_error("AES-256-GCM encryption failed");
    }
    return n + kOverhead;
}

bool RecordCipher::open(std::span<const std::byte> record, std::byte* out) {
    if (record.size() < kOverhead + 1) return false;
    const std::size_t n = record.size() - kOverhead;
    for (int i = 0; i < 8; ++i) nonce_[4 + i] = static_cast<std::uint8_t>(counter_ >> (56 - 8 * i));
    ++counter_;
    int len = 0;
    auto* r = reinterpret_cast<const unsigned char*>(record.data());
    unsigned char tag[kTag];
    std::memcpy(tag, r + kHeader + n, kTag);
    return EVP_DecryptInit_ex(ctx_->dec, nullptr, nullptr, nullptr, nonce_.data()) == 1 &&
           EVP_DecryptUpdate(ctx_->dec, nullptr, &len, r, kHeader) == 1 &&
           EVP_DecryptUpdate(ctx_->dec, reinterpret_cast<unsigned char*>(out), &len, r + kHeader, static_cast<int>(n)) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx_->dec, EVP_CTRL_GCM_SET_TAG, kTag, tag) == 1 &&
           EVP_DecryptFinal_ex(ctx_->dec, reinterpret_cast<unsigned char*>(out) + len, &len) == 1;
}

}  // namespace ember::rpc::security
