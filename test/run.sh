#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, and runs every test (unit, protocol and
# integration tests with real executor processes, an out-of-tree build against the installed
# copy), then all but the install and scale suites again under ASan + UBSan (test/sanitize.sh,
# clang, build dir build-asan), then every libFuzzer target over its seed corpus for a few
# seconds (test/fuzz.sh, same build dir). Extra arguments go to `meson test` (for example
# --suite rpc) and skip the sanitizer and fuzz runs, as do EMBER_SANITIZE=none and
# EMBER_FUZZ=none.
#
# The instrumented build is compiled while the uninstrumented tests run, at idle CPU priority
# (SCHED_IDLE, nice 19): most of those tests wait on sockets, timers and child processes, and
# the compiler takes the CPU they leave, never the CPU they want. Its log is
# build-asan/background-build.log; test/sanitize.sh then builds whatever is left and reports
# any compile error itself.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
# Each step's end, in seconds since the start, on stderr: where CI's time goes.
phase() { echo "test/run.sh: $1 at +${SECONDS} s" >&2; }
source "$here/../apps/bootstrap.sh"
phase "packages and the build"
sanitizer=${EMBER_SANITIZE:-address,undefined}
background=
if [ $# -eq 0 ] && [ "$sanitizer" != none ]; then
    "$here/sanitize.sh" "$sanitizer" --setup-only
    asan_dir=${EMBER_ASAN_BUILD_DIR:-$EMBER_ROOT/build-asan}
    [ "$sanitizer" = address,undefined ] || asan_dir=$EMBER_ROOT/build-tsan
    # A session of its own: its process group is stopped as one if this script exits early, and
    # it is an autogroup of its own, which gets nice 19. meson test runs each test in a session
    # of its own (setsid), and where the kernel groups sessions (sched_autogroup_enabled) each
    # group gets an equal share of the CPU whatever the nice values and policies inside it: with
    # only SCHED_IDLE and nice 19 the tests ran 2.1 times as long beside the compiler.
    setsid bash -c 'echo 19 > /proc/self/autogroup 2> /dev/null || true; exec chrt --idle 0 nice -n 19 "$@"' \
        _ "$here/sanitize.sh" "$sanitizer" --build-all < /dev/null > "$asan_dir/background-build.log" 2>&1 &
    background=$!  # the session leader: its pid is the group's id
    trap 'kill -- -"$background" 2> /dev/null || true' EXIT
fi
meson test -C "$EMBER_BUILD_DIR" --print-errorlogs "$@"
phase "the tests"
if [ -n "$background" ]; then
    wait "$background" || echo "test/run.sh: the background build of $sanitizer failed (see below)" >&2
    trap - EXIT
    phase "the rest of the background build"
    "$here/sanitize.sh" "$sanitizer"
    phase "the $sanitizer tests"
fi
if [ $# -eq 0 ] && [ "${EMBER_FUZZ:-}" != none ]; then
    "$here/fuzz.sh"
    phase "the fuzz pass"
fi
