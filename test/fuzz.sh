#!/usr/bin/env bash
# The fuzz pass: runs each libFuzzer target of test/fuzz over its seed corpus,
# test/fuzz/corpus/<target>/, for a bounded time:
#
#   test/fuzz.sh [SECONDS_PER_TARGET]     (default 8: ten targets, as many at once as there are CPUs: about 45 s on two)
#
# The targets live in the ASan + UBSan build of test/sanitize.sh (build-asan, clang 14,
# -Dfuzz=true: every library also has libFuzzer's coverage instrumentation), which this builds
# if needed; EMBER_ASAN_BUILD_DIR and EMBER_FUZZ_CPP_ARGS (default -O0 -g1) choose it when it is
# first set up. A crash, a sanitizer report, a leak, an uncaught exception or a run over 10 s
# fails the pass; the reproducer's path and the command that replays it are printed. New inputs
# the fuzzer finds go to a temporary directory, not into the tree. Called by test/run.sh after
# the sanitizer pass; a long run is in README.md ("Fuzzing").
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/../apps/bootstrap.sh" --no-build
"$here/sanitize.sh" --build-only
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/bin/llvm-symbolizer-14}

seconds=${1:-8}
dir=${EMBER_ASAN_BUILD_DIR:-$EMBER_ROOT/build-asan}

work=$(mktemp -d "${TMPDIR:-/tmp}/ember-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
# One target per CPU at a time (libFuzzer's runs are single-threaded): on CI's two cores the pass
# takes half as long. Each target's outcome goes to its own file and is reported in order.
run_target() {
    local target=$1 seeds=$EMBER_ROOT/test/fuzz/corpus/${1#fuzz_} log=$work/$1.log
    mkdir -p "$work/$target"
    # A target whose input is text has a dictionary of its keywords beside it.
    local dict=()
    [ -f "$EMBER_ROOT/test/fuzz/${target#fuzz_}.dict" ] && dict=(-dict="$EMBER_ROOT/test/fuzz/${target#fuzz_}.dict")
    # The first corpus dir receives what the fuzzer finds; the seeds are only read.
    if "$dir/test/fuzz/$target" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/$target-" -print_final_stats=1 "$work/$target" "$seeds" > "$log" 2>&1; then
        echo ok > "$work/$target.status"
    else
        echo failed > "$work/$target.status"
    fi
}
targets=()
for src in "$EMBER_ROOT"/test/fuzz/fuzz_*.cpp; do
    target=$(basename "$src" .cpp)
    [ "$target" = fuzz_seeds ] || [ "$target" = fuzz_support ] && continue
    targets+=("$target")
done
jobs_max=$(nproc)
for target in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
    run_target "$target" &
done
wait
status=0
for target in "${targets[@]}"; do
    log=$work/$target.log
    if [ "$(cat "$work/$target.status" 2> /dev/null)" = ok ]; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "$target: ${runs:-?} runs in ${seconds} s, no crash" >&2
    else
        status=1
        echo "== $target failed:" >&2
        tail -n 60 "$log" >&2
        for a in "$work/$target"-*; do
            [ -e "$a" ] || continue
            keep=$dir/$(basename "$a")
            cp "$a" "$keep"
            echo "reproducer: $keep (replay: $dir/test/fuzz/$target $keep)" >&2
        done
    fi
done
exit $status
