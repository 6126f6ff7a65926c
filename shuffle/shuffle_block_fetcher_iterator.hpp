// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ShuffleBlockFetcherIterator: yields a reduce task's input blocks, reading local ones from
/// disk and fetching remote ones with bounded bytes in flight (Spark's
/// ShuffleBlockFetcherIterator).

#include "shuffle/map_output_tracker.hpp"
#include "shuffle/shuffle_block_stream.hpp"
#include "shuffle/shuffle_metrics.hpp"
#include "storage/block_manager.hpp"

#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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
    /// ember.reducer.maxReqsInFlight: remote requests outstanding at once.
    int max_reqs_in_flight = INT_MAX;
    /// ember.reducer.maxBlocksInFlightPerAddress: remote blocks outstanding at once from one
    /// BlockManager; also the most blocks one request asks for.
    int max_blocks_in_flight_per_address = INT_MAX;
    /// ember.shuffle.io.maxRetries: a request that fails with an I/O error (connection refused
    /// or reset, timeout) is sent again this many times before it is a fetch failure.
    int max_retries = 3;
    /// ember.shuffle.io.retryWait: the wait before each retry.
    std::chrono::milliseconds retry_wait{5000};
    /// ember.shuffle.checksum.enabled / .algorithm: diagnose a block that does not decode.
    bool checksum_enabled = true;
    std::string checksum_algorithm = "ADLER32";
};

/// Remote blocks are grouped per address into requests of about max_bytes_in_flight / 5
/// (Spark's targetRemoteRequestSize) and at most max_blocks_in_flight_per_address blocks,
/// issued in random order while the bytes in flight stay under max_bytes_in_flight and the
/// requests in flight under max_reqs_in_flight; a request larger than the limit goes out alone
/// when nothing else is in flight. A request that would take its address past
/// max_blocks_in_flight_per_address is deferred, and deferred requests go first once that
/// address has room (Spark's fetchUpToMaxBytes).
///
/// Transport retries (Spark's RetryingBlockTransferor): a request failing with an I/O error
/// (RpcErrc::connection_failed, connection_closed, timeout) is sent again, on a fresh
/// connection, after retry_wait, up to max_retries times, and stays counted in flight
/// meanwhile; other errors (the server cannot serve the block) and exhausted retries are fetch
/// failures. A block larger than max_block_size_to_mem is fetched in ranges of that request
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

    /// For a block that does not decode (`why`): throws FetchFailedException. With checksums
    /// enabled its message is Spark's diagnosis ("Block shuffle_0_1_2 is corrupted due to
    /// DISK_ISSUE", see corruption_message): the checksum of the bytes received is computed and
    /// the block's BlockManager (this one for a local block) compares it with the block on its
    /// disk and the writer's stored value. Blocking (one ask).
    [[noreturn]] void throw_corrupt(const FetchedBlock& block, const std::string& why);

    /// Requests sent again after an I/O error so far.
    int retries() const noexcept { return retries_.load(); }

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
        int retries = 0;                                // sends after the first
        std::chrono::steady_clock::time_point sent_at;  // first send
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
    /// Whether the front of `queue` may go out under the byte and request limits.
    bool fetchable(const std::deque<Request>& queue) const;
    /// Whether `r` would take its address past max_blocks_in_flight_per_address.
    bool address_maxed_out(const Request& r) const;
    /// Counts `r` in flight and sends it.
    void send(Request r);
    /// Sends (or sends again) `r`, already counted in flight.
    void issue(Request r);
    /// Sends the retries that are due.
    void issue_due_retries();
    /// Takes a finished request out of the in-flight counts.
    void done_in_flight(const Request& r);
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
    std::map<std::string, std::deque<Request>> deferred_;  // by address: waiting for room there
    std::map<std::string, int> blocks_in_flight_;         // by address
    std::vector<std::pair<std::chrono::steady_clock::time_point, Request>> retrying_;  // in flight
    std::vector<Download> downloads_;
    std::deque<FetchedBlock> ready_;  // blocks of a completed request not yet returned
    std::shared_ptr<Shared> shared_;  // shared with in-flight callbacks, which may outlive us
    std::uint64_t bytes_in_flight_ = 0;
    std::uint64_t ready_memory_bytes_ = 0;   // in-memory bytes of ready_
    std::uint64_t handed_out_bytes_ = 0;     // the last block returned, if in memory
    std::size_t requests_in_flight_ = 0;
    std::uint64_t total_blocks_in_flight_ = 0;
    std::atomic<int> retries_{0};  // read by other threads (tests, progress)
};

/// Reads one fetched block's records: decompresses it (`compressed`: ember.shuffle.compress) a
/// piece at a time and calls `read_record(Decoder&)` once per record (see read_records). A
/// block that does not decode is a FetchFailedException diagnosed with checksums
/// (ShuffleBlockFetcherIterator::throw_corrupt), one that cannot be read a FetchFailedException
/// naming the I/O error. As in Spark, a block found corrupt while its records are consumed is
/// not fetched again: the map output is regenerated. `piece_end()` is called after each piece's
/// last record (read_records).
template <class ReadRecord, class PieceEnd = NoPieceEnd>
void read_block_records(ShuffleBlockFetcherIterator& fetcher, FetchedBlock block, bool compressed,
                        ReadRecord&& read_record, PieceEnd&& piece_end = PieceEnd{}) {
    const storage::BlockData kept = block.data;  // shares the bytes, for the diagnosis
    try {
        ShuffleBlockStream stream(std::move(block.data), compressed);
        read_records(stream, read_record, piece_end);
    } catch (const DecodeError& e) {
        block.data = kept;
        fetcher.throw_corrupt(block, e.what());
    } catch (const BlockReadError& e) {
        const auto& info = block.info;
        throw FetchFailedException(block.address, info.id.shuffle_id, info.id.map_id, info.map_index,
                                   info.id.reduce_id,
                                   "Block " + storage::name(storage::BlockId{info.id}) + " cannot be read: " + e.what());
    }
}

}  // namespace ember::shuffle
