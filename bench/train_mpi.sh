#!/bin/bash
# Data-parallel training on this machine, next to PyTorch, and the expected
# scaling on a cluster (docs/training.md, "Several processes").
#
#   bench/train_mpi.sh                       # build dir build, ResNet-18 and -50, batch 32
#   ARCHS=resnet18 ITER=10 BATCH=64 bench/train_mpi.sh
#   NO_TORCH=1 bench/train_mpi.sh            # covidcam only
#
# For each network: covidcam-train --benchmark as 1 process x 2 threads and
# under mpirun as 2 processes x 1 thread (each half of the batch, synchronised
# batch norm, summed gradients), then PyTorch the same two ways
# (bench/torch_ddp.py: DistributedDataParallel over gloo), then
# bench/mpi_scaling.py's projection to 4-64 nodes from the measured
# single-process iteration. Needs a trainer built with MPI (meson option mpi)
# and, for the PyTorch rows, /usr/bin/python3 with torch and torchvision.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
ARCHS=${ARCHS:-"resnet18 resnet50"}
BATCH=${BATCH:-32}
ITER=${ITER:-5}
PRECISION=${PRECISION:-fp32}
PY=${PY:-/usr/bin/python3}
TRAIN=$BUILD/train/covidcam-train
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none)

[ -x "$TRAIN" ] || { echo "no $TRAIN: build first (meson setup $BUILD && ninja -C $BUILD)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "no mpirun (Debian: openmpi-bin)" >&2; exit 1; }

grep -m1 'model name' /proc/cpuinfo || true
echo "cores: $(nproc); oneDNN ISA and figures below; batch $BATCH (global), $ITER timed iterations"
declare -A BN_LAYERS=([resnet18]=20 [resnet34]=36 [resnet50]=53 [resnet101]=104 [resnet152]=155)

figure() { # "s/iteration" or "images/s" from a covidcam benchmark report
    sed -n "s|.* \([0-9.]*\) $1.*|\1|p" | head -1
}

for arch in $ARCHS; do
    echo
    echo "== $arch"
    one=$("$TRAIN" --benchmark --arch "$arch" --batch-size "$BATCH" --iterations "$ITER" \
          --threads 2 --precision "$PRECISION")
    two=$("${MPIRUN[@]}" -np 2 "$TRAIN" --benchmark --arch "$arch" --batch-size "$BATCH" \
          --iterations "$ITER" --threads 1 --precision "$PRECISION")
    echo "$one" | head -1
    printf '  covidcam 1 process  x 2 threads: %s s/iteration, %s images/s\n' \
        "$(echo "$one" | figure s/iteration)" "$(echo "$one" | figure images/s)"
    printf '  covidcam 2 processes x 1 thread: %s s/iteration, %s images/s\n' \
        "$(echo "$two" | figure s/iteration)" "$(echo "$two" | figure images/s)"
    echo "$two" | grep 'processes:' | sed 's/^ */  /'
    if [ -z "${NO_TORCH:-}" ]; then
        "$PY" "$ROOT/bench/torch_ddp.py" --arch "$arch" --batch "$BATCH" --iterations "$ITER" \
            --procs 1 --threads 2 | sed 's/^/  /'
        "$PY" "$ROOT/bench/torch_ddp.py" --arch "$arch" --batch "$BATCH" --iterations "$ITER" \
            --procs 2 --threads 1 | sed 's/^/  /'
    fi
    mb=$(echo "$two" | sed -n 's/.*(\([0-9.]*\) MB fp32.*/\1/p')
    echo
    "$PY" "$ROOT/bench/mpi_scaling.py" --arch "$arch" --iteration "$(echo "$one" | figure s/iteration)" \
        --node-batch "$BATCH" --gradient-mb "$mb" --bn-layers "${BN_LAYERS[$arch]:-20}"
done
