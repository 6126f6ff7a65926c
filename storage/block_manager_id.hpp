// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// BlockManagerId: where a BlockManager serves its blocks (Spark's BlockManagerId).

#include "storage/serializer.hpp"

#include <cstdint>
#include <string>

namespace ember::storage {

/// The executor id ("driver" for the driver) and the host:port of the RpcEnv whose
/// "block-transfer" endpoint serves this BlockManager's blocks.
/// Threading: immutable.
struct BlockManagerId {
    std::string executor_id;
    std::string host;
    std::uint16_t port = 0;

    /// "BlockManagerId(exec, host, port)".
    std::string to_string() const;
    friend bool operator==(const BlockManagerId&, const BlockManagerId&) = default;
    friend auto operator<=>(const BlockManagerId&, const BlockManagerId&) = default;
    EMBER_SERDE(executor_id, host, port)
};

}  // namespace ember::storage
