#!/usr/bin/env bash
# Run every test program and CLI test script; sum their "N passed, N failed"
# lines and print the total last.  Exit 1 if anything failed or crashed.
set -u
BUILD=${BUILD:-build}
export ND_BIN="$PWD/$BUILD/dissect"
# One OpenBLAS kernel for every test run, so that rotated golden points (float32
# sgemm, whose rounding depends on the kernel) compare exactly on any x86-64
# CPU with AVX2: Intel or AMD, whatever kernel the library would pick itself.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=Haswell
fi
export TMPDIR=$(mktemp -d)
trap 'rm -rf "$TMPDIR"' EXIT
total_p=0 total_f=0 broken=()
run_one() {
    local name=$1; shift
    local log="$TMPDIR/$(basename "$name").log" t0=$SECONDS
    echo "== $name"
    "$@" >"$log" 2>&1
    local rc=$?
    cat "$log"
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        local p f
        p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
        total_p=$((total_p + p)); total_f=$((total_f + f))
    fi
    if [ $rc -ne 0 ] && { [ -z "$line" ] || [ "${f:-0}" = 0 ]; }; then
        broken+=("$name (exit $rc)"); total_f=$((total_f + 1))
    fi
    echo "   ($((SECONDS - t0)) s)"
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.d) continue;; esac
    run_one "$(basename "$t")" "$t"
done
for s in tests/cli_*.sh; do
    [ -f "$s" ] || continue
    run_one "$(basename "$s")" bash "$s"
done
for b in "${broken[@]+"${broken[@]}"}"; do echo "BROKEN: $b"; done
echo
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
