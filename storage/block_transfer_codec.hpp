// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Internal: how a BlockManager reads the block transfer messages (block_transfer_messages.capnp)
/// it receives: a FetchBlocks or UploadBlock request on the serving side, a BlocksFetched reply
/// and its raw body on the fetching side. Bytes from a peer are never trusted: every failure is a value naming the
/// problem (test/fuzz/fuzz_block_transfer.cpp feeds these functions hostile bytes).

#include "rpc/message.hpp"
#include "rpc/rpc_error.hpp"
#include "storage/block_id.hpp"
#include "storage/block_transfer_messages.capnp.h"
#include "storage/managed_buffer.hpp"
#include "storage/storage_level.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ember::storage {

/// `length` bytes at `offset` of a block (a piece of a block fetched in pieces).
struct ByteRange {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;

    /// Whether the range lies inside a block of `block_size` bytes (no overflow, any values).
    bool within(std::uint64_t block_size) const noexcept {
        return offset <= block_size && length <= block_size - offset;
    }
};

/// One block of a FetchBlocks request, as the server reads it.
struct BlockRequest {
    BlockId id;
    std::string name;                ///< the id as the peer spelt it, for error messages
    std::optional<ByteRange> range;  ///< only this piece of the block
};

/// Why a shuffle block failed to decode, as diagnosed with checksums by the side that stores it
/// (Spark's Cause, same order; see shuffle::diagnose_corruption).
enum class CorruptionCause : std::uint8_t {
    disk_issue,
    network_issue,
    unknown_issue,
    checksum_verify_pass,
    unsupported_checksum_algorithm,
};

/// Spark's name of a cause: "DISK_ISSUE", "NETWORK_ISSUE", "UNKNOWN_ISSUE",
/// "CHECKSUM_VERIFY_PASS", "UNSUPPORTED_CHECKSUM_ALGORITHM".
std::string_view to_string(CorruptionCause c) noexcept;

/// Reads a FetchBlocks request: every block id parsed, and one range per block or none. The
/// error (RpcErrc::protocol_error) names the first problem: "Failed to parse <name> into a
/// block ID", "FetchBlocks has 2 ranges for 3 blocks", or a malformed message.
rpc::RpcResult<std::vector<BlockRequest>> read_fetch_blocks(wire::FetchBlocks::Reader req);

/// Splits the raw body of a BlocksFetched reply into the `expected` blocks it must carry, in
/// request order; each buffer keeps the reply alive. Fails (protocol_error) if the reply is not
/// a BlocksFetched, has another number of sizes, or sizes that do not fit its body.
rpc::RpcResult<std::vector<ManagedBuffer>> read_blocks_fetched(const rpc::Message& reply,
                                                               std::size_t expected);

/// An UploadBlock request as the receiver reads it: an RDD block, its level (replication 1) and
/// its bytes (a view of the message's body, which `bytes.owner` keeps alive).
struct UploadRequest {
    RddBlockId id;
    std::string name;
    StorageLevel level;
    ManagedBuffer bytes;
};

/// Reads and validates an UploadBlock request (Spark's UploadBlock, replication's only
/// message). `max_bytes(level)` is the largest block the receiver accepts at that level. Fails
/// with RpcErrc::protocol_error naming the block and the reason when the message is not an
/// UploadBlock, its id does not parse or is not an RDD block ("rdd_<rdd>_<partition>"), its
/// level is invalid or has a replication other than 1, its body does not hold exactly `size`
/// bytes, or `size` is above `max_bytes(level)`.
rpc::RpcResult<UploadRequest> read_upload_block(const rpc::Message& msg,
                                                const std::function<std::uint64_t(const StorageLevel&)>& max_bytes);

/// An UploadBlock request for `bytes` as block `id` at `level` (the body refers to the bytes
/// without copying them; `bytes.owner` is held until the frame is written).
rpc::OutgoingMessage make_upload_block(const BlockId& id, const StorageLevel& level, const ManagedBuffer& bytes);

}  // namespace ember::storage
