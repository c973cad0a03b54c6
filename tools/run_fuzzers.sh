#!/bin/sh
# Build the libFuzzer harnesses (fuzz/) with clang + ASan + UBSan and run each
# for a bounded time. See docs/security.md.
#
#   tools/run_fuzzers.sh [-t SECONDS] [-b BUILD_DIR] [-k] [HARNESS ...]
#
#   -t SECONDS   time per harness (default 60)
#   -b DIR       build directory (default build-fuzz in the source root)
#   -k           keep going after a harness fails (default: stop at the first)
#   HARNESS      png_classify, model_load, gradcam, image_decode, dicom (default:
#                all that were built; dicom needs DCMTK)
#
# Each harness starts from the committed seeds (fuzz/corpus/<h>, and the
# dictionary fuzz/<h>.dict when there is one) plus what
# earlier runs found (DIR/fuzz-corpus/<h>, not committed). A crash, leak,
# sanitizer report, timeout (-timeout=25 s per input) or out-of-memory
# (-rss_limit_mb=2048) stops the harness, leaves the input in
# DIR/fuzz-artifacts/<h>/ and makes the script exit 1. To turn it into a
# regression test: minimise it, copy it to fuzz/regressions/<h>/, fix the bug.
# Needs clang and libclang-rt-14-dev (Debian); nothing else is downloaded.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
secs=60
build="$root/build-fuzz"
keep=0
while getopts t:b:k opt; do
    case $opt in
    t) secs=$OPTARG ;;
    b) build=$OPTARG ;;
    k) keep=1 ;;
    *) sed -n '2,22p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
harnesses=${*:-}

command -v clang >/dev/null || { echo "run_fuzzers: clang not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

if [ ! -f "$build/build.ninja" ]; then
    CC=clang CXX=clang++ meson setup "$build" "$root" -Dfuzzing=true -Db_sanitize=address,undefined \
        -Db_lundef=false -Dtests=false -Dexamples=false -Dtrainer=false -Dbench=false >/dev/null
fi
ninja -C "$build" -j2 >/dev/null
if [ -z "$harnesses" ]; then
    harnesses="png_classify model_load gradcam image_decode"
    [ -x "$build/fuzz/fuzz_dicom" ] && harnesses="$harnesses dicom"
fi
if [ -z "$harnesses" ]; then
    harnesses="png_classify model_load gradcam"
    [ -x "$build/fuzz/fuzz_dicom" ] && harnesses="$harnesses dicom"
fi

# Larger inputs only slow the image harnesses down: 16 KiB of PNG already
# describes images at the size limits.
max_len() {
    case $1 in
    model_load) echo 65536 ;;
    *) echo 16384 ;;
    esac
}

# The harness's dictionary: fuzz/<h>.dict, else the PNG one for the harnesses
# that take PNG input.
dict_args() {
    if [ -f "$root/fuzz/$1.dict" ]; then
        echo "-dict=$root/fuzz/$1.dict"
    elif [ "$1" = png_classify ] || [ "$1" = gradcam ]; then
        echo "-dict=$root/fuzz/png.dict"
    fi
}

status=0
for h in $harnesses; do
    exe="$build/fuzz/fuzz_$h"
    [ -x "$exe" ] || { echo "run_fuzzers: no harness $h" >&2; exit 2; }
    corpus="$build/fuzz-corpus/$h"
    art="$build/fuzz-artifacts/$h"
    mkdir -p "$corpus" "$art"
    log="$build/fuzz-$h.log"
    echo "fuzz_$h: ${secs}s (log $log)"
    # OMP_NUM_THREADS: the harness sessions use one thread; the loader too.
    if ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:allocator_may_return_null=1" \
       UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" OMP_NUM_THREADS=1 \
       "$exe" -max_total_time="$secs" -max_len="$(max_len "$h")" -timeout=25 \
           -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" $(dict_args "$h") \
           "$corpus" "$root/fuzz/corpus/$h" >"$log" 2>&1; then
        grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" |
            sed 's/^stat::/    /'
    else
        status=1
        echo "fuzz_$h FAILED; inputs in $art:" >&2
        ls -1 "$art" >&2
        grep -E 'ERROR|SUMMARY|invariant|Test unit written' "$log" | head -20 >&2
        [ "$keep" = 1 ] || exit 1
    fi
done
exit $status
