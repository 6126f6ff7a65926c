// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ManagedBuffer: bytes of a block with shared ownership of their storage (Spark's
/// ManagedBuffer, reduced to the in-memory case), and FileSegment, a block on disk.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace ember::storage {

/// A view of bytes kept alive by `owner` (a received message, a buffer read from disk).
/// Threading: immutable.
struct ManagedBuffer {
    std::shared_ptr<const void> owner;
    std::span<const std::byte> bytes;

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

}  // namespace ember::storage
