// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ManagedBuffer: bytes of a block with shared ownership of their storage (Spark's
/// NioManagedBuffer); FileSegment, a block on disk by path; BlockData, a block to be read either
/// way; and BlockInputStream, which reads a BlockData front to back in bounded chunks (Spark's
/// ManagedBuffer.createInputStream).

#include "rpc/bytes.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ember::storage {

/// A view of bytes kept alive by `owner` (a received message, a buffer read from disk).
/// Threading: immutable.
struct ManagedBuffer {
    std::shared_ptr<const void> owner;
    std::span<const std::byte> bytes;

    /// A buffer that owns `s` (moved in).
    static ManagedBuffer of(std::string s) {
        auto owned = std::make_shared<const std::string>(std::move(s));
        return ManagedBuffer{owned, std::as_bytes(std::span<const char>(owned->data(), owned->size()))};
    }

    std::size_t size() const noexcept { return bytes.size(); }
    std::string_view view() const noexcept {
        return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
    }
};

/// `length` bytes at `offset` of the file at `path` (Spark's FileSegmentManagedBuffer).
struct FileSegment {
    std::string path;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
};

/// The bytes of one block as a reader gets them: in memory (`file` null), or `length` bytes at
/// `offset` of an open file (a local shuffle file, or a remote block downloaded to a temp file
/// that was unlinked once opened, so it disappears with the last handle). `path` names the file
/// in error messages.
/// Threading: immutable.
struct BlockData {
    ManagedBuffer memory;
    std::shared_ptr<rpc::FileHandle> file;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::string path;

    static BlockData of(ManagedBuffer m) { return BlockData{std::move(m), nullptr, 0, 0, {}}; }
    /// Opens `seg` for reading; throws std::runtime_error naming the file if it cannot.
    static BlockData open(const FileSegment& seg);

    bool in_memory() const noexcept { return file == nullptr; }
    std::uint64_t size() const noexcept { return file ? length : memory.size(); }
};

/// Reads a BlockData from its first byte to its last. A memory block is handed out as views of
/// its own bytes (no copy); a file block is read with pread into one reused buffer, so reading a
/// block of any size holds at most `max` bytes of it at a time.
/// Threading: single-threaded.
class BlockInputStream {
public:
    explicit BlockInputStream(BlockData data) : data_(std::move(data)) {}

    /// The next at most `max` bytes (valid until the next call); empty at the end. Throws
    /// std::runtime_error naming the file on a read error or a file shorter than the block.
    std::span<const std::byte> next(std::size_t max);
    std::uint64_t remaining() const noexcept { return data_.size() - pos_; }
    const BlockData& data() const noexcept { return data_; }

private:
    BlockData data_;
    std::uint64_t pos_ = 0;
    std::vector<std::byte> buf_;
};

}  // namespace ember::storage
