// SPDX-License-Identifier: Apache-2.0
// Replication of cached RDD blocks (Spark's BlockManager.replicate, RandomBlockReplicationPolicy,
// UploadBlock, GetPeers, ReplicateBlock): the peer order, the receiver's validation of uploads
// (hostile ones are refused with a message naming the reason and the server keeps serving), and
// BlockManagers over TCP that keep N copies, retry another peer when one is gone, and restore
// copies after an executor is removed when proactive replication is on.
#include "rpc/message_data.hpp"
#include "rpc/testkit/local_envs.hpp"
#include "storage/block_manager.hpp"
#include "storage/block_manager_messages.capnp.h"
#include "storage/block_manager_master_endpoint.hpp"
#include "storage/block_replication_policy.hpp"
#include "storage/block_transfer_codec.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <unistd.h>

using namespace ember;
using namespace ember::storage;
using namespace std::chrono_literals;

namespace {

ManagedBuffer bytes_of(std::size_t n, char fill) {
    auto s = std::make_shared<std::string>(n, fill);
    return ManagedBuffer{s, std::as_bytes(std::span<const char>(s->data(), s->size()))};
}

std::string temp_root(const std::string& tag) {
    auto p = std::filesystem::temp_directory_path() / ("ember-repl-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    return p.string();
}

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

/// An UploadBlock as the receiver gets it.
rpc::Message upload_message(const std::string& block, std::uint8_t flags, std::uint8_t replication,
                            std::uint64_t declared, const std::string& body) {
    auto m = rpc::OutgoingMessage::make<wire::UploadBlock>([&](wire::UploadBlock::Builder b) {
        b.setBlockId(block);
        b.setLevelFlags(flags);
        b.setReplication(replication);
        b.setSize(declared);
    });
    if (!body.empty()) m.add_body(rpc::Bytes::copy_of(std::string_view(body)));
    return rpc::detail::MessageData::to_message(rpc::detail::localize(m.release()).value());
}

std::set<std::string> executors(const std::vector<BlockManagerId>& ids) {
    std::set<std::string> out;
    for (auto& id : ids) out.insert(id.executor_id);
    return out;
}

/// A master in env 0 and `n` BlockManagers "1".."n" in envs 1..n, each reaching the master
/// over its own connection as an executor does.
struct Cluster {
    std::string root;
    rpc::testkit::LocalEnvs envs;
    BlockManagerMasterEndpoint* master = nullptr;
    std::vector<std::unique_ptr<BlockManager>> bms;

    Cluster(const std::string& tag, int n, Conf conf = {}) : root(temp_root(tag)), envs(n + 1) {
        auto ep = std::make_unique<BlockManagerMasterEndpoint>();
        master = ep.get();
        envs[0].setup_endpoint(std::string(BlockManagerMaster::kEndpointName), std::move(ep)).value();
        conf.set("ember.local.dir", root);
        for (int i = 1; i <= n; ++i) {
            auto bm = std::make_unique<BlockManager>(std::to_string(i), envs[static_cast<std::size_t>(i)], conf);
            bm->initialize();
            bm->register_with_master(envs[static_cast<std::size_t>(i)].endpoint_ref(
                envs[0].address(), std::string(BlockManagerMaster::kEndpointName)));
            bms.push_back(std::move(bm));
        }
    }
    ~Cluster() {
        for (auto& bm : bms) bm->stop();
        bms.clear();
        std::filesystem::remove_all(root);
    }
    BlockManager& bm(const std::string& exec) { return *bms.at(static_cast<std::size_t>(std::stoi(exec) - 1)); }
};

}  // namespace

TEST_CASE("RandomBlockReplicationPolicy puts peers on other hosts first, in an order fixed by the block",
          "[storage][replication]") {
    RandomBlockReplicationPolicy policy;
    const BlockManagerId self{"1", "hostA", 1};
    const std::vector<BlockManagerId> peers{{"2", "hostA", 2}, {"3", "hostB", 3}, {"4", "hostC", 4}, {"5", "hostA", 5}};
    std::map<std::string, int> first;
    for (int p = 0; p < 200; ++p) {
        RddBlockId block{7, p};
        auto order = policy.prioritize(self, peers, {}, block, 1);
        REQUIRE(order.size() == peers.size());  // spares kept for failures
        CHECK(std::set<BlockManagerId>(order.begin(), order.end()) == std::set<BlockManagerId>(peers.begin(), peers.end()));
        // Peers on hostB and hostC come before the ones on self's host.
        CHECK(order[0].host != "hostA");
        CHECK(order[1].host != "hostA");
        ++first[order[0].executor_id];
        // The same block and peers (in any order) give the same order.
        auto reversed = std::vector<BlockManagerId>(peers.rbegin(), peers.rend());
        CHECK(policy.prioritize(self, reversed, {}, block, 1) == order);
        // A host that already holds a copy goes to the back too.
        auto after_b = policy.prioritize(self, peers, {{"3", "hostB", 3}}, block, 1);
        CHECK(after_b[0].executor_id == "4");
    }
    // Random, not fixed: both off-host peers are chosen first for some blocks.
    CHECK(first.size() == 2);
    CHECK(first["3"] > 40);
    CHECK(first["4"] > 40);
    // All peers on one host: random among them.
    std::set<std::string> firsts;
    for (int p = 0; p < 50; ++p) {
        firsts.insert(policy.prioritize(self, {{"2", "hostA", 2}, {"5", "hostA", 5}}, {}, RddBlockId{1, p}, 1)[0].executor_id);
    }
    CHECK(firsts.size() == 2);
    CHECK(policy.prioritize(self, {}, {}, RddBlockId{1, 0}, 1).empty());
}

TEST_CASE("An UploadBlock is read only for an RDD block at replication 1 with the bytes it declares",
          "[storage][replication]") {
    auto limit = [](const StorageLevel& l) -> std::uint64_t { return l.use_disk ? 1000 : 100; };
    const auto mem = StorageLevel::memory_only().to_int();
    const auto disk = StorageLevel::disk_only().to_int();

    auto ok = read_upload_block(upload_message("rdd_3_1", mem, 1, 5, "hello"), limit);
    REQUIRE(ok.has_value());
    CHECK(ok->id == RddBlockId{3, 1});
    CHECK(ok->level == StorageLevel::memory_only());
    CHECK(ok->bytes.view() == "hello");
    auto empty = read_upload_block(upload_message("rdd_3_2", disk, 1, 0, ""), limit);  // an empty partition
    REQUIRE(empty.has_value());
    CHECK(empty->bytes.size() == 0);

    auto refused = [&](rpc::Message m) {
        auto r = read_upload_block(m, limit);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == rpc::RpcErrc::protocol_error);
        return r.error().message;
    };
    CHECK_THAT(refused(upload_message("shuffle_0_1_2", mem, 1, 5, "hello")), Catch::Contains("only RDD blocks"));
    CHECK_THAT(refused(upload_message("taskresult_4", mem, 1, 5, "hello")), Catch::Contains("only RDD blocks"));
    CHECK_THAT(refused(upload_message("rdd_x_1", mem, 1, 5, "hello")), Catch::Contains("failed to parse rdd_x_1"));
    CHECK_THAT(refused(upload_message("rdd_3_1", mem, 2, 5, "hello")),
               Catch::Contains("a replica is stored with replication 1, not 2"));
    CHECK_THAT(refused(upload_message("rdd_3_1", mem, 0, 5, "hello")), Catch::Contains("invalid storage level"));
    CHECK_THAT(refused(upload_message("rdd_3_1", 0, 1, 5, "hello")), Catch::Contains("invalid storage level"));
    CHECK_THAT(refused(upload_message("rdd_3_1", 0xf4, 1, 5, "hello")), Catch::Contains("invalid storage level"));
    CHECK_THAT(refused(upload_message("rdd_3_1", mem, 1, 6, "hello")),
               Catch::Contains("declares 6 bytes but carries 5"));
    CHECK_THAT(refused(upload_message("rdd_3_1", mem, 1, std::numeric_limits<std::uint64_t>::max(), "hello")),
               Catch::Contains("but carries 5"));
    CHECK_THAT(refused(upload_message("rdd_3_1", mem, 1, 101, std::string(101, 'x'))),
               Catch::Contains("101 bytes exceed the 100 bytes"));
    CHECK(read_upload_block(upload_message("rdd_3_1", disk, 1, 101, std::string(101, 'x')), limit).has_value());

