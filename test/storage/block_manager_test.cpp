// SPDX-License-Identifier: Apache-2.0
// BlockManager's block store and its services over TCP: put_bytes by storage level, serving
// memory and disk blocks with FetchBlocks, removal through the storage endpoint, and the
// BlockManagerMaster's locations; put_values, blocks kept as objects and encoded on demand.
#include "rpc/testkit/local_envs.hpp"
#include "storage/block_manager.hpp"
#include "storage/block_manager_master_endpoint.hpp"
#include "storage/serializer.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <unistd.h>

using namespace ember;
using namespace ember::storage;

namespace {

ManagedBuffer bytes_of(std::size_t n, char fill) {
    auto s = std::make_shared<std::string>(n, fill);
    return ManagedBuffer{s, std::as_bytes(std::span<const char>(s->data(), s->size()))};
}

std::string temp_root(const std::string& tag) {
    auto p = std::filesystem::temp_directory_path() / ("ember-bm-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    return p.string();
}

rpc::RpcResult<std::vector<ManagedBuffer>> fetch(BlockManager& from, const BlockManagerId& at, std::vector<BlockId> ids,
                                                  std::vector<ByteRange> ranges = {}) {
    std::promise<rpc::RpcResult<std::vector<ManagedBuffer>>> p;
    auto f = p.get_future();
    from.fetch_blocks(
        at, ids, [&](rpc::RpcResult<std::vector<ManagedBuffer>> r) { p.set_value(std::move(r)); }, std::move(ranges));
    return f.get();
}

bool wait_for(const std::function<bool()>& pred) {
    for (int i = 0; i < 5000 && !pred(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return pred();
}

/// Two BlockManagers with 1000 bytes of memory each, registered with a master on the first
/// env; b reaches the master over its own connection, as an executor does.
struct TwoBlockManagers {
    std::string root;
    rpc::testkit::LocalEnvs envs{2};
    BlockManagerMasterEndpoint* master = nullptr;
    std::optional<BlockManager> a, b;

    explicit TwoBlockManagers(const std::string& tag) : root(temp_root(tag)) {
        auto master_ep = std::make_unique<BlockManagerMasterEndpoint>();
        master = master_ep.get();
        auto master_ref =
            envs[0].setup_endpoint(std::string(BlockManagerMaster::kEndpointName), std::move(master_ep)).value();
        Conf conf;
        conf.set("ember.local.dir", root);
        conf.set("ember.storage.memoryCapacity", "1000");
        a.emplace("1", envs[0], conf);
        b.emplace("2", envs[1], conf);
        a->initialize();
        b->initialize();
        a->register_with_master(master_ref);
        b->register_with_master(envs[1].endpoint_ref(envs[0].address(), std::string(BlockManagerMaster::kEndpointName)));
    }
    ~TwoBlockManagers() {
        b->stop();
        a->stop();
        b.reset();
        a.reset();
        std::filesystem::remove_all(root);
    }
};

}  // namespace

TEST_CASE("BlockManager stores by level, serves memory and disk blocks and reports to the master",
          "[storage][block-manager]") {
    TwoBlockManagers bms("serve");
    BlockManager& a = *bms.a;
    BlockManager& b = *bms.b;
    auto* master = bms.master;
    CHECK(master->block_managers().size() == 2);

    // Memory, then disk when memory is full, per level.
    REQUIRE(b.put_bytes(RddBlockId{1, 0}, bytes_of(600, 'm'), StorageLevel::memory_only()));
    CHECK_FALSE(b.put_bytes(RddBlockId{1, 1}, bytes_of(600, 'x'), StorageLevel::memory_only()));  // fits nowhere
    REQUIRE(b.put_bytes(RddBlockId{1, 2}, bytes_of(700, 'd'), StorageLevel::memory_and_disk()));
    CHECK(b.memory_store().contains(RddBlockId{1, 0}));
    CHECK(b.disk_store().contains(RddBlockId{1, 2}));
    CHECK(master->get_locations(RddBlockId{1, 0}) == std::vector<BlockManagerId>{b.id()});
    CHECK(master->get_locations(RddBlockId{1, 2}) == std::vector<BlockManagerId>{b.id()});
    CHECK(master->get_locations(RddBlockId{1, 1}).empty());

    // Both kinds over FetchBlocks, in request order.
    auto r = fetch(a, b.id(), {RddBlockId{1, 2}, RddBlockId{1, 0}});
    REQUIRE(r.has_value());
    REQUIRE(r->size() == 2);
    CHECK((*r)[0].view() == std::string(700, 'd'));
    CHECK((*r)[1].view() == std::string(600, 'm'));
    // Ranges of blocks (pieces of a large block), and a range beyond a block's end.
    auto pieces = fetch(a, b.id(), {RddBlockId{1, 2}, RddBlockId{1, 0}}, {ByteRange{100, 600}, ByteRange{599, 1}});
    REQUIRE(pieces.has_value());
    REQUIRE(pieces->size() == 2);
    CHECK((*pieces)[0].view() == std::string(600, 'd'));
    CHECK((*pieces)[1].view() == std::string(1, 'm'));
    auto beyond = fetch(a, b.id(), {RddBlockId{1, 2}}, {ByteRange{650, 51}});
    REQUIRE_FALSE(beyond.has_value());
    CHECK_THAT(beyond.error().message, Catch::Contains("beyond block rdd_1_2 of 700 bytes"));
    auto missing = fetch(a, b.id(), {RddBlockId{1, 1}});
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().message.find("Block rdd_1_1 not found") != std::string::npos);

    // get_remote_bytes asks the master where the block is (called from a plain thread).
    auto remote = std::async(std::launch::async, [&] { return a.get_remote_bytes(RddBlockId{1, 0}); }).get();
    REQUIRE(remote);
    CHECK(remote->view() == std::string(600, 'm'));

    // RemoveRdd through the master reaches b's storage endpoint.
    std::promise<int> removed;
    master->remove_rdd(1, [&](int n) { removed.set_value(n); });
    CHECK(removed.get_future().get() == 2);
    CHECK_FALSE(b.get_local_block(RddBlockId{1, 0}));
    CHECK_FALSE(b.get_local_block(RddBlockId{1, 2}));
    CHECK(master->get_locations(RddBlockId{1, 0}).empty());

    // A block removed directly at its BlockManager (the driver's taskresult path).
    REQUIRE(b.put_bytes(TaskResultBlockId{9}, bytes_of(10, 't'), StorageLevel::memory_and_disk_ser(), false));
    a.remove_block_at(b.id(), TaskResultBlockId{9});
    CHECK(wait_for([&] { return !b.memory_store().contains(TaskResultBlockId{9}); }));

    // Executor removal drops its locations.
    REQUIRE(b.put_bytes(RddBlockId{2, 0}, bytes_of(10, 'e'), StorageLevel::memory_only()));
    CHECK(master->get_locations(RddBlockId{2, 0}).size() == 1);
    master->remove_executor("2");
    CHECK(master->get_locations(RddBlockId{2, 0}).empty());
}

namespace {

/// `records` as Serde encodes them, one after the other.
std::string encoded(const std::vector<std::string>& records) {
    Encoder e;
    for (auto& s : records) e.write(s);
    return e.take();
}

/// An object block of `records` counting `size` bytes, encoded as Serde encodes the records.
StoredValues values_of(std::vector<std::string> records, std::uint64_t size) {
    auto v = std::make_shared<const std::vector<std::string>>(std::move(records));
    StoredValues sv;
    sv.values = v;
    sv.type = &typeid(std::vector<std::string>);
    sv.size = size;
    sv.serialize = [v] { return ManagedBuffer::of(encoded(*v)); };
    return sv;
}

}  // namespace

TEST_CASE("BlockManager keeps deserialized blocks as objects and encodes them for peers and the disk",
          "[storage][block-manager]") {
    TwoBlockManagers bms("values");
    BlockManager& a = *bms.a;
    BlockManager& b = *bms.b;
    auto* master = bms.master;

    const std::vector<std::string> words{"alpha", "beta", std::string(40, 'g')};
    REQUIRE(b.put_values(RddBlockId{1, 0}, values_of(words, 600), StorageLevel::memory_only()));
    auto local = b.get_local_values(RddBlockId{1, 0});
    REQUIRE(local);
    REQUIRE(local->as<std::string>());
    CHECK(*local->as<std::string>() == words);
    CHECK(b.memory_store().memory_used() == 600);  // its estimate, not its encoded size
    CHECK(master->get_locations(RddBlockId{1, 0}) == std::vector<BlockManagerId>{b.id()});

    // Bytes for whoever needs them: this process's byte readers, and a peer's fetch.
    auto bytes = b.get_local_block(RddBlockId{1, 0});
    REQUIRE(bytes);
    CHECK(bytes->view() == encoded(words));
    auto fetched = fetch(a, b.id(), {RddBlockId{1, 0}});
    REQUIRE(fetched.has_value());
    REQUIRE(fetched->size() == 1);
    CHECK((*fetched)[0].view() == encoded(words));
    auto remote = std::async(std::launch::async, [&] { return a.get_remote_bytes(RddBlockId{1, 0}); }).get();
    REQUIRE(remote);
    CHECK(remote->view() == encoded(words));

    // A memory-only block whose objects do not fit is not stored; one that may go to disk is
    // encoded there.
    CHECK_FALSE(b.put_values(RddBlockId{2, 0}, values_of({"x"}, 1001), StorageLevel::memory_only()));
    CHECK(master->get_locations(RddBlockId{2, 0}).empty());
    REQUIRE(b.put_values(RddBlockId{2, 1}, values_of({"on", "disk"}, 1001), StorageLevel::memory_and_disk()));
    CHECK(b.get_local_values(RddBlockId{2, 1}) == nullptr);
    CHECK(b.disk_store().contains(RddBlockId{2, 1}));
    CHECK(b.get_local_block(RddBlockId{2, 1})->view() == encoded({"on", "disk"}));

    // Evicted from memory: a MEMORY_AND_DISK object block is encoded to disk, readable after.
    REQUIRE(b.put_values(RddBlockId{3, 0}, values_of({"moved"}, 300), StorageLevel::memory_and_disk()));
    REQUIRE(b.put_bytes(RddBlockId{4, 0}, bytes_of(900, 'n'), StorageLevel::memory_only()));  // evicts rdd_1_0, rdd_3_0
    CHECK_FALSE(b.memory_store().contains(RddBlockId{1, 0}));
    CHECK(wait_for([&] { return master->get_locations(RddBlockId{1, 0}).empty(); }));
    CHECK(b.get_local_values(RddBlockId{3, 0}) == nullptr);
    CHECK(b.disk_store().contains(RddBlockId{3, 0}));
    CHECK(b.get_local_block(RddBlockId{3, 0})->view() == encoded({"moved"}));
    CHECK(wait_for([&] { return master->get_locations(RddBlockId{3, 0}) == std::vector<BlockManagerId>{b.id()}; }));
}
