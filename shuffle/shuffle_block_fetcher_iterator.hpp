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

/// One block ready to be decoded.
struct FetchedBlock {
    BlockInfo info;
    storage::BlockManagerId address;
    storage::ManagedBuffer data;
};

/// Remote blocks are grouped per address into requests of about max_bytes_in_flight / 5
/// (Spark's targetRemoteRequestSize), issued in random order while the bytes in flight stay
/// under ember.reducer.maxSizeInFlight (48m); a request larger than the limit goes out alone
/// when nothing else is in flight. Local blocks are read from this BlockManager's disk in
/// between, so the task never idles while remote bytes arrive.
///
/// A block that cannot be fetched or read throws FetchFailedException from next() naming the
/// block, its map output and the cause; the DAGScheduler then regenerates that output.
///
/// Threading: next() is called by the one task thread; fetch completions arrive on I/O threads.
class ShuffleBlockFetcherIterator {
public:
    ShuffleBlockFetcherIterator(storage::BlockManager& block_manager, BlocksByAddress blocks,
                                std::uint64_t max_bytes_in_flight, ShuffleReadMetrics& metrics);
    ~ShuffleBlockFetcherIterator();
    ShuffleBlockFetcherIterator(const ShuffleBlockFetcherIterator&) = delete;
    ShuffleBlockFetcherIterator& operator=(const ShuffleBlockFetcherIterator&) = delete;

    /// The next block, or nullopt when all blocks were returned.
    std::optional<FetchedBlock> next();

private:
    struct Request {
        storage::BlockManagerId address;
        std::vector<BlockInfo> blocks;
        std::uint64_t bytes = 0;
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
    [[noreturn]] void fail(const storage::BlockManagerId& address, const BlockInfo& info, const std::string& why);

    storage::BlockManager& bm_;
    ShuffleReadMetrics& metrics_;
    std::uint64_t max_bytes_in_flight_;
    std::deque<std::pair<storage::BlockManagerId, BlockInfo>> local_;
    std::deque<Request> pending_;
    std::deque<FetchedBlock> ready_;  // blocks of a completed request not yet returned
    std::shared_ptr<Shared> shared_;  // shared with in-flight callbacks, which may outlive us
    std::uint64_t bytes_in_flight_ = 0;
    std::size_t requests_in_flight_ = 0;
};

}  // namespace ember::shuffle
