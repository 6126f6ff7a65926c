// SPDX-License-Identifier: Apache-2.0
// How an executor reads the MapOutputTracker's MapOutputStatuses reply: outputs are placed by
// map index, and what it allocates follows what the reply carries, not the numMaps it claims
// (found by test/fuzz/fuzz_map_output_statuses).
#include "rpc/testkit/local_envs.hpp"
#include "shuffle/map_output_tracker.hpp"
#include "shuffle/map_status.hpp"
#include "storage/block_manager.hpp"
#include "test/support/temp_dir.hpp"

#include <capnp/message.h>
#include <catch2/catch.hpp>

using namespace ember;
using namespace ember::shuffle;

namespace {

// A tracker whose master answered `reply`.
class ReplyTracker final : public MapOutputTracker {
public:
    explicit ReplyTracker(wire::MapOutputStatuses::Reader reply) : reply_(reply) {}
    ShuffleStatuses statuses(int shuffle_id, int reduce_id) override {
        return read_map_output_statuses(reply_, shuffle_id, reduce_id);
    }

private:
    wire::MapOutputStatuses::Reader reply_;
};

MapStatus status(std::int64_t map_id, int map_index) {
    return MapStatus{{"1", "host", 7077}, map_id, map_index, {5, 0, 9}};
}

}  // namespace

TEST_CASE("MapOutputStatuses are placed by map index; others are ignored",
          "[shuffle][map_output]") {
    capnp::MallocMessageBuilder mb;
    auto r = mb.initRoot<wire::MapOutputStatuses>();
    r.setShuffleId(3);
    r.setNumMaps(3);
    r.setEpoch(7);
    auto list = r.initStatuses(4);
    to_wire(list[0], status(11, 2));
    to_wire(list[1], status(12, 0));
    to_wire(list[2], status(13, 1));
    to_wire(list[3], status(14, 3));  // outside [0, numMaps)
    auto s = read_map_output_statuses(r.asReader(), 3, 0);
    CHECK(s.num_maps == 3);
    CHECK(s.epoch == 7);
    REQUIRE(s.by_map_index.size() == 3);
    REQUIRE(s.by_map_index[2]);
    CHECK(s.by_map_index[2]->map_id == 11);
    CHECK(s.by_map_index[2]->sizes == std::vector<std::uint64_t>{5, 0, 9});
    auto blocks = ReplyTracker(r.asReader()).get_map_sizes_by_executor_id(3, 0, 3);
    REQUIRE(blocks.size() == 1);
    CHECK(blocks[0].second.size() == 6);  // 3 maps x the 2 non-empty partitions
}

TEST_CASE("A MapOutputStatuses reply claiming 2^31 maps allocates for what it carries",
          "[shuffle][map_output]") {
    capnp::MallocMessageBuilder mb;
    auto r = mb.initRoot<wire::MapOutputStatuses>();
    // 2^31 - 1 was resized to ~200 GB of slots, -1 to 2^64 - 1 (std::length_error out of the task).
    r.setNumMaps(0x7fffffff);
    to_wire(r.initStatuses(1)[0], status(11, 0));
    auto s = read_map_output_statuses(r.asReader(), 3, 1);
    CHECK(s.num_maps == 0x7fffffff);
    CHECK(s.by_map_index.size() == 1);
    // The outputs it does not carry are missing, as they would have been.
    CHECK_THROWS_AS(ReplyTracker(r.asReader()).get_map_sizes_by_executor_id(3, 1, 2),
                    MetadataFetchFailedException);

    // A million statuses all of map index 0, as a list of zero-sized structs (a few bytes on the
    // wire, which capnp lets claim a million elements) reads: one slot.
    capnp::MallocMessageBuilder zero;
    auto z = zero.initRoot<wire::MapOutputStatuses>();
    z.setNumMaps(1 << 20);
    z.initStatuses(1 << 20);
    CHECK(read_map_output_statuses(z.asReader(), 3, 1).by_map_index.size() == 1);

    r.setNumMaps(-1);
    CHECK_THROWS_AS(read_map_output_statuses(r.asReader(), 3, 1), MetadataFetchFailedException);
}

TEST_CASE("An executor's tracker drops a shuffle's statuses when its BlockManager removes the shuffle",
          "[shuffle][map_output]") {
    // The driver's tracker and an executor's, on two envs; the executor's BlockManager tells its
    // tracker when the driver's ContextCleaner has it remove a shuffle (RemoveShuffle).
    rpc::testkit::LocalEnvs envs(2);
    MapOutputTrackerMaster master;
    master.start_endpoint(envs[0]);
    master.register_shuffle(4, 1);
    master.register_map_output(4, 0, status(21, 0));
    MapOutputTrackerWorker worker(envs[1].endpoint_ref(envs[0].address(), std::string(MapOutputTracker::kEndpointName)),
                                  rpc::RpcTimeout::ask(Conf{}));
    auto dir = ember::test::fresh_temp_dir("tracker-unregister");
    Conf conf;
    conf.set("ember.local.dir", dir);
    storage::BlockManager bm("1", envs[1], conf, 64u << 20);
    bm.set_shuffle_removed_listener([&worker](int id) { worker.unregister_shuffle(id); });

    CHECK(worker.statuses(4, 0).by_map_index.at(0)->map_id == 21);
    master.unregister_shuffle(4);
    CHECK(worker.statuses(4, 0).by_map_index.at(0)->map_id == 21);  // cached
    CHECK(bm.remove_shuffle(4) == 0);                                // no map output written here
    CHECK_THROWS_AS(worker.statuses(4, 0), MetadataFetchFailedException);  // asked again: gone
    bm.stop();
    std::filesystem::remove_all(dir);
}
