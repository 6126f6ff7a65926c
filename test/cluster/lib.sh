#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Helpers the cluster suite's test scripts share (sourced; they set `bed` to testbed.sh first):
# counted checks, polling, timing, commands on a bed host, and process liveness.
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