    // Not an UploadBlock at all.
    auto other = rpc::OutgoingMessage::make<wire::BlocksFetched>();
    auto r = read_upload_block(rpc::detail::MessageData::to_message(rpc::detail::localize(other.release()).value()), limit);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == rpc::RpcErrc::unexpected_message);
}

TEST_CASE("A block put at replication N is kept on N BlockManagers and the master knows each",
          "[storage][replication]") {
    Conf conf;
    conf.set("ember.storage.memoryCapacity", "200m");
    Cluster c("copies", 3, conf);
    auto& b1 = c.bm("1");

    REQUIRE(b1.put_bytes(RddBlockId{1, 0}, bytes_of(5000, 'a'), StorageLevel::memory_only(2)));
    auto locs = c.master->get_locations(RddBlockId{1, 0});
    REQUIRE(locs.size() == 2);  // when put_bytes returns, the copy is made and reported
    CHECK(executors(locs).count("1"));
    std::string peer = locs[0].executor_id == "1" ? locs[1].executor_id : locs[0].executor_id;
    auto copy = c.bm(peer).get_local_block(RddBlockId{1, 0});
    REQUIRE(copy);
    CHECK(copy->view() == std::string(5000, 'a'));
    CHECK(c.bm(peer).memory_store().contains(RddBlockId{1, 0}));

    // Disk levels store the copy on disk; replication 3 reaches every BlockManager.
    REQUIRE(b1.put_bytes(RddBlockId{1, 1}, bytes_of(3000, 'd'), StorageLevel::disk_only(2)));
    locs = c.master->get_locations(RddBlockId{1, 1});
    REQUIRE(locs.size() == 2);
    for (auto& l : locs) CHECK(c.bm(l.executor_id).disk_store().contains(RddBlockId{1, 1}));
    REQUIRE(b1.put_bytes(RddBlockId{1, 2}, bytes_of(10, 'c'), StorageLevel::memory_and_disk_ser(3)));
    CHECK(executors(c.master->get_locations(RddBlockId{1, 2})) == std::set<std::string>{"1", "2", "3"});
    // Replication 1 and non-RDD blocks stay where they were put.
    REQUIRE(b1.put_bytes(RddBlockId{1, 3}, bytes_of(10, 'o'), StorageLevel::memory_only()));
    CHECK(executors(c.master->get_locations(RddBlockId{1, 3})) == std::set<std::string>{"1"});
    REQUIRE(b1.put_bytes(TaskResultBlockId{5}, bytes_of(10, 't'), StorageLevel::memory_only(2), false));
    CHECK_FALSE(c.bm("2").get_local_block(TaskResultBlockId{5}));
    CHECK_FALSE(c.bm("3").get_local_block(TaskResultBlockId{5}));

    // More copies than BlockManagers: as many as there are, and the put still succeeds.
    REQUIRE(b1.put_bytes(RddBlockId{1, 4}, bytes_of(10, 'm'), StorageLevel::memory_only(5)));
    CHECK(c.master->get_locations(RddBlockId{1, 4}).size() == 3);

    // What a copy costs the putting task (measured, not checked: the machine is shared).
    for (int replication : {1, 2}) {
        auto start = std::chrono::steady_clock::now();
        for (int p = 0; p < 4; ++p) {
            REQUIRE(b1.put_bytes(RddBlockId{10 + replication, p}, bytes_of(8 << 20, 'b'),
                                 StorageLevel::memory_only_ser(replication)));
        }
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
        WARN("put_bytes of 8 MiB at replication " << replication << ": " << us / 4 << " us per block");
        for (int p = 0; p < 4; ++p) {
            CHECK(c.master->get_locations(RddBlockId{10 + replication, p}).size() == static_cast<std::size_t>(replication));
        }
    }

    // GetPeers: never the asker, never the driver.
    CHECK(executors(b1.get_peers(true)) == std::set<std::string>{"2", "3"});
    c.master->register_block_manager(BlockManagerId{"driver", "127.0.0.1", 1}, 0, {});
    CHECK(executors(c.master->get_peers(BlockManagerId{"2", "", 0})) == std::set<std::string>{"1", "3"});
}

