// SPDX-License-Identifier: Apache-2.0
#include "shuffle/map_output_writer.hpp"

#include "shuffle/compression.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
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

std::string read_range(const std::string& path, std::uint64_t offset, std::uint64_t length) {
    std::string out(length, '\0');
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot open spill {}: {}", path, std::strerror(errno)));
    std::uint64_t done = 0;
    while (done < length) {
        ssize_t n = ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ::close(fd);
            throw std::runtime_error(fmt::format("cannot read spill {}", path));
        }
        done += static_cast<std::uint64_t>(n);
    }
    ::close(fd);
    return out;
}

std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

}  // namespace

MapOutputWriter::MapOutputWriter(IndexShuffleBlockResolver& resolver, storage::DiskBlockManager& disk,
                                 int shuffle_id, std::int64_t map_id, int num_partitions,
                                 ShuffleWriteOptions options)
    : resolver_(resolver),
      disk_(disk),
      shuffle_id_(shuffle_id),
      map_id_(map_id),
      options_(options),
      bufs_(static_cast<std::size_t>(num_partitions)) {}

MapOutputWriter::~MapOutputWriter() {
    std::error_code ec;
    for (auto& s : spills_) std::filesystem::remove(s.path, ec);
    if (!committed_ && !tmp_data_.empty()) std::filesystem::remove(tmp_data_, ec);
}

std::size_t MapOutputWriter::buffered_bytes() const noexcept {
    std::size_t n = 0;
    for (auto& b : bufs_) n += b.size();
    return n;
}

std::string_view MapOutputWriter::encode_segment(const std::string& raw, std::string& scratch) const {
    if (raw.empty()) return {};
    if (!options_.compress) return raw;
    scratch.clear();
    lz4_compress_append(raw, scratch);
    return scratch;
}

void MapOutputWriter::spill(ShuffleWriteMetrics& metrics) {
    auto start = now_ns();
    auto [id, path] = disk_.create_temp_shuffle_block();
    Spill s{path, {0}};
    FileOut out(path);
    std::string scratch;
    std::size_t in_memory = 0;
    for (auto& b : bufs_) {
        in_memory += b.size();
        out.write(encode_segment(b.bytes(), scratch));
        s.offsets.push_back(out.pos());
        b.clear();
    }
    out.close();
    metrics.memory_bytes_spilled += in_memory;
    metrics.disk_bytes_spilled += out.pos();
    spills_.push_back(std::move(s));
    metrics.write_time_ns += now_ns() - start;
}

std::vector<std::uint64_t> MapOutputWriter::commit(ShuffleWriteMetrics& metrics) {
    auto start = now_ns();
    tmp_data_ = disk_.create_temp_shuffle_block().second;
    std::vector<std::uint64_t> lengths(bufs_.size(), 0);
    std::vector<std::uint64_t> checksums;
    if (options_.checksum) checksums.assign(bufs_.size(), 0);
    {
        FileOut out(tmp_data_);
        std::string scratch;
        for (std::size_t p = 0; p < bufs_.size(); ++p) {
            std::uint64_t begin = out.pos();
            uLong adler = adler32(0L, Z_NULL, 0);
            auto put = [&](std::string_view seg) {
                if (seg.empty()) return;
                out.write(seg);
                if (options_.checksum) {
                    adler = adler32_z(adler, reinterpret_cast<const Bytef*>(seg.data()), seg.size());
                }
            };
            for (auto& s : spills_) {
                std::uint64_t len = s.offsets[p + 1] - s.offsets[p];
                if (len > 0) put(read_range(s.path, s.offsets[p], len));
            }
            put(encode_segment(bufs_[p].bytes(), scratch));
            bufs_[p].clear();
            lengths[p] = out.pos() - begin;
            if (options_.checksum) checksums[p] = adler;
        }
        out.close();
    }
    auto committed = resolver_.write_index_file_and_commit(shuffle_id_, map_id_, lengths, checksums, tmp_data_);
    committed_ = true;
    for (auto l : committed) metrics.bytes_written += l;
    metrics.write_time_ns += now_ns() - start;
    return committed;
}

}  // namespace ember::shuffle
