#!/bin/bash
# The try-it server on a fresh Debian 12 machine, in one command (as root):
#   server/demo.sh
# installs the build dependencies, builds covidcam-server and starts it with
# the shipped model on http://127.0.0.1:8080/ (loopback only) until Ctrl-C.
#
# Environment: MODEL (default models/covidcam-cxr.safetensors), PORT (8080),
# BUILD (build-server), SKIP_APT=1 to use the packages already installed.
# Other arguments go to covidcam-server (e.g. --workers 2).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-server}
MODEL=${MODEL:-$ROOT/models/covidcam-cxr.safetensors}
PACKAGES=(meson ninja-build pkg-config gcc g++ libdnnl-dev libpng-dev libjpeg62-turbo-dev libjansson-dev
          libdcmtk-dev libmicrohttpd-dev)

if [ -z "${SKIP_APT:-}" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "demo.sh installs packages with apt-get: run it as root (sudo server/demo.sh)," >&2
        echo "or install ${PACKAGES[*]} yourself and set SKIP_APT=1" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
fi
cd "$ROOT"
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" --buildtype=release -Dtests=false -Dtrainer=false -Dbench=false \
        -Dserver=enabled
fi
ninja -C "$BUILD" -j"$(nproc)" server/covidcam-server
echo "== open http://127.0.0.1:${PORT:-8080}/ (Ctrl-C stops the server)"
exec "$BUILD/server/covidcam-server" --model "$MODEL" --host 127.0.0.1 --port "${PORT:-8080}" "$@"
