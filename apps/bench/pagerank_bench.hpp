// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ember-bench pagerank: Spark's PageRank example (links.join(ranks) -> contributions ->
/// reduce_by_key, 0.15 + 0.85 * sum) over the Debian package dependency graph, against a
/// single-threaded CSR loop computing the same ranks in the same run.

#include "rpc/conf.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bench {

struct PageRankOptions {
    std::string master = "local-cluster[2,1,1024]";
    int iterations = 20;
    /// Partitions of the links and ranks; 0: ember.default.parallelism (the cluster's cores), as
    /// Spark's SparkPageRank example gets them from textFile's two minimum partitions and
    /// groupByKey's default partitioner (2 on local-cluster[2,1,1024]).
    int partitions = 0;
    int repeats = 3;  ///< alternating passes; medians are printed
    /// apt's Packages indexes (Package: / Depends: / Pre-Depends:); empty: every
    /// /var/lib/apt/lists/*_Packages, else /var/lib/dpkg/status.
    std::vector<std::string> inputs;
    ember::Conf conf;
};

/// A directed graph: `names[i]` is node i; `edges` (from, to) without duplicates or self loops.
struct Graph {
    std::vector<std::string> names;
    std::vector<std::pair<std::int32_t, std::int32_t>> edges;
};

/// Reads package -> dependency edges (every alternative of `a | b`, versions and
/// architecture qualifiers dropped) from Debian control files. Throws std::runtime_error naming
/// a file it cannot read, or if no edge is found.
Graph read_debian_package_graph(const std::vector<std::string>& files);

/// Spark's PageRank semantics, single-threaded over CSR: ranks start at 1.0 for every node with
/// out-links; each iteration gives every node that receives a contribution from a ranked node
/// with out-links rank 0.15 + 0.85 * sum(rank(u) / outdegree(u)); other nodes drop out.
/// Returns (node, rank) for the ranked nodes after `iterations`, by node.
std::vector<std::pair<std::int32_t, double>> pagerank_csr(const Graph& g, int iterations);

/// Prints `pagerank` (seconds for all iterations, the job's collect included) against the CSR
/// loop, and `pagerank-per-iteration` (ms); "exact" says whether every rank matched within a
/// relative 1e-9. Returns 1 if they did not.
int bench_pagerank(const PageRankOptions& o);

}  // namespace bench
