// SPDX-License-Identifier: Apache-2.0
// key-sums: an Rdd app against the installed ember-scheduler: sums values per key through a
// shuffle, on two executor processes of this same executable (local-cluster). Exit code 0 when
// the sums match the single-process answer.
#include "scheduler/ember.hpp"

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

int main(int argc, char** argv) {
    return ember::run(argc, argv, [](int, char**) {
        ember::SparkContext sc("local-cluster[2,1,512]", "out-of-tree-key-sums");
        std::vector<std::pair<std::string, int>> pairs;
        std::map<std::string, int> expected;
        for (int i = 0; i < 1000; ++i) {
            std::string key = "k" + std::to_string(i % 7);
            pairs.emplace_back(key, i);
            expected[key] += i;
        }
        auto sums = sc.parallelize(pairs, 4).reduce_by_key([](int a, int b) { return a + b; }, 3).collect();
        if (std::map<std::string, int>(sums.begin(), sums.end()) != expected) {
            std::fprintf(stderr, "key-sums: wrong sums\n");
            return 1;
        }
        auto pids = sc.executor_pids();
        if (pids.size() != 2) {
            std::fprintf(stderr, "key-sums: expected 2 executor processes, got %zu\n", pids.size());
            return 1;
        }
        std::printf("key-sums: OK (%zu keys, shuffled between executor processes %d and %d)\n", sums.size(),
                    pids[0], pids[1]);
        return 0;
    });
}
