#!/bin/sh
# Vet and test the Go binding against a meson build tree (run by meson test;
# also usable by hand):
#   bindings/go/run_tests.sh BUILD_DIR
# cgo finds the library through the uninstalled pkg-config file meson writes
# (BUILD_DIR/meson-uninstalled/covidcam-uninstalled.pc) and the loader
# through LD_LIBRARY_PATH. Go's caches live under BUILD_DIR; no network is used.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run_tests.sh BUILD_DIR}" && pwd)

export PKG_CONFIG_PATH="$build/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GOCACHE="$build/go/cache" GOPATH="$build/go/path" GOFLAGS=-mod=mod GOPROXY=off
export CGO_ENABLED=1 CC_BUILD_ROOT="${CC_BUILD_ROOT:-$build}"
# Go's build cache does not hash headers found through pkg-config: put the
# header's checksum into the cgo flags (part of the cache key), so a changed
# covidcam.h recompiles the package instead of reusing stale objects.
header_sum=$(cksum <"$here/../../include/covidcam.h" | cut -d' ' -f1)
export CGO_CFLAGS="-g -O2 -DCOVIDCAM_HEADER_CKSUM=$header_sum"

status=0
for mod in covidcam cmd; do
    cd "$here/$mod"
    unformatted=$(gofmt -l .)
    if [ -n "$unformatted" ]; then
        echo "gofmt: not formatted: $unformatted" >&2
        status=1
    fi
    echo "== go vet ($mod)"
    go vet ./... || status=1
    echo "== go test -race ($mod)"
    # -count=1: the cache does not know when libcovidcam.so changes.
    go test -race -count=1 ./... || status=1
done
exit $status
