// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ember-bench rpc-latency and rpc-throughput: RpcEnv between two processes on loopback
/// against raw TCP measured in the same run.

#include "rpc/conf.hpp"

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

}  // namespace bench
