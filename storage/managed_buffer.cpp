// SPDX-License-Identifier: Apache-2.0
#include "storage/managed_buffer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <unistd.h>

namespace ember::storage {

BlockData BlockData::open(const FileSegment& seg) {
    auto file = rpc::FileHandle::open_read(seg.path);
    if (!file) throw std::runtime_error(fmt::format("cannot open {}: {}", seg.path, std::strerror(errno)));
    return BlockData{{}, std::move(file), seg.offset, seg.length, seg.path};
}

std::span<const std::byte> BlockInputStream::next(std::size_t max) {
    std::uint64_t left = remaining();
    if (left == 0 || max == 0) return {};
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, max));
    if (data_.in_memory()) {
        auto out = data_.memory.bytes.subspan(static_cast<std::size_t>(pos_), n);
        pos_ += n;
        return out;
    }
    if (buf_.size() < n) buf_.resize(n);
    std::size_t done = 0;
    while (done < n) {
        ssize_t r = ::pread(data_.file->fd(), buf_.data() + done, n - done,
                            static_cast<off_t>(data_.offset + pos_ + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            throw std::runtime_error(fmt::format("cannot read {} bytes at {} of {}: {}", n - done,
                                                 data_.offset + pos_ + done, data_.path,
                                                 r == 0 ? "the file is shorter than the block" : std::strerror(errno)));
        }
        done += static_cast<std::size_t>(r);
    }
    pos_ += n;
    return {buf_.data(), n};
}

}  // namespace ember::storage
