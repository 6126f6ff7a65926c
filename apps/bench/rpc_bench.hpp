// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ember-bench rpc-latency and rpc-throughput: RpcEnv between two processes on loopback
/// against raw TCP measured in the same run.

#include "rpc/conf.hpp"

#include <string>
#include <vector>

namespace bench {

struct RpcBenchOptions {
    int cpu = -1;             ///< pin both processes to this CPU (-1: unpinned)
    int latency_rounds = 20000;
    int throughput_messages = 500000;
    std::size_t payload = 64;
    ember::Conf conf;         ///< RpcEnv configuration of both sides (e.g. ember.rpc.io.spinTime)
    int server_port = 0;      ///< use a server already running here (profiling); 0: start one
};

/// The benchmark server (run as a child process): an echo endpoint; prints its port.
int run_rpc_server(const ember::Conf& conf);
int bench_rpc_latency(const RpcBenchOptions& o);
int bench_rpc_throughput(const RpcBenchOptions& o);
/// ember-bench security: the cost of ember.authenticate and ember.network.crypto.enabled. Four
/// server processes (security off, authentication, authentication + encryption, and security
/// off again as a control whose ratio shows the measurement's noise) and a client env for each;
/// `repeats` interleaved passes of ask latency (p50), ask throughput (64 in flight) and a bulk
/// fetch (`bulk_bytes` of a file in 8 MiB asks, 6 in flight, sent from the
/// file as block servers do). Prints each secured figure against the same figure with security
/// off: the medians over the passes. `parts`: any of "latency", "asks", "bulk".
int bench_security(const RpcBenchOptions& o, std::uint64_t bulk_bytes, int repeats,
                   const std::vector<std::string>& parts);

}  // namespace bench
