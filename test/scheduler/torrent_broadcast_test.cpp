// SPDX-License-Identifier: Apache-2.0
// Broadcast variables below the SparkContext: cutting a value into checksummed pieces and
// putting it back together (Spark's TorrentBroadcast.blockifyObject / unBlockifyObject), the
// broadcast block ids, and BroadcastManagers of a driver and three executors in one process,
// each with its own BlockManager and RpcEnv on loopback: one read per executor however many
// threads ask, pieces fetched from executors that have them, a corrupt piece refetched from
// another holder, and unpersist / destroy through the BlockManagerMaster.
#include "rpc/log.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "scheduler/broadcast/broadcast_manager.hpp"
#include "scheduler/broadcast/torrent_broadcast.hpp"
#include "scheduler/job_waiter.hpp"
#include "storage/block_manager.hpp"
#include "storage/block_manager_master_endpoint.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace ember;
using namespace ember::broadcast;
using storage::BlockId;
using storage::BroadcastBlockId;

namespace {

/// Bytes from a fixed-seed generator: incompressible, so compressed pieces are as large as raw.
std::string random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; i += 8) {
        std::uint64_t v = rng();
        std::memcpy(s.data() + i, &v, std::min<std::size_t>(8, n - i));
    }
    return s;
}

std::vector<storage::ManagedBuffer> copies(const std::vector<storage::ManagedBuffer>& pieces) {
    std::vector<storage::ManagedBuffer> out;
    for (auto& p : pieces) {
        auto s = std::make_shared<std::string>(p.view());
        out.push_back(storage::ManagedBuffer{s, std::as_bytes(std::span<const char>(s->data(), s->size()))});
    }
    return out;
}

std::shared_ptr<const void> decode_string(std::string_view bytes) {
    return std::make_shared<const std::string>(decode<std::string>(bytes));
}

std::string temp_root(const std::string& tag) {
    auto p = std::filesystem::temp_directory_path() / ("ember-bc-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    return p.string();
}

/// A driver ("driver", env 0, with the BlockManagerMaster) and `executors` executors (ids 1..n,
/// envs 1..n), each with a BlockManager and a BroadcastManager, pieces of `block_size` bytes.
struct Cluster {
    Cluster(int executors, const std::string& block_size, bool compress = true)
        : root(temp_root("cluster")), envs(executors + 1) {
        conf.set("ember.local.dir", root);
        conf.set("ember.broadcast.blockSize", block_size);
        conf.set("ember.broadcast.compress", compress ? "true" : "false");
        auto ep = std::make_unique<storage::BlockManagerMasterEndpoint>();
        master = ep.get();
        auto ref = envs[0].setup_endpoint(std::string(storage::BlockManagerMaster::kEndpointName), std::move(ep)).value();
        for (int i = 0; i <= executors; ++i) {
            auto& bm = bms.emplace_back(std::make_unique<storage::BlockManager>(i == 0 ? "driver" : std::to_string(i),
                                                                                envs[static_cast<std::size_t>(i)], conf));
            auto& m = managers.emplace_back(std::make_unique<BroadcastManager>(*bm, conf, i == 0));
            bm->set_broadcast_removed_listener([m = m.get()](std::int64_t id) { m->forget(id); });
            bm->initialize();
            bm->register_with_master(i == 0 ? ref
                                            : envs[static_cast<std::size_t>(i)].endpoint_ref(
                                                  envs[0].address(), std::string(storage::BlockManagerMaster::kEndpointName)));
        }
    }
    ~Cluster() {
        managers.clear();
        bms.clear();
        std::filesystem::remove_all(root);
    }
    BroadcastManager& driver() { return *managers[0]; }
    BroadcastManager& executor(int i) { return *managers[static_cast<std::size_t>(i)]; }
    storage::BlockManager& bm(int i) { return *bms[static_cast<std::size_t>(i)]; }

    std::int64_t broadcast(const std::string& value) {
        return driver().new_broadcast(encode(value), std::make_shared<const std::string>(value), typeid(std::string));
    }
    /// The value as executor `i` reads it (from a plain thread: reads block).
    std::string read(int i, std::int64_t id) {
        auto v = std::async(std::launch::async, [&] { return executor(i).get_value(id, typeid(std::string), &decode_string); }).get();
        return *static_cast<const std::string*>(v.get());
    }

    std::string root;
    Conf conf;
    rpc::testkit::LocalEnvs envs;
    storage::BlockManagerMasterEndpoint* master = nullptr;
    std::vector<std::unique_ptr<storage::BlockManager>> bms;
    std::vector<std::unique_ptr<BroadcastManager>> managers;
};

}  // namespace

