// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// IndexShuffleBlockResolver: the on-disk layout of map outputs (Spark's
/// IndexShuffleBlockResolver): one data file and one index file per map task.

#include "storage/block_manager.hpp"
#include "storage/disk_block_manager.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace ember::shuffle {

/// Layout, identical to Spark's:
/// - `shuffle_<shuffleId>_<mapId>_0.data`: the reduce partitions' segments concatenated in
///   partition order (empty partitions take no bytes);
/// - `shuffle_<shuffleId>_<mapId>_0.index`: R+1 big-endian int64 cumulative offsets, starting at
///   0 and ending at the data file's size;
/// - `shuffle_<shuffleId>_<mapId>_0.checksum.<ALGORITHM>`: R big-endian int64 checksums (Adler-32
///   or CRC-32, ember.shuffle.checksum.algorithm) of the segments' on-disk bytes
///   (ember.shuffle.checksum.enabled).
/// Files are placed by the DiskBlockManager's hashing.
///
/// Threading: thread-safe; commits of one map output are serialised (first attempt wins).
class IndexShuffleBlockResolver final : public storage::ShuffleBlockResolver {
public:
    explicit IndexShuffleBlockResolver(storage::DiskBlockManager& disk) : disk_(disk) {}

    std::string data_file(int shuffle_id, std::int64_t map_id);
    std::string index_file(int shuffle_id, std::int64_t map_id);
    /// `algorithm`: ADLER32 or CRC32 (see ShuffleChecksum).
    std::string checksum_file(int shuffle_id, std::int64_t map_id, std::string_view algorithm = "ADLER32");

    /// Commits a map output written to `tmp_data` (renamed into place) with these segment
    /// `lengths`. If a valid output of another attempt of the same map task exists, `tmp_data`
    /// is deleted and the existing lengths are returned (Spark's writeMetadataFileAndCommit).
    /// `checksums` may be empty (checksums disabled); they are of `checksum_algorithm`. Throws
    /// std::runtime_error on I/O failure.
    std::vector<std::uint64_t> write_index_file_and_commit(int shuffle_id, std::int64_t map_id,
                                                           const std::vector<std::uint64_t>& lengths,
                                                           const std::vector<std::uint64_t>& checksums,
                                                           const std::string& tmp_data,
                                                           std::string_view checksum_algorithm = "ADLER32");

    /// Reads the index and returns the segment of a block. Throws std::runtime_error naming the
    /// block and the file when the index is missing or inconsistent.
    storage::FileSegment get_block_data(const storage::ShuffleBlockId& id) override;
    /// Spark's diagnoseCorruption against this map output's checksum file (see
    /// shuffle::diagnose_corruption).
    storage::CorruptionCause diagnose_corruption(const storage::ShuffleBlockId& id, std::uint64_t checksum_by_reader,
                                                 std::string_view algorithm) override;

    /// Deletes the files of one map output (checksum files of every algorithm included).
    void remove_data_by_map(int shuffle_id, std::int64_t map_id);
    /// Deletes the files of every map output of `shuffle_id` this resolver committed (Spark's
    /// SortShuffleManager.unregisterShuffle); returns how many map outputs that was (0 for a
    /// shuffle it never wrote).
    int remove_shuffle(int shuffle_id) override;

    /// Reads an index file's offsets; empty if the file is missing or malformed.
    static std::vector<std::uint64_t> read_index(const std::string& path);

private:
    storage::DiskBlockManager& disk_;
    std::mutex commit_mu_;
    /// Shuffle -> the map outputs committed here (remove_shuffle). Guarded by commit_mu_.
    std::map<int, std::vector<std::int64_t>> maps_;
};

}  // namespace ember::shuffle
