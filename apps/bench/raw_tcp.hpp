// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// The raw TCP baselines of the RPC and task benchmarks: plain sockets, 4-byte length prefixes,
/// waiting for the socket in one of two ways:
///  - blocking (`spin` 0): read()/write() sleep in the kernel until the socket is ready;
///  - spinning (`spin` > 0): what ember's I/O threads do (rpc/message_loop.cpp): a non-blocking
///    recv()/send() retried for `spin`, with sched_yield() between tries, then poll() sleeps.
/// Both sides of a connection (this process and the raw server) wait the same way.

#include "rpc/conf.hpp"

#include <chrono>
#include <cstdint>
#include <vector>

namespace bench {

/// Server: echoes every length-prefixed message (ping-pong, or window: all the complete
/// messages of one read in one write), or counts a pipelined stream and answers one byte when
/// the stream's end marker (a zero-length message) arrives. Each
/// connection's first bytes say which, and how that connection waits (blocking or spinning).
int run_raw_server();

/// `n` ping-pongs of `payload` bytes; the round-trip times in microseconds.
std::vector<double> raw_ping_pong(std::uint16_t port, int n, std::size_t payload, std::chrono::microseconds spin = {});

/// Request/response pairs per second with `window` requests in flight, the raw form of ember's
/// asks with a window (rpc-throughput's WindowClient): `n` requests of `payload` bytes, each
/// echoed by the server; each side handles everything one read returned and answers it with
/// one write, as ember's I/O threads coalesce the messages of one read into one flush.
double raw_window_rate(std::uint16_t port, int n, std::size_t payload, int window,
                       std::chrono::microseconds spin = {});
/// Messages per second of a pipelined stream of `n` messages of `payload` bytes, each written
/// with its own send() as soon as it is made (no waiting for replies), on a default TCP socket.
double raw_stream_rate(std::uint16_t port, int n, std::size_t payload, std::chrono::microseconds spin = {});
/// The same stream with the application packing messages into 64 KiB writes: the ceiling of
/// the socket, far above any per-message API.
double raw_buffered_stream_rate(std::uint16_t port, int n, std::size_t payload, std::chrono::microseconds spin = {});

/// The spin of the raw spinning baseline: ember.rpc.io.spinTime of `conf` as ember's I/O threads
/// in this process would take it (default 50us, or 0 when this process may run on one CPU only:
/// rpc/env_core.cpp), except that 0 becomes 50us: a hand-written program may spin where ember
/// does not, and the baseline is the better of the blocking and the spinning program.
/// Call after pinning. Throws std::invalid_argument on a malformed value.
std::chrono::microseconds raw_spin_time(const ember::Conf& conf);

/// The ember spin time itself (0 included), for the figures' labels.
std::chrono::microseconds ember_spin_time(const ember::Conf& conf);

}  // namespace bench
