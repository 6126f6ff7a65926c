#!/usr/bin/env bash
# The fuzz pass: builds the libFuzzer targets of test/fuzz with clang (build dir build-fuzz: the
# libraries with ASan + UBSan and coverage, and the targets only) and runs each over its seed
# corpus, test/fuzz/corpus/<target>/, for a bounded time:
#
#   test/fuzz.sh [SECONDS_PER_TARGET]     (default 8: about a minute for the seven targets)
#
# EMBER_FUZZ_BUILD_DIR (default build-fuzz) and EMBER_FUZZ_CPP_ARGS (default -O0 -g1) choose the
# build; they apply when the directory is first set up.
# A crash, a sanitizer report, a leak, an uncaught exception or a run over 10 s fails the pass;
# the reproducer's path and the command that replays it are printed. New inputs the fuzzer finds
# go to a temporary directory, not into the tree. Called by test/run.sh after the sanitizer
# pass; a long run is in README.md ("Fuzzing").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../apps/bootstrap.sh" --no-build
# clang 14, its libFuzzer and sanitizer runtimes, and llvm-symbolizer for file:line in reports.
ember_install clang libclang-rt-14-dev llvm-14
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/bin/llvm-symbolizer-14}

seconds=${1:-8}
dir=${EMBER_FUZZ_BUILD_DIR:-$EMBER_ROOT/build-fuzz}
if [ ! -f "$dir/build.ninja" ]; then
    cxx=clang++
    if command -v ccache > /dev/null; then cxx="ccache clang++"; fi
    # -O0 -g1 by default: the instrumented libraries compile in about half the time of -O1
    # (CI builds them from scratch each run), and 8 s of fuzzing needs no speed. Long runs use
    # EMBER_FUZZ_CPP_ARGS='-O1 -g1' (README, Fuzzing). -g1 keeps file:line in the reports.
    CXX=$cxx meson setup "$dir" "$EMBER_ROOT" -Dfuzz=true -Dtests=false -Dbuildtype=plain \
        -Db_lundef=false -Dcpp_args="${EMBER_FUZZ_CPP_ARGS:--O0 -g1}" >&2
fi
ninja -C "$dir" fuzz >&2

work=$(mktemp -d "${TMPDIR:-/tmp}/ember-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=0
for src in "$EMBER_ROOT"/test/fuzz/fuzz_*.cpp; do
    target=$(basename "$src" .cpp)
    [ "$target" = fuzz_seeds ] || [ "$target" = fuzz_support ] && continue
    seeds=$EMBER_ROOT/test/fuzz/corpus/${target#fuzz_}
    mkdir -p "$work/$target"
    log=$work/$target.log
    # The first corpus dir receives what the fuzzer finds; the seeds are only read.
    if "$dir/test/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/$target-" -print_final_stats=1 "$work/$target" "$seeds" > "$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "$target: ${runs:-?} runs in ${seconds} s, no crash" >&2
    else
        status=1
        echo "== $target failed:" >&2
        tail -n 60 "$log" >&2
        for a in "$work/$target"-*; do
            [ -e "$a" ] || continue
            keep=$EMBER_ROOT/build-fuzz/$(basename "$a")
            cp "$a" "$keep"
            echo "reproducer: $keep (replay: $dir/test/fuzz/$target $keep)" >&2
        done
    fi
done
exit $status
