// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: conversions between storage structs and their capnp forms.

#include "storage/block_manager_id.hpp"
#include "storage/block_manager_messages.capnp.h"
#include "storage/block_transfer_messages.capnp.h"
#include "storage/storage_level.hpp"

namespace ember::storage::detail {

inline void to_wire(wire::BlockManagerId::Builder b, const BlockManagerId& id) {
    b.setExecutorId(id.executor_id);
    b.setHost(id.host);
    b.setPort(id.port);
}

inline BlockManagerId from_wire(wire::BlockManagerId::Reader r) {
    return BlockManagerId{r.getExecutorId(), r.getHost(), r.getPort()};
}

inline void to_wire(wire::StorageLevel::Builder b, const StorageLevel& l) {
    b.setFlags(l.to_int());
    b.setReplication(static_cast<std::uint8_t>(l.replication));
}

inline StorageLevel from_wire(wire::StorageLevel::Reader r) {
    return StorageLevel::from_int(r.getFlags(), r.getReplication());
}

}  // namespace ember::storage::detail
