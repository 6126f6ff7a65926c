// SPDX-License-Identifier: Apache-2.0
#include "storage/disk_store.hpp"

#include "rpc/bytes.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

namespace ember::storage {

void DiskStore::put_bytes(const BlockId& id, std::span<const std::byte> bytes) {
    std::string path = dirs_.get_file(id);
    std::string tmp = path + "." + random_uuid() + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw std::runtime_error(fmt::format("Block {}: cannot create {}: {}", name(id), tmp, std::strerror(errno)));
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            throw std::runtime_error(fmt::format("Block {}: cannot write {}: {}", name(id), tmp, std::strerror(err)));
        }
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw std::runtime_error(fmt::format("Block {}: cannot rename {} to {}: {}", name(id), tmp, path,
                                             std::strerror(err)));
    }
    std::lock_guard lk(mu_);
    blocks_[id] = FileSegment{std::move(path), 0, bytes.size()};
}

std::optional<FileSegment> DiskStore::get_segment(const BlockId& id) const {
    std::lock_guard lk(mu_);
    auto it = blocks_.find(id);
    if (it == blocks_.end()) return std::nullopt;
    return it->second;
}

std::optional<ManagedBuffer> read_segment(const BlockId& id, const FileSegment& seg, bool missing_ok) {
    int fd = ::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (missing_ok && errno == ENOENT) return std::nullopt;
        throw std::runtime_error(fmt::format("Block {}: cannot open {}: {}", name(id), seg.path, std::strerror(errno)));
    }
    auto buf = std::make_shared<rpc::Bytes>(static_cast<std::size_t>(seg.length));
    std::uint64_t done = 0;
    while (done < seg.length) {
        ssize_t n = ::pread(fd, buf->data() + done, seg.length - done, static_cast<off_t>(seg.offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = errno;
            ::close(fd);
            throw std::runtime_error(fmt::format("Block {}: cannot read {} bytes at {} of {}: {}", name(id),
                                                 seg.length, seg.offset, seg.path,
                                                 n == 0 ? "file is shorter than its index says" : std::strerror(err)));
        }
        done += static_cast<std::uint64_t>(n);
    }
    ::close(fd);
    return ManagedBuffer{buf, buf->span()};
}

std::optional<ManagedBuffer> DiskStore::get_bytes(const BlockId& id) const {
    auto seg = get_segment(id);
    if (!seg) return std::nullopt;
    return read_segment(id, *seg, true);  // removed meanwhile: absent
}

bool DiskStore::contains(const BlockId& id) const {
    std::lock_guard lk(mu_);
    return blocks_.count(id) > 0;
}

std::uint64_t DiskStore::size(const BlockId& id) const {
    std::lock_guard lk(mu_);
    auto it = blocks_.find(id);
    return it == blocks_.end() ? 0 : it->second.length;
}

bool DiskStore::remove(const BlockId& id) {
    std::string path;
    {
        std::lock_guard lk(mu_);
        auto it = blocks_.find(id);
        if (it == blocks_.end()) return false;
        path = std::move(it->second.path);
        blocks_.erase(it);
    }
    ::unlink(path.c_str());
    return true;
}

std::vector<BlockId> DiskStore::block_ids() const {
    std::lock_guard lk(mu_);
    std::vector<BlockId> out;
    for (auto& [id, _] : blocks_) out.push_back(id);
    return out;
}

}  // namespace ember::storage
