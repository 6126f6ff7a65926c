// SPDX-License-Identifier: Apache-2.0
#pragma once
/// \file
/// ember-bench wordcount-corpus: word count of a large source tree (the Linux 6.1 sources from
/// Debian's linux-source-6.1, unpacked into a cache directory once; or /usr/include/boost; or
/// any files) by ember against two hand-written C++ programs given the same tricks (the same
/// splitter, an open-addressing map with keys in an arena, XXH3): one thread, and two threads
/// that each count half the files and merge by hash. Repeated, alternating ember and the
/// baselines; medians are printed. Every run's counts are compared exactly (total, distinct, the
/// top 20 and a digest of every (word, count)).

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

struct WordCountBenchOptions {
    std::string master = "local-cluster[2,1,1024]";
    int partitions = 0;                ///< input and reduce partitions (0: 4 x total cores)
    int repeats = 3;                   ///< alternating passes
    std::string corpus = "linux";      ///< linux | boost (ignored when inputs are given)
    std::string subset;                ///< a directory inside the corpus, e.g. "drivers/net"
    std::string cache_dir;             ///< where the Linux tree is unpacked ($XDG_CACHE_HOME/ember-bench)
    std::vector<std::string> inputs;   ///< files or directories instead of a corpus
    int every = 1;                     ///< count every N-th file only (by path): 16 takes 1/16 of the corpus
    std::string name = "wordcount-corpus";  ///< the printed lines' name prefix
    bool ember_only = false;           ///< skip the baselines (profiling)
    /// Which sides run (profiling one of them): ember, 1thread, 2threads.
    std::vector<std::string> sides{"ember", "1thread", "2threads"};
};

/// Prints lines "NAME-1thread" and "NAME-2threads" (NAME is `o.name`; seconds, medians;
/// ember against each baseline, with "words", "distinct", "bytes", "repeats", "exact", and the
/// medians of the CPU seconds each side used: "ember_cpu" (driver and executor processes),
/// "baseline_cpu", "cpu_ratio", which a loaded machine disturbs less than wall time) and one
/// "NAME-run" line per pass. Returns 1 if any count differed.
int bench_wordcount_corpus(const WordCountBenchOptions& o);

/// How word count's cost grows: the corpus at every N-th file for each N of `every` (e.g. 16,
/// 4, 1: x1, x4, x16 of the smallest) on `o.master`, then the middle size on
/// local-cluster[E,1,1024] for each E of `executors`; each as bench_wordcount_corpus, its lines
/// named "wordcount-scaling-..." with "every" and "master" fields. Returns 1 if any count differed.
int bench_wordcount_scaling(WordCountBenchOptions o, const std::vector<int>& every,
                            const std::vector<int>& executors);

}  // namespace bench