TEST_CASE("A peer that is gone costs one failure and the copy goes to another",
          "[storage][replication]") {
    Conf conf;
    conf.set("ember.storage.memoryCapacity", "100000");
    conf.set("ember.shuffle.io.connectionTimeout", "5s");
    Cluster c("failover", 3, conf);
    // Executor 3's process is gone but the master has not heard yet.
    c.envs[3].shutdown();
    c.envs[3].await_termination();
    for (int p = 0; p < 6; ++p) {
        INFO("partition " << p);
        REQUIRE(c.bm("1").put_bytes(RddBlockId{2, p}, bytes_of(100, 'f'), StorageLevel::memory_only(2)));
        CHECK(executors(c.master->get_locations(RddBlockId{2, p})) == std::set<std::string>{"1", "2"});
    }

    // With no failure allowed and only the dead peer left, the block keeps one copy.
    Conf none = conf;
    none.set("ember.storage.maxReplicationFailures", "0");
    Cluster d("nofailure", 2, none);
    d.envs[2].shutdown();
    d.envs[2].await_termination();
    REQUIRE(d.bm("1").put_bytes(RddBlockId{3, 0}, bytes_of(100, 'g'), StorageLevel::memory_only(2)));
    CHECK(executors(d.master->get_locations(RddBlockId{3, 0})) == std::set<std::string>{"1"});
}

