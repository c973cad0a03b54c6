#!/bin/bash
# HTTP overhead of covidcam-server: requests per second and p50/p99 latency of
# /v1/classify and /v1/gradcam at several concurrencies on loopback (wrk),
# next to the in-process cost of the same library call (covidcam-classify and
# covidcam-gradcam --json report it as "ms").
#
#   server/bench/run.sh
#   BUILD=build-x IMAGE=x.png CONC="1 4 16" DURATION=10 WORKERS=1 THREADS=2 server/bench/run.sh
#
# Needs wrk (Debian package wrk). Only 127.0.0.1 is used.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
MODEL=${MODEL:-$ROOT/models/covidcam-cxr.safetensors}
IMAGE=${IMAGE:-$ROOT/../shared/data/cxr/val/COVID/COVID-1399.png}
[ -f "$IMAGE" ] || IMAGE=$ROOT/tests/fixtures/sample_97x131.png
CONC=${CONC:-"1 4 16"}
DURATION=${DURATION:-10}
RUNS=${RUNS:-50}
NPROC=$(nproc)
WORKERS=${WORKERS:-1}
THREADS=${THREADS:-$(( NPROC / WORKERS > 0 ? NPROC / WORKERS : 1 ))}

command -v wrk >/dev/null || { echo "run.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
cd "$ROOT"
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" --buildtype=release -Dtests=false -Dtrainer=false >/dev/null
fi
ninja -C "$BUILD" -j2 server/covidcam-server examples/covidcam-classify \
    examples/covidcam-gradcam >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# In-process: one process, RUNS calls on the same image, median of "ms".
images=()
for _ in $(seq "$RUNS"); do images+=("$IMAGE"); done
inproc_classify=$("$BUILD/examples/covidcam-classify" --model "$MODEL" --threads "$THREADS" \
    --json "${images[@]}" | tail -n +6 | python3 -c 'import json,sys; [print(json.loads(l)["ms"]) for l in sys.stdin]' | median)
inproc_gradcam=$("$BUILD/examples/covidcam-gradcam" --model "$MODEL" --threads "$THREADS" \
    --json "${images[@]}" | tail -n +6 | python3 -c 'import json,sys; [print(json.loads(l)["ms"]) for l in sys.stdin]' | median)

log=$(mktemp)
"$BUILD/server/covidcam-server" --model "$MODEL" --port 0 --quiet --workers "$WORKERS" \
    --threads-per-worker "$THREADS" --queue 64 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q listening "$log" && break; sleep 0.1; done
url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log")
[ -n "$url" ] || { cat "$log" >&2; exit 1; }

echo "covidcam-server $(sed -n 's/.*model \([^ ]*\).*/\1/p' "$log"), image $(basename "$IMAGE"),"
echo "$WORKERS worker(s) x $THREADS thread(s), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "in-process (median of $RUNS calls): classify ${inproc_classify} ms, gradcam ${inproc_gradcam} ms"
echo
# mean_ms is wrk's mean latency; queue, model and overlay are the server's own
# means (Server-Timing); http = mean_ms - queue - model - overlay is what HTTP,
# JSON and base64 add.
printf '%-9s %5s %8s %7s %7s %8s %7s %7s %8s %6s %6s\n' route conc req/s p50_ms p99_ms \
    mean_ms queue model overlay http errors
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.1f", v}'; }
for route in classify gradcam; do
    for c in $CONC; do
        out=$(BENCH_IMAGE=$IMAGE wrk -t $(( c < 2 ? c : 2 )) -c "$c" -d "${DURATION}s" --latency --timeout 60s \
              -s server/bench/post.lua "$url/v1/$route")
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        p50=$(awk '$1 == "50%" {print $2}' <<<"$out" | to_ms)
        p99=$(awk '$1 == "99%" {print $2}' <<<"$out" | to_ms)
        errs=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
        read -r mean queue model overlay < <(awk '/^SERVER_TIMING/ {print $2, $3, $4, $5}' <<<"$out")
        http=$(awk -v a="$mean" -v b="$queue" -v c="$model" -v d="$overlay" 'BEGIN {printf "%.1f", a - b - c - d}')
        printf '%-9s %5s %8s %7s %7s %8.1f %7.1f %7.1f %8.1f %6s %6s\n' "$route" "$c" "$rps" "$p50" \
            "$p99" "$mean" "$queue" "$model" "$overlay" "$http" "${errs:-0}"
    done
done
