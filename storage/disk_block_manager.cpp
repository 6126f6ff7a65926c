// SPDX-License-Identifier: Apache-2.0
#include "storage/disk_block_manager.hpp"

#include "rpc/log.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace ember::storage {

namespace fs = std::filesystem;

namespace {

/// Marks `dir` as the top of a directory hierarchy for ext4's Orlov allocator (`chattr +T`,
/// FS_TOPDIR_FL), so that its sub-directories, and the files in each, are placed in block groups
/// of their own rather than in the group of the root (/tmp) they share with everything else.
/// Why: on ext4 without a journal a new inode skips every free inode of its group that was freed
/// in the last 60 s (300 s more while the inode table is dirty), one page-cache lookup each
/// (ext4's recently_deleted). In a group where many files were deleted lately (an earlier job's
/// shuffle files, a test suite) each create then took 230-360 us on the development VM instead
/// of 14 us, and PageRank's map tasks spent a quarter of their time creating their three files.
/// Best effort: file systems without the flag (tmpfs, xfs) refuse it, and nothing changes.
void spread_sub_dirs(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    int flags = 0;
    if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_TOPDIR_FL)) {
        flags |= FS_TOPDIR_FL;
        (void)::ioctl(fd, FS_IOC_SETFLAGS, &flags);
    }
    ::close(fd);
}

}  // namespace

std::string random_uuid() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uint64_t a = rng(), b = rng();
    a = (a & 0xffffffffffff0fffull) | 0x0000000000004000ull;
    b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;
    return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48,
                       b & 0xffffffffffffull);
}

int DiskBlockManager::non_negative_hash(std::string_view s) {
    std::int32_t h = 0;
    for (unsigned char c : s) h = static_cast<std::int32_t>(31u * static_cast<std::uint32_t>(h) + c);
    // Spark: if (hash != Int.MinValue) math.abs(hash) else 0
    if (h == INT32_MIN) return 0;
    return h < 0 ? -h : h;
}

DiskBlockManager::DiskBlockManager(const std::vector<std::string>& roots, int sub_dirs_per_local_dir,
                                   bool delete_on_stop)
    : sub_dirs_(sub_dirs_per_local_dir), delete_on_stop_(delete_on_stop) {
    std::string errors;
    // A launcher's choice (kBlockManagerDirNameEnvVar), if it is a plain blockmgr-* name.
    std::string given;
    if (const char* v = std::getenv(kBlockManagerDirNameEnvVar)) given = v;
    if (!given.starts_with("blockmgr-") || given.find('/') != std::string::npos || given.size() > 100) given.clear();
    for (const auto& root : roots) {
        std::error_code ec;
        fs::path dir = fs::path(root) / (given.empty() ? "blockmgr-" + random_uuid() : given);
        fs::create_directories(dir, ec);
        if (ec) {
            errors += fmt::format("{}: {}; ", dir.string(), ec.message());
            log::get("storage")->error("Failed to create local dir in {}: {}", root, ec.message());
            continue;
        }
        spread_sub_dirs(dir);
        local_dirs_.push_back(dir.string());
    }
    if (local_dirs_.empty()) {
        throw std::runtime_error("cannot create any local dir for block storage (ember.local.dir): " + errors);
    }
    created_.assign(local_dirs_.size(), std::vector<bool>(static_cast<std::size_t>(sub_dirs_), false));
}

DiskBlockManager::~DiskBlockManager() { stop(); }

std::string DiskBlockManager::get_file(std::string_view filename) {
    int h = non_negative_hash(filename);
    std::size_t n = local_dirs_.size();
    std::size_t dir = static_cast<std::size_t>(h) % n;
    std::size_t sub = (static_cast<std::size_t>(h) / n) % static_cast<std::size_t>(sub_dirs_);
    fs::path subdir = fs::path(local_dirs_[dir]) / fmt::format("{:02x}", sub);
    {
        std::lock_guard lk(mu_);
        if (!created_[dir][sub]) {
            if (stopped_ && delete_on_stop_) {
                // A task still running while the process exits must not re-create the dirs that
                // stop() removed (create_directories would make <root>/blockmgr-<uuid> again).
                throw std::runtime_error(fmt::format("cannot create {}: the block manager's local dirs were removed",
                                                     subdir.string()));
            }
            std::error_code ec;
            fs::create_directories(subdir, ec);
            if (ec) throw std::runtime_error(fmt::format("cannot create {}: {}", subdir.string(), ec.message()));
            created_[dir][sub] = true;
        }
    }
    return (subdir / std::string(filename)).string();
}

std::pair<TempShuffleBlockId, std::string> DiskBlockManager::create_temp_shuffle_block() {
    TempShuffleBlockId id{random_uuid()};
    return {id, get_file(name(BlockId{id}))};
}

void DiskBlockManager::stop() {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    stopped_ = true;
    if (!delete_on_stop_) return;
    for (const auto& d : local_dirs_) {
        // A task still running (an executor exiting on SIGTERM) may add a file to a sub-dir
        // while remove_all empties it (ENOTEMPTY); new sub-dirs it cannot make (get_file).
        std::error_code ec;
        for (int attempt = 0; attempt < 20; ++attempt) {
            ec.clear();
            fs::remove_all(d, ec);
            if (!ec || ec == std::errc::no_such_file_or_directory) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        if (ec) log::get("storage")->warn("Failed to delete local dir {}: {}", d, ec.message());
    }
}

}  // namespace ember::storage
