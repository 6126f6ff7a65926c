#!/usr/bin/env bash
# Runs tests under a sanitizer, in its own build directory:
#
#   test/sanitize.sh [address,undefined | thread] [meson test arguments...]
#
# The default sanitizer is address,undefined (ASan + UBSan, build dir build-asan); `thread` is
# TSan (build-tsan). Without meson test arguments every suite but `install` and `scale` runs
# (the first rebuilds an installed copy, which adds time and no coverage; the second shuffles
# 1 GB, ten times slower here, through code the shuffle and scheduler suites cover). Executor
# processes started by the tests inherit the sanitizer options, so a report from any process
# fails the run: reports go to files, and the run fails if any file appears, listing them.
# Called by test/run.sh for ASan + UBSan; TSan takes longer and is run by hand before changes to
# threading.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../apps/bootstrap.sh" --no-build

sanitizer=address,undefined
if [ $# -gt 0 ] && [[ $1 != -* ]]; then
    sanitizer=$1
    shift
fi
case $sanitizer in
    address,undefined) dir=$EMBER_ROOT/build-asan ;;
    thread) dir=$EMBER_ROOT/build-tsan ;;
    *) echo "test/sanitize.sh: unknown sanitizer '$sanitizer' (address,undefined or thread)" >&2; exit 2 ;;
esac
[ $# -gt 0 ] || set -- --suite rpc --suite storage --suite shuffle --suite scheduler --suite integration

if [ ! -f "$dir/build.ninja" ]; then
    # b_lundef=false: sanitizer runtimes resolve some symbols only at load time. -O0 -g1: an
    # ASan + UBSan build at -O2 -g takes four times as long to compile (15 min against 4 on two
    # cores) and finds the same errors; -g1 keeps file:line in the reports.
    meson setup "$dir" "$EMBER_ROOT" -Db_sanitize="$sanitizer" -Db_lundef=false \
        -Dbuildtype=plain -Dcpp_args='-O0 -g1' >&2
fi
ninja -C "$dir" >&2

reports=$(mktemp -d "${TMPDIR:-/tmp}/ember-sanitizer.XXXXXX")
trap 'rm -rf "$reports"' EXIT
# halt_on_error: a UBSan finding fails the test instead of scrolling past.
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=1:second_deadlock_stack=1"

status=0
meson test -C "$dir" --no-rebuild --print-errorlogs "$@" || status=$?
if compgen -G "$reports/*" > /dev/null; then
    for f in "$reports"/*; do
        echo "== sanitizer report $f" >&2
        cat "$f" >&2
    done
    echo "test/sanitize.sh: $sanitizer reported the errors above" >&2
    status=1
fi
exit $status
