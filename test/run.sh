#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, and runs every test (unit, protocol and
# integration tests with real executor processes). Extra arguments go to `meson test`
# (for example --suite rpc).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../apps/bootstrap.sh"
meson test -C "$EMBER_BUILD_DIR" --print-errorlogs "$@"
