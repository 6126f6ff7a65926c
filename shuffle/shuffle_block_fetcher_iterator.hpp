// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ShuffleBlockFetcherIterator: yields a reduce task's input blocks, reading local ones from
/// disk and fetching remote ones with bounded bytes in flight (Spark's
/// ShuffleBlockFetcherIterator).

#include "shuffle/map_output_tracker.hpp"
#include "shuffle/shuffle_metrics.hpp"
#include "storage/block_manager.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace ember::shuffle {

/// One block ready to be read (see ShuffleBlockStream).
struct FetchedBlock {
    BlockInfo info;
    storage::BlockManagerId address;
    storage::BlockData data;
};

/// Fetch limits, from the configuration (see fetch_options in the scheduler).
struct FetchOptions {
    /// ember.reducer.maxSizeInFlight (48m): remote bytes requested and not yet handed out.
    std::uint64_t max_bytes_in_flight = 48u << 20;
    /// ember.network.maxRemoteBlockSizeFetchToMem: a remote block larger than this is streamed
    /// into a temp file in the executor's local dirs, in pieces, instead of being held in memory.
    std::uint64_t max_block_size_to_mem = 64u << 20;
};

/// Remote blocks are grouped per address into requests of about max_bytes_in_flight / 5
/// (Spark's targetRemoteRequestSize), issued in random order while the bytes in flight stay
/// under max_bytes_in_flight; a request larger than the limit goes out alone when nothing else
/// is in flight. A block larger than max_block_size_to_mem is fetched in ranges of that request
/// size, each written to a temp file as it arrives and counted in flight like any request, so
/// memory holds at most max_bytes_in_flight of it. Local blocks are read from this
/// BlockManager's disk, a piece at a time, in between, so the task never idles while remote
/// bytes arrive.
///
/// Memory: `memory_gauge`, if given, is kept equal to the fetched bytes this iterator holds in
/// memory (in flight, ready, and the last block handed out while it is in memory), so that the
/// task's spilling structures can count them against the task's memory.
///
/// A block that cannot be fetched or read throws FetchFailedException from next() naming the
/// block, its map output and the cause; the DAGScheduler then regenerates that output.
///
/// Threading: next() is called by the one task thread; fetch completions arrive on I/O threads.
class ShuffleBlockFetcherIterator {
public:
    ShuffleBlockFetcherIterator(storage::BlockManager& block_manager, BlocksByAddress blocks, FetchOptions options,
                                ShuffleReadMetrics& metrics, std::uint64_t* memory_gauge = nullptr);
    ~ShuffleBlockFetcherIterator();
    ShuffleBlockFetcherIterator(const ShuffleBlockFetcherIterator&) = delete;
    ShuffleBlockFetcherIterator& operator=(const ShuffleBlockFetcherIterator&) = delete;

    /// The next block, or nullopt when all blocks were returned.
    std::optional<FetchedBlock> next();

private:
    /// A remote block streamed to a temp file, range by range.
    struct Download {
        BlockInfo info;
        storage::BlockManagerId address;
        std::shared_ptr<rpc::FileHandle> file;  // unlinked at creation: gone with the last handle
        std::string path;
        std::size_t ranges_left = 0;
    };
    struct Request {
        storage::BlockManagerId address;
        std::vector<BlockInfo> blocks;
        std::uint64_t bytes = 0;
        // A range of one block being downloaded: blocks has that one block.
        std::optional<std::size_t> download;
        std::uint64_t offset = 0;
    };
    struct Result {
        Request request;
        rpc::RpcResult<std::vector<storage::ManagedBuffer>> buffers;
    };
    struct Shared {
        std::mutex mu;
        std::condition_variable cv;
        std::deque<Result> results;  // guarded by mu
    };

    void send_requests();
    /// Writes one fetched range to its download's file; the block is ready once all are in.
    void store_range(const Request& r, const storage::ManagedBuffer& buf);
    void update_gauge();
    [[noreturn]] void fail(const storage::BlockManagerId& address, const BlockInfo& info, const std::string& why);

    storage::BlockManager& bm_;
    ShuffleReadMetrics& metrics_;
    FetchOptions options_;
    std::uint64_t* memory_gauge_;
    std::deque<std::pair<storage::BlockManagerId, BlockInfo>> local_;
    std::deque<Request> pending_;
    std::vector<Download> downloads_;
    std::deque<FetchedBlock> ready_;  // blocks of a completed request not yet returned
    std::shared_ptr<Shared> shared_;  // shared with in-flight callbacks, which may outlive us
    std::uint64_t bytes_in_flight_ = 0;
    std::uint64_t ready_memory_bytes_ = 0;   // in-memory bytes of ready_
    std::uint64_t handed_out_bytes_ = 0;     // the last block returned, if in memory
    std::size_t requests_in_flight_ = 0;
};

}  // namespace ember::shuffle
