#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, and runs every test (unit, protocol and
# integration tests with real executor processes, an out-of-tree build against the installed
# copy), then all but the install and scale suites again under ASan + UBSan (test/sanitize.sh,
# clang, build dir build-asan), then every libFuzzer target over its seed corpus for a few
# seconds (test/fuzz.sh, same build dir). Extra arguments go to `meson test` (for example
# --suite rpc) and skip the sanitizer and fuzz runs, as do EMBER_SANITIZE=none and
# EMBER_FUZZ=none.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/../apps/bootstrap.sh"
meson test -C "$EMBER_BUILD_DIR" --print-errorlogs "$@"
if [ $# -eq 0 ] && [ "${EMBER_SANITIZE:-address,undefined}" != none ]; then
    "$here/sanitize.sh" "${EMBER_SANITIZE:-address,undefined}"
fi
if [ $# -eq 0 ] && [ "${EMBER_FUZZ:-}" != none ]; then
    "$here/fuzz.sh"
fi
