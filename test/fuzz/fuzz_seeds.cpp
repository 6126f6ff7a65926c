// SPDX-License-Identifier: Apache-2.0
// Writes the seed corpora of the fuzz targets: `fuzz_seeds DIR` creates DIR/<target>/ with a
// handful of small valid inputs each, made by ember's own encoders (the frames and messages a
// driver, an executor or a BlockManager sends, a real job's stage binaries, shuffle blocks and
// index files as the map side writes them). test/fuzz/corpus/ holds its output, committed:
//
//   build-asan/test/fuzz/fuzz_seeds test/fuzz/corpus
#include "rpc/message_data.hpp"
#include "rpc/security/auth_handshake.hpp"
#include "rpc/transport/frame_codec.hpp"
#include "scheduler/cluster/cluster_codec.hpp"
#include "scheduler/cluster/cluster_messages.capnp.h"
#include "scheduler/rdd/rdd_base.hpp"
#include "scheduler/status/event_log.hpp"
#include "scheduler/task_end_reason.hpp"
#include "scheduler/task_metrics.hpp"
#include "shuffle/compression.hpp"
#include "shuffle/map_output_messages.capnp.h"
#include "shuffle/map_status.hpp"
#include "storage/block_transfer_messages.capnp.h"
#include "storage/serializer.hpp"
#include "test/fuzz/fuzz_support.hpp"
#include "test/fuzz/status_fuzz_support.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

using namespace ember;
namespace fs = std::filesystem;
namespace sw = ember::scheduler::wire;
namespace stw = ember::storage::wire;
namespace shw = ember::shuffle::wire;

