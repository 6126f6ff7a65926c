#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ember's performance goals (README "Benchmarks"), re-measured in one run.

    apps/bench/goals.py [--bench PATH] [--only NAME,...] [--log FILE] [--shuffle-dir DIR] [--quick]

Runs, one after the other, the ember-bench command of every row of the README's goals table
(each measures its baseline in the same run, alternating with ember where it repeats), reads
the JSON lines they print, and prints for each row one JSON line

    {"name": "goal-ROW", "ember": ..., "baseline": ..., "ratio": ..., "unit": ..., "goal": "<= 0.6",
     "met": true|false, "exact": true|false|null, "command": "..."}

and then the table in Markdown. Rows: wordcount (two lines: against one thread and against two),
sort and reduce_by_key (one shuffle run; sort also checks the executors' peak RSS against their
declared memory), pagerank, one-task, ask, asks; --only names the commands to run (wordcount,
shuffle, pagerank, one-task, ask, asks). `--quick` runs each command small (a word count
of ember's own sources instead of the Linux tree, 64 MB of records, two PageRank iterations,
fewer jobs, rounds and messages): its figures mean nothing, it checks the harness and the
outputs' exactness in a minute (the `bench_goals` test runs it).

Every line the commands print goes to --log (default: standard error). --shuffle-dir keeps the
shuffle's generated records there for the next run (ember-bench shuffle --dir). Exit status: 0 when
every command ran and every output it checked was exact, whether or not the goals were met
(a missed goal is a result); 1 otherwise; 2 for bad arguments.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# (row, command args, quick args); rows sharing a command run it once.
COMMANDS = {
    "wordcount": (["wordcount-corpus", "--repeats", "3"],
                  ["wordcount", "--repeats", "1", os.path.join(ROOT, "rpc"), os.path.join(ROOT, "scheduler")]),
    "shuffle": (["shuffle", "--size", "4g", "--layouts", "64x4"],
                ["shuffle", "--size", "64m", "--layouts", "4x4"]),
    "pagerank": (["pagerank", "--repeats", "5"], ["pagerank", "--iterations", "2", "--repeats", "1"]),
    "one-task": (["task-latency", "--jobs", "3000"], ["task-latency", "--jobs", "200"]),
    "ask": (["rpc-latency"], ["rpc-latency", "--rounds", "2000"]),
    "asks": (["rpc-throughput"], ["rpc-throughput", "--messages", "20000"]),
}

# (row, command, the JSON line's name (a function of the layout for the shuffle), comparison,
#  bound, what the row measures)
GOALS = [
    ("wordcount-1thread", "wordcount", "{wc}-1thread", "<=", 0.6, "word count against one thread"),
    ("wordcount-2threads", "wordcount", "{wc}-2threads", "<=", 1.0, "word count against two threads"),
    ("sort", "shuffle", "sort-{layout}", "<=", 1.0, "sort_by_key against GNU sort"),
    ("sort-peak-rss", "shuffle", "sort-{layout}-executor-peak-rss", "<", 1.0,
     "sort_by_key's largest executor RSS against its declared memory"),
    ("reduce_by_key", "shuffle", "reduce_by_key-{layout}", "<=", 1.2, "reduce_by_key against GNU sort + group-by"),
    ("pagerank", "pagerank", "pagerank", "<=", 4.0, "PageRank against a single-threaded CSR loop"),
    ("one-task", "one-task", "task-latency", "<=", 3.0, "one-task job p50 against raw TCP ping-pong"),
    ("ask", "ask", "rpc-latency", "<=", 1.5, "ask p50 against raw TCP ping-pong"),
    ("asks", "asks", "rpc-ask-throughput", ">=", 0.5, "asks/s, 64 in flight, against the same work raw"),
]


def run(bench, args, log):
    """Runs ember-bench with `args`; returns (exit status, {name: parsed JSON line})."""
    cmd = [bench] + args
    print("goals: " + " ".join(shlex.quote(a) for a in cmd), file=log, flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = {}
    for line in proc.stdout:
        log.write(line)
        log.flush()
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "name" in d:
                lines[d["name"]] = d
    return proc.wait(), lines


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", default=os.path.join(ROOT, "build", "apps", "ember-bench"))
    p.add_argument("--only", default="", help="comma-separated commands to run (" + ", ".join(COMMANDS) + ")")
    p.add_argument("--log", default="", help="where the commands' own lines go (default: standard error)")
    p.add_argument("--shuffle-dir", default="", help="keep the shuffle's records here (ember-bench shuffle --dir)")
    p.add_argument("--quick", action="store_true", help="small inputs: checks the harness, not the goals")
    a = p.parse_args()
    only = [r for r in a.only.split(",") if r]
    for r in only:
        if r not in COMMANDS:
            p.error("--only: unknown command '%s' (%s)" % (r, ", ".join(COMMANDS)))
    if not os.access(a.bench, os.X_OK):
        p.error("no ember-bench at %s (build first, or --bench PATH)" % a.bench)
    log = open(a.log, "w") if a.log else sys.stderr

    results = {}
    ok = True
    for key, (full, quick) in COMMANDS.items():
        if only and key not in only:
            continue
        args = list(quick if a.quick else full)
        if key == "shuffle" and a.shuffle_dir:
            args += ["--dir", a.shuffle_dir]
        status, lines = run(a.bench, args, log)
        if status != 0:
            print("goals: %s exited with status %d" % (key, status), file=sys.stderr)
            ok = False
        results[key] = (args, lines)

    subst = {"wc": "wordcount" if a.quick else "wordcount-corpus", "layout": "4x4" if a.quick else "64x4"}
    rows = []
    for row, key, name, cmp, bound, what in GOALS:
        if key not in results:
            continue
        args, lines = results[key]
        d = lines.get(name.format(**subst))
        if d is None:
            print("goals: %s printed no line %s" % (key, name.format(**subst)), file=sys.stderr)
            ok = False
            continue
        ratio = d["ratio"]
        met = ratio <= bound if cmp == "<=" else ratio < bound if cmp == "<" else ratio >= bound
        if not (d["ember"] > 0 and d["baseline"] > 0):
            # A figure of 0 is a measurement that did not happen, not a ratio of 0.
            print("goals: %s: %s has no figure (ember %s, baseline %s)" % (key, d["name"], d["ember"], d["baseline"]),
                  file=sys.stderr)
            met = False
            ok = False
        exact = d.get("exact")
        if exact is False:
            ok = False
        out = {"name": "goal-" + row, "ember": d["ember"], "baseline": d["baseline"], "ratio": ratio,
               "unit": d.get("unit", ""), "goal": "%s %g" % (cmp, bound), "met": met, "exact": exact,
               "command": "ember-bench " + " ".join(args)}
        if "baseline_is" in d:
            out["baseline_is"] = d["baseline_is"]
        print(json.dumps(out), flush=True)
        rows.append((what, d, cmp, bound, met, exact, args))

    print()
    print("| Work | ember | baseline | ratio | goal | | command |")
    print("|---|---|---|---|---|---|---|")
    for what, d, cmp, bound, met, exact, args in rows:
        unit = d.get("unit", "")
        note = ("met" if met else "missed") + ("" if exact is not False else ", INEXACT")
        print("| %s | %.4g %s | %.4g %s | %.3g | %s %g | %s | `ember-bench %s` |"
              % (what, d["ember"], unit, d["baseline"], unit, d["ratio"], cmp, bound, note, " ".join(args)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
