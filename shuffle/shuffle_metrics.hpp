// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// Shuffle write and read metrics of one task (Spark's ShuffleWriteMetrics / ShuffleReadMetrics).

#include "storage/serializer.hpp"

#include <cstdint>

namespace ember::shuffle {

/// Spill sizes are the task's (TaskMetrics::memory_bytes_spilled and disk_bytes_spilled, as in
/// Spark); MapOutputWriter counts its own for the task to add.
struct ShuffleWriteMetrics {
    std::uint64_t bytes_written = 0;       ///< bytes of the committed data file
    std::uint64_t records_written = 0;
    std::uint64_t write_time_ns = 0;
    EMBER_SERDE(bytes_written, records_written, write_time_ns)
};

struct ShuffleReadMetrics {
    std::uint64_t remote_blocks_fetched = 0;
    std::uint64_t local_blocks_fetched = 0;
    std::uint64_t remote_bytes_read = 0;   ///< fetched from other executors over TCP
    std::uint64_t local_bytes_read = 0;    ///< read from this executor's disk
    std::uint64_t fetch_wait_time_ns = 0;  ///< time the task blocked waiting for remote blocks
    std::uint64_t records_read = 0;
    /// Of remote_bytes_read, those of blocks larger than
    /// ember.network.maxRemoteBlockSizeFetchToMem, streamed to a file instead of memory.
    std::uint64_t remote_bytes_read_to_disk = 0;
    /// Time from sending each remote request to its reply, summed (Spark's remoteReqsDuration;
    /// a request retried after an I/O error counts from its first send).
    std::uint64_t remote_reqs_duration_ns = 0;
    /// ember: the most remote bytes, requests and blocks this reducer had in flight at once
    /// (bounded by ember.reducer.maxSizeInFlight, maxReqsInFlight and, per address,
    /// maxBlocksInFlightPerAddress).
    std::uint64_t peak_bytes_in_flight = 0;
    std::uint64_t peak_reqs_in_flight = 0;
    std::uint64_t peak_blocks_in_flight = 0;
    EMBER_SERDE(remote_blocks_fetched, local_blocks_fetched, remote_bytes_read, local_bytes_read, fetch_wait_time_ns,
                records_read, remote_bytes_read_to_disk, remote_reqs_duration_ns, peak_bytes_in_flight,
                peak_reqs_in_flight, peak_blocks_in_flight)
};

}  // namespace ember::shuffle
