// SPDX-License-Identifier: Apache-2.0
#include "test/fuzz/fuzz_support.hpp"

#include "rpc/message_data.hpp"
#include "rpc/rpc_address.hpp"
#include "rpc/wire_error.hpp"
#include "scheduler/cluster/cluster_codec.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/ember.hpp"
#include "scheduler/rdd/actions.hpp"
#include "scheduler/rdd/rdd_base.hpp"
#include "shuffle/map_output_messages.capnp.h"
#include "shuffle/map_output_tracker.hpp"
#include "shuffle/map_status.hpp"
#include "storage/block_manager_messages.capnp.h"
#include "storage/block_transfer_codec.hpp"
#include "storage/block_transfer_messages.capnp.h"
#include "storage/storage_codec.hpp"

#include <cstring>
#include <utility>

namespace ember::fuzz {

namespace sw = scheduler::wire;
namespace stw = storage::wire;
namespace shw = shuffle::wire;

CapnpInput::CapnpInput(std::span<const std::uint8_t> bytes)
    : words_(kj::heapArray<capnp::word>((bytes.size() + sizeof(capnp::word) - 1) /
                                        sizeof(capnp::word))) {
    std::memset(words_.begin(), 0, words_.size() * sizeof(capnp::word));
    if (!bytes.empty())
        std::memcpy(words_.begin(), bytes.data(), bytes.size());
}

capnp::MessageReader& CapnpInput::reader() {
    if (!reader_) {
        reader_ = std::make_unique<capnp::FlatArrayMessageReader>(
            words_.asPtr(), rpc::detail::reader_options(words_.size() * sizeof(capnp::word)));
    }
    return *reader_;
}

namespace detail {

rpc::Message localize(rpc::OutgoingMessage m, std::span<const std::uint8_t> body) {
    if (!body.empty())
        m.add_body(rpc::Bytes::copy_of(std::as_bytes(body)));
    return rpc::detail::MessageData::to_message(rpc::detail::localize(m.release()).value());
}

}  // namespace detail

namespace {

// A tracker whose master's reply is fuzzer bytes: get_map_sizes_by_executor_id is the reducer's
// real code over them.
class ReplyTracker final : public shuffle::MapOutputTracker {
public:
    explicit ReplyTracker(shw::MapOutputStatuses::Reader reply) : reply_(reply) {}
    shuffle::ShuffleStatuses statuses(int shuffle_id, int reduce_id) override {
        return shuffle::read_map_output_statuses(reply_, shuffle_id, reduce_id);
    }

private:
    shw::MapOutputStatuses::Reader reply_;
};

void read_status_update(sw::StatusUpdate::Reader su) {
    std::string exec_id = su.getExecutorId();
    for (auto w : su.getUpdates()) {
        scheduler::TaskStatusUpdate u = scheduler::from_wire(w);
        if (u.reason)
            (void)scheduler::to_error_string(*u.reason);
        if (u.state == scheduler::TaskState::finished && !u.indirect) {
            // The DAGScheduler reads a ShuffleMapTask's result as a MapStatus, a ResultTask's
            // with its action's decoder (collect() of the word count here).
            rejecting([&] { (void)decode<shuffle::MapStatus>(u.result); });
            rejecting([&] {
                std::vector<std::pair<std::string, std::uint64_t>> out;
                scheduler::CollectFn<std::pair<std::string, std::uint64_t>>::append_results(
                    u.result, out);
            });
        }
    }
}

void read_launch_task(sw::LaunchTask::Reader lt) {
    for (auto s : lt.getStages()) {
        auto bin = s.getBinary();
        std::string_view bytes(reinterpret_cast<const char*>(bin.begin()), bin.size());
        (void)s.getStageId();
        (void)s.getStageAttempt();
        // The executor decodes a stage's binary before its first task runs.
        rejecting([&] { (void)scheduler::StageCodec::decode(bytes); });
    }
    for (auto t : lt.getTasks()) {
        auto desc = scheduler::from_wire(t);
        // A task's ParallelCollectionRDD reads its slice from the task's partition data.
        if (desc.partition_data) {
            rejecting([&] { (void)scheduler::find_partition_data(*desc.partition_data, 0, desc.partition_id); });
        }
    }
    for (auto r : lt.getRemoveStages()) {  // any pair: the executor ignores attempts it lacks
        (void)r.getStageId();
        (void)r.getStageAttempt();
    }
}

void read_map_output_statuses(shw::MapOutputStatuses::Reader r) {
    ReplyTracker tracker(r);
    int shuffle_id = r.getShuffleId();
    // The reducers of the first few partitions, as each would ask.
    for (int start = 0; start < 4; ++start) {
        rejecting(
            [&] { (void)tracker.get_map_sizes_by_executor_id(shuffle_id, start, start + 2); });
    }
}

void read_block_manager_message(const Payload& msg) {
    // BlockManagerMasterEndpoint and the BlockManager's storage endpoint.
    auto block = [](capnp::Text::Reader t) {
        (void)storage::parse_block_id(std::string_view(t.cStr()));
    };
    if (auto r = msg.try_get<stw::RegisterBlockManager>()) {
        (void)storage::detail::from_wire(r->getBlockManagerId());
        (void)r->getMaxOnHeapMemory();
        auto ref = r->getStorageEndpoint();
        (void)rpc::RpcAddress{ref.getHost(), ref.getPort()};
        (void)ref.getName();
    } else if (auto r = msg.try_get<stw::UpdateBlockInfo>()) {
        block(r->getBlockId());
        (void)storage::detail::from_wire(r->getBlockManagerId());
        (void)storage::detail::from_wire(r->getStorageLevel()).description();
    } else if (auto r = msg.try_get<stw::GetLocations>()) {
        block(r->getBlockId());
    } else if (auto r = msg.try_get<stw::GetLocationsMultipleBlockIds>()) {
        for (auto t : r->getBlockIds()) block(t);
    } else if (auto r = msg.try_get<stw::RemoveBlock>()) {
        block(r->getBlockId());
    } else if (auto r = msg.try_get<stw::Locations>()) {
        for (auto l : r->getLocations()) (void)storage::detail::from_wire(l);
    } else if (auto r = msg.try_get<stw::LocationsMultiple>()) {
        for (auto ls : r->getLocations()) {
            for (auto l : ls.getLocations()) (void)storage::detail::from_wire(l);
        }
    } else if (auto r = msg.try_get<stw::RegisteredBlockManager>()) {
        (void)storage::detail::from_wire(r->getBlockManagerId());
    }
}

}  // namespace

void read_message(const rpc::Message& msg) {
    (void)msg.type_name();
    read_payload(Payload{msg.payload(), msg.type_id(), &msg});
}

void read_payload(const Payload& msg) {
    // DriverEndpoint and HeartbeatReceiver.
    if (auto r = msg.try_get<sw::StatusUpdate>())
        return read_status_update(*r);
    if (auto r = msg.try_get<sw::RegisterExecutor>()) {
        std::string id = r->getExecutorId();
        std::string build = r->getBuildId();
        auto ref = r->getExecutorRef();
        (void)rpc::RpcAddress{ref.getHost(), ref.getPort()};
        std::string host = r->getHostname();
        (void)r->getCores();
        (void)r->getPid();
        (void)shuffle::from_wire(r->getBlockManagerId());
        return;
    }
    if (auto r = msg.try_get<sw::RetrieveSparkAppConfig>()) {
        (void)std::string(r->getExecutorId());
        return;
    }
    if (auto r = msg.try_get<sw::LaunchedExecutor>()) {
        (void)std::string(r->getExecutorId());
        return;
    }
    if (auto r = msg.try_get<sw::RemoveExecutor>()) {
        (void)std::string(r->getExecutorId());
        (void)std::string(r->getReason());
        return;
    }
    if (auto r = msg.try_get<sw::Heartbeat>()) {
        (void)std::string(r->getExecutorId());
        (void)shuffle::from_wire(r->getBlockManagerId());
        (void)r->getRunningTasks();
        return;
    }
    // CoarseGrainedExecutorBackend and the executor's start-up.
    if (auto r = msg.try_get<sw::LaunchTask>())
        return read_launch_task(*r);
    if (auto r = msg.try_get<sw::KillTask>()) {
        (void)r->getTaskId();
        (void)std::string(r->getReason());
        return;
    }
    if (auto r = msg.try_get<sw::SparkAppConfig>()) {
        Conf conf;
        for (auto kv : r->getSparkProperties()) conf.set(kv.getKey(), kv.getValue());
        return;
    }
    if (auto r = msg.try_get<sw::RegisteredExecutor>()) {
        (void)std::string(r->getAppId());
        return;
    }
    if (auto r = msg.try_get<sw::HeartbeatResponse>()) {
        (void)r->getExecutorRemoved();
        return;
    }
    // Block transfer: the BlockManager's server and client.
    if (auto r = msg.try_get<stw::FetchBlocks>()) {
        auto req = storage::read_fetch_blocks(*r);
        if (req) {
            for (auto& b : *req) {
                (void)storage::name(b.id);
                if (b.range)
                    (void)b.range->within(4096);
            }
        }
        return;
    }
    if (auto r = msg.try_get<stw::BlocksFetched>()) {
        if (!msg.message)
            return;  // the client reads it with its body
        std::size_t n = r->getSizes().size();
        (void)storage::read_blocks_fetched(*msg.message, n);
        (void)storage::read_blocks_fetched(*msg.message, n + 1);
        return;
    }
    // MapOutputTracker: the master's endpoint and a worker reading its reply.
    if (auto r = msg.try_get<shw::GetMapOutputStatuses>()) {
        (void)r->getShuffleId();
        return;
    }
    if (auto r = msg.try_get<shw::MapOutputStatuses>())
        return read_map_output_statuses(*r);
    // The env itself: a failure reply, the endpoint verifier.
    if (auto r = msg.try_get<ember::rpc_wire::RpcFailure>()) {
        rpc::RpcError e{rpc::from_wire(r->getCode()), r->getMessage()};
        (void)e.message;
        return;
    }
    if (auto r = msg.try_get<ember::rpc_wire::CheckExistence>()) {
        (void)std::string(r->getName());
        return;
    }
    read_block_manager_message(msg);
}

std::vector<std::string> seed_stage_binaries(const std::string& input_file) {
    SparkContext sc("local[1]", "fuzz-seeds");
    std::vector<std::string> out;
    int min_len = 2;  // captured by value: travels in the closure's bytes
    auto counts = sc.text_file(input_file, 2)
                      .flat_map([](const std::string& line) {
                          std::vector<std::string> words;
                          std::size_t i = 0;
                          while (i < line.size()) {
                              std::size_t j = line.find(' ', i);
                              if (j == std::string::npos)
                                  j = line.size();
                              if (j > i)
                                  words.push_back(line.substr(i, j - i));
                              i = j + 1;
                          }
                          return words;
                      })
                      .filter([min_len](const std::string& w) {
                          return static_cast<int>(w.size()) >= min_len;
                      })
                      .map([](std::string w) { return std::pair(std::move(w), std::uint64_t{1}); })
                      .reduce_by_key([](std::uint64_t a, std::uint64_t b) { return a + b; }, 3);
    for (auto& dep : counts.node()->shuffle_dependencies()) {
        out.push_back(scheduler::StageCodec::encode_shuffle_map_stage(*dep));
    }
    out.push_back(scheduler::StageCodec::encode_result_stage(
        *counts.node(), scheduler::CollectFn<std::pair<std::string, std::uint64_t>>{}));

    auto groups =
        sc.parallelize(std::vector<std::pair<int, std::string>>{{1, "a"}, {2, "b"}, {1, "c"}}, 2)
            .map_partitions(
                [](std::vector<std::pair<int, std::string>>&& part) { return std::move(part); })
            .group_by_key(2);
    for (auto& dep : groups.node()->shuffle_dependencies()) {
        out.push_back(scheduler::StageCodec::encode_shuffle_map_stage(*dep));
    }
    out.push_back(scheduler::StageCodec::encode_result_stage(
        *groups.node(), scheduler::CollectFn<std::pair<int, std::vector<std::string>>>{}));
    sc.stop();
    return out;
}

}  // namespace ember::fuzz
