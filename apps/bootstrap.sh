#!/usr/bin/env bash
# Sourced by the README's two commands: installs the Debian 12 packages ember needs when they are
# missing, then configures and builds ember in $EMBER_BUILD_DIR (default: build/). Sourced with
# --no-build, it only installs the packages (test/sanitize.sh builds in its own directory).
set -euo pipefail

EMBER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EMBER_BUILD_DIR=${EMBER_BUILD_DIR:-$EMBER_ROOT/build}

# Boost 1.81 only: never libboost-dev (1.74) beside it.
EMBER_PACKAGES=(g++ meson ninja-build pkg-config ccache libboost1.81-dev libcapnp-dev capnproto
                libspdlog-dev libfmt-dev catch2 liblz4-dev libxxhash-dev zlib1g-dev libcli11-dev libssl-dev
                libboost-json1.81-dev libboost-url1.81-dev libzstd-dev lld libmimalloc-dev
                python3-cryptography)  # the Python wire client's encrypted handshake (tests)

ember_install() {  # ember_install PACKAGE...: installs those not installed yet
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "ember: installing ${missing[*]}" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ember_install "${EMBER_PACKAGES[@]}"
if [ "${1:-}" = --no-build ]; then
    return 0
fi
# --wrap-mode=nodownload: every dependency comes from the Debian packages above; a missing one
# fails here instead of falling back to a download of subprojects/*.wrap.
if [ ! -f "$EMBER_BUILD_DIR/build.ninja" ]; then
    meson setup --wrap-mode=nodownload "$EMBER_BUILD_DIR" "$EMBER_ROOT" >&2
fi
ninja -C "$EMBER_BUILD_DIR" >&2