TEST_CASE("Broadcast block ids print and parse in Spark's forms", "[broadcast]") {
    CHECK(storage::name(BlockId{BroadcastBlockId{3, ""}}) == "broadcast_3");
    CHECK(storage::name(piece_block_id(3, 12)) == "broadcast_3_piece12");
    CHECK(storage::name(meta_block_id(7)) == "broadcast_7_meta");
    for (const char* s : {"broadcast_0", "broadcast_3_piece12", "broadcast_7_meta"}) {
        auto id = storage::parse_block_id(s);
        REQUIRE(id);
        CHECK(std::holds_alternative<BroadcastBlockId>(*id));
        CHECK(storage::name(*id) == s);
    }
    for (const char* bad : {"broadcast_", "broadcast_x", "broadcast_-1", "broadcast_1_", "broadcast_1_a.b",
                            "broadcast_1_a_b", "broadcast_1_../x"}) {
        CHECK_FALSE(storage::parse_block_id(bad));
    }
}

TEST_CASE("blockify cuts a value into pieces that unblockify puts back together", "[broadcast]") {
    for (bool compress : {false, true}) {
        for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{999}, std::size_t{1000},
                                 std::size_t{1001}, std::size_t{25'000}}) {
            CAPTURE(compress, size);
            std::string value = random_bytes(size, size + 1);
            auto b = blockify(4, value, 1000, compress, true);
            CHECK(b.meta.broadcast_id == 4);
            CHECK(b.meta.value_size == size);
            CHECK(b.meta.compressed == compress);
            CHECK(b.meta.num_pieces == (b.meta.stored_size + 999) / 1000);
            REQUIRE(b.pieces.size() == b.meta.num_pieces);
            REQUIRE(b.meta.checksums.size() == b.meta.num_pieces);
            std::uint64_t total = 0;
            for (std::uint32_t i = 0; i < b.meta.num_pieces; ++i) {
                CHECK(b.pieces[i].size() == (i + 1 < b.meta.num_pieces ? 1000 : b.meta.stored_size - i * 1000));
                CHECK_FALSE(verify_piece(b.meta, i, b.pieces[i].bytes));
                total += b.pieces[i].size();
            }
            CHECK(total == b.meta.stored_size);
            if (!compress) CHECK(b.meta.stored_size == size);
            // The metadata travels as a block of its own.
            auto meta = decode<BroadcastMeta>(encode(b.meta));
            CHECK(meta.checksums == b.meta.checksums);
            CHECK(unblockify(meta, copies(b.pieces)).view() == value);
        }
    }
    // Compressible values get smaller.
    auto text = blockify(1, std::string(100'000, 'a'), 4096, true, false);
    CHECK(text.meta.stored_size < 2000);
    CHECK(text.meta.checksums.empty());
    CHECK(unblockify(text.meta, text.pieces).view() == std::string(100'000, 'a'));
}

TEST_CASE("A flipped byte in a piece fails its checksum, and bad piece sets do not unblockify", "[broadcast]") {
    std::string value = random_bytes(5000, 42);
    for (bool compress : {false, true}) {
        auto b = blockify(9, value, 1024, compress, true);
        auto pieces = copies(b.pieces);
        auto* p = const_cast<std::byte*>(pieces[2].bytes.data());
        p[100] ^= std::byte{0x01};
        auto bad = verify_piece(b.meta, 2, pieces[2].bytes);
        REQUIRE(bad);
        CHECK_THAT(*bad, Catch::StartsWith("corrupt remote block broadcast_9_piece2 of broadcast_9: "));
        CHECK_FALSE(verify_piece(b.meta, 1, pieces[1].bytes));
        // A short piece, and a piece that does not exist.
        CHECK_THAT(*verify_piece(b.meta, 0, pieces[0].bytes.subspan(1)), Catch::Contains("1023 bytes, expected 1024"));
        CHECK(verify_piece(b.meta, b.meta.num_pieces, pieces[0].bytes));
        // Missing pieces, or pieces of the wrong sizes.
        auto fewer = copies(b.pieces);
        fewer.pop_back();
        CHECK_THROWS_AS(unblockify(b.meta, fewer), DecodeError);
        auto swapped = copies(b.pieces);
        std::swap(swapped.front(), swapped.back());
        CHECK_THROWS_AS(unblockify(b.meta, swapped), DecodeError);
    }
    // Without checksums only the size is checked.
    auto unchecked = blockify(9, value, 1024, false, false);
    auto pieces = copies(unchecked.pieces);
    const_cast<std::byte*>(pieces[0].bytes.data())[0] ^= std::byte{0x01};
    CHECK_FALSE(verify_piece(unchecked.meta, 0, pieces[0].bytes));
}

TEST_CASE("Each executor reads a broadcast once, however many threads ask, and serves its pieces to others",
          "[broadcast][cluster]") {
    Cluster c(3, "1k");
    std::string value = random_bytes(200'000, 7);
    auto id = c.broadcast(value);
    CHECK(id == 0);
    // The driver holds every piece and the metadata, and the master knows.
    auto meta = decode<BroadcastMeta>(c.bm(0).get_local_block(meta_block_id(id))->view());
    REQUIRE(meta.num_pieces >= 195);
    for (std::uint32_t i = 0; i < meta.num_pieces; ++i) {
        REQUIRE(c.master->get_locations(piece_block_id(id, i)) == std::vector<storage::BlockManagerId>{c.bm(0).id()});
    }

    // Eight threads of executor 1 ask at once: one read.
    std::vector<std::thread> threads;
    std::vector<std::shared_ptr<const void>> got(8);
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] { got[static_cast<std::size_t>(t)] = c.executor(1).get_value(id, typeid(std::string), &decode_string); });
    }
    for (auto& t : threads) t.join();
    for (auto& g : got) {
        REQUIRE(g);
        CHECK(g.get() == got[0].get());  // one copy for every task
    }
    CHECK(*static_cast<const std::string*>(got[0].get()) == value);
    auto s1 = c.executor(1).stats();
    CHECK(s1.values_read == 1);
    CHECK(s1.pieces_fetched == meta.num_pieces);
    CHECK(s1.bytes_fetched == meta.stored_size);
    // Executor 1 reported each piece: the master lists it beside the driver.
    for (std::uint32_t i = 0; i < meta.num_pieces; ++i) {
        CHECK(c.master->get_locations(piece_block_id(id, i)).size() == 2);
    }
    CHECK(c.bm(0).transfer_counters().bytes_served >= meta.stored_size);

    // Executors 2 and 3 choose a random holder per piece: executor 1 serves part of it.
    CHECK(c.read(2, id) == value);
    CHECK(c.read(3, id) == value);
    std::uint64_t served_by_executors = 0;
    for (int i = 1; i <= 3; ++i) served_by_executors += c.bm(i).transfer_counters().bytes_served;
    CHECK(served_by_executors > 0);
    std::uint64_t driver_served = c.bm(0).transfer_counters().bytes_served;
    CHECK(driver_served < 3 * meta.stored_size);
    for (int i = 1; i <= 3; ++i) CHECK(c.executor(i).stats().values_read == 1);
    // A second read is the cached value.
    CHECK(c.read(1, id) == value);
    CHECK(c.executor(1).stats().values_read == 1);
}

TEST_CASE("A corrupt piece is refetched from another holder; a lost holder is skipped", "[broadcast][cluster]") {
    Cluster c(3, "4k", false);
    std::string value = random_bytes(40'000, 11);
    auto id = c.broadcast(value);
    REQUIRE(c.read(1, id) == value);
    // Executor 1's copy of piece 0 goes bad; the driver's is still good. Executor 2 may pick
    // either: it gets the value either way, and if it picked executor 1 it saw a corrupt piece.
    auto piece0 = piece_block_id(id, 0);
    auto bad = std::make_shared<std::string>(c.bm(1).get_local_block(piece0)->view());
    (*bad)[5] ^= 0x40;
    c.bm(1).remove_block(piece0, false);
    REQUIRE(c.bm(1).put_bytes(piece0, storage::ManagedBuffer{bad, std::as_bytes(std::span<const char>(bad->data(), bad->size()))},
                              storage::StorageLevel::memory_only(), true));
    // Make executor 1 the only holder the master lists first... it lists both: retry until
    // executor 2 met the corrupt copy (random choice), reading again after each unpersist.
    bool met_corrupt = false;
    for (int attempt = 0; attempt < 40 && !met_corrupt; ++attempt) {
        CHECK(c.read(2, id) == value);
        met_corrupt = c.executor(2).stats().corrupt_pieces > 0;
        c.bm(2).remove_broadcast(id, true);  // forget executor 2's copy and read again
    }
    CHECK(met_corrupt);

    // Executor 3's process goes away after reading. Before the master hears of it, fetches from
    // it fail and others are tried; after, it is no longer listed.
    REQUIRE(c.read(3, id) == value);
    c.envs[3].shutdown();
    c.envs[3].await_termination();
    for (int attempt = 0; attempt < 5; ++attempt) {
        c.bm(2).remove_broadcast(id, true);
        CHECK(c.read(2, id) == value);
    }
    c.master->remove_executor("3");
    std::set<std::string> holders;
    for (auto& loc : c.master->get_locations(piece_block_id(id, 1))) holders.insert(loc.executor_id);
    CHECK(holders == std::set<std::string>{"driver", "1", "2"});
    c.bm(2).remove_broadcast(id, true);
    CHECK(c.read(2, id) == value);
}

TEST_CASE("unpersist removes executors' copies, destroy removes all and later reads fail", "[broadcast][cluster]") {
    Cluster c(2, "2k");
    std::string value = random_bytes(10'000, 3);
    auto id = c.broadcast(value);
    REQUIRE(c.read(1, id) == value);
    REQUIRE(c.read(2, id) == value);

    // unpersist (blocking): executors drop pieces and value; the driver keeps everything.
    c.driver().unbroadcast(id, false, true);
    for (int i = 1; i <= 2; ++i) {
        CHECK_FALSE(c.bm(i).get_local_block(piece_block_id(id, 0)));
    }
    CHECK(c.bm(0).get_local_block(piece_block_id(id, 0)));
    CHECK(c.master->get_locations(piece_block_id(id, 0)) == std::vector<storage::BlockManagerId>{c.bm(0).id()});
    CHECK(c.read(1, id) == value);  // read again from the driver
    CHECK(c.executor(1).stats().values_read == 2);
    auto v = c.driver().get_value(id, typeid(std::string), &decode_string);
    CHECK(*static_cast<const std::string*>(v.get()) == value);

    // destroy: nothing is left anywhere; reads fail with Spark's message.
    c.driver().unbroadcast(id, true, true, "destroy at app.cpp:12");
    CHECK_FALSE(c.bm(0).get_local_block(piece_block_id(id, 0)));
    CHECK_FALSE(c.bm(0).get_local_block(meta_block_id(id)));
    CHECK_FALSE(c.bm(1).get_local_block(piece_block_id(id, 0)));
    CHECK(c.master->get_locations(meta_block_id(id)).empty());
    CHECK_THROWS_WITH(c.driver().get_value(id, typeid(std::string), &decode_string),
                      "Attempted to use Broadcast(0) after it was destroyed (destroy at app.cpp:12)");
    try {
        c.read(2, id);
        FAIL("read after destroy succeeded");
    } catch (const SparkException& e) {
        CHECK_THAT(e.what(), Catch::StartsWith("Attempted to use Broadcast(0) after it was destroyed"));
    }
    // The wrong type is the caller's bug.
    auto id2 = c.broadcast("x");
    CHECK_THROWS_AS(c.driver().get_value(id2, typeid(int), &decode_string), ContractViolation);
}

TEST_CASE("Timing of blockify and unblockify of 200 MiB (run by hand: [.bench])", "[.bench][broadcast]") {
    std::string value = random_bytes(200u << 20, 5);
    for (bool compress : {false, true}) {
        auto t0 = std::chrono::steady_clock::now();
        auto b = blockify(1, encode(value), 4u << 20, compress, true);
        auto t1 = std::chrono::steady_clock::now();
        for (std::uint32_t i = 0; i < b.meta.num_pieces; ++i) REQUIRE_FALSE(verify_piece(b.meta, i, b.pieces[i].bytes));
        auto t2 = std::chrono::steady_clock::now();
        auto serialized = unblockify(b.meta, b.pieces);
        auto t3 = std::chrono::steady_clock::now();
        auto v = decode_string(serialized.view());
        auto t4 = std::chrono::steady_clock::now();
        auto ms = [](auto a, auto z) { return std::chrono::duration<double, std::milli>(z - a).count(); };
        std::printf("compress=%d: blockify %.0f ms, verify %.0f ms, unblockify %.0f ms, decode %.0f ms\n", compress,
                    ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t3, t4));
        CHECK(*static_cast<const std::string*>(v.get()) == value);
    }
}
