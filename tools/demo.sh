#!/bin/bash
# The main job on a fresh Debian 12 machine, in one command (as root):
#   tools/demo.sh
# installs the build dependencies, builds libcovidcam and its example programs,
# classifies one validation X-ray and writes its Grad-CAM overlay to out/.
#
# Environment:
#   MODEL  model file (default: models/covidcam.safetensors, else the first
#          models/*.safetensors, else the random-weight test fixture)
#   IMAGE  PNG, JPEG or DICOM to explain (default: the first COVID image of ../shared/data/cxr/val)
#   BUILD  build directory (default: build-demo); SKIP_APT=1 skips apt-get.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-demo}
OUT=$ROOT/out
DATA=$ROOT/../shared/data/cxr
PACKAGES=(meson ninja-build pkg-config gcc g++ libdnnl-dev libpng-dev libjpeg62-turbo-dev libjansson-dev
          libdcmtk-dev)

install_deps() {
    if [ -n "${SKIP_APT:-}" ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "demo.sh installs packages with apt-get: run it as root (sudo tools/demo.sh)," >&2
        echo "or install ${PACKAGES[*]} yourself and set SKIP_APT=1" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
}

pick_model() {
    if [ -n "${MODEL:-}" ]; then
        echo "$MODEL"
        return
    fi
    local m
    for m in models/covidcam.safetensors models/*.safetensors; do
        if [ -f "$m" ]; then
            echo "$ROOT/$m"
            return
        fi
    done
    echo "$ROOT/tests/fixtures/basic.safetensors"
}

pick_image() {
    if [ -n "${IMAGE:-}" ]; then
        echo "$IMAGE"
        return
    fi
    local first
    first=$(find "$DATA/val/COVID" -maxdepth 1 -name '*.png' 2>/dev/null | sort | head -n 1)
    echo "${first:-$ROOT/tests/fixtures/sample_97x131.png}"
}

cd "$ROOT"
install_deps
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" --buildtype=release -Dtests=false -Dtrainer=false -Dbench=false
fi
ninja -C "$BUILD" -j"$(nproc)" examples/covidcam-classify examples/covidcam-gradcam

model=$(pick_model)
image=$(pick_image)
if [ "$model" = "$ROOT/tests/fixtures/basic.safetensors" ]; then
    echo "NOTE: no trained model in models/ yet; using the random-weight test model"
    echo "      tests/fixtures/basic.safetensors, so the prediction means nothing."
fi
mkdir -p "$OUT"
echo "== classify $image"
"$BUILD/examples/covidcam-classify" --model "$model" "$image"
echo "== Grad-CAM"
"$BUILD/examples/covidcam-gradcam" --model "$model" -o "$OUT/overlay.png" \
    --heatmap "$OUT/heatmap.png" "$image"
echo "overlay written to $OUT/overlay.png (heatmap alone: $OUT/heatmap.png)"
