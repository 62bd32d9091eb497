#!/usr/bin/env bash
# cli_compare.sh - the golden regression test and `dissect compare` itself:
# the quick sweep re-run now must equal tests/golden/quick within rtol 1e-9,
# atol 1e-12; and the comparison must fail when a golden value is perturbed
# beyond tolerance (per-unit IoU, a count in sweep.csv, a summary member, a
# missing point), and pass when the perturbation is within a looser tolerance.
source tests/lib_cli.sh
export DATA=$ND_SHARED ND_QUIET=1
GOLD=tests/golden/quick
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# expect_diff NAME PATTERN CMD...: exit 1 and a stdout line matching PATTERN
expect_diff() {
    local name=$1 pat=$2; shift 2
    local out rc
    out=$("$@" 2>&1); rc=$?
    if [ $rc -ne 1 ]; then bad "$name: exit $rc, expected 1: $(echo "$out" | head -3)"
    elif ! echo "$out" | grep -Eq -- "$pat"; then bad "$name: no line matching /$pat/ in: $(echo "$out" | head -3)"
    else ok "$name"; echo "  $name -> $(echo "$out" | grep -E -- "$pat" | head -1)"; fi
}

# The unrotated point involves no BLAS call: it must equal the golden one to
# rtol 1e-9 on any CPU.  Rotated points pass through float32 sgemm, whose
# rounding depends on OpenBLAS's kernel (kernels for other CPUs moved
# thresholds by up to rel 2e-6 and a count by one in 10^4), so the golden
# files were made with the Haswell kernel that tests/run.sh pins on every
# x86-64 CPU with AVX2: with it the whole run must match at rtol 1e-9.
expect_ok "quick sweep" "$ND_BIN" sweep experiments/configs/quick-lite-mini.ini --out "$T/run" --no-plot
out=$("$ND_BIN" compare "$T/run/points/a0_d0" "$GOLD/points/a0_d0" 2>&1); rc=$?
echo "  golden alpha 0: $(echo "$out" | tail -1)"
if [ $rc = 0 ]; then ok "unrotated point equals the golden one (rtol 1e-9)"; else bad "unrotated point differs from golden: $(echo "$out" | head -5)"; fi
if [ "${OPENBLAS_CORETYPE:-}" = Haswell ]; then tol=(); what="rtol 1e-9, Haswell kernel"
else tol=(--rtol 1e-3 --atol 1e-8); what="rtol 1e-3: OpenBLAS kernel ${OPENBLAS_CORETYPE:-auto}, not the golden files' Haswell"; fi
out=$("$ND_BIN" compare "${tol[@]+"${tol[@]}"}" "$T/run" "$GOLD" 2>&1); rc=$?
echo "  golden: $(echo "$out" | tail -1)"
if [ $rc = 0 ]; then ok "quick sweep equals the golden results ($what)"; else bad "quick sweep differs from golden ($what): $(echo "$out" | head -5)"; fi

# A perturbed golden copy must make the comparison fail.
cp -r "$GOLD" "$T/g1"
# 1. one IoU score of one unit, relative change 1e-6 (beyond rtol 1e-9)
awk -F, -v OFS=, 'NR == 2 { $4 = sprintf("%.17g", $4 * (1 + 1e-6)) } { print }' \
    "$GOLD/points/a1_d0/result.csv" >"$T/g1/points/a1_d0/result.csv"
expect_diff "perturbed IoU detected" "^DIFF points/a1_d0/result.csv: row 2 \(unit=[0-9]+\), column score: .*rel 1e-06" \
    "$ND_BIN" compare "$GOLD" "$T/g1"
expect_ok "same perturbation within --rtol 1e-5" "$ND_BIN" compare --rtol 1e-5 "$GOLD" "$T/g1"

# 2. a unique-detector count in sweep.csv
cp -r "$GOLD" "$T/g2"
awk -F, -v OFS=, 'NR == 3 { $5 = $5 + 1 } { print }' "$GOLD/sweep.csv" >"$T/g2/sweep.csv"
expect_diff "perturbed sweep.csv count detected" "^DIFF sweep.csv: row 3 \(alpha=0.5, draw=0, seed=1\), column unique_percat" \
    "$ND_BIN" compare "$GOLD" "$T/g2"
expect_diff "even with a loose rtol (1 count in ~10)" "column unique_percat" "$ND_BIN" compare --rtol 1e-3 "$GOLD" "$T/g2"

# 3. a member of a point's summary.json
cp -r "$GOLD" "$T/g3"
sed -i 's/"detectors": \([0-9]*\),/"detectors": 1\1,/' "$T/g3/points/a0_d0/summary.json"
expect_diff "perturbed summary.json detected" "^DIFF points/a0_d0/summary.json: detectors: [0-9]+ vs 1[0-9]+" \
    "$ND_BIN" compare "$GOLD" "$T/g3"

# 4. a missing point
cp -r "$GOLD" "$T/g4"
rm -r "$T/g4/points/a1_d1"
expect_diff "missing point detected" "^DIFF points/a1_d1: point only in A" "$ND_BIN" compare "$GOLD" "$T/g4"

# Other forms: two points, two files; errors
expect_ok "compare two point folders" "$ND_BIN" compare "${tol[@]+"${tol[@]}"}" "$T/run/points/a0.5_d1" "$GOLD/points/a0.5_d1"
expect_ok "compare two csv files" "$ND_BIN" compare "$T/run/summary.csv" "$GOLD/summary.csv"
expect_ok "compare two npy files" "$ND_BIN" compare "$T/run/points/a0_d0/thresholds.npy" "$T/run/points/a0_d0/thresholds.npy"
expect_diff "different points differ" "^DIFF (summary.json|result.csv)" \
    "$ND_BIN" compare "$T/run/points/a0_d0" "$GOLD/points/a1_d0"
expect_fail "usage: one path" 2 "^dissect compare: expected two paths" "$ND_BIN" compare "$GOLD"
expect_fail "usage: unknown option" 2 "^dissect compare: unknown option or missing value: '--tol'" "$ND_BIN" compare --tol 1 "$GOLD" "$GOLD"
expect_fail "usage: bad tolerance" 2 "^dissect compare: --rtol 'x'" "$ND_BIN" compare --rtol x "$GOLD" "$GOLD"
expect_fail "missing folder" 1 "^dissect: $T/nothere: no such file or folder" "$ND_BIN" compare "$T/nothere" "$GOLD"
printf '{"a": [1, 2' >"$T/bad.json"
expect_fail "malformed json" 1 "^dissect: $T/bad.json: expected" "$ND_BIN" compare "$T/bad.json" "$T/bad.json"
finish
