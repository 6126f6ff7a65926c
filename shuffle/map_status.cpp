// SPDX-License-Identifier: Apache-2.0
#include "shuffle/map_status.hpp"

#include <fmt/format.h>

namespace ember::shuffle {

void to_wire(storage::wire::BlockManagerId::Builder b, const storage::BlockManagerId& id) {
    b.setExecutorId(id.executor_id);
    b.setHost(id.host);
    b.setPort(id.port);
}

storage::BlockManagerId from_wire(storage::wire::BlockManagerId::Reader r) {
    return storage::BlockManagerId{r.getExecutorId(), r.getHost(), r.getPort()};
}

void to_wire(wire::MapStatus::Builder b, const MapStatus& s) {
    to_wire(b.initLocation(), s.location);
    b.setMapId(s.map_id);
    b.setMapIndex(s.map_index);
    auto sizes = b.initSizes(static_cast<unsigned>(s.sizes.size()));
    for (unsigned i = 0; i < s.sizes.size(); ++i) sizes.set(i, s.sizes[i]);
}

MapStatus from_wire(wire::MapStatus::Reader r) {
    MapStatus s;
    s.location = from_wire(r.getLocation());
    s.map_id = r.getMapId();
    s.map_index = r.getMapIndex();
    s.sizes.reserve(r.getSizes().size());
    for (auto v : r.getSizes()) s.sizes.push_back(v);
    return s;
}

FetchFailedException::FetchFailedException(storage::BlockManagerId address, int shuffle_id, std::int64_t map_id,
                                           int map_index, int reduce_id, std::string message)
    : std::runtime_error(fmt::format("FetchFailed({}, shuffleId={}, mapIndex={}, mapId={}, reduceId={}, message=\n{}\n)",
                                     address.executor_id.empty() ? "null" : address.to_string(), shuffle_id,
                                     map_index, map_id, reduce_id, message)),
      address_(std::move(address)),
      shuffle_id_(shuffle_id),
      map_id_(map_id),
      map_index_(map_index),
      reduce_id_(reduce_id),
      message_(std::move(message)) {}

}  // namespace ember::shuffle
