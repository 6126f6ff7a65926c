// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// LZ4 frame compression of shuffle segments (ember.io.compression.codec = lz4, as Spark's
/// default). Each segment is one or more concatenated standard LZ4 frames with content checksums,
/// readable by the `lz4` command-line tool.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace ember::shuffle {

/// Appends `in` compressed as one LZ4 frame to `out`.
void lz4_compress_append(std::string_view in, std::string& out);
/// Decompresses a sequence of LZ4 frames, appending to `out`. Throws DecodeError naming the LZ4
/// error for corrupt input.
void lz4_decompress_append(std::span<const std::byte> in, std::string& out);

}  // namespace ember::shuffle
