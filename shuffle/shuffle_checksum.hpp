// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Shuffle checksums (Spark 3.2+'s ShuffleChecksumHelper): per-partition checksums of the map
/// output's on-disk bytes, and the diagnosis of a block that failed to decode.

#include "storage/block_transfer_codec.hpp"
#include "storage/managed_buffer.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ember::shuffle {

/// A running checksum of one of Spark's shuffle checksum algorithms (ember.shuffle.checksum.
/// algorithm): "ADLER32" (Spark's default) or "CRC32", both computed by zlib. The value is the
/// 32-bit checksum widened to 64 bits, as Java's Checksum.getValue(); an empty input gives
/// Adler-32's 1 and CRC-32's 0.
/// Threading: single-threaded.
class ShuffleChecksum {
public:
    /// nullopt if `algorithm` is not supported (names are case-insensitive).
    static std::optional<ShuffleChecksum> of(std::string_view algorithm);
    void update(std::span<const std::byte> bytes) noexcept;
    void update(std::string_view bytes) noexcept { update(std::as_bytes(std::span(bytes.data(), bytes.size()))); }
    std::uint64_t value() const noexcept { return value_; }
    /// The canonical (upper-case) name of the algorithm.
    const char* algorithm() const noexcept { return crc_ ? "CRC32" : "ADLER32"; }

private:
    explicit ShuffleChecksum(bool crc) noexcept;
    bool crc_;
    std::uint64_t value_;
};

/// The checksum of every byte of `data` (memory, or a file range read a piece at a time).
/// Throws std::runtime_error on a read error or an unsupported algorithm.
std::uint64_t checksum_of(const storage::BlockData& data, std::string_view algorithm);

/// Value `reduce_id` of a checksum file (R big-endian int64). Throws std::runtime_error if the
/// file is missing (message starts "missing") or too short.
std::uint64_t read_checksum_by_reduce_id(const std::string& checksum_file, int reduce_id);

/// Spark's ShuffleChecksumHelper.diagnoseCorruption, on the side that stores the block:
/// recomputes the checksum of `segment` (the block on disk) and compares it with the writer's
/// stored value and the reader's:
/// - unsupported algorithm: UNSUPPORTED_CHECKSUM_ALGORITHM;
/// - stored != recomputed: DISK_ISSUE (the file changed after it was written);
/// - stored != reader's: NETWORK_ISSUE (the bytes changed on their way to the reader);
/// - all equal: CHECKSUM_VERIFY_PASS;
/// - no checksum file, or any error: UNKNOWN_ISSUE.
storage::CorruptionCause diagnose_corruption(std::string_view algorithm, const std::string& checksum_file,
                                             int reduce_id, const storage::FileSegment& segment,
                                             std::uint64_t checksum_by_reader);

/// The FetchFailed message for a corrupt block after diagnosis, worded as Spark's:
/// "Block shuffle_0_1_2 is corrupted due to DISK_ISSUE", "... is corrupted but checksum
/// verification passed", "... is corrupted but the cause is unknown", "... is corrupted but
/// corruption diagnosis failed due to unsupported checksum algorithm: MD5".
std::string corruption_message(std::string_view block, storage::CorruptionCause cause, std::string_view algorithm);

}  // namespace ember::shuffle
