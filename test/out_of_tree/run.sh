#!/usr/bin/env bash
# Proves that an installed ember is usable from an out-of-tree project:
#
#   test/out_of_tree/run.sh BUILD_DIR [SOURCE_ROOT]
#
# Installs the (already built) BUILD_DIR into a temporary staging directory, checks that every
# header and schema of the source tree was installed and that the installed headers compile with
# nothing but the pkg-config flags, then configures test/out_of_tree against the installed
# pkg-config files, builds it and runs its programs. Writes nothing under /usr, and nothing in
# BUILD_DIR but meson's install log; the staging directory is removed on exit. Exit code non-zero
# on any failure. Run by `meson test --suite install` (test 'out_of_tree_build').
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 BUILD_DIR [SOURCE_ROOT]" >&2
    exit 2
fi
build_dir=$(cd "$1" && pwd)
src_root=$(cd "${2:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
project_dir=$src_root/test/out_of_tree

work=$(mktemp -d "${TMPDIR:-/tmp}/ember-out-of-tree.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/stage

step() { echo "== $*"; }

# The build's own options: where it installs, and a sanitizer its static libraries were built
# with (the out-of-tree project must then link with the same runtime).
read -r prefix b_sanitize < <(meson introspect "$build_dir" --buildoptions | python3 -c '
import json, sys
opts = {o["name"]: o["value"] for o in json.load(sys.stdin)}
print(opts["prefix"], opts.get("b_sanitize", "none"))')

# --no-rebuild: `meson test` has built everything already, and a second ninja must not run in
# BUILD_DIR while tests run there.
step "meson install -C $build_dir --destdir $stage (prefix $prefix)"
meson install -C "$build_dir" --no-rebuild --quiet --destdir "$stage"

pc_file=$(find "$stage$prefix" -name ember.pc -path '*/pkgconfig/*' | head -n 1)
if [ -z "$pc_file" ]; then
    echo "error: no ember.pc installed under $stage$prefix" >&2
    exit 1
fi
pc_dir=$(dirname "$pc_file")
# A staged install is the image of PREFIX: point each .pc file's prefix= (every other path in it
# is relative to ${prefix}) into the stage, as pkg-config's sysroot or a relocatable .pc would.
for pc in "$pc_dir"/ember*.pc; do
    sed -i "s|^prefix=.*|prefix=$stage$prefix|" "$pc"
done
export PKG_CONFIG_PATH=$pc_dir
for pc in "$pc_dir"/ember*.pc; do
    step "$(basename "$pc")"
    cat "$pc"
done

include_root=$(pkg-config --variable=includedir ember)/ember
schemadir=$(pkg-config --variable=schemadir ember)
for p in "$include_root" "$schemadir"; do
    case $p in "$stage"/*) ;; *) echo "error: $p is not inside the staged install" >&2; exit 1 ;; esac
done

step "every header and schema of the source tree is installed"
missing=0
cd "$src_root"
while IFS= read -r h; do
    [ -f "$include_root/$h" ] || { echo "not installed: include/ember/$h" >&2; missing=1; }
done < <(find rpc storage shuffle scheduler -name '*.hpp' | sort)
while IFS= read -r s; do
    [ -f "$schemadir/$s" ] || { echo "not installed: share/ember/schemas/$s" >&2; missing=1; }
    [ -f "$include_root/$s.h" ] || { echo "not installed: include/ember/$s.h" >&2; missing=1; }
done < <(find rpc storage shuffle scheduler -name '*.capnp' | sort)
while IFS= read -r s; do  # the examples' schemas: for clients in other languages (no C++ header)
    [ -f "$schemadir/$s" ] || { echo "not installed: share/ember/schemas/$s" >&2; missing=1; }
done < <(find apps/examples -name '*.capnp' | sort)
cd - > /dev/null
if [ $missing -ne 0 ]; then
    echo "error: add the files above to the install_headers/install_data of their meson.build" >&2
    exit 1
fi

step "the installed headers compile together with only the pkg-config flags"
all_headers=$work/all_headers.cpp
(cd "$include_root" && find . -name '*.hpp' -o -name '*.capnp.h' | sed 's|^\./||' | sort |
    sed 's|.*|#include "&"|') > "$all_headers"
echo "int main() { return 0; }" >> "$all_headers"
# shellcheck disable=SC2046  # pkg-config's output is a list of flags
"${CXX:-c++}" -std=c++20 -fsyntax-only $(pkg-config --cflags ember-scheduler ember-testkit) "$all_headers"

step "configure, build and run test/out_of_tree against the installed ember"
# The staging directory has a new name each run: let ccache see paths relative to it, so reruns hit.
export CCACHE_BASEDIR=$work CCACHE_NOHASHDIR=1
meson setup "$work/build" "$project_dir" -Db_sanitize="$b_sanitize"
ninja -C "$work/build"
meson test -C "$work/build" --print-errorlogs --verbose
step "out-of-tree build: OK"
