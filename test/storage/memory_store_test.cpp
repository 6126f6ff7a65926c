// SPDX-License-Identifier: Apache-2.0
// MemoryStore (Spark's MemoryStore for serialized blocks) and DiskStore: LRU order, eviction
// rules, blocks that do not fit, shared bytes that outlive removal.
#include "storage/disk_block_manager.hpp"
#include "storage/disk_store.hpp"
#include "storage/memory_store.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include <unistd.h>

using namespace ember::storage;

namespace {

ManagedBuffer bytes_of(std::size_t n, char fill) {
    auto s = std::make_shared<std::string>(n, fill);
    return ManagedBuffer{s, std::as_bytes(std::span<const char>(s->data(), s->size()))};
}

BlockId rdd(int id, int p) { return RddBlockId{id, p}; }

std::vector<std::string> names(const std::vector<MemoryStore::Evicted>& ev) {
    std::vector<std::string> out;
    for (auto& e : ev) out.push_back(name(e.id));
    return out;
}

}  // namespace

TEST_CASE("MemoryStore evicts the least recently used blocks to make room", "[storage][memory-store]") {
    MemoryStore store(100);
    REQUIRE(store.put_bytes(rdd(1, 0), bytes_of(40, 'a')));
    REQUIRE(store.put_bytes(rdd(2, 0), bytes_of(40, 'b')));
    CHECK(store.memory_used() == 80);
    CHECK(store.get_bytes(rdd(1, 0)));  // rdd_1_0 is now the most recently used
    auto ev = store.put_bytes(rdd(3, 0), bytes_of(40, 'c'));
    REQUIRE(ev);
    CHECK(names(*ev) == std::vector<std::string>{"rdd_2_0"});
    CHECK(ev->front().bytes.view() == std::string(40, 'b'));  // handed back, e.g. to go to disk
    CHECK(store.contains(rdd(1, 0)));
    CHECK_FALSE(store.contains(rdd(2, 0)));
    CHECK(store.memory_used() == 80);

    // Several victims, oldest first, until the new block fits.
    auto ev2 = store.put_bytes(TaskResultBlockId{7}, bytes_of(90, 'd'));
    REQUIRE(ev2);
    CHECK(names(*ev2) == std::vector<std::string>{"rdd_1_0", "rdd_3_0"});
    CHECK(store.memory_used() == 90);
}

TEST_CASE("MemoryStore refuses blocks that do not fit, without evicting anything", "[storage][memory-store]") {
    MemoryStore store(100);
    REQUIRE(store.put_bytes(rdd(1, 0), bytes_of(60, 'a')));
    SECTION("larger than the whole store") {
        CHECK_FALSE(store.put_bytes(rdd(2, 0), bytes_of(101, 'x')));
    }
    SECTION("room only by evicting a block of the same RDD, which Spark never does") {
        CHECK_FALSE(store.put_bytes(rdd(1, 1), bytes_of(60, 'x')));
    }
    SECTION("not enough evictable memory: nothing is evicted") {
        REQUIRE(store.put_bytes(rdd(2, 0), bytes_of(30, 'b')));
        // Needs 90 of 100: evicting rdd_2_0 alone is not enough and rdd_3_x is the same RDD.
        REQUIRE(store.put_bytes(rdd(3, 0), bytes_of(0, 'c')));
        CHECK_FALSE(store.put_bytes(rdd(1, 2), bytes_of(90, 'x')));
        CHECK(store.contains(rdd(2, 0)));
    }
    CHECK(store.contains(rdd(1, 0)));
    CHECK(store.get_bytes(rdd(1, 0))->view() == std::string(60, 'a'));
}

TEST_CASE("MemoryStore keeps a stored block and its bytes stay readable after removal", "[storage][memory-store]") {
    MemoryStore store(100);
    REQUIRE(store.put_bytes(rdd(1, 0), bytes_of(10, 'a')));
    auto again = store.put_bytes(rdd(1, 0), bytes_of(10, 'z'));  // first writer wins
    REQUIRE(again);
    CHECK(again->empty());
    auto held = store.get_bytes(rdd(1, 0));
    REQUIRE(held);
    CHECK(store.remove(rdd(1, 0)));
    CHECK_FALSE(store.remove(rdd(1, 0)));
    CHECK(store.memory_used() == 0);
    CHECK(held->view() == std::string(10, 'a'));  // a reader racing the removal still has them
    CHECK_FALSE(store.get_bytes(rdd(1, 0)));
}

