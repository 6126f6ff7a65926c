// SPDX-License-Identifier: Apache-2.0
#include "shuffle/index_shuffle_block_resolver.hpp"

#include "rpc/log.hpp"
#include "shuffle/shuffle_checksum.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <endian.h>
#include <fcntl.h>
#include <unistd.h>

namespace ember::shuffle {

namespace fs = std::filesystem;

namespace {

void write_be64_file(const std::string& path, const std::vector<std::uint64_t>& values) {
    std::string buf(values.size() * 8, '\0');
    for (std::size_t i = 0; i < values.size(); ++i) {
        std::uint64_t be = htobe64(values[i]);
        std::memcpy(buf.data() + 8 * i, &be, 8);
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
    std::size_t done = 0;
    while (done < buf.size()) {
        ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            ::close(fd);
            throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(err)));
        }
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
}

std::uint64_t file_size_or(const std::string& path, std::uint64_t fallback) {
    std::error_code ec;
    auto n = fs::file_size(path, ec);
    return ec ? fallback : n;
}

}  // namespace

std::string IndexShuffleBlockResolver::data_file(int shuffle_id, std::int64_t map_id) {
    return disk_.get_file(storage::ShuffleDataBlockId{shuffle_id, map_id});
}

std::string IndexShuffleBlockResolver::index_file(int shuffle_id, std::int64_t map_id) {
    return disk_.get_file(storage::ShuffleIndexBlockId{shuffle_id, map_id});
}

std::string IndexShuffleBlockResolver::checksum_file(int shuffle_id, std::int64_t map_id, std::string_view algorithm) {
    return disk_.get_file(storage::name(storage::ShuffleChecksumBlockId{shuffle_id, map_id}) + "." +
                          std::string(algorithm));
}

std::vector<std::uint64_t> IndexShuffleBlockResolver::read_index(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() < 8 || bytes.size() % 8 != 0) return {};
    std::vector<std::uint64_t> out(bytes.size() / 8);
    for (std::size_t i = 0; i < out.size(); ++i) {
        std::uint64_t be;
        std::memcpy(&be, bytes.data() + 8 * i, 8);
        out[i] = be64toh(be);
    }
    return out;
}

std::vector<std::uint64_t> IndexShuffleBlockResolver::write_index_file_and_commit(
    int shuffle_id, std::int64_t map_id, const std::vector<std::uint64_t>& lengths,
    const std::vector<std::uint64_t>& checksums, const std::string& tmp_data, std::string_view checksum_algorithm) {
    std::string index = index_file(shuffle_id, map_id);
    std::string data = data_file(shuffle_id, map_id);
    std::vector<std::uint64_t> offsets(lengths.size() + 1, 0);
    for (std::size_t i = 0; i < lengths.size(); ++i) offsets[i + 1] = offsets[i] + lengths[i];
    std::string tmp_index = index + "." + storage::random_uuid();
    write_be64_file(tmp_index, offsets);

    std::lock_guard lk(commit_mu_);
    // Another attempt of this map task may have committed already: keep its output if valid
    // (offsets from 0 that never decrease, to the data file's size: a decreasing pair would make
    // a segment length of nearly 2^64 in the MapStatus).
    auto existing = read_index(index);
    if (existing.size() == lengths.size() + 1 && existing[0] == 0 && std::is_sorted(existing.begin(), existing.end()) &&
        file_size_or(data, UINT64_MAX) == existing.back()) {
        std::error_code ec;
        fs::remove(tmp_index, ec);
        if (!tmp_data.empty()) fs::remove(tmp_data, ec);
        std::vector<std::uint64_t> committed(lengths.size());
        for (std::size_t i = 0; i < lengths.size(); ++i) committed[i] = existing[i + 1] - existing[i];
        return committed;
    }
    std::error_code ec;
    if (tmp_data.empty()) {
        // Every partition is empty: an empty data file.
        std::ofstream(data, std::ios::binary | std::ios::trunc);
    } else {
        fs::rename(tmp_data, data, ec);
        if (ec) throw std::runtime_error(fmt::format("cannot rename {} to {}: {}", tmp_data, data, ec.message()));
    }
    fs::rename(tmp_index, index, ec);
    if (ec) throw std::runtime_error(fmt::format("cannot rename {} to {}: {}", tmp_index, index, ec.message()));
    maps_[shuffle_id].push_back(map_id);
    if (!checksums.empty()) {
        try {
            write_be64_file(checksum_file(shuffle_id, map_id, checksum_algorithm), checksums);
        } catch (const std::exception& e) {
            log::get("shuffle")->warn("Failed to write shuffle checksum file: {}", e.what());  // as Spark: log only
        }
    }
    return lengths;
}

storage::FileSegment IndexShuffleBlockResolver::get_block_data(const storage::ShuffleBlockId& id) {
    std::string index = index_file(id.shuffle_id, id.map_id);
    int fd = ::open(index.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw std::runtime_error(fmt::format("Block {}: cannot open index file {}: {}", storage::name(id), index,
                                             std::strerror(errno)));
    }
    std::uint64_t be[2];
    ssize_t n = ::pread(fd, be, sizeof be, static_cast<off_t>(id.reduce_id) * 8);
    ::close(fd);
    if (id.reduce_id < 0 || n != static_cast<ssize_t>(sizeof be)) {
        throw std::runtime_error(fmt::format("Block {}: index file {} has no entry for reduce partition {}",
                                             storage::name(id), index, id.reduce_id));
    }
    std::uint64_t start = be64toh(be[0]);
    std::uint64_t end = be64toh(be[1]);
    if (end < start) {
        throw std::runtime_error(fmt::format("Block {}: index file {} is corrupt (offsets {} > {})",
                                             storage::name(id), index, start, end));
    }
    return storage::FileSegment{data_file(id.shuffle_id, id.map_id), start, end - start};
}

void IndexShuffleBlockResolver::remove_data_by_map(int shuffle_id, std::int64_t map_id) {
    std::error_code ec;
    fs::remove(data_file(shuffle_id, map_id), ec);
    fs::remove(index_file(shuffle_id, map_id), ec);
    for (const char* algorithm : {"ADLER32", "CRC32"}) fs::remove(checksum_file(shuffle_id, map_id, algorithm), ec);
}

int IndexShuffleBlockResolver::remove_shuffle(int shuffle_id) {
    std::vector<std::int64_t> maps;
    {
        std::lock_guard lk(commit_mu_);
        auto it = maps_.find(shuffle_id);
        if (it == maps_.end()) return 0;
        maps = std::move(it->second);
        maps_.erase(it);
    }
    for (auto map_id : maps) remove_data_by_map(shuffle_id, map_id);
    return static_cast<int>(maps.size());
}

storage::CorruptionCause IndexShuffleBlockResolver::diagnose_corruption(const storage::ShuffleBlockId& id,
                                                                        std::uint64_t checksum_by_reader,
                                                                        std::string_view algorithm) {
    if (!ShuffleChecksum::of(algorithm)) return storage::CorruptionCause::unsupported_checksum_algorithm;
    storage::FileSegment seg;
    try {
        seg = get_block_data(id);
    } catch (const std::exception& e) {
        log::get("shuffle")->warn("Unable to diagnose shuffle block corruption: {}", e.what());
        return storage::CorruptionCause::unknown_issue;
    }
    auto upper = std::string(ShuffleChecksum::of(algorithm)->algorithm());
    return shuffle::diagnose_corruption(algorithm, checksum_file(id.shuffle_id, id.map_id, upper), id.reduce_id, seg,
                                        checksum_by_reader);
}

}  // namespace ember::shuffle
