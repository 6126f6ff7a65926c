#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Node.js client example (apps/examples/node) against a real env: starts
# `ember-ping-pong server` on a free port, runs ping_pong_demo.mjs (lookup, send, ask, the
# failure codes endpoint_not_found and unknown_message_type from the env, timeout and abort with
# their cancel frames) and checks both sides' output; then stops the server, by PID, and checks
# it dropped the two asks the client cancelled.
#
#   test/rpc/node_client_test.sh EMBER_PING_PONG SOURCE_ROOT
#
# Needs node and npm (Debian's nodejs and npm, installed through apps/bootstrap.sh when
# missing) and the capnp compiler (capnproto, a build dependency). The example's npm packages
# (capnp-es, pinned in its package-lock.json) are installed with `npm ci --prefer-offline` into a
# copy of the example in a temporary directory: npm's cache (~/.npm) makes later runs offline.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 EMBER_PING_PONG SOURCE_ROOT" >&2
    exit 2
fi
ping_pong=$(realpath "$1")
root=$(cd "$2" && pwd)

missing=()
command -v node > /dev/null || missing+=(nodejs)
command -v npm > /dev/null || missing+=(npm)  # a node from elsewhere that brings its own npm is kept
command -v capnp > /dev/null || missing+=(capnproto)
if ((${#missing[@]})); then
    # shellcheck source=../../apps/bootstrap.sh
    source "$root/apps/bootstrap.sh" --no-build
    ember_install "${missing[@]}"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ember-node-client.XXXXXX")
server_pid=
finish() {
    local rc=$?
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2> /dev/null; then
        kill -KILL "$server_pid" 2> /dev/null || true
        wait "$server_pid" 2> /dev/null || true
    fi
    if [ "$rc" -ne 0 ]; then
        for f in server.log client.out client.err npm.log; do
            [ -s "$work/$f" ] && { echo "--- $f ---" >&2; tail -n 40 "$work/$f" >&2; }
        done
    fi
    rm -rf "$work"
    exit "$rc"
}
trap finish EXIT

example=$root/apps/examples/node
cp "$example"/package.json "$example"/package-lock.json "$example"/*.mjs "$work/"
cd "$work"
echo "node $(node --version), npm $(npm --version)" >&2
npm ci --prefer-offline --no-audit --no-fund --loglevel=error > npm.log 2>&1
node generate.mjs "$root" >&2

"$ping_pong" server --port 0 > server.log 2>&1 &
server_pid=$!
uri=
for _ in $(seq 100); do  # until it prints its address (at most 10 s)
    uri=$(sed -n 's/^listening on \(ember:\/\/.*\)$/\1/p' server.log)
    [ -n "$uri" ] && break
    kill -0 "$server_pid" 2> /dev/null || { echo "the server exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$uri" ] || { echo "the server did not print its address" >&2; exit 1; }
hostport=${uri#ember://pong@}
host=${hostport%:*}
port=${hostport##*:}

node ping_pong_demo.mjs "$host" "$port" > client.out 2> client.err
cat client.out >&2

fail=0
want() {  # want FILE PATTERN: a line of FILE matches the extended regex PATTERN
    grep -Eq -- "$2" "$1" || { echo "error: no line of $1 matches: $2" >&2; fail=1; }
}
want client.out "^lookup pong: true, lookup nobody: false$"
want client.out "^ping 7 -> pong 7 from $host:$port \\(pong\\)$"
want client.out "^ask nobody -> endpoint_not_found \\(2\\): Could not find endpoint ember://nobody@$host:$port$"
want client.out "^ask a Note -> unknown_message_type \\(8\\): ember://pong@$host:$port does not handle message type "
want client.out "^silence -> timeout \\(1\\): no reply from pong"
want client.out "^silence -> aborted \\(11\\): "
want client.out "^ping 8 -> pong 8$"
# The unknown-type message names the type id once.
ids=$(grep '^ask a Note' client.out | grep -Eo '0x[0-9a-f]{16}' | wc -l)
[ "$ids" -eq 1 ] || { echo "error: the unknown_message_type message names the type id $ids times" >&2; fail=1; }

kill -TERM "$server_pid"
wait "$server_pid" || { echo "error: the server exited with $?" >&2; fail=1; }
server_pid=
want server.log "^note from .*: hello from node$"
want server.log "^answered 2 pings; dropped 2 held asks their askers cancelled$"
exit $fail
