// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The raw TCP baselines of the RPC benchmarks: plain blocking sockets, 4-byte length prefixes.

#include <cstdint>
#include <vector>

namespace bench {

/// Server: echoes every length-prefixed message (ping-pong), or counts a pipelined stream and
/// answers one byte when the stream's end marker (a zero-length message) arrives.
int run_raw_server();

/// `n` ping-pongs of `payload` bytes; the round-trip times in microseconds.
std::vector<double> raw_ping_pong(std::uint16_t port, int n, std::size_t payload);

/// Messages per second of a pipelined stream of `n` messages of `payload` bytes, each written
/// with its own send() as soon as it is made (no waiting for replies), on a default TCP socket.
double raw_stream_rate(std::uint16_t port, int n, std::size_t payload);
/// The same stream with the application packing messages into 64 KiB writes: the ceiling of
/// the socket, far above any per-message API.
double raw_buffered_stream_rate(std::uint16_t port, int n, std::size_t payload);

}  // namespace bench
