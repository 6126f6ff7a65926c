// SPDX-License-Identifier: Apache-2.0
#include "shuffle/map_output_writer.hpp"

#include "shuffle/compression.hpp"
#include "shuffle/shuffle_checksum.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

namespace ember::shuffle {
namespace {

class FileOut {
public:
    explicit FileOut(const std::string& path) : path_(path) {
        fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd_ < 0) throw std::runtime_error(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
    }
    ~FileOut() {
        if (fd_ >= 0) ::close(fd_);
    }
    void write(std::string_view s) {
        while (!s.empty()) {
            ssize_t n = ::write(fd_, s.data(), s.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw std::runtime_error(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
            s.remove_prefix(static_cast<std::size_t>(n));
            pos_ += static_cast<std::uint64_t>(n);
        }
    }
    std::uint64_t pos() const noexcept { return pos_; }
    void close() {
        if (fd_ >= 0 && ::close(fd_) != 0) {
            fd_ = -1;
            throw std::runtime_error(fmt::format("cannot close {}: {}", path_, std::strerror(errno)));
        }
        fd_ = -1;
    }

private:
    std::string path_;
    int fd_ = -1;
    std::uint64_t pos_ = 0;
};

/// Appends `length` bytes at `offset` of the file at `path` to `out`, a megabyte at a time,
/// folding them into `sum` when checksums are on.
void copy_range(const std::string& path, std::uint64_t offset, std::uint64_t length, FileOut& out,
                ShuffleChecksum* sum) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot open spill {}: {}", path, std::strerror(errno)));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    std::string buf(static_cast<std::size_t>(std::min<std::uint64_t>(length, 1u << 20)), '\0');
    std::uint64_t done = 0;
    while (done < length) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length - done, buf.size()));
        ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error(fmt::format("cannot read spill {}", path));
        std::string_view piece(buf.data(), static_cast<std::size_t>(n));
        out.write(piece);
        if (sum) sum->update(piece);
        done += static_cast<std::uint64_t>(n);
    }
}

std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

}  // namespace

std::size_t map_output_chunk_bytes(std::uint64_t budget, int num_partitions) {
    std::uint64_t per = budget / (8 * static_cast<std::uint64_t>(std::max(num_partitions, 1)));
    return static_cast<std::size_t>(std::clamp<std::uint64_t>(per, 4u << 10, 1u << 20));
}

MapOutputWriter::MapOutputWriter(IndexShuffleBlockResolver& resolver, storage::DiskBlockManager& disk,
                                 int shuffle_id, std::int64_t map_id, int num_partitions,
                                 ShuffleWriteOptions options)
    : resolver_(resolver),
      disk_(disk),
      shuffle_id_(shuffle_id),
      map_id_(map_id),
      options_(std::move(options)),
      parts_(static_cast<std::size_t>(num_partitions)) {
    for (auto& part : parts_) part.check_at = std::min(kSmallOpen, options_.chunk_bytes);
    if (options_.checksum) {
        auto sum = ShuffleChecksum::of(options_.checksum_algorithm);
        if (!sum) {
            throw std::invalid_argument(fmt::format("ember.shuffle.checksum.algorithm: unsupported algorithm {} "
                                                    "(ADLER32 or CRC32)",
                                                    options_.checksum_algorithm));
        }
        checksum_name_ = sum->algorithm();
    }
}

MapOutputWriter::~MapOutputWriter() {
    std::error_code ec;
    for (auto& s : spills_) std::filesystem::remove(s.path, ec);
    if (!committed_ && !tmp_data_.empty()) std::filesystem::remove(tmp_data_, ec);
}

std::size_t MapOutputWriter::buffered_bytes() const noexcept {
    std::size_t n = sealed_bytes_;
    for (auto& p : parts_) n += p.open.capacity();
    return n;
}

void MapOutputWriter::grow_or_seal(Partition& part) {
    if (part.open.size() >= options_.chunk_bytes) {
        seal(part);
    } else if (part.open.capacity() < options_.chunk_bytes) {
        part.open.reserve(options_.chunk_bytes + 4096);  // the record that crosses the chunk fits too
    }
    // Either way the buffer now has room for a chunk: the next check is the seal.
    part.check_at = options_.chunk_bytes;
}

void MapOutputWriter::seal(Partition& part) {
    if (part.open.size() == 0) return;
    if (options_.compress) {
        std::size_t n = lz4_compress_into(part.open.bytes(), scratch_);
        part.sealed.emplace_back(scratch_.data(), n);  // a copy of exactly its size
    } else {
        part.sealed.emplace_back(part.open.bytes());
    }
    sealed_bytes_ += part.sealed.back().size();
    part.open.clear();  // keeps its capacity for the next records
}

void MapOutputWriter::spill(ShuffleWriteMetrics& metrics) {
    auto start = now_ns();
    auto [id, path] = disk_.create_temp_shuffle_block();
    Spill s{path, {0}};
    FileOut out(path);
    std::size_t in_memory = 0;
    for (auto& part : parts_) {
        in_memory += part.open.size();
        seal(part);
        for (auto& frame : part.sealed) {
            in_memory += frame.size();
            out.write(frame);
        }
        part.sealed = {};
        s.offsets.push_back(out.pos());
    }
    sealed_bytes_ = 0;
    out.close();
    memory_bytes_spilled_ += in_memory;
    disk_bytes_spilled_ += out.pos();
    spills_.push_back(std::move(s));
    metrics.write_time_ns += now_ns() - start;
}

std::vector<std::uint64_t> MapOutputWriter::commit(ShuffleWriteMetrics& metrics) {
    auto start = now_ns();
    tmp_data_ = disk_.create_temp_shuffle_block().second;
    std::vector<std::uint64_t> lengths(parts_.size(), 0);
    std::vector<std::uint64_t> checksums;
    if (options_.checksum) checksums.assign(parts_.size(), 0);
    {
        FileOut out(tmp_data_);
        for (std::size_t p = 0; p < parts_.size(); ++p) {
            std::uint64_t begin = out.pos();
            std::optional<ShuffleChecksum> checksum;
            if (options_.checksum) checksum = ShuffleChecksum::of(options_.checksum_algorithm);
            ShuffleChecksum* sum = checksum ? &*checksum : nullptr;
            for (auto& s : spills_) {
                std::uint64_t len = s.offsets[p + 1] - s.offsets[p];
                if (len > 0) copy_range(s.path, s.offsets[p], len, out, sum);
            }
            auto& part = parts_[p];
            seal(part);
            for (auto& frame : part.sealed) {
                out.write(frame);
                if (sum) sum->update(frame);
            }
            part.sealed = {};
            part.open = Encoder{};
            lengths[p] = out.pos() - begin;
            if (options_.checksum) checksums[p] = sum->value();
        }
        sealed_bytes_ = 0;
        out.close();
    }
    auto committed = resolver_.write_index_file_and_commit(shuffle_id_, map_id_, lengths, checksums, tmp_data_,
                                                           options_.checksum ? checksum_name_ : "ADLER32");
    committed_ = true;
    for (auto l : committed) metrics.bytes_written += l;
    metrics.write_time_ns += now_ns() - start;
    return committed;
}

}  // namespace ember::shuffle
