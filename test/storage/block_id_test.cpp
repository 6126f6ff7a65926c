// SPDX-License-Identifier: Apache-2.0
// BlockId string forms and DiskBlockManager file placement, both as Spark has them.
#include "storage/block_id.hpp"
#include "storage/disk_block_manager.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

using namespace ember::storage;

TEST_CASE("Block ids print and parse in Spark's forms", "[storage][block_id]") {
    CHECK(name(BlockId{ShuffleBlockId{0, 5, 3}}) == "shuffle_0_5_3");
    CHECK(name(BlockId{ShuffleDataBlockId{1, 7}}) == "shuffle_1_7_0.data");
    CHECK(name(BlockId{ShuffleIndexBlockId{1, 7}}) == "shuffle_1_7_0.index");
    CHECK(name(BlockId{RddBlockId{2, 9}}) == "rdd_2_9");
    CHECK(name(BlockId{TaskResultBlockId{77}}) == "taskresult_77");
    for (const char* s : {"shuffle_0_5_3", "shuffle_1_7_0.data", "shuffle_1_7_0.index", "shuffle_1_7_0.checksum",
                          "rdd_2_9", "taskresult_77", "temp_shuffle_abc", "temp_local_xyz"}) {
        auto id = parse_block_id(s);
        REQUIRE(id);
        CHECK(name(*id) == s);
    }
    for (const char* bad : {"", "shuffle_1_2", "shuffle_a_1_2", "rdd_1", "broadcast", "shuffle_1_7_3.data", "x_1"}) {
        CHECK_FALSE(parse_block_id(bad));
    }
}

TEST_CASE("A temp block id that is a path is not a block id", "[storage][block_id]") {
    // A peer's FetchBlocks names blocks: none may point outside the local dirs.
    CHECK_FALSE(parse_block_id("temp_shuffle_/../../etc/passwd"));
    CHECK_FALSE(parse_block_id("temp_local_a/b"));
    CHECK_FALSE(parse_block_id(std::string_view("temp_local_a\0b", 14)));
    CHECK(parse_block_id("temp_local_5f0c-..-x"));
}

TEST_CASE("File placement uses Java's String.hashCode as Spark does", "[storage][disk]") {
    // Values computed with Java's String.hashCode.
    CHECK(DiskBlockManager::non_negative_hash("hello") == 99162322);
    CHECK(DiskBlockManager::non_negative_hash("shuffle_0_5_0.data") == 705928743);
    CHECK(DiskBlockManager::non_negative_hash("shuffle_3_17_0.index") == 793681805);

    auto root = std::filesystem::temp_directory_path() / "ember-dbm-test";
    std::filesystem::remove_all(root);
    {
        DiskBlockManager dbm({(root / "a").string(), (root / "b").string()}, 64);
        REQUIRE(dbm.local_dirs().size() == 2);
        auto path = dbm.get_file("shuffle_0_5_0.data");
        int h = 705928743;
        auto dir = dbm.local_dirs()[static_cast<std::size_t>(h % 2)];
        char sub[3];
        std::snprintf(sub, sizeof sub, "%02x", (h / 2) % 64);
        CHECK(path == (std::filesystem::path(dir) / sub / "shuffle_0_5_0.data").string());
        CHECK(std::filesystem::is_directory(std::filesystem::path(path).parent_path()));
        CHECK(std::filesystem::path(dir).filename().string().rfind("blockmgr-", 0) == 0);
    }
    // Local dirs are deleted when the manager stops.
    CHECK(std::filesystem::is_empty(root / "a"));
    std::filesystem::remove_all(root);
}

TEST_CASE("On ext4 a local dir is the top of its hierarchy, so its sub-dirs spread over block groups",
          "[storage][disk]") {
    // ext4 without a journal makes every create in a block group with many recent deletions
    // slow (DiskBlockManager's spread_sub_dirs); the flag lets the Orlov allocator place each
    // sub-directory, and the files in it, in a group of its own.
    auto root = std::filesystem::temp_directory_path() / "ember-dbm-topdir-test";
    std::filesystem::remove_all(root);
    std::filesystem::create_directories(root);
    struct statfs fs {};
    REQUIRE(::statfs(root.c_str(), &fs) == 0);
    if (fs.f_type != EXT4_SUPER_MAGIC) {
        WARN("the temp directory is not on ext4 (f_type " << fs.f_type << "): nothing to check");
        std::filesystem::remove_all(root);
        return;
    }
    {
        DiskBlockManager dbm({root.string()}, 64);
        int fd = ::open(dbm.local_dirs().front().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        int flags = 0;
        CHECK(::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0);
        ::close(fd);
        CHECK((flags & FS_TOPDIR_FL) != 0);
        // Placement is unchanged: still <local dir>/<%02x>/<name>.
        auto path = dbm.get_file("shuffle_0_5_0.data");
        CHECK(std::filesystem::path(path).parent_path().parent_path() == dbm.local_dirs().front());
    }
    std::filesystem::remove_all(root);
}
