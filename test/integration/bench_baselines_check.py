#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""ember-bench's raw baselines (apps/bench/raw_tcp.hpp): every figure measured against raw TCP
prints a blocking and a spinning raw line, and its baseline is the better of the two.

Runs short `rpc-latency` and `rpc-throughput` passes of the ember-bench at argv[1] (unpinned with
an explicit ember.rpc.io.spinTime, and pinned to CPU 0 with ember's default, where ember does
not spin but the raw program still may) and checks, line by line: both raw lines present, the
spinning one with the spin ember would use (or 50 us where ember's is 0), the baseline the lower
raw time or the higher raw rate, "baseline_is" naming it, and ratio = ember / baseline.
"""

import json
import subprocess
import sys

LOWER_IS_BETTER = {"us": True, "msg/s": False, "tasks/s": False}


def run(bench, args):
    out = subprocess.run([bench] + args, check=True, capture_output=True, text=True, timeout=240).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def check(lines, spin_us, expect_figures):
    raw = {l["name"]: l for l in lines if "raw" in l}
    figures = [l for l in lines if "ember" in l]
    names = [f["name"] for f in figures]
    assert names == expect_figures, names
    for f in figures:
        blocking, spinning = raw[f["name"] + "-raw-blocking"], raw[f["name"] + "-raw-spinning"]
        assert blocking["spin_us"] == 0 and spinning["spin_us"] == spin_us, (blocking, spinning)
        assert blocking["unit"] == spinning["unit"] == f["unit"], f
        lower = LOWER_IS_BETTER[f["unit"]]
        best = (min if lower else max)(blocking["raw"], spinning["raw"])
        assert blocking["raw"] > 0 and spinning["raw"] > 0, (blocking, spinning)
        assert f["baseline"] == best, (f, blocking, spinning)
        assert f["baseline_is"] == ("spinning" if spinning["raw"] == best and spinning["raw"] != blocking["raw"]
                                    else "blocking"), f
        assert abs(f["ratio"] - f["ember"] / f["baseline"]) <= 1e-3 * f["ratio"], f
    return len(figures)


def main():
    bench = sys.argv[1]
    n = check(run(bench, ["rpc-latency", "--rounds", "400", "--conf", "ember.rpc.io.spinTime=20us"]), 20,
              ["rpc-latency", "rpc-latency-p99", "rpc-latency-ask-sync"])
    n += check(run(bench, ["rpc-latency", "--rounds", "400", "--cpu", "0"]), 50,
               ["rpc-latency-cpu0", "rpc-latency-p99-cpu0", "rpc-latency-ask-sync-cpu0"])
    n += check(run(bench, ["rpc-throughput", "--messages", "20000", "--conf", "ember.rpc.io.spinTime=20us"]), 20,
               ["rpc-ask-throughput", "rpc-send-throughput", "rpc-send-throughput-vs-buffered-raw"])
    print(f"{n} figures, each against the better of its blocking and spinning raw baselines")


if __name__ == "__main__":
    main()
