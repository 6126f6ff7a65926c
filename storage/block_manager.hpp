// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// BlockManager: a process's block storage and the service that lends its blocks to other
/// processes (Spark's BlockManager + NettyBlockTransferService/NettyBlockRpcServer).

#include "rpc/conf.hpp"
#include "rpc/rpc_env.hpp"
#include "storage/block_id.hpp"
#include "storage/block_manager_id.hpp"
#include "storage/disk_block_manager.hpp"
#include "storage/managed_buffer.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ember::storage {

/// Resolves shuffle blocks to file segments; implemented by the shuffle layer
/// (IndexShuffleBlockResolver), plugged into the BlockManager (Spark's ShuffleBlockResolver).
/// Threading: thread-safe.
class ShuffleBlockResolver {
public:
    virtual ~ShuffleBlockResolver() = default;
    /// The segment holding `id`; throws std::runtime_error naming the block and the reason.
    virtual FileSegment get_block_data(const ShuffleBlockId& id) = 0;
};

/// Completion of a remote fetch: one buffer per requested block, in request order.
using FetchCallback = std::function<void(rpc::RpcResult<std::vector<ManagedBuffer>>)>;

/// Local block storage of one process, served to others through the "block-transfer" endpoint
/// of the process's RpcEnv; the BlockManagerId's host:port is that env's address.
///
/// Config: ember.local.dir (comma-separated roots, default /tmp),
/// ember.diskStore.subDirectories (64), ember.shuffle.io.connectionTimeout (fetch ask timeout,
/// falling back to ember.network.timeout, 120s).
///
/// Threading: thread-safe.
class BlockManager {
public:
    static constexpr std::string_view kEndpointName = "block-transfer";

    /// Creates the local dirs; throws std::runtime_error if none can be created.
    BlockManager(std::string executor_id, rpc::RpcEnv& env, const Conf& conf);
    ~BlockManager();

    /// Registers the block-transfer endpoint. Call once, before other processes fetch.
    void initialize();
    const BlockManagerId& id() const noexcept { return id_; }
    DiskBlockManager& disk_block_manager() noexcept { return disk_; }
    rpc::RpcEnv& env() noexcept { return env_; }
    void set_shuffle_block_resolver(ShuffleBlockResolver* resolver) noexcept { resolver_.store(resolver); }

    /// The file segment of a local block; throws std::runtime_error naming the block.
    FileSegment get_local_segment(const BlockId& id);
    /// Reads a local block into memory (pread); throws std::runtime_error naming the block.
    ManagedBuffer get_local_bytes(const BlockId& id);
    /// Fetches blocks from the BlockManager `from`; `done` runs on an I/O thread.
    void fetch_blocks(const BlockManagerId& from, const std::vector<BlockId>& ids, FetchCallback done);
    void stop();

private:
    rpc::RpcEnv& env_;
    BlockManagerId id_;
    DiskBlockManager disk_;
    rpc::RpcTimeout fetch_timeout_;
    std::atomic<ShuffleBlockResolver*> resolver_{nullptr};
    bool initialized_ = false;
};

}  // namespace ember::storage
