#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Helpers the cluster suite's test scripts share (sourced; they set `bed` to testbed.sh and export
# EMBER_TESTBED_PREFIX first): counted checks, polling, timing, commands on a bed host, process
# liveness, and bringing the bed up for the test (and down whatever happens).
: "${bed:?lib.sh: set bed to the path of testbed.sh before sourcing it}"

passed=0 failed=0
check() {  # check NAME CMD...: CMD must succeed
    local name=$1
    shift
    if "$@"; then
        echo "ok: $name"
        passed=$((passed + 1))
    else
        echo "FAILED: $name"
        failed=$((failed + 1))
    fi
}
expect_eq() {  # expect_eq NAME EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then
        echo "ok: $1"
        passed=$((passed + 1))
    else
        printf 'FAILED: %s\n  expected: %s\n  actual:   %s\n' "$1" "${2//$'\n'/ | }" "${3//$'\n'/ | }"
        failed=$((failed + 1))
    fi
}
wait_for() {  # wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
on() { "$bed" exec "$@"; }
alive() { local s; s=$(ps -o stat= -p "$1" 2> /dev/null) && [[ $s != Z* ]]; }

# bed_up N: brings up a bed of N hosts for this test, or fails it; the bed is taken down when the
# script exits, also on meson's timeout (SIGTERM), and the counts are printed then. Sets BED_HOSTS
# (the hosts' names).
bed_up() {
    trap 'bed_finish; exit $?' EXIT
    trap 'echo "FAILED: interrupted"; failed=$((failed + 1)); exit 143' TERM INT
    local t i
    t=$(now)
    if ! "$bed" up "$1"; then
        echo "FAILED: testbed.sh up $1"
        failed=$((failed + 1))
        exit 1
    fi
    echo "time: up $1 took $(elapsed "$t") s"
    BED_HOSTS=()
    for ((i = 1; i <= $1; i++)); do BED_HOSTS+=("$EMBER_TESTBED_PREFIX-h$i"); done
}
bed_finish() {
    "$bed" down > /dev/null 2>&1 || true
    echo "$passed passed, $failed failed"
    ((failed == 0 && passed > 0))
}
# only_slurmd: no process but slurmd runs on the bed's hosts (no driver, srun, slurmstepd, task or
# executor)
only_slurmd() {
    local h p
    for h in "${BED_HOSTS[@]}"; do
        for p in $(ip netns pids "$h"); do
            alive "$p" && [ "$(ps -o comm= -p "$p")" != slurmd ] && return 1
        done
    done
    return 0
}
