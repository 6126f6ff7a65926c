// SPDX-License-Identifier: Apache-2.0
#include "shuffle/shuffle_checksum.hpp"

#include "rpc/log.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <endian.h>
#include <fcntl.h>
#include <unistd.h>

namespace ember::shuffle {

ShuffleChecksum::ShuffleChecksum(bool crc) noexcept
    : crc_(crc), value_(crc ? crc32_z(0L, Z_NULL, 0) : adler32_z(0L, Z_NULL, 0)) {}

std::optional<ShuffleChecksum> ShuffleChecksum::of(std::string_view algorithm) {
    std::string upper(algorithm);
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (upper == "ADLER32") return ShuffleChecksum(false);
    if (upper == "CRC32") return ShuffleChecksum(true);
    return std::nullopt;
}

void ShuffleChecksum::update(std::span<const std::byte> bytes) noexcept {
    auto* p = reinterpret_cast<const Bytef*>(bytes.data());
    value_ = crc_ ? crc32_z(static_cast<uLong>(value_), p, bytes.size())
                  : adler32_z(static_cast<uLong>(value_), p, bytes.size());
}

std::uint64_t checksum_of(const storage::BlockData& data, std::string_view algorithm) {
    auto sum = ShuffleChecksum::of(algorithm);
    if (!sum) throw std::runtime_error(fmt::format("unsupported checksum algorithm: {}", algorithm));
    storage::BlockInputStream in(data);
    for (;;) {
        auto piece = in.next(1u << 20);
        if (piece.empty()) break;
        sum->update(piece);
    }
    return sum->value();
}

std::uint64_t read_checksum_by_reduce_id(const std::string& checksum_file, int reduce_id) {
    int fd = ::open(checksum_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw std::runtime_error(fmt::format("missing checksum file {}: {}", checksum_file, std::strerror(errno)));
    }
    std::uint64_t be = 0;
    ssize_t n = reduce_id < 0 ? -1 : ::pread(fd, &be, sizeof be, static_cast<off_t>(reduce_id) * 8);
    ::close(fd);
    if (n != static_cast<ssize_t>(sizeof be)) {
        throw std::runtime_error(fmt::format("checksum file {} has no value for reduce partition {}", checksum_file,
                                             reduce_id));
    }
    return be64toh(be);
}

storage::CorruptionCause diagnose_corruption(std::string_view algorithm, const std::string& checksum_file,
                                             int reduce_id, const storage::FileSegment& segment,
                                             std::uint64_t checksum_by_reader) {
    using storage::CorruptionCause;
    auto log = log::get("shuffle");
    // The algorithm first, so an unsupported one is said before a missing file (as Spark).
    if (!ShuffleChecksum::of(algorithm)) return CorruptionCause::unsupported_checksum_algorithm;
    try {
        std::uint64_t by_writer = read_checksum_by_reduce_id(checksum_file, reduce_id);
        std::uint64_t recomputed = checksum_of(storage::BlockData::open(segment), algorithm);
        CorruptionCause cause = by_writer != recomputed            ? CorruptionCause::disk_issue
                                : by_writer != checksum_by_reader ? CorruptionCause::network_issue
                                                                   : CorruptionCause::checksum_verify_pass;
        log->info("Corruption diagnosis of reduce partition {} of {}: checksum by writer {}, by reader {}, "
                  "recomputed {}: {}",
                  reduce_id, segment.path, by_writer, checksum_by_reader, recomputed, storage::to_string(cause));
        return cause;
    } catch (const std::exception& e) {
        log->warn("Unable to diagnose shuffle block corruption: {}", e.what());
        return CorruptionCause::unknown_issue;
    }
}

std::string corruption_message(std::string_view block, storage::CorruptionCause cause, std::string_view algorithm) {
    using storage::CorruptionCause;
    switch (cause) {
        case CorruptionCause::unsupported_checksum_algorithm:
            return fmt::format("Block {} is corrupted but corruption diagnosis failed due to unsupported checksum "
                               "algorithm: {}",
                               block, algorithm);
        case CorruptionCause::checksum_verify_pass:
            return fmt::format("Block {} is corrupted but checksum verification passed", block);
        case CorruptionCause::unknown_issue:
            return fmt::format("Block {} is corrupted but the cause is unknown", block);
        default:
            return fmt::format("Block {} is corrupted due to {}", block, storage::to_string(cause));
    }
}

}  // namespace ember::shuffle