TEST_CASE("DiskStore writes one file per block and serves it until removed", "[storage][disk-store]") {
    auto root = std::filesystem::temp_directory_path() / ("ember-disk-store-" + std::to_string(::getpid()));
    std::filesystem::create_directories(root);
    {
        DiskBlockManager dirs({root.string()}, 4);
        DiskStore store(dirs);
        auto data = bytes_of(5000, 'q');
        store.put_bytes(rdd(4, 1), data.bytes);
        CHECK(store.contains(rdd(4, 1)));
        CHECK(store.size(rdd(4, 1)) == 5000);
        auto seg = store.get_segment(rdd(4, 1));
        REQUIRE(seg);
        CHECK(seg->path == dirs.get_file(rdd(4, 1)));  // Spark's placement of "rdd_4_1"
        CHECK(std::filesystem::file_size(seg->path) == 5000);
        CHECK(store.get_bytes(rdd(4, 1))->view() == std::string(5000, 'q'));
        CHECK(store.remove(rdd(4, 1)));
        CHECK_FALSE(std::filesystem::exists(seg->path));
        CHECK_FALSE(store.get_bytes(rdd(4, 1)));
    }
    std::filesystem::remove_all(root);
}

namespace {

/// An object block of `records` (Spark's DeserializedMemoryEntry) counting `size` bytes, whose
/// bytes are its strings joined by commas.
StoredValues values_of(std::vector<std::string> records, std::uint64_t size, int* encodes = nullptr) {
    auto v = std::make_shared<const std::vector<std::string>>(std::move(records));
    StoredValues sv;
    sv.values = v;
    sv.type = &typeid(std::vector<std::string>);
    sv.size = size;
    sv.serialize = [v, encodes] {
        if (encodes) ++*encodes;
        std::string joined;
        for (auto& s : *v) joined += (joined.empty() ? "" : ",") + s;
        return ManagedBuffer::of(std::move(joined));
    };
    return sv;
}

}  // namespace

TEST_CASE("MemoryStore keeps object blocks by their estimated size and encodes them on demand",
          "[storage][memory-store]") {
    MemoryStore store(100);
    int encodes = 0;
    REQUIRE(store.put_values(rdd(1, 0), values_of({"alpha", "beta"}, 60, &encodes)));
    CHECK(store.memory_used() == 60);
    CHECK(store.size(rdd(1, 0)) == 60);

    auto got = store.get_values(rdd(1, 0));
    REQUIRE(got);
    REQUIRE(got->as<std::string>());
    CHECK(*got->as<std::string>() == std::vector<std::string>{"alpha", "beta"});
    CHECK(got->as<int>() == nullptr);  // another record type is not handed out
    CHECK(encodes == 0);               // reading objects encodes nothing

    auto bytes = store.get_bytes(rdd(1, 0));  // a reader that needs bytes (a fetch, a replica)
    REQUIRE(bytes);
    CHECK(bytes->view() == "alpha,beta");
    CHECK(encodes == 1);

    // A bytes block has no objects; an object block larger than the store is refused.
    REQUIRE(store.put_bytes(rdd(2, 0), bytes_of(30, 'b')));
    CHECK(store.get_values(rdd(2, 0)) == nullptr);
    CHECK_FALSE(store.put_values(rdd(3, 0), values_of({"x"}, 101)));
    CHECK(store.memory_used() == 90);

    // Evicted by its estimated size; the objects come back to be encoded for the disk, and those
    // a reader holds stay readable.
    CHECK(store.get_bytes(rdd(2, 0)));  // rdd_1_0 is now the least recently used
    auto ev = store.put_values(rdd(4, 0), values_of({"gamma"}, 50));
    REQUIRE(ev);
    REQUIRE(names(*ev) == std::vector<std::string>{"rdd_1_0"});
    CHECK(ev->front().size == 60);
    CHECK(ev->front().materialize().view() == "alpha,beta");
    CHECK(store.memory_used() == 80);
    CHECK_FALSE(store.get_values(rdd(1, 0)));
    CHECK(got->as<std::string>()->front() == "alpha");

    CHECK(store.remove(rdd(4, 0)));
    CHECK(store.memory_used() == 30);
}
