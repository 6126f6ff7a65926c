#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Word count on 1, 2, 4, ... namespaced hosts of the multi-host test bed (test/cluster/testbed.sh):
#
#   apps/bench/testbed_scaling.sh [--hosts 1,2,4] [--every 4] [--repeats 3] [-- wordcount-corpus args...]
#
# For each host count K it runs `ember-bench wordcount-corpus --master slurm` in an
# `sbatch -N K --ntasks-per-node=1 -c1` job: the driver on the first host, one one-core executor
# per host (srun steps), shuffle blocks fetched between hosts over the bed's bridge, and the
# hand-written 1- and 2-thread programs run by the driver on its host, alternating with ember as
# in every wordcount-corpus run. Every line ember-bench prints is passed on with "hosts": K added.
# The bed's hosts share this machine's CPUs: the series shows what the network path between hosts
# costs against local-cluster, not more compute. ember's CPU seconds print as null: its executors
# are Slurm's processes, not the driver's children (the baselines' CPU seconds are measured).
#
# Needs root (the bed); brings up its own bed and takes it down on exit: prefix embbench, subnet
# 10.78.0, state in /run/PREFIX-testbed, unless EMBER_TESTBED_PREFIX, EMBER_TESTBED_SUBNET and
# EMBER_TESTBED_DIR say otherwise (test/cluster/testbed_scaling_test.sh runs it beside other beds).
# ember-bench is build/apps/ember-bench unless EMBER_BENCH names another.
set -Eeuo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${EMBER_BENCH:-$root/build/apps/ember-bench}
hosts_list=1,2,4
every=4
repeats=3
extra=()
while [ $# -gt 0 ]; do
    case $1 in
        --hosts) hosts_list=$2; shift 2 ;;
        --every) every=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "testbed_scaling.sh: unknown argument '$1' (--hosts, --every, --repeats, -- ARGS)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "testbed_scaling.sh: needs root (test/cluster/testbed.sh)" >&2; exit 2; }
[ -x "$bench" ] || { echo "testbed_scaling.sh: no $bench (build first, or set EMBER_BENCH)" >&2; exit 2; }
IFS=, read -r -a counts <<< "$hosts_list"
max=0
for k in "${counts[@]}"; do
    [[ $k =~ ^[1-9][0-9]*$ ]] || { echo "testbed_scaling.sh: --hosts '$hosts_list': want counts like 1,2,4" >&2; exit 2; }
    ((k > max)) && max=$k
done

export EMBER_TESTBED_PREFIX=${EMBER_TESTBED_PREFIX:-embbench}
export EMBER_TESTBED_DIR=${EMBER_TESTBED_DIR:-/run/$EMBER_TESTBED_PREFIX-testbed}
export EMBER_TESTBED_SUBNET=${EMBER_TESTBED_SUBNET:-10.78.0}
# One CPU per node: Slurm then places one executor per host. Memory: the executor's 1 GiB and its
# overhead, and the driver's on the first host.
export EMBER_TESTBED_CPUS=1 EMBER_TESTBED_MEMORY=4096
bed=$root/test/cluster/testbed.sh
trap '"$bed" down > /dev/null 2>&1 || true' EXIT
"$bed" up "$max" >&2
dir=$EMBER_TESTBED_DIR
script=$dir/wordcount.sh
{
    echo '#!/bin/bash'
    printf 'exec %q wordcount-corpus --master slurm --every %q --repeats %q' "$bench" "$every" "$repeats"
    for a in "${extra[@]}"; do printf ' %q' "$a"; done
    echo
} > "$script"
chmod +x "$script"
status=0
for k in "${counts[@]}"; do
    out=$dir/hosts-$k.out
    # -W: sbatch returns when the job ends, with its exit status.
    if ! "$bed" exec h1 sbatch -W -N "$k" --ntasks-per-node=1 -c1 -o "$out" "$script" > /dev/null; then
        echo "testbed_scaling.sh: the job on $k hosts failed; its output:" >&2
        cat "$out" >&2 || true
        status=1
        continue
    fi
    sed -n "s/^{/{\"hosts\": $k, /p" "$out"
    grep -v '^{' "$out" >&2 || true
done
exit $status
