#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The web UI in a real browser: starts ember-ui-demo with its UI on a free port and drives
# headless Chromium through the pages (test/ui/browser_test.mjs), saving screenshots.
#
#   test/ui/browser_test.sh EMBER_UI_DEMO SCREENSHOT_DIR
#
# Needs chromium, node and npm (Debian's; installed through apps/bootstrap.sh when missing) and
# playwright-core (npm; installed once into $EMBER_UI_TEST_CACHE, default ~/.cache/ember-ui-test).
# Exits non-zero on any failure; stops the application it started, by PID.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 EMBER_UI_DEMO SCREENSHOT_DIR" >&2
    exit 2
fi
demo=$1
shots=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

# shellcheck source=../../apps/bootstrap.sh
source "$root/apps/bootstrap.sh" --no-build
ember_install chromium nodejs npm

# playwright-core drives the system's Chromium (it downloads no browser of its own).
playwright_version=1.65.1
cache=${EMBER_UI_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ember-ui-test}
if ! grep -qs "\"version\": \"$playwright_version\"" "$cache/node_modules/playwright-core/package.json"; then
    mkdir -p "$cache"
    [ -f "$cache/package.json" ] || echo '{"name": "ember-ui-test", "private": true}' > "$cache/package.json"
    echo "browser_test: installing playwright-core@$playwright_version into $cache" >&2
    (cd "$cache" && npm install --no-audit --no-fund --loglevel=error "playwright-core@$playwright_version" >&2)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ember-ui-test.XXXXXX")
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$shots"

# Enough work for the whole walk through the pages: 4 tasks of 1.5 s on 2 one-core executors per
# stage, two stages per job, so a job runs about 6 s and the demo about 4 minutes unless stopped.
"$demo" --jobs 40 --partitions 4 --ms 1500 --conf "ember.ui.port=$port" > "$work/demo.log" 2>&1 &
demo_pid=$!

stop_demo() {
    if kill -0 "$demo_pid" 2>/dev/null; then
        kill -TERM "$demo_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$demo_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$demo_pid" 2>/dev/null || true
    fi
    wait "$demo_pid" 2>/dev/null || true
}
finish() {
    local rc=$?
    stop_demo
    if [ "$rc" -ne 0 ]; then
        echo "--- ember-ui-demo output ---" >&2
        tail -n 40 "$work/demo.log" >&2 || true
    fi
    rm -rf "$work"
    exit "$rc"
}
trap finish EXIT

EMBER_UI_TEST_NODE_MODULES="$cache/node_modules" node "$here/browser_test.mjs" "http://127.0.0.1:$port" "$shots" "$demo_pid" "$work"
