// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Bytes (an owned, uninitialised byte buffer) and FileRegion (a slice of an open file): the two
/// kinds of raw body that can follow a message on the wire.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <cstring>
#include <string>
#include <string_view>

namespace ember::rpc {

/// An owned byte buffer of fixed size whose contents start uninitialised (no zero fill).
///
/// Threading: single-threaded; move between threads freely.
class Bytes {
public:
    Bytes() = default;
    explicit Bytes(std::size_t size)
        : data_(size ? std::make_unique_for_overwrite<std::byte[]>(size) : nullptr), size_(size) {}
    static Bytes copy_of(std::span<const std::byte> s) {
        Bytes b(s.size());
        if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());
        return b;
    }
    static Bytes copy_of(std::string_view s) {
        return copy_of(std::as_bytes(std::span<const char>(s.data(), s.size())));
    }

    std::byte* data() noexcept { return data_.get(); }
    const std::byte* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::span<std::byte> span() noexcept { return {data_.get(), size_}; }
    std::span<const std::byte> span() const noexcept { return {data_.get(), size_}; }
    std::string_view view() const noexcept {
        return {reinterpret_cast<const char*>(data_.get()), size_};
    }

private:
    std::unique_ptr<std::byte[]> data_;
    std::size_t size_ = 0;
};

/// An open file descriptor, closed when the last owner lets go.
class FileHandle {
public:
    explicit FileHandle(int fd) noexcept : fd_(fd) {}
    ~FileHandle();
    FileHandle(const FileHandle&) = delete;
    FileHandle& operator=(const FileHandle&) = delete;
    int fd() const noexcept { return fd_; }
    /// Opens `path` read-only; nullptr (errno set) if it cannot be opened.
    static std::shared_ptr<FileHandle> open_read(const std::string& path);

private:
    int fd_;
};

/// Bytes owned elsewhere and kept alive by `owner` (a block in a MemoryStore, a received
/// message): sent from where they are, without a copy, for as long as the frame needs them.
/// Threading: immutable.
struct SharedBytes {
    std::shared_ptr<const void> owner;
    std::span<const std::byte> bytes;
};

/// `length` bytes at `offset` of an open file, sent with sendfile(2) without passing through
/// user space (Spark's FileSegmentManagedBuffer).
struct FileRegion {
    std::shared_ptr<FileHandle> file;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
};

}  // namespace ember::rpc