namespace {

fs::path g_root;

void write_seed(const std::string& target, const std::string& name, const std::string& bytes) {
    fs::create_directories(g_root / target);
    std::ofstream(g_root / target / name, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string byte(int b) {
    return std::string(1, static_cast<char>(b));
}

// A capnp message in stream framing (segment table, segments), as capnp writes one.
std::string flat(capnp::MessageBuilder& mb) {
    auto words = capnp::messageToFlatArray(mb);
    auto bytes = words.asBytes();
    return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

template <class T, class Fill>
std::string flat_message(Fill&& fill) {
    capnp::MallocMessageBuilder mb;
    fill(mb.initRoot<T>());
    return flat(mb);
}

// One frame as a TransportClient writes it: envelope + payload, then the body.
std::string frame(rpc::OutgoingMessage m, ember::rpc_wire::Kind kind, std::uint64_t request_id,
                  const std::string& receiver, const std::string& body = {}) {
    if (!body.empty())
        m.add_body(rpc::Bytes::copy_of(std::string_view(body)));
    auto d = m.release();
    d->envelope.setKind(kind);
    d->envelope.setRequestId(request_id);
    d->envelope.setReceiver(receiver);
    d->envelope.setSenderHost("127.0.0.1");
    d->envelope.setSenderPort(7077);
    d->envelope.setSenderName("Executor");
    std::vector<std::byte> table;
    auto segs = d->builder.getSegmentsForOutput();
    rpc::transport::encode_segment_table(segs, table);
    std::string out(reinterpret_cast<const char*>(table.data()), table.size());
    for (auto s : segs)
        out.append(reinterpret_cast<const char*>(s.begin()), s.size() * sizeof(capnp::word));
    return out + body;
}

shuffle::MapStatus map_status(std::int64_t map_id, int map_index) {
    return shuffle::MapStatus{{"1", "127.0.0.1", 40123}, map_id, map_index, {120, 0, 4096, 17}};
}

void fill_status_update(sw::StatusUpdate::Builder b) {
    b.setExecutorId("1");
    auto updates = b.initUpdates(4);
    scheduler::TaskMetrics metrics;
    metrics.executor_run_time_ns = 1234567;
    metrics.result_size = 48;
    metrics.shuffle_write.bytes_written = 4233;
    metrics.shuffle_read.remote_bytes_read = 999;
    std::string result = encode(map_status(7, 3));
    updates[0].setTaskId(7);
    updates[0].setState(sw::TaskState::FINISHED);
    updates[0].setResult(
        kj::arrayPtr(reinterpret_cast<const capnp::byte*>(result.data()), result.size()));
    metrics.to_wire(updates[0].initMetrics());
    updates[1].setTaskId(8);
    updates[1].setState(sw::TaskState::FAILED);
    scheduler::to_wire(updates[1].initFailure(),
                       scheduler::TaskEndReason{
                           scheduler::FetchFailed{{"2", "127.0.0.1", 40124}, 0, 5, 1, 2, "gone"}});
    metrics.to_wire(updates[1].initMetrics());
    updates[2].setTaskId(9);
    updates[2].setState(sw::TaskState::FINISHED);
    updates[2].setIndirect(true);
    updates[2].setResultSize(5 << 20);
    updates[2].setResultBlockId("taskresult_9");
    updates[3].setTaskId(10);
    updates[3].setState(sw::TaskState::KILLED);
    scheduler::to_wire(updates[3].initFailure(),
                       scheduler::TaskEndReason{scheduler::TaskKilled{"stage cancelled"}});
}

void fill_launch_task(sw::LaunchTask::Builder b, const std::string& binary) {
    auto stages = b.initStages(1);
    stages[0].setStageId(0);
    stages[0].setStageAttempt(0);
    stages[0].setBinary(
        kj::arrayPtr(reinterpret_cast<const capnp::byte*>(binary.data()), binary.size()));
    auto tasks = b.initTasks(2);
    for (unsigned i = 0; i < 2; ++i) {
        scheduler::TaskDescription d;
        d.task_id = 11 + i;
        d.executor_id = "1";
        d.name = fmt::format("task {}.0 in stage 0.0 (TID {})", i, 11 + i);
        d.index = static_cast<int>(i);
        d.partition_id = static_cast<int>(i);
        d.epoch = 2;
        scheduler::to_wire(tasks[i], d);
    }
    auto removed = b.initRemoveStages(1);  // a finished stage attempt whose binary goes
    removed[0].setStageId(3);
    removed[0].setStageAttempt(1);
}

void fill_register_executor(sw::RegisterExecutor::Builder b) {
    b.setExecutorId("1");
    auto ref = b.initExecutorRef();
    ref.setHost("");
    ref.setPort(0);
    ref.setName("Executor");
    b.setHostname("127.0.0.1");
    b.setCores(2);
    b.setBuildId("5c7a0e3bd0c1f0a1");
    b.setPid(4242);
    shuffle::to_wire(b.initBlockManagerId(), storage::BlockManagerId{"1", "127.0.0.1", 40123});
}

void fill_map_output_statuses(shw::MapOutputStatuses::Builder b) {
    b.setShuffleId(0);
    b.setNumMaps(3);
    b.setEpoch(4);
    auto list = b.initStatuses(2);
    shuffle::to_wire(list[0], map_status(21, 0));
    shuffle::to_wire(list[1], map_status(22, 2));
}

void fill_fetch_blocks(stw::FetchBlocks::Builder b, bool ranged) {
    auto ids = b.initBlockIds(3);
    ids.set(0, "shuffle_0_21_1");
    ids.set(1, "rdd_2_9");
    ids.set(2, "taskresult_9");
    if (ranged) {
        auto r = b.initRanges(3);
        r[0].setOffset(0);
        r[0].setLength(100);
        r[1].setOffset(64);
        r[1].setLength(1);
        r[2].setOffset(0);
        r[2].setLength(0);
    }
}

std::string blocks_fetched(const std::vector<std::string>& blocks) {
    std::string body;
    auto capnp_part = flat_message<stw::BlocksFetched>([&](stw::BlocksFetched::Builder b) {
        auto sizes = b.initSizes(static_cast<unsigned>(blocks.size()));
        for (unsigned i = 0; i < blocks.size(); ++i) {
            sizes.set(i, blocks[i].size());
            body += blocks[i];
        }
    });
    std::string len;
    len += static_cast<char>(capnp_part.size() & 0xff);
    len += static_cast<char>((capnp_part.size() >> 8) & 0xff);
    return byte(1) + len + capnp_part + body;
}

void frame_seeds(const std::string& binary) {
    const std::string t = "frame_decoder";
    auto su = rpc::OutgoingMessage::make<sw::StatusUpdate>(fill_status_update);
    write_seed(
        t, "status_update",
        byte(0) + frame(std::move(su), ember::rpc_wire::Kind::ONE_WAY, 0, "CoarseGrainedScheduler"));
    auto lt =
        rpc::OutgoingMessage::make<sw::LaunchTask>([&](auto b) { fill_launch_task(b, binary); });
    write_seed(t, "launch_task",
               byte(1) + frame(std::move(lt), ember::rpc_wire::Kind::ONE_WAY, 0, "Executor"));
    auto reg = rpc::OutgoingMessage::make<sw::RegisterExecutor>(fill_register_executor);
    write_seed(
        t, "register_executor",
        byte(2) + frame(std::move(reg), ember::rpc_wire::Kind::REQUEST, 1, "CoarseGrainedScheduler"));
    // A fetch and its reply with the blocks' bytes as the body, back to back on one connection.
    auto fb =
        rpc::OutgoingMessage::make<stw::FetchBlocks>([](auto b) { fill_fetch_blocks(b, true); });
    std::string body = "0123456789abcdefghij";
    auto bf = rpc::OutgoingMessage::make<stw::BlocksFetched>([](stw::BlocksFetched::Builder b) {
        auto sizes = b.initSizes(3);
        sizes.set(0, 12);
        sizes.set(1, 0);
        sizes.set(2, 8);
    });
    write_seed(t, "fetch_blocks_and_reply",
               byte(3) + frame(std::move(fb), ember::rpc_wire::Kind::REQUEST, 2, "block-transfer") +
                   frame(std::move(bf), ember::rpc_wire::Kind::RESPONSE, 2, "", body));
    auto mos = rpc::OutgoingMessage::make<shw::MapOutputStatuses>(fill_map_output_statuses);
    auto failure =
        rpc::OutgoingMessage::make<ember::rpc_wire::RpcFailure>([](ember::rpc_wire::RpcFailure::Builder b) {
            b.setCode(ember::rpc_wire::ErrorCode::REMOTE_FAILURE);
            b.setMessage("Shuffle 9 is not registered with the MapOutputTracker");
        });
    write_seed(t, "map_outputs_and_failure",
               byte(4) + frame(std::move(mos), ember::rpc_wire::Kind::RESPONSE, 3, "") +
                   frame(std::move(failure), ember::rpc_wire::Kind::FAILURE, 4, ""));
    auto hb = rpc::OutgoingMessage::make<sw::Heartbeat>([](sw::Heartbeat::Builder b) {
        b.setExecutorId("1");
        shuffle::to_wire(b.initBlockManagerId(), storage::BlockManagerId{"1", "127.0.0.1", 40123});
        b.setRunningTasks(2);
    });
    auto check = rpc::OutgoingMessage::make<ember::rpc_wire::CheckExistence>(
        [](ember::rpc_wire::CheckExistence::Builder b) { b.setName("CoarseGrainedScheduler"); });
    write_seed(t, "heartbeat_and_lookup",
               byte(5) + frame(std::move(hb), ember::rpc_wire::Kind::REQUEST, 5, "HeartbeatReceiver") +
                   frame(std::move(check), ember::rpc_wire::Kind::REQUEST, 6, "endpoint-verifier"));
}

void cluster_seeds(const std::string& binary) {
    const std::string t = "cluster_messages";
    write_seed(t, "status_update", byte(0) + flat_message<sw::StatusUpdate>(fill_status_update));
    write_seed(t, "launch_task", byte(1) + flat_message<sw::LaunchTask>([&](auto b) {
                                     fill_launch_task(b, binary);
                                 }));
    write_seed(t, "register_executor",
               byte(2) + flat_message<sw::RegisterExecutor>(fill_register_executor));
    write_seed(t, "heartbeat",
               byte(3) + flat_message<sw::Heartbeat>([](sw::Heartbeat::Builder b) {
                   b.setExecutorId("2");
                   shuffle::to_wire(b.initBlockManagerId(), storage::BlockManagerId{"2", "h", 1});
                   b.setRunningTasks(1);
               }));
    write_seed(
        t, "retrieve_spark_app_config",
        byte(4) + flat_message<sw::RetrieveSparkAppConfig>([](auto b) { b.setExecutorId("1"); }));
    write_seed(t, "spark_app_config",
               byte(5) + flat_message<sw::SparkAppConfig>([](sw::SparkAppConfig::Builder b) {
                   b.setAppId("app-20261201170000-0000");
                   auto props = b.initSparkProperties(2);
                   props[0].setKey("ember.rpc.askTimeout");
                   props[0].setValue("30s");
                   props[1].setKey("ember.shuffle.compress");
                   props[1].setValue("true");
               }));
    write_seed(t, "kill_task", byte(8) + flat_message<sw::KillTask>([](sw::KillTask::Builder b) {
                                   b.setTaskId(12);
                                   b.setExecutorId("1");
                                   b.setReason("another attempt succeeded");
                               }));
    write_seed(t, "remove_executor",
               byte(9) + flat_message<sw::RemoveExecutor>([](sw::RemoveExecutor::Builder b) {
                   b.setExecutorId("1");
                   b.setReason("Executor heartbeat timed out");
               }));
}

void block_transfer_seeds() {
    const std::string t = "block_transfer";
    write_seed(t, "fetch_blocks", byte(0) + flat_message<stw::FetchBlocks>([](auto b) {
                                      fill_fetch_blocks(b, false);
                                  }));
    write_seed(t, "fetch_blocks_ranged", byte(0) + flat_message<stw::FetchBlocks>([](auto b) {
                                             fill_fetch_blocks(b, true);
                                         }));
    write_seed(t, "blocks_fetched", blocks_fetched({"first block", "", "third"}));
    {
        // Sizes whose sum wraps around to fit the body (the client once trusted pos + size).
        std::string body = "abcde";
        auto capnp_part = flat_message<stw::BlocksFetched>([&](stw::BlocksFetched::Builder b) {
            auto sizes = b.initSizes(2);
            sizes.set(0, 2);
            sizes.set(1, ~std::uint64_t{0});
        });
        std::string len{static_cast<char>(capnp_part.size() & 0xff),
                        static_cast<char>(capnp_part.size() >> 8)};
        write_seed(t, "regress_blocks_fetched_wrapping_sizes", byte(1) + len + capnp_part + body);
    }
    for (const char* id :
         {"shuffle_0_5_3", "shuffle_1_7_0.index", "rdd_2_9", "temp_shuffle_0f3a-77"}) {
        std::string name = id;
        for (auto& c : name) c = c == '.' ? '-' : c;
        write_seed(t, "block_id_" + name, byte(2) + id);
    }
}

template <class T>
void record_seeds(int type, const std::vector<T>& records) {
    const std::string t = "record_decoder";
    Encoder e;
    for (auto& r : records) e.write(r);
    std::string plain = e.take();
    // A map-side writer seals LZ4 frames every few hundred KiB: two frames here.
    std::string lz4;
    shuffle::lz4_compress_append(std::string_view(plain).substr(0, plain.size() / 2), lz4);
    shuffle::lz4_compress_append(std::string_view(plain).substr(plain.size() / 2), lz4);
    write_seed(t, fmt::format("type{}_plain", type), byte(type) + plain);
    write_seed(t, fmt::format("type{}_lz4", type), byte(type | 0x08) + lz4);
    write_seed(t, fmt::format("type{}_file", type), byte(type | 0x10) + plain);
}

void record_decoder_seeds() {
    using Opt = std::optional<int>;
    record_seeds<std::pair<std::string, std::uint64_t>>(
        0, {{"the", 197047}, {"-", 121174}, {"to", 88564}});
    record_seeds<std::pair<std::string, std::vector<std::string>>>(1,
                                                                   {{"k", {"a", "b"}}, {"", {}}});
    record_seeds<std::pair<std::int64_t, std::pair<std::vector<double>, std::vector<Opt>>>>(
        2, {{-5, {{1.5, -0.25}, {Opt{3}, std::nullopt}}}});
    record_seeds<std::tuple<bool, std::int8_t, std::uint16_t, float, std::array<std::int32_t, 3>>>(
        3, {{true, -3, 65535, 2.5f, {1, -2, 3}}});
    record_seeds<std::map<std::string, std::unordered_map<std::int64_t, std::string>>>(
        4, {{{"x", {{1, "one"}, {-2, "minus two"}}}, {"y", {}}}});
    record_seeds<std::vector<std::vector<std::pair<int, std::string>>>>(5, {{{{1, "a"}}, {}}});
    record_seeds<shuffle::MapStatus>(7, {map_status(1, 0), map_status(2, 1)});
}

std::string be64(const std::vector<std::uint64_t>& v) {
    std::string out;
    for (auto x : v) {
        for (int i = 7; i >= 0; --i) out += static_cast<char>((x >> (8 * i)) & 0xff);
    }
    return out;
}

void shuffle_index_seeds() {
    const std::string t = "shuffle_index";
    // byte 0: the data file's size / 16.
    write_seed(t, "four_partitions", byte(4) + be64({0, 10, 10, 40, 64}));
    write_seed(t, "one_partition", byte(1) + be64({0, 16}));
    write_seed(t, "empty_output", byte(0) + be64({0, 0, 0}));
}

void map_output_seeds() {
    const std::string t = "map_output_statuses";
    write_seed(t, "statuses",
               byte(0) + flat_message<shw::MapOutputStatuses>(fill_map_output_statuses));
    // Replies whose numMaps is not what they carry (reducers once allocated numMaps slots).
    for (int claim : {0x7fffffff, -1}) {
        write_seed(
            t, claim < 0 ? "regress_negative_num_maps" : "regress_huge_num_maps",
            byte(0) + flat_message<shw::MapOutputStatuses>([&](shw::MapOutputStatuses::Builder b) {
                fill_map_output_statuses(b);
                b.setNumMaps(claim);
            }));
    }
    write_seed(t, "get_statuses", byte(1) + flat_message<shw::GetMapOutputStatuses>([](auto b) {
                                      b.setShuffleId(3);
                                  }));
}

// fuzz_handshake: the messages a real handshake sends (their MACs are of another session, so
// they reach the proof checks), a failure record, and record headers after an honest session.
void handshake_seeds() {
    const std::string t = "handshake";
    using rpc::security::AuthHandshake;
    auto as_string = [](const std::vector<std::byte>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size()); };
    for (bool encrypt : {false, true}) {
        rpc::security::SecurityConfig c;
        c.authenticate = true;
        c.secret = "fuzz-secret";
        c.encrypt = encrypt;
        AuthHandshake client(AuthHandshake::Side::client, c, "seed");
        AuthHandshake server(AuthHandshake::Side::server, c, "seed");
        auto hello = client.take_output();
        server.feed(hello);
        auto server_hello = server.take_output();
        client.feed(server_hello);
        auto proof = client.take_output();
        int enc = encrypt ? 2 : 0;
        write_seed(t, fmt::format("server_reads_hello_and_proof{}", enc), byte(0 | enc) + as_string(hello) + as_string(proof));
        write_seed(t, fmt::format("client_reads_server_hello{}", enc), byte(1 | enc) + as_string(server_hello) + byte(0));
    }
    std::string why = "authentication failed: this env requires authentication";
    std::string fail = std::string(rpc::security::kFailMagic) + byte(0) + byte(static_cast<int>(why.size())) + why;
    write_seed(t, "client_reads_failure_record", byte(1) + fail);
    write_seed(t, "server_reads_failure_record", byte(0) + fail);
    std::string record = std::string("\0\0\0\x10", 4) + std::string(16 + 16, 'r');
    write_seed(t, "records_to_server", byte(4 | 2) + record + record);
    write_seed(t, "records_to_client", byte(4 | 1) + record);
}


std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The fixed application's event log as EventLoggingListener writes it (block updates and
// executor metrics included), plain and compressed, finished and in progress; the plain log in
// parts (a whole one is over 60 KB), and a log in Spark's own fields. Byte 0 picks the
// codec and in-progress naming (fuzz_event_log.cpp).
void event_log_seeds() {
    const std::string t = "event_log";
    auto events = fuzz::seed_app_events();
    fs::path dir = fs::temp_directory_path() / "ember-fuzz-seeds-event-log";
    fs::remove_all(dir);
    // The whole log, and the in-progress file as it stands after the first `cut` events.
    auto write_log = [&](bool compress, const std::string& codec, std::size_t cut, std::string& partial) {
        scheduler::EventLogOptions o;
        o.dir = dir.string();
        o.compress = compress;
        o.codec = codec;
        o.overwrite = true;
        o.log_block_updates = true;
        o.log_executor_metrics = true;
        scheduler::EventLoggingListener log(o, std::string(fuzz::kSeedAppId), "0.1.0");
        for (std::size_t i = 0; i < events.size(); ++i) {
            if (i == cut) partial = read_file(log.path());
            scheduler::dispatch(log, events[i]);
        }
        log.stop();
        std::string whole = read_file(log.path());
        fs::remove_all(dir);
        return whole;
    };
    std::string partial;
    // Plain, in parts of whole lines under 8 KB, each after the log's first two lines (LogStart,
    // ApplicationStart).
    std::string plain = write_log(false, "zstd", events.size(), partial);
    std::size_t head_end = plain.find('\n', plain.find('\n') + 1) + 1;
    const std::string head = plain.substr(0, head_end);
    std::string part = head;
    int parts = 0;
    for (std::size_t pos = head_end; pos < plain.size();) {
        std::size_t end = plain.find('\n', pos) + 1;
        if (part.size() > head.size() && part.size() + (end - pos) > 8000) {
            write_seed(t, fmt::format("app_plain_part{}", parts++), byte(0) + part);
            part = head;
        }
        part += plain.substr(pos, end - pos);
        pos = end;
    }
    write_seed(t, fmt::format("app_plain_part{}", parts), byte(0) + part);
    // In progress, cut in the middle of a line.
    write_seed(t, "app_plain_inprogress_cut", byte(4) + plain.substr(0, 7000));
    std::string zstd = write_log(true, "zstd", events.size() / 2, partial);
    write_seed(t, "app_zstd", byte(1) + zstd);
    write_seed(t, "app_zstd_inprogress", byte(1 | 4) + partial);
    std::string lz4 = write_log(true, "lz4", events.size() / 2, partial);
    write_seed(t, "app_lz4", byte(2) + lz4);
    write_seed(t, "app_lz4_inprogress", byte(2 | 4) + partial);

    // What Spark 3.5 writes: no ember fields, "Stage IDs" only in a JobStart, times in ms, an
    // event ember does not know, the speculative event under its class name, and the reasons
    // ember reads but does not write (TaskCommitDenied, a stack trace, no block manager).
    write_seed(t, "spark_3_5", byte(0) + R"({"Event":"SparkListenerLogStart","Spark Version":"3.5.1"}
{"Event":"SparkListenerApplicationStart","App Name":"Spark shell","App ID":"local-1714564800000","Timestamp":1714564800000,"User":"bob"}
{"Event":"SparkListenerExecutorAdded","Timestamp":1714564800100,"Executor ID":"driver","Executor Info":{"Host":"localhost","Total Cores":4,"Log Urls":{},"Attributes":{},"Resources":{},"Resource Profile Id":0}}
{"Event":"SparkListenerBlockManagerAdded","Block Manager ID":{"Executor ID":"driver","Host":"localhost","Port":40000},"Maximum Memory":455501414,"Timestamp":1714564800200,"Maximum Onheap Memory":455501414,"Maximum Offheap Memory":0}
{"Event":"SparkListenerEnvironmentUpdate","JVM Information":{"Java Home":"/usr/lib/jvm/java-17","Java Version":"17.0.9","Scala Version":"version 2.12.18"},"Spark Properties":{"spark.master":"local[4]"},"Hadoop Properties":{},"System Properties":{"user.name":"bob"},"Classpath Entries":{"/opt/spark/jars/spark-core.jar":"System Classpath"}}
{"Event":"org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart","executionId":0,"description":"count","details":"","physicalPlanDescription":"","time":1714564801000}
{"Event":"SparkListenerJobStart","Job ID":0,"Submission Time":1714564801000,"Stage IDs":[0],"Properties":{"spark.jobGroup.id":"g"}}
{"Event":"SparkListenerStageSubmitted","Stage Info":{"Stage ID":0,"Stage Attempt ID":0,"Stage Name":"count at <console>:24","Number of Tasks":2,"RDD Info":[{"RDD ID":1,"Name":"ParallelCollectionRDD","Scope":"{\"id\":\"0\",\"name\":\"parallelize\"}","Callsite":"parallelize at <console>:24","Parent IDs":[],"Storage Level":{"Use Disk":false,"Use Memory":true,"Use Off Heap":false,"Deserialized":true,"Replication":1},"Barrier":false,"DeterministicLevel":"DETERMINATE","Number of Partitions":2,"Number of Cached Partitions":0,"Memory Size":0,"Disk Size":0}],"Parent IDs":[],"Details":"","Submission Time":1714564801010,"Accumulables":[],"Resource Profile Id":0},"Properties":{}}
{"Event":"SparkListenerTaskStart","Stage ID":0,"Stage Attempt ID":0,"Task Info":{"Task ID":0,"Index":0,"Attempt":0,"Partition ID":0,"Launch Time":1714564801020,"Executor ID":"driver","Host":"localhost","Locality":"PROCESS_LOCAL","Speculative":false,"Getting Result Time":0,"Finish Time":0,"Failed":false,"Killed":false,"Accumulables":[]}}
{"Event":"org.apache.spark.scheduler.SparkListenerSpeculativeTaskSubmitted","stageId":0,"stageAttemptId":0,"taskIndex":0,"partitionId":0}
{"Event":"SparkListenerTaskEnd","Stage ID":0,"Stage Attempt ID":0,"Task Type":"ResultTask","Task End Reason":{"Reason":"Success"},"Task Info":{"Task ID":0,"Index":0,"Attempt":0,"Partition ID":0,"Launch Time":1714564801020,"Executor ID":"driver","Host":"localhost","Locality":"PROCESS_LOCAL","Speculative":false,"Getting Result Time":0,"Finish Time":1714564801120,"Failed":false,"Killed":false,"Accumulables":[]},"Task Executor Metrics":{},"Task Metrics":{"Executor Deserialize Time":20,"Executor Deserialize CPU Time":15000000,"Executor Run Time":70,"Executor CPU Time":60000000,"Peak Execution Memory":0,"Result Size":1000,"JVM GC Time":0,"Result Serialization Time":1,"Memory Bytes Spilled":0,"Disk Bytes Spilled":0,"Shuffle Read Metrics":{"Remote Blocks Fetched":0,"Local Blocks Fetched":0,"Fetch Wait Time":0,"Remote Bytes Read":0,"Remote Bytes Read To Disk":0,"Local Bytes Read":0,"Total Records Read":0},"Shuffle Write Metrics":{"Shuffle Bytes Written":0,"Shuffle Write Time":0,"Shuffle Records Written":0},"Input Metrics":{"Bytes Read":0,"Records Read":0},"Output Metrics":{"Bytes Written":0,"Records Written":0},"Updated Blocks":[]}}
{"Event":"SparkListenerTaskStart","Stage ID":0,"Stage Attempt ID":0,"Task Info":{"Task ID":1,"Index":1,"Attempt":0,"Partition ID":1,"Launch Time":1714564801020,"Executor ID":"driver","Host":"localhost","Locality":"ANY","Speculative":false,"Getting Result Time":0,"Finish Time":0,"Failed":false,"Killed":false,"Accumulables":[]}}
{"Event":"SparkListenerTaskEnd","Stage ID":0,"Stage Attempt ID":0,"Task Type":"ResultTask","Task End Reason":{"Reason":"ExceptionFailure","Class Name":"java.lang.ArithmeticException","Description":"/ by zero","Stack Trace":[{"Declaring Class":"$line14.$read$$iw","Method Name":"$anonfun$res0$1","File Name":"<console>","Line Number":24}],"Accumulator Updates":[]},"Task Info":{"Task ID":1,"Index":1,"Attempt":0,"Partition ID":1,"Launch Time":1714564801020,"Executor ID":"driver","Host":"localhost","Locality":"ANY","Speculative":false,"Getting Result Time":0,"Finish Time":1714564801090,"Failed":true,"Killed":false,"Accumulables":[]}}
{"Event":"SparkListenerTaskEnd","Stage ID":0,"Stage Attempt ID":0,"Task Type":"ResultTask","Task End Reason":{"Reason":"TaskCommitDenied","Job ID":0,"Partition ID":1,"Attempt Number":1},"Task Info":{"Task ID":2,"Index":1,"Attempt":1,"Launch Time":1714564801100,"Executor ID":"driver","Host":"localhost","Locality":"NODE_LOCAL","Getting Result Time":0,"Finish Time":1714564801150,"Failed":false,"Killed":true,"Accumulables":[]}}
{"Event":"SparkListenerTaskEnd","Stage ID":0,"Stage Attempt ID":0,"Task Type":"ResultTask","Task End Reason":{"Reason":"FetchFailed","Block Manager Address":null,"Shuffle ID":0,"Map ID":-1,"Map Index":-1,"Reduce ID":1,"Message":"Missing an output location"},"Task Info":{"Task ID":3,"Index":1,"Attempt":2,"Launch Time":1714564801160,"Executor ID":"driver","Host":"localhost","Locality":"RACK_LOCAL","Getting Result Time":0,"Finish Time":1714564801170,"Failed":true,"Killed":false,"Accumulables":[]}}
{"Event":"SparkListenerBlockUpdated","Block Updated Info":{"Block Manager ID":{"Executor ID":"driver","Host":"localhost","Port":40000},"Block ID":"rdd_1_0","Storage Level":{"Use Disk":false,"Use Memory":true,"Use Off Heap":false,"Deserialized":true,"Replication":1},"Memory Size":2048,"Disk Size":0}}
{"Event":"SparkListenerStageCompleted","Stage Info":{"Stage ID":0,"Stage Attempt ID":0,"Stage Name":"count at <console>:24","Number of Tasks":2,"RDD Info":[],"Parent IDs":[],"Details":"","Submission Time":1714564801010,"Completion Time":1714564801200,"Failure Reason":"Job aborted","Accumulables":[],"Resource Profile Id":0}}
{"Event":"SparkListenerJobEnd","Job ID":0,"Completion Time":1714564801210,"Job Result":{"Result":"JobFailed","Exception":{"Message":"Job aborted","Stack Trace":[]}}}
{"Event":"SparkListenerExecutorMetricsUpdate","Executor ID":"driver","Metrics Updated":[],"Executor Metrics Updated":[{"Stage ID":0,"Stage Attempt ID":0,"Executor Metrics":{"JVMHeapMemory":1}},{"Stage ID":-1,"Stage Attempt ID":-1,"Executor Metrics":{"ProcessTreeJVMRSSMemory":1000000,"OnHeapStorageMemory":2048}}]}
{"Event":"SparkListenerUnpersistRDD","RDD ID":1}
{"Event":"SparkListenerBlockManagerRemoved","Block Manager ID":{"Executor ID":"driver","Host":"localhost","Port":40000},"Timestamp":1714564802000}
{"Event":"SparkListenerExecutorRemoved","Timestamp":1714564802000,"Executor ID":"driver","Removed Reason":"shutdown"}
{"Event":"SparkListenerApplicationEnd","Timestamp":1714564802100}
)");
}

// REST requests over the fixed application: path, then "key=value" lines (fuzz_api_v1.cpp).
void api_v1_seeds() {
    const std::string t = "api_v1";
    const std::string app = "/applications/" + std::string(fuzz::kSeedAppId);
    write_seed(t, "version", "/version");
    write_seed(t, "applications", "/applications");
    write_seed(t, "applications_filtered",
               "/applications\nstatus=completed\nminDate=2024-05-01T11:00:00.000GMT\nmaxEndDate=2024-05-02\nlimit=5");
    write_seed(t, "application", app);
    write_seed(t, "jobs", app + "/jobs\nstatus=succeeded,failed");
    write_seed(t, "job", app + "/jobs/1");
    write_seed(t, "stage_graph", app + "/jobs/0/stageGraph");
    write_seed(t, "stages", app + "/stages\ndetails=true\nwithSummaries=true\nstatus=complete\ntaskStatus=FAILED");
    write_seed(t, "stage", app + "/stages/0");
    write_seed(t, "stage_attempt", app + "/stages/1/1\nquantiles=0.1,0.9\nwithSummaries=true");
    write_seed(t, "task_summary", app + "/stages/0/0/taskSummary\nquantiles=0,0.5,1");
    write_seed(t, "task_list", app + "/stages/0/0/taskList\noffset=1\nlength=3\nsortBy=-runtime\nstatus=success");
    write_seed(t, "executors", app + "/executors");
    write_seed(t, "all_executors", app + "/allexecutors");
    write_seed(t, "rdds", app + "/storage/rdd");
    write_seed(t, "rdd", app + "/storage/rdd/2");
    write_seed(t, "environment", app + "/environment");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: fuzz_seeds DIR (writes DIR/<target>/...)\n");
        return 2;
    }
    g_root = argv[1];
    // The stage binaries of a small word count over a real text file.
    fs::path input = fs::temp_directory_path() / "ember-fuzz-seeds-input.txt";
    std::ofstream(input) << "the quick brown fox\njumps over the lazy dog\nthe end\n";
    auto stages = fuzz::seed_stage_binaries(input.string());
    fs::remove(input);
    for (std::size_t i = 0; i < stages.size(); ++i) {
        // Each seed must decode, or fuzz_stage_binary would only ever explore the error paths.
        (void)scheduler::StageCodec::decode(stages[i]);
        write_seed("stage_binary", fmt::format("stage{}", i), stages[i]);
    }

    frame_seeds(stages.front());
    cluster_seeds(stages.front());
    block_transfer_seeds();
    record_decoder_seeds();
    shuffle_index_seeds();
    map_output_seeds();
    handshake_seeds();
    event_log_seeds();
    api_v1_seeds();
    return 0;
}
