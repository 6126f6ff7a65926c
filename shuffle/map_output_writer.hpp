// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// MapOutputWriter: the bytes side of a shuffle map task: per-partition record buffers, spills,
/// and the final data + index file (Spark's LocalDiskShuffleMapOutputWriter with the spill files
/// of its sort-based writers).

#include "shuffle/index_shuffle_block_resolver.hpp"
#include "shuffle/shuffle_metrics.hpp"
#include "storage/serializer.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ember::shuffle {

struct ShuffleWriteOptions {
    bool compress = true;   ///< ember.shuffle.compress: LZ4 frames per segment
    bool checksum = true;   ///< ember.shuffle.checksum.enabled: ADLER32 checksum file
};

/// Typed writers serialise each record into partition(p); when buffered_bytes() exceeds their
/// memory budget they call spill(), which compresses every buffer into one spill file. commit()
/// writes the data file (per partition: its spilled segments, then the rest, each a complete
/// LZ4 frame) and the index, and commits them through the resolver.
///
/// Threading: single-threaded (one per map task attempt).
class MapOutputWriter {
public:
    MapOutputWriter(IndexShuffleBlockResolver& resolver, storage::DiskBlockManager& disk, int shuffle_id,
                    std::int64_t map_id, int num_partitions, ShuffleWriteOptions options);
    ~MapOutputWriter();
    MapOutputWriter(const MapOutputWriter&) = delete;
    MapOutputWriter& operator=(const MapOutputWriter&) = delete;

    int num_partitions() const noexcept { return static_cast<int>(bufs_.size()); }
    Encoder& partition(int p) { return bufs_[static_cast<std::size_t>(p)]; }
    /// Serialised bytes held in memory.
    std::size_t buffered_bytes() const noexcept;
    /// Writes the buffers to a spill file and empties them.
    void spill(ShuffleWriteMetrics& metrics);
    /// Writes and commits the map output; returns the committed partition lengths.
    std::vector<std::uint64_t> commit(ShuffleWriteMetrics& metrics);

private:
    struct Spill {
        std::string path;
        std::vector<std::uint64_t> offsets;  // R+1
    };
    /// The on-disk form of a buffer: compressed or raw.
    std::string_view encode_segment(const std::string& raw, std::string& scratch) const;

    IndexShuffleBlockResolver& resolver_;
    storage::DiskBlockManager& disk_;
    int shuffle_id_;
    std::int64_t map_id_;
    ShuffleWriteOptions options_;
    std::vector<Encoder> bufs_;
    std::vector<Spill> spills_;
    std::string tmp_data_;
    bool committed_ = false;
};

}  // namespace ember::shuffle
