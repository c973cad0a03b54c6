#!/bin/sh
# The robustness stages of CI (issue 7), run by .ci/run. Each stage has its own
# build directory under $CI_ROBUST_DIR and prints its wall time; the script
# exits non-zero if any stage fails (all stages run regardless).
#
#   tools/ci_robustness.sh [STAGE ...]
#
#   asan      the whole test suite built with -Db_sanitize=address,undefined,
#             halt_on_error, leak detection on (suites 'bindings', 'tools' and 'convert'
#             excluded: the Python/Go runtimes are not ASan-instrumented; their C calls are
#             the ones the C suites already make)
#   valgrind  the compiled test programs of suites core, png, dicom and robust of a
#             plain build under valgrind memcheck: no errors, no definite
#             leaks (see stage_valgrind for what is left out and why)
#   tsan      tests/robust threads (8 threads sharing a model) and hostile (two
#             threads hammering one session) and, with DICOM support,
#             tests/dicom dicom_threads, built with -Db_sanitize=thread
#   fuzz      tools/run_fuzzers.sh, $FUZZ_SECONDS (default 60) per harness
#   abi       abidiff of the plain build's libcovidcam.so against
#             abi/libcovidcam.abi (abi/README.md)
#
# Environment: CI_ROBUST_DIR (default <root>/build-ci-robust), FUZZ_SECONDS,
# JOBS (compile and test parallelism, default 2), VALGRIND_SUITES,
# VALGRIND_SKIP.
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${CI_ROBUST_DIR:-$root/build-ci-robust}
jobs=${JOBS:-2}
stages=${*:-asan valgrind tsan fuzz abi}
mkdir -p "$dir"
summary="$dir/summary.txt"
: >"$summary"
failed=0

setup() { # name, meson options...
    b="$dir/$1"
    shift
    [ -f "$b/build.ninja" ] || meson setup "$b" "$root" "$@" >"$b.setup.log" 2>&1 ||
        { cat "$b.setup.log"; return 1; }
    ninja -C "$b" -j"$jobs" >"$b.build.log" 2>&1 || { tail -50 "$b.build.log"; return 1; }
}

stage_asan() {
    setup asan -Db_sanitize=address,undefined -Dbench=false || return 1
    ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:print_summary=1 \
    UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1 \
        meson test -C "$dir/asan" --no-rebuild --print-errorlogs --num-processes "$jobs" \
        --no-suite bindings --no-suite tools --no-suite convert
}

# Compiled test programs (not python3, not scripts) of the suites in
# $VALGRIND_SUITES, minus $VALGRIND_SKIP.
compiled_tests() {
    meson introspect --tests "$1" | python3 -c '
import json, sys
build, suites, skip = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
for t in json.load(sys.stdin):
    suite = {s.split(":")[-1] for s in t["suite"]}
    if t["cmd"][0].startswith(build + "/") and suite & set(suites) and t["name"] not in skip:
        print(t["name"])' "$1" "$VALGRIND_SUITES" "$VALGRIND_SKIP"
}

# Valgrind runs the library's suites: the trainer's (suite train, ~10 min
# under valgrind, and oneDNN's training JIT kernels overflow valgrind's VEX
# translation buffer in train_dnn_grad) and the bindings' are left to ASan.
# robust/threads is too: valgrind serialises its 8 threads (~4 min) and
# ASan and TSan run it already.
VALGRIND_SUITES=${VALGRIND_SUITES:-core png formats dicom robust}
VALGRIND_SKIP=${VALGRIND_SKIP:-threads}

stage_valgrind() {
    setup plain -Dbench=false || return 1
    tests=$(compiled_tests "$dir/plain")
    # oneDNN's JIT code and OpenMP thread pools make "possibly lost" and
    # "still reachable" blocks by design; definite leaks and every memory
    # error fail. Valgrind has no AVX-512, so oneDNN runs its AVX2 kernels.
    # The shipped-model test classifies every third of its images there (one
    # per class and format; each takes ~40 s under valgrind).
    OMP_NUM_THREADS=2 CC_API_ITERS=1 CC_ROBUST_ITERS=1 CC_SHIPPED_STEP=3 \
        meson test -C "$dir/plain" --no-rebuild --print-errorlogs --num-processes "$jobs" \
        --timeout-multiplier 20 \
        --wrapper "valgrind --quiet --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite --show-leak-kinds=definite --track-origins=no \
--suppressions=$root/tests/robust/valgrind.supp" $tests
}

stage_tsan() {
    b="$dir/tsan"
    [ -f "$b/build.ninja" ] || meson setup "$b" "$root" -Db_sanitize=thread -Dexamples=false \
        -Dtrainer=false -Dbench=false >"$b.setup.log" 2>&1 || { cat "$b.setup.log"; return 1; }
    # The DICOM threads test exists only in builds with DICOM support.
    t="tests/robust/test_threads tests/robust/test_hostile"
    names="threads hostile"
    if meson introspect --tests "$b" | grep -q '"dicom_threads"'; then
        t="$t tests/dicom/test_dicom_threads"
        names="$names dicom_threads"
    fi
    # shellcheck disable=SC2086
    ninja -C "$b" -j"$jobs" $t >"$b.build.log" 2>&1 || { tail -50 "$b.build.log"; return 1; }
    # shellcheck disable=SC2086
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
        meson test -C "$b" --no-rebuild --print-errorlogs $names
}

stage_fuzz() {
    "$root/tools/run_fuzzers.sh" -k -t "${FUZZ_SECONDS:-60}" -b "$dir/fuzz"
}

stage_abi() {
    setup plain -Dbench=false || return 1
    "$root/abi/check.sh" "$dir/plain/lib/libcovidcam.so"
}

for s in $stages; do
    echo "=== robustness: $s"
    t0=$(date +%s)
    if "stage_$s"; then r=ok; else r=FAILED; failed=1; fi
    t=$(($(date +%s) - t0))
    echo "=== robustness: $s $r (${t}s)"
    printf '%-9s %-7s %5ss\n' "$s" "$r" "$t" >>"$summary"
done
echo "=== robustness summary"
cat "$summary"
exit $failed
