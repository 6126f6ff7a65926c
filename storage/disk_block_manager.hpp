// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// DiskBlockManager: maps block names to files under per-process local dirs
/// (Spark's DiskBlockManager).

#include "storage/block_id.hpp"

#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember::storage {

/// The environment variable through which a launcher names its child's local dirs
/// ("blockmgr-<uuid>"), so that it can remove them if the child is killed (local-cluster).
inline constexpr const char* kBlockManagerDirNameEnvVar = "EMBER_BLOCKMGR_DIR_NAME";

/// Creates `<root>/blockmgr-<uuid>` under each root dir (ember.local.dir, comma-separated) and
/// places each file as Spark does: h = nonNegativeHash(name) (Java String.hashCode),
/// dir = localDirs[h % numDirs], subdir = "%02x" of (h / numDirs) % subDirsPerLocalDir. The
/// external tools that know Spark's layout find our files the same way. When the environment
/// variable EMBER_BLOCKMGR_DIR_NAME holds a name of that form (local-cluster's launcher sets it
/// for each executor), that name is used under every root instead of a fresh one.
///
/// Where the file system has the flag (ext4), each `blockmgr-<uuid>` is marked as the top of a
/// directory hierarchy (`chattr +T`), so that ext4 spreads its sub-directories, and the files in
/// them, over block groups of their own: a create in a group where many files were deleted in the
/// last minutes costs hundreds of microseconds on ext4 without a journal (see spread_sub_dirs in
/// the .cpp). The layout of names is unchanged.
///
/// Threading: thread-safe.
class DiskBlockManager {
public:
    /// Throws std::runtime_error naming the directory if none of the roots is usable.
    explicit DiskBlockManager(const std::vector<std::string>& roots, int sub_dirs_per_local_dir = 64,
                              bool delete_on_stop = true);
    ~DiskBlockManager();
    DiskBlockManager(const DiskBlockManager&) = delete;
    DiskBlockManager& operator=(const DiskBlockManager&) = delete;

    /// Path of the file for `filename`, creating its sub-directory if needed.
    std::string get_file(std::string_view filename);
    std::string get_file(const BlockId& id) { return get_file(name(id)); }
    /// A fresh temp_shuffle_<uuid> block and its path.
    std::pair<TempShuffleBlockId, std::string> create_temp_shuffle_block();
    const std::vector<std::string>& local_dirs() const noexcept { return local_dirs_; }
    /// Deletes the local dirs (if delete_on_stop). Idempotent.
    void stop();

    /// Java's String.hashCode of `s` made non-negative, as Spark's Utils.nonNegativeHash.
    static int non_negative_hash(std::string_view s);

private:
    std::vector<std::string> local_dirs_;
    int sub_dirs_;
    bool delete_on_stop_;
    std::mutex mu_;
    std::vector<std::vector<bool>> created_;  // guarded by mu_
    bool stopped_ = false;                    // guarded by mu_
};

/// A random UUID string (version 4 form).
std::string random_uuid();

}  // namespace ember::storage
