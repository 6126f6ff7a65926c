// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// BlockId: names of blocks, with Spark's string forms (storage/BlockId.scala).

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace ember::storage {

/// `rdd_<rddId>_<split>`: a cached partition.
struct RddBlockId {
    int rdd_id;
    int split_index;
    friend auto operator<=>(const RddBlockId&, const RddBlockId&) = default;
};
/// `shuffle_<shuffleId>_<mapId>_<reduceId>`: one reduce partition of one map output.
/// mapId is the map task's attempt id (unique across attempts), as in Spark 3.
struct ShuffleBlockId {
    int shuffle_id;
    std::int64_t map_id;
    int reduce_id;
    friend auto operator<=>(const ShuffleBlockId&, const ShuffleBlockId&) = default;
};
/// `shuffle_<shuffleId>_<mapId>_0.data`: a map task's data file.
struct ShuffleDataBlockId {
    int shuffle_id;
    std::int64_t map_id;
    friend auto operator<=>(const ShuffleDataBlockId&, const ShuffleDataBlockId&) = default;
};
/// `shuffle_<shuffleId>_<mapId>_0.index`: its index file.
struct ShuffleIndexBlockId {
    int shuffle_id;
    std::int64_t map_id;
    friend auto operator<=>(const ShuffleIndexBlockId&, const ShuffleIndexBlockId&) = default;
};
/// `shuffle_<shuffleId>_<mapId>_0.checksum`: its per-partition checksums.
struct ShuffleChecksumBlockId {
    int shuffle_id;
    std::int64_t map_id;
    friend auto operator<=>(const ShuffleChecksumBlockId&, const ShuffleChecksumBlockId&) = default;
};
/// `taskresult_<taskId>`: an indirect task result.
struct TaskResultBlockId {
    std::int64_t task_id;
    friend auto operator<=>(const TaskResultBlockId&, const TaskResultBlockId&) = default;
};
/// `broadcast_<id>` or `broadcast_<id>_<field>`: a broadcast variable's blocks (Spark's
/// BroadcastBlockId). ember's fields: `piece<n>` (the n-th piece of the serialized value) and
/// `meta` (piece count, sizes and checksums). A field is letters and digits only.
struct BroadcastBlockId {
    std::int64_t broadcast_id;
    std::string field;
    friend auto operator<=>(const BroadcastBlockId&, const BroadcastBlockId&) = default;
};
/// `temp_shuffle_<uuid>` / `temp_local_<uuid>`: spill and scratch files.
struct TempShuffleBlockId {
    std::string uuid;
    friend auto operator<=>(const TempShuffleBlockId&, const TempShuffleBlockId&) = default;
};
struct TempLocalBlockId {
    std::string uuid;
    friend auto operator<=>(const TempLocalBlockId&, const TempLocalBlockId&) = default;
};

/// Any block id. Threading: immutable.
using BlockId = std::variant<RddBlockId, ShuffleBlockId, ShuffleDataBlockId, ShuffleIndexBlockId,
                             ShuffleChecksumBlockId, TaskResultBlockId, TempShuffleBlockId, TempLocalBlockId,
                             BroadcastBlockId>;

/// Spark's string form, e.g. "shuffle_0_5_3".
std::string name(const BlockId& id);
/// Parses a string form; nullopt if it is not a block id ("Failed to parse <name> into a block ID"
/// is the caller's message).
std::optional<BlockId> parse_block_id(std::string_view name);

}  // namespace ember::storage
