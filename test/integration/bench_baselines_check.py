#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""ember-bench's raw baselines (apps/bench/raw_tcp.hpp): every figure measured against raw TCP
prints a blocking and a spinning raw line, and its baseline is the better of the two.

Runs short `rpc-latency` and `rpc-throughput` passes of the ember-bench at argv[1] (unpinned with
an explicit ember.rpc.io.spinTime, and pinned to CPU 0 with ember's default, where ember does
not spin but the raw program still may) and checks, line by line: both raw lines present, the
spinning one with the spin ember would use (or 50 us where ember's is 0), the baseline the lower
raw time or the higher raw rate, "baseline_is" naming it, and ratio = ember / baseline; and that
the throughput headlines take the better of the raw programs doing the same work (asks: a window
of echoed requests or a one-way stream; sends: a per-message or a packed stream).
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
    lines = run(bench, ["rpc-throughput", "--messages", "20000", "--conf", "ember.rpc.io.spinTime=20us"])
    n += check(lines, 20, ["rpc-ask-throughput-vs-window", "rpc-ask-throughput", "rpc-send-throughput-vs-stream",
                           "rpc-send-throughput-vs-buffered-raw", "rpc-send-throughput"])
    # The headline figures take the better raw program of those that do the same work: the asks'
    # raw lines are the better of the windowed echo and the one-way stream, the sends' the better
    # of the per-message and the packed stream.
    raw = {l["name"]: l["raw"] for l in lines if "raw" in l}
    for mode in ("blocking", "spinning"):
        ask, window = raw["rpc-ask-throughput-raw-" + mode], raw["rpc-ask-throughput-vs-window-raw-" + mode]
        stream = raw["rpc-send-throughput-vs-stream-raw-" + mode]
        packed = raw["rpc-send-throughput-vs-buffered-raw-raw-" + mode]
        assert ask == max(window, stream), (mode, ask, window, stream)
        assert raw["rpc-send-throughput-raw-" + mode] == max(stream, packed), (mode, raw)
    print(f"{n} figures, each against the better of its blocking and spinning raw baselines")


if __name__ == "__main__":
    main()
