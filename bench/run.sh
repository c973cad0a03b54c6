#!/bin/bash
# Benchmark covidcam against PyTorch on random-weight ResNet-18 and ResNet-50.
#
#   bench/run.sh                  # build dir build-bench, 1 and 2 threads, fp32, bf16, int8
#   PRECISIONS=fp32 TORCH_MODES=both bench/run.sh   # fp32 only
#   BUILD=build-x RUNS=50 THREADS="2" ARCHS=resnet50 bench/run.sh
#   NO_TORCH=1 bench/run.sh       # covidcam only
#
# The models (random weights are enough for speed) are written once under
# $BUILD/bench-models by tools/covidcam_torch.py, which needs torch; so does the
# PyTorch side. Every measurement is a separate process, so peak RSS is per model.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-5}
THREADS=${THREADS:-"1 2"}
ARCHS=${ARCHS:-"resnet18 resnet50"}
SIZE=${SIZE:-224}
GRADCAM=${GRADCAM:-"layer4,layer3"}
# covidcam precisions; one the CPU cannot run (bf16 without AVX512-BF16/AMX)
# is reported as unsupported and skipped. PyTorch modes: torch_reference.py --mode.
PRECISIONS=${PRECISIONS:-"fp32 bf16 int8"}
# int8 runs on a copy of each model calibrated by covidcam-quantize on
# CALIB_IMAGES images of CALIB (any X-ray folder; random weights only need
# activation ranges that are realistic for speed, not accuracy).
CALIB=${CALIB:-$ROOT/../shared/data/cxr/val}
[ -d "$CALIB" ] || CALIB=$ROOT/tests/fixtures
CALIB_IMAGES=${CALIB_IMAGES:-32}
# Batch size of the throughput rows (covidcam max_batch, PyTorch's batch);
# 1 leaves them out. Batch runs take BATCH_RUNS calls.
BATCH=${BATCH:-32}
BATCH_RUNS=${BATCH_RUNS:-5}
TORCH_MODES=${TORCH_MODES:-all}
PY=${PY:-/usr/bin/python3}
NICE=(nice -n 10)

cd "$ROOT"
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" --buildtype=release -Dtests=false -Dtrainer=false >/dev/null
fi
"${NICE[@]}" ninja -C "$BUILD" -j2 bench/covidcam-bench quantize/covidcam-quantize >/dev/null

models=$BUILD/bench-models
results=$BUILD/bench-results
mkdir -p "$models" "$results"
: >"$results/covidcam.jsonl"
: >"$results/torch.jsonl"
: >"$results/torch_batch.jsonl"

for arch in $ARCHS; do
    model=$models/${arch}_${SIZE}.safetensors
    if [ ! -f "$model" ]; then
        echo "creating $model (random weights)" >&2
        "${NICE[@]}" "$PY" tools/covidcam_torch.py export-torchvision --arch "$arch" \
            --classes COVID,Normal,ViralPneumonia --input-size "$SIZE" --input-channels 3 \
            --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 \
            --description "random weights, benchmark only" "$model" >/dev/null
    fi
    qmodel=$models/${arch}_${SIZE}_int8.safetensors
    if [[ " $PRECISIONS " == *" int8 "* && ! -f "$qmodel" ]]; then
        echo "calibrating $qmodel on $CALIB_IMAGES images of $CALIB" >&2
        "${NICE[@]}" "$BUILD/quantize/covidcam-quantize" --model "$model" --calibrate "$CALIB" \
            --images "$CALIB_IMAGES" -o "$qmodel" >/dev/null
    fi
    for t in $THREADS; do
        for p in $PRECISIONS; do
            echo "covidcam $arch threads $t $p" >&2
            batch=()
            [ "$BATCH" -gt 1 ] && batch=(--batch "$BATCH")
            m=$model
            [ "$p" = int8 ] && m=$qmodel
            "${NICE[@]}" "$BUILD/bench/covidcam-bench" --model "$m" --threads "$t" \
                --precision "$p" --runs "$RUNS" --warmup "$WARMUP" --gradcam "$GRADCAM" \
                "${batch[@]}" --json >>"$results/covidcam.jsonl" ||
                echo "covidcam $arch $p: not run on this CPU (see the message above)" >&2
        done
        if [ -z "${NO_TORCH:-}" ]; then
            echo "pytorch  $arch threads $t" >&2
            "${NICE[@]}" "$PY" bench/torch_reference.py --threads "$t" --runs "$RUNS" \
                --warmup "$WARMUP" --mode "$TORCH_MODES" --json "$model" >>"$results/torch.jsonl"
            if [ "$BATCH" -gt 1 ]; then
                echo "pytorch  $arch threads $t batch $BATCH" >&2
                "${NICE[@]}" "$PY" bench/torch_reference.py --threads "$t" --runs "$BATCH_RUNS" \
                    --warmup 2 --batch "$BATCH" --mode "$TORCH_MODES" --json "$model" \
                    >>"$results/torch_batch.jsonl"
            fi
        fi
    done
done

python3 bench/report.py "$results/covidcam.jsonl" "$results/torch.jsonl" \
    "$results/torch_batch.jsonl"
