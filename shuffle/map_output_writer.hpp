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
    bool checksum = true;   ///< ember.shuffle.checksum.enabled: a checksum file
    /// ember.shuffle.checksum.algorithm: ADLER32 (Spark's default) or CRC32.
    std::string checksum_algorithm = "ADLER32";
    /// Records of a partition are sealed (compressed into one LZ4 frame, or set aside as is)
    /// every this many serialized bytes, so memory holds them compressed (see
    /// map_output_chunk_bytes).
    std::size_t chunk_bytes = 1u << 20;
};

/// The seal size for R partitions within `budget` bytes: an eighth of the budget over the
/// partitions, between 4 KiB and 1 MiB, so open buffers never take the budget.
std::size_t map_output_chunk_bytes(std::uint64_t budget, int num_partitions);

/// Typed writers serialise each record into partition(p). A partition's records are sealed every
/// ShuffleWriteOptions::chunk_bytes into a complete LZ4 frame kept in memory; when
/// buffered_bytes() exceeds their memory budget writers call spill(), which writes every
/// partition's frames to one spill file. commit() writes the data file (per partition: its
/// spilled segments, then the rest, all complete LZ4 frames) and the index, and commits them
/// through the resolver. Memory: the frames in memory, one open buffer per partition, and
/// buffers of about a megabyte while spilling or committing.
///
/// Threading: single-threaded (one per map task attempt).
class MapOutputWriter {
public:
    MapOutputWriter(IndexShuffleBlockResolver& resolver, storage::DiskBlockManager& disk, int shuffle_id,
                    std::int64_t map_id, int num_partitions, ShuffleWriteOptions options);
    ~MapOutputWriter();
    MapOutputWriter(const MapOutputWriter&) = delete;
    MapOutputWriter& operator=(const MapOutputWriter&) = delete;

    int num_partitions() const noexcept { return static_cast<int>(parts_.size()); }
    /// The encoder to write partition p's next record into (seals what it holds first, once it
    /// holds chunk_bytes).
    Encoder& partition(int p) {
        auto& part = parts_[static_cast<std::size_t>(p)];
        if (part.open.size() >= part.check_at) [[unlikely]] grow_or_seal(part);
        return part.open;
    }
    /// Bytes held in memory: sealed frames and the open buffers' capacity.
    std::size_t buffered_bytes() const noexcept;
    /// Writes the buffers to a spill file and empties them.
    void spill(ShuffleWriteMetrics& metrics);
    /// What the spills so far held in memory, and their size on disk (for the task's metrics).
    std::uint64_t memory_bytes_spilled() const noexcept { return memory_bytes_spilled_; }
    std::uint64_t disk_bytes_spilled() const noexcept { return disk_bytes_spilled_; }
    /// Writes and commits the map output; returns the committed partition lengths.
    std::vector<std::uint64_t> commit(ShuffleWriteMetrics& metrics);

private:
    struct Spill {
        std::string path;
        std::vector<std::uint64_t> offsets;  // R+1
    };
    /// Open bytes below which a partition's buffer grows by itself (std::string's doubling).
    static constexpr std::size_t kSmallOpen = 16u << 10;
    struct Partition {
        Encoder open;                     // records not sealed yet
        std::vector<std::string> sealed;  // on-disk form (LZ4 frames, or raw), each sized exactly
        std::size_t check_at = kSmallOpen;  // open.size() at which partition() calls grow_or_seal
    };
    /// Moves what `part` holds open into its sealed frames.
    void seal(Partition& part);
    /// At check_at: seals a partition that holds chunk_bytes; one that outgrew kSmallOpen first
    /// gets room for a whole chunk at once, so its buffer is not copied at each doubling (and
    /// its new pages faulted twice) on the way to the seal: 4% of a word count's CPU.
    void grow_or_seal(Partition& part);

    IndexShuffleBlockResolver& resolver_;
    storage::DiskBlockManager& disk_;
    int shuffle_id_;
    std::int64_t map_id_;
    ShuffleWriteOptions options_;
    std::vector<Partition> parts_;
    std::size_t sealed_bytes_ = 0;  // of every partition's sealed frames
    std::vector<Spill> spills_;
    std::uint64_t memory_bytes_spilled_ = 0;
    std::uint64_t disk_bytes_spilled_ = 0;
    std::string tmp_data_;
    std::string scratch_;  // compression output (lz4_compress_into), reused: only grows
    std::string checksum_name_ = "ADLER32";  // canonical name of options_.checksum_algorithm
    bool committed_ = false;
};

}  // namespace ember::shuffle