TEST_CASE("A hostile or oversized upload is refused with a clear error and the server keeps serving",
          "[storage][replication]") {
    Conf conf;
    conf.set("ember.storage.memoryCapacity", "1000");
    Cluster c("hostile", 2, conf);
    auto& target = c.bm("2");
    REQUIRE(target.put_bytes(RddBlockId{9, 0}, bytes_of(50, 'k'), StorageLevel::memory_only()));
    auto ref = c.envs[1].endpoint_ref(c.envs[2].address(), std::string(BlockManager::kEndpointName));
    auto send = [&](const std::string& block, std::uint8_t flags, std::uint8_t replication, std::uint64_t declared,
                    const std::string& body) {
        auto m = rpc::OutgoingMessage::make<wire::UploadBlock>([&](wire::UploadBlock::Builder b) {
            b.setBlockId(block);
            b.setLevelFlags(flags);
            b.setReplication(replication);
            b.setSize(declared);
        });
        if (!body.empty()) m.add_body(rpc::Bytes::copy_of(std::string_view(body)));
        return ref.ask_sync(std::move(m), rpc::RpcTimeout{10s});
    };
    auto serves = [&] {
        std::promise<rpc::RpcResult<std::vector<ManagedBuffer>>> p;
        c.bm("1").fetch_blocks(target.id(), {RddBlockId{9, 0}},
                               [&](rpc::RpcResult<std::vector<ManagedBuffer>> r) { p.set_value(std::move(r)); });
        auto r = p.get_future().get();
        return r && r->size() == 1 && (*r)[0].view() == std::string(50, 'k');
    };
    const auto mem = StorageLevel::memory_only().to_int();
    struct Case {
        std::string block;
        std::uint8_t flags, replication;
        std::uint64_t declared;
        std::string body, error;
    };
    const std::vector<Case> cases{
        {"rdd_9_1", mem, 1, 2000, std::string(2000, 'x'), "2000 bytes exceed the 1000 bytes"},
        {"rdd_9_1", mem, 1, 10, std::string(9, 'x'), "declares 10 bytes but carries 9"},
        {"shuffle_1_2_3", mem, 1, 3, "abc", "only RDD blocks"},
        {"taskresult_4", mem, 1, 3, "abc", "only RDD blocks"},
        {"rdd_9_1", mem, 3, 3, "abc", "replication 1, not 3"},
        {"rdd_9_1", 0, 1, 3, "abc", "invalid storage level"},
        {"../../etc/passwd", mem, 1, 3, "abc", "failed to parse"},
    };
    for (auto& k : cases) {
        INFO(k.block << " declared " << k.declared << " body " << k.body.size());
        auto r = send(k.block, k.flags, k.replication, k.declared, k.body);
        REQUIRE_FALSE(r.has_value());
        CHECK_THAT(r.error().message, Catch::Contains(k.error));
        CHECK(serves());
    }
    CHECK_FALSE(target.get_local_block(RddBlockId{9, 1}));
    CHECK(c.master->get_locations(RddBlockId{9, 1}).empty());
    // A valid upload is stored, reported, and served.
    auto good = send("rdd_9_1", mem, 1, 3, "abc");
    REQUIRE(good.has_value());
    CHECK(good->is<wire::BlockUploaded>());
    CHECK(target.get_local_block(RddBlockId{9, 1})->view() == "abc");
    CHECK(executors(c.master->get_locations(RddBlockId{9, 1})) == std::set<std::string>{"2"});
    // ReplicateBlock is obeyed from the master only, not from a peer.
    auto storage_ref = c.envs[1].endpoint_ref(c.envs[2].address(), std::string(BlockManager::kStorageEndpointName));
    auto replicate = storage_ref.ask_sync(rpc::OutgoingMessage::make<wire::ReplicateBlock>([](wire::ReplicateBlock::Builder b) {
                                              b.setBlockId("rdd_9_0");
                                              b.setMaxReplicas(3);
                                          }),
                                          rpc::RpcTimeout{10s});
    REQUIRE_FALSE(replicate.has_value());
    CHECK_THAT(replicate.error().message, Catch::Contains("accepted from the driver's BlockManagerMaster only"));
    CHECK(executors(c.master->get_locations(RddBlockId{9, 0})) == std::set<std::string>{"2"});
    // RemoveShuffle deletes map outputs: a BlockManager obeys it from the master only, and the
    // master takes it from the driver's own code only (its ContextCleaner), not over the network.
    auto remove_shuffle = [] {
        return rpc::OutgoingMessage::make<wire::RemoveShuffle>([](wire::RemoveShuffle::Builder b) { b.setShuffleId(1); });
    };
    auto at_peer = storage_ref.ask_sync(remove_shuffle(), rpc::RpcTimeout{10s});
    REQUIRE_FALSE(at_peer.has_value());
    CHECK_THAT(at_peer.error().message, Catch::Contains("accepted from the driver's BlockManagerMaster only"));
    auto master_ref = c.envs[1].endpoint_ref(c.envs[0].address(), std::string(BlockManagerMaster::kEndpointName));
    auto at_master = master_ref.ask_sync(remove_shuffle(), rpc::RpcTimeout{10s});
    REQUIRE_FALSE(at_master.has_value());
    CHECK_THAT(at_master.error().message, Catch::Contains("RemoveShuffle is accepted from the driver only"));
    // Memory full (not larger than the store): refused as not fitting, not silently dropped.
    auto full = send("rdd_9_2", mem, 1, 990, std::string(990, 'z'));
    REQUIRE_FALSE(full.has_value());
    CHECK_THAT(full.error().message, Catch::Contains("does not fit"));
    CHECK(serves());
}

