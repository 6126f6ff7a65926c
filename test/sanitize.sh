#!/usr/bin/env bash
# Runs tests under a sanitizer, in its own build directory:
#
#   test/sanitize.sh [address,undefined | thread] [meson test arguments...]
#
# The default sanitizer is address,undefined (ASan + UBSan with clang 14, build dir build-asan,
# which also holds the fuzz targets: --build-only builds them and stops, for test/fuzz.sh);
# `thread` is TSan with g++ (build-tsan). Two more modes, for test/run.sh, which compiles the
# instrumented tree while the uninstrumented tests run: --setup-only installs the compiler and
# configures the build dir (apt-get must not run beside the tests, which install packages too),
# and --build-all builds the selected tests' programs and the fuzz targets; neither runs a test.
# Without meson test arguments every suite but `install`, `scale` and `bench` runs (the first
# rebuilds an installed copy, which adds time and no coverage; the second shuffles 1 GB, ten times
# slower here, through code the shuffle and scheduler suites cover; the third checks
# ember-bench's baselines, not ember), and only the programs those tests run are built. Executor
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
    address,undefined) dir=${EMBER_ASAN_BUILD_DIR:-$EMBER_ROOT/build-asan} ;;
    thread) dir=$EMBER_ROOT/build-tsan ;;
    *) echo "test/sanitize.sh: unknown sanitizer '$sanitizer' (address,undefined or thread)" >&2; exit 2 ;;
esac
mode=test
case ${1:-} in
    --build-only) mode=build-fuzz; shift ;;
    --build-all) mode=build-all; shift ;;
    --setup-only) mode=setup; shift ;;
esac
[ $# -gt 0 ] || set -- --suite rpc --suite storage --suite shuffle --suite scheduler --suite integration --suite status \
    --suite ui --no-suite bench

if [ "$sanitizer" = address,undefined ] && [ -f "$dir/build.ninja" ] && [ ! -d "$dir/test/fuzz" ]; then
    echo "test/sanitize.sh: $dir is an older g++ ASan build; setting it up again with clang" >&2
    rm -rf "$dir"
fi
# -O0 -g1: an instrumented build at -O2 -g takes four times as long to compile (15 min against 4 on
# two cores) and finds the same errors; -g1 keeps file:line in the reports. Checked assertions:
# a plain build counts as a release one for meson's default b_ndebug (if-release), which defined
# NDEBUG and turned off the assertions of the headers ember uses (BOOST_ASSERT in Boost.Unordered,
# Boost.JSON and Asio, FMT_ASSERT in fmt's), the very checks an instrumented build is for;
# _GLIBCXX_ASSERTIONS adds libstdc++'s bounds checks (a vector's operator[] past its size but
# inside its capacity, which ASan does not see), front() and back() of empty containers.
if [ "$sanitizer" = address,undefined ]; then
    cpp_args="${EMBER_FUZZ_CPP_ARGS:--O0 -g1} -D_GLIBCXX_ASSERTIONS"
else
    cpp_args="-O0 -g1 -D_GLIBCXX_ASSERTIONS"
fi
# The options above and unity=on, unity_size=8 (below), for a new build dir and an old one alike.
checked_options=(-Db_ndebug=false "-Dcpp_args=$cpp_args" -Dunity=on -Dunity_size=8)
if [ ! -f "$dir/build.ninja" ]; then
    # b_lundef=false: sanitizer runtimes resolve some symbols only at load time. unity=on,
    # unity_size=8: a target's sources are compiled eight to a file, so the Asio, Cap'n Proto and
    # Boost headers are parsed and their inline functions instrumented once per eight files; the
    # four libraries (CI's longest step here) took 2m11s on two cores against 4m38s one file at a
    # time. The uninstrumented build stays one file at a time, so a file that compiles only
    # beside another still fails there.
    # default_library=shared: ember's libraries are linked once as shared objects, not into each
    # of some 80 programs, which took 8 of this build's 10 GB of disk and most of its link time.
    if [ "$sanitizer" = address,undefined ]; then
        # ASan + UBSan with clang, -Dfuzz=true: the same build also has libFuzzer's coverage
        # instrumentation and the fuzz targets of test/fuzz (test/fuzz.sh uses it), so CI
        # compiles the instrumented tree once. meson.build adds the sanitizer flags.
        ember_install clang libclang-rt-14-dev llvm-14
        cxx=clang++
        if command -v ccache > /dev/null; then cxx="ccache clang++"; fi
        CXX=$cxx meson setup --wrap-mode=nodownload "$dir" "$EMBER_ROOT" -Dfuzz=true -Db_lundef=false \
            -Ddefault_library=shared -Dbuildtype=plain "${checked_options[@]}" >&2
    else
        meson setup --wrap-mode=nodownload "$dir" "$EMBER_ROOT" -Db_sanitize="$sanitizer" -Db_lundef=false \
            -Ddefault_library=shared -Dbuildtype=plain "${checked_options[@]}" >&2
    fi
elif grep -q '"name": "b_ndebug", "value": "if-release"' "$dir/meson-info/intro-buildoptions.json" 2> /dev/null; then
    # A build dir set up before the assertions were checked (above): a full rebuild, once.
    meson configure "$dir" "${checked_options[@]}" >&2
fi
# Only what is run: the selected tests' programs (meson's `depends:`), with --build-only the
# fuzz targets, with --build-all both; on two cores the instrumented build is CI's longest step.
# First brings meson's introspection up to date with meson.build (a test added since the last
# setup).
ninja -C "$dir" build.ninja >&2
[ "$mode" != setup ] || exit 0
targets=
if [ "$mode" != build-fuzz ]; then
    targets=$(python3 "$EMBER_ROOT/test/sanitizer_targets.py" "$dir" "$@")
fi
if [ "$mode" != test ]; then
    targets="$targets $(python3 "$EMBER_ROOT/test/sanitizer_targets.py" "$dir" --fuzz)"
fi
# shellcheck disable=SC2086 # one target per word
ninja -C "$dir" $targets >&2
[ "$mode" = test ] || exit 0
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/bin/llvm-symbolizer-14}

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
