#!/usr/bin/env bash
# cli_compare.sh - the golden regression test and `dissect compare` itself:
# the quick sweep re-run now must equal tests/golden/quick within rtol 1e-9,
# atol 1e-12; and the comparison must fail when a golden value is perturbed
# beyond tolerance (per-unit IoU, a count in sweep.csv, a summary member, a
# missing point), and pass when the perturbation is within a looser tolerance;
# the same for the layers golden run (tests/golden/layers).
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

# The layers golden run (tests/golden/layers; re-run by cli_layers.sh): rows
# of layers.csv and counts.csv are matched on (net, layer, category) and
# (layer, category); net, layer, index, units and category compare exactly.
LG=tests/golden/layers
expect_ok "layers golden equals itself" "$ND_BIN" compare "$LG" "$LG"
cp -r "$LG" "$T/l0"
{ head -1 "$LG/layers.csv"; tail -n +2 "$LG/layers.csv" | sort -r; } >"$T/l0/layers.csv"
expect_ok "layers.csv rows in another order still match (by key)" "$ND_BIN" compare "$T/l0" "$LG"
cp -r "$LG" "$T/l1"
awk -F, -v OFS=, '$1 == "trained" && $2 == "fire9" && $5 == "color" { $6 = $6 + 1 } { print }' \
    "$LG/layers.csv" >"$T/l1/layers.csv"
expect_diff "perturbed layers.csv count detected, even at rtol 1e-3" \
    "^DIFF layers.csv: row 5 \(net=trained, layer=fire9, category=color\), column detectors: 7 vs 6" \
    "$ND_BIN" compare --rtol 1e-3 "$T/l1" "$LG"
cp -r "$LG" "$T/l2"
awk -F, -v OFS=, '$1 == "conv1" && $4 == "color" { $6 = $6 - 1 } { print }' \
    "$LG/random/counts.csv" >"$T/l2/random/counts.csv"
expect_diff "perturbed counts.csv detected" \
    "^DIFF random/counts.csv: row 2 \(layer=conv1, category=color\), column unique_percat: 1 vs 2" \
    "$ND_BIN" compare "$T/l2" "$LG"
cp -r "$LG" "$T/l3"
awk -F, -v OFS=, 'NR == 2 { $4 = sprintf("%.17g", $4 * (1 + 1e-4)) } { print }' \
    "$LG/trained/fire9/result.csv" >"$T/l3/trained/fire9/result.csv"
expect_diff "perturbed layer IoU detected beyond rtol 1e-5" \
    "^DIFF trained/fire9/result.csv: row 2 \(unit=[0-9]+\), column score: .*rel 0.0001" \
    "$ND_BIN" compare --rtol 1e-5 --atol 1e-8 "$T/l3" "$LG"
cp -r "$LG" "$T/l4"
rm -r "$T/l4/random/conv1"
expect_diff "missing layer detected" "^DIFF random/conv1: layer only in B" "$ND_BIN" compare "$T/l4" "$LG"
cp -r "$LG" "$T/l5"
sed -i 's/"fire9": {"units": 512, "detectors": 6,/"fire9": {"units": 512, "detectors": 5,/' "$T/l5/layers.json"
expect_diff "perturbed layers.json detected" "^DIFF layers.json: networks.trained.fire9.detectors: 5 vs 6" \
    "$ND_BIN" compare "$T/l5" "$LG"
cp -r "$LG" "$T/l6"
sed -i 's/^trained,fire9,1,512,/trained,fire9,1,512.0001,/' "$T/l6/layers.csv"
expect_diff "a layer's unit count within rtol is still another count" "column units: 512.0001 vs 512" \
    "$ND_BIN" compare --rtol 1e-3 "$T/l6" "$LG"

# Format versions (core/format.h): outputs of two formats are refused with
# one line naming both, before any difference is printed.
cp -r "$GOLD/points/a0_d0" "$T/v2"
sed -i 's/"format_version": 1,/"format_version": 2,/' "$T/v2/summary.json"
expect_fail "another format version refused" 1 \
    "summary\.json has format version 2, .*golden/quick/points/a0_d0/summary\.json has 1: outputs of different formats are not compared" \
    "$ND_BIN" compare "$T/v2" "$GOLD/points/a0_d0"
cp -r "$GOLD/points/a0_d0" "$T/v0"
sed -i '/"format_version": 1,/d' "$T/v0/summary.json"
expect_fail "a summary from before format versions refused" 1 "v0/summary\.json has format version none, .* has 1" \
    "$ND_BIN" compare "$T/v0" "$GOLD/points/a0_d0"
cp -r "$GOLD" "$T/v3"
rm "$T/v3/sweep.json"
awk -F, -v OFS=, 'NR == 2 { $5 = $5 + 1 } { print }' "$GOLD/sweep.csv" >"$T/v3/sweep.csv"
out=$("$ND_BIN" compare "$T/v3" "$GOLD" 2>"$T/v3.err"); rc=$?
if [ $rc = 1 ] && [ -z "$out" ] && grep -q "v3/sweep.json has format version none, .*sweep.json has 1" "$T/v3.err"; then
    ok "a sweep folder from before versions refused before any difference: $(cat "$T/v3.err")"
else bad "unversioned sweep folder: exit $rc, stdout '$out', stderr $(cat "$T/v3.err")"; fi
cp -r "$LG" "$T/v4"
sed -i 's/"format_version": 1,/"format_version": 2,/' "$T/v4/layers.json"
expect_fail "a layers folder of another format refused" 1 "v4/layers\.json has format version 2, .*layers\.json has 1" \
    "$ND_BIN" compare "$T/v4" "$LG"
printf '{"format": 1, "seed": 3}\n' >"$T/w1.json"
printf '{"format": 2, "seed": 3}\n' >"$T/w2.json"
expect_fail "world.json's numeric format is its version" 1 "w1\.json has format version 1, .*w2\.json has 2" \
    "$ND_BIN" compare "$T/w1.json" "$T/w2.json"

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
