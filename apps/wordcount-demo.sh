#!/usr/bin/env bash
# The main job: word count of the Linux 6.1 Documentation tree (from Debian's linux-source-6.1)
# on the default local-cluster[2,1,1024]: a driver and two executor processes.
# Extra arguments go to wordcount (for example --top 50, or --master 'local[2]').
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
exec "$EMBER_BUILD_DIR/apps/wordcount" --output "$out" "$@" "$corpus"
