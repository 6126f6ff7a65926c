// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// RecordCipher: AES-256-GCM over the records of one direction of an encrypted connection
/// (ember.network.crypto.enabled; Spark's AES/GCM session cipher). A record is
///
///     u32 big-endian plaintext length L (1 to 65536) | L bytes of ciphertext | 16-byte tag
///
/// with nonce = the direction's 4-byte IV salt | u64 big-endian record number (from 0) and the
/// length as additional authenticated data, so records cannot be altered, reordered, replayed
/// or dropped without the next one failing to open. Keys come from AuthHandshake.
/// Threading: single-threaded (one per direction of a connection).

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

namespace ember::rpc::security {

class RecordCipher {
public:
    static constexpr std::size_t kMaxPlaintext = 64 * 1024;
    static constexpr std::size_t kHeader = 4;
    static constexpr std::size_t kTag = 16;
    static constexpr std::size_t kOverhead = kHeader + kTag;

    RecordCipher(const std::array<std::uint8_t, 32>& key, const std::array<std::uint8_t, 4>& iv_salt);
    ~RecordCipher();
    RecordCipher(const RecordCipher&) = delete;
    RecordCipher& operator=(const RecordCipher&) = delete;

    /// Writes the record of `plaintext` (1 to kMaxPlaintext bytes) at `out`, which has room for
    /// plaintext.size() + kOverhead bytes; returns the record's size.
    std::size_t seal(std::span<const std::byte> plaintext, std::byte* out);
    /// The plaintext length a record header announces; nullopt if out of range (0 or over
    /// kMaxPlaintext: the stream is corrupt or hostile).
    static std::optional<std::size_t> plaintext_length(std::span<const std::byte, kHeader> header) noexcept;
    /// Opens a whole record (header, ciphertext, tag) into `out` (room for its plaintext);
    /// false if it does not authenticate.
    bool open(std::span<const std::byte> record, std::byte* out);

private:
    struct Ctx;
    std::unique_ptr<Ctx> ctx_;
    std::array<std::uint8_t, 12> nonce_{};
    std::uint64_t counter_ = 0;
};

}  // namespace ember::rpc::security
