#!/usr/bin/env bash
# The main job: word count of the Linux 6.1 Documentation tree (from Debian's linux-source-6.1)
# on the default local-cluster[2,1,1024]: a driver and two executor processes.
# Extra arguments go to wordcount (for example --top 50, or --master 'local[2]'). The job shows a
# progress bar on a terminal, serves its web UI while it runs, and writes an event log.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

ember_install linux-source-6.1 xz-utils
corpus_root="$EMBER_BUILD_DIR/corpus"
corpus="$corpus_root/linux-source-6.1/Documentation"
if [ ! -d "$corpus" ]; then
    echo "ember: extracting $corpus" >&2
    mkdir -p "$corpus_root"
    tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$corpus_root" --wildcards 'linux-source-6.1/Documentation/*'
fi
out="$EMBER_BUILD_DIR/wordcount-output"
rm -rf "$out"
# The job's event log, for ember-history-server (README: "Monitoring").
events="$EMBER_BUILD_DIR/ember-events"
mkdir -p "$events"
"$EMBER_BUILD_DIR/apps/wordcount" --conf ember.eventLog.enabled=true --conf "ember.eventLog.dir=$events" \
    --output "$out" "$@" "$corpus"
echo "Open the finished job in the History Server: $EMBER_BUILD_DIR/apps/ember-history-server --dir $events" \
     "(then http://127.0.0.1:18080)"
