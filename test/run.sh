#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, and runs every test (unit, protocol and
# integration tests with real executor processes, an out-of-tree build against the installed
# copy), then all but the install suite again under ASan + UBSan (test/sanitize.sh, build dir
# build-asan). Extra arguments go to `meson test` (for example --suite rpc) and skip the
# sanitizer run, as does EMBER_SANITIZE=none.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/../apps/bootstrap.sh"
meson test -C "$EMBER_BUILD_DIR" --print-errorlogs "$@"
if [ $# -eq 0 ] && [ "${EMBER_SANITIZE:-address,undefined}" != none ]; then
    "$here/sanitize.sh" "${EMBER_SANITIZE:-address,undefined}"
fi
