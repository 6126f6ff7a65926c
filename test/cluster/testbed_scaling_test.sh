#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# apps/bench/testbed_scaling.sh on a bed of its own, small: the word count of a generated corpus on
# one and on two namespaced hosts (one executor per host, master slurm). Checked: the script exits
# 0; for each host count it prints three run lines (ember and the two hand-written programs) and
# both summary lines with "hosts" set, each "exact" (ember's counts equal the programs'), with
# awk's totals (words, distinct words), master slurm, and ember's CPU as null (not the driver's
# alone); no namespace of the bed is left. Needs root and EMBER_BENCH: skipped (exit 77) otherwise.
set -uo pipefail

if [ "$(id -u)" -ne 0 ] || [ -z "${EMBER_BENCH:-}" ]; then
    echo "SKIP: needs root (the test bed) and EMBER_BENCH"
    exit 77
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export EMBER_TESTBED_PREFIX=embts$$
export EMBER_TESTBED_DIR=/run/$EMBER_TESTBED_PREFIX-testbed
export EMBER_TESTBED_SUBNET=10.79.0
bed=$root/test/cluster/testbed.sh
# check, expect_eq
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
work=$(mktemp -d /tmp/ember-testbed-scaling.XXXXXX)
trap '"$bed" down > /dev/null 2>&1 || true; rm -rf "$work"; echo "passed: $passed, failed: $failed"' EXIT

mkdir "$work/corpus"
for f in 1 2 3 4; do
    awk -v f="$f" 'BEGIN { for (i = 0; i < 200000; i++) printf "w%d%s", (i * 7919 + f) % 3001, (i % 12 == 11 ? "\n" : " ") }' \
        > "$work/corpus/part$f.txt"
done
words=$(cat "$work"/corpus/* | wc -w)
distinct=$(cat "$work"/corpus/* | tr ' ' '\n' | grep -v '^$' | sort -u | wc -l)

out=$("$root/apps/bench/testbed_scaling.sh" --hosts 1,2 --every 1 --repeats 1 -- "$work/corpus" 2> "$work/err")
status=$?
expect_eq "testbed_scaling.sh exits 0" 0 "$status"
[ "$status" -eq 0 ] || cat "$work/err"
for k in 1 2; do
    for side in 1thread 2threads; do
        line=$(grep -F "{\"hosts\": $k, \"name\": \"wordcount-corpus-$side\"" <<< "$out")
        check "$k host(s): a $side summary line" test -n "$line"
        check "$k host(s), $side: exact" grep -qF '"exact": true' <<< "$line"
        check "$k host(s), $side: ember's CPU is null" grep -qF '"ember_cpu": null' <<< "$line"
        check "$k host(s), $side: master slurm" grep -qF '"master": "slurm"' <<< "$line"
        check "$k host(s), $side: $words words, $distinct distinct (awk)" \
            grep -qF "\"words\": $words, \"distinct\": $distinct," <<< "$line"
    done
    expect_eq "$k host(s): three run lines" 3 "$(grep -cF "{\"hosts\": $k, \"name\": \"wordcount-corpus-run\"" <<< "$out")"
done
expect_eq "no namespace of the bed is left" "" "$(ip netns list | grep -F "$EMBER_TESTBED_PREFIX-" || true)"
((failed == 0))
