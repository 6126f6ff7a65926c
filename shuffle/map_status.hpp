// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// MapStatus (where a map task's output is and how big each reduce block is) and the
/// exceptions a reduce task raises when it cannot get its input (Spark's MapStatus,
/// FetchFailedException, MetadataFetchFailedException).

#include "shuffle/map_output_messages.capnp.h"
#include "storage/block_id.hpp"
#include "storage/block_manager_id.hpp"
#include "storage/serializer.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember::shuffle {

/// The output of one map task. Unlike Spark's CompressedMapStatus (log-1.1 byte sizes), sizes
/// are exact: cheap at our partition counts, and exact flow control needs them.
/// Threading: immutable.
struct MapStatus {
    storage::BlockManagerId location;
    std::int64_t map_id = 0;  ///< the map task's attempt id (shuffle file names use it)
    int map_index = 0;        ///< the map partition
    std::vector<std::uint64_t> sizes;

    EMBER_SERDE(location, map_id, map_index, sizes)
};

void to_wire(wire::MapStatus::Builder b, const MapStatus& s);
MapStatus from_wire(wire::MapStatus::Reader r);
void to_wire(storage::wire::BlockManagerId::Builder b, const storage::BlockManagerId& id);
storage::BlockManagerId from_wire(storage::wire::BlockManagerId::Reader r);

/// A reduce task could not fetch a shuffle block: the DAGScheduler must regenerate that map
/// output (Spark's FetchFailedException). A MetadataFetchFailed has no address and
/// map_id = map_index = -1 (the output was already missing).
class FetchFailedException : public std::runtime_error {
public:
    FetchFailedException(storage::BlockManagerId address, int shuffle_id, std::int64_t map_id, int map_index,
                         int reduce_id, std::string message);
    const storage::BlockManagerId& address() const noexcept { return address_; }
    int shuffle_id() const noexcept { return shuffle_id_; }
    std::int64_t map_id() const noexcept { return map_id_; }
    int map_index() const noexcept { return map_index_; }
    int reduce_id() const noexcept { return reduce_id_; }
    const std::string& message() const noexcept { return message_; }

private:
    storage::BlockManagerId address_;
    int shuffle_id_;
    std::int64_t map_id_;
    int map_index_;
    int reduce_id_;
    std::string message_;
};

class MetadataFetchFailedException : public FetchFailedException {
public:
    MetadataFetchFailedException(int shuffle_id, int reduce_id, std::string message)
        : FetchFailedException({}, shuffle_id, -1, -1, reduce_id, std::move(message)) {}
};

}  // namespace ember::shuffle