TEST_CASE("With proactive replication a removed executor's blocks get their copies back",
          "[storage][replication]") {
    auto proactive = GENERATE(true, false);
    INFO("proactive " << proactive);
    Conf conf;
    conf.set("ember.storage.memoryCapacity", "100000");
    Cluster c("proactive", 3, conf);
    c.master->set_proactive_replication(proactive);
    auto& b1 = c.bm("1");
    for (int p = 0; p < 8; ++p) {
        REQUIRE(b1.put_bytes(RddBlockId{4, p}, bytes_of(100 + static_cast<std::size_t>(p), 'p'),
                             StorageLevel::memory_and_disk(2)));
    }
    // A block held only by the removed executor is not resurrected, and one with a copy left
    // at replication 1 is not copied again.
    REQUIRE(c.bm("2").put_bytes(RddBlockId{5, 0}, bytes_of(10, 'x'), StorageLevel::memory_only()));
    REQUIRE(c.bm("3").put_bytes(RddBlockId{5, 1}, bytes_of(10, 'y'), StorageLevel::memory_only()));

    // Lose executor 2 or 3, whichever holds more copies.
    int on2 = 0;
    for (int p = 0; p < 8; ++p) on2 += executors(c.master->get_locations(RddBlockId{4, p})).count("2") ? 1 : 0;
    std::string lost = on2 >= 4 ? "2" : "3";
    std::string other = lost == "2" ? "3" : "2";
    c.master->remove_executor(lost);
    if (proactive) {
        CHECK(wait_for([&] {
            for (int p = 0; p < 8; ++p) {
                if (executors(c.master->get_locations(RddBlockId{4, p})) != std::set<std::string>{"1", other}) return false;
            }
            return true;
        }));
        for (int p = 0; p < 8; ++p) {
            auto copy = c.bm(other).get_local_block(RddBlockId{4, p});
            REQUIRE(copy);
            CHECK(copy->view() == std::string(100 + static_cast<std::size_t>(p), 'p'));
        }
    } else {
        std::this_thread::sleep_for(300ms);
        int single = 0;
        for (int p = 0; p < 8; ++p) {
            auto e = executors(c.master->get_locations(RddBlockId{4, p}));
            CHECK(e.count("1"));
            CHECK_FALSE(e.count(lost));
            single += e.size() == 1 ? 1 : 0;
        }
        CHECK(single >= 4);  // the lost executor's copies stay lost
    }
    CHECK(c.master->get_locations(RddBlockId{5, lost == "2" ? 0 : 1}).empty());
    CHECK(executors(c.master->get_locations(RddBlockId{5, lost == "2" ? 1 : 0})) == std::set<std::string>{other});
}
