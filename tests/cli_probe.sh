# cli_probe.sh - `dissect probe`: usage errors, a missing input, and a short
# run on the NetDissect-Lite mini fixture (few iterations: the numbers are
# tested in test_probe.c; here the files, columns and summary members).
source tests/lib_cli.sh
ND_SHARED=$(cd "$ND_SHARED" && pwd) # absolute: the configs written below live in a temporary folder
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
M=$ND_SHARED/fixtures/netdissect-lite-mini

expect_ok "probe --help" "$ND_BIN" probe --help
expect_fail "no arguments" 2 "are required" "$ND_BIN" probe
expect_fail "bad l2" 2 "--l2" "$ND_BIN" probe --dataset "$M/dataset" --features "$M/features.npy" --out "$T/x" --l2 -1
expect_fail "bad fraction" 2 "--train-fraction" "$ND_BIN" probe --dataset "$M/dataset" --features "$M/features.npy" \
    --out "$T/x" --train-fraction 1
expect_fail "no field" 2 "needs --field" "$ND_BIN" probe --dataset "$M/dataset" --features "$M/features.npy" --out "$T/x"
expect_fail_clean "missing features" 1 "nope.npy" "$T/missing" "$ND_BIN" probe --dataset "$M/dataset" \
    --features "$T/nope.npy" --field -64,163,16 --out "$T/missing"

run() { ND_QUIET=1 "$ND_BIN" probe --dataset "$M/dataset" --features "$M/features.npy" --field -64,163,16 \
        --max-iter 4 --no-units "$@"; }
if run --out "$T/a0" 2>/dev/null && run --seed 3 --alpha 1 --reference "$T/a0" --out "$T/a1" 2>/dev/null; then
    ok "two short runs"
    h=$(head -1 "$T/a0/probes.csv")
    case $h in label,name,category,unit,single_train_iou,single_test_iou,binary_train_iou,binary_test_iou,linear_train_iou,linear_test_iou*) ok "probes.csv header" ;;
        *) bad "probes.csv header: $h" ;; esac
    rows=$(($(wc -l < "$T/a0/probes.csv") - 1))
    [ "$rows" -gt 10 ] && ok "probes.csv: $rows concepts" || bad "probes.csv: $rows concepts"
    for k in '"split"' '"train_images": 60' '"probe"' '"categories"' '"seconds"'; do
        grep -q "$k" "$T/a0/probe_summary.json" && ok "summary has $k" || bad "summary lacks $k"; done
    grep -q '"equivariance"' "$T/a1/probe_summary.json" && ok "rotated summary has the equivariance check" \
        || bad "no equivariance check in the rotated summary"
    [ -s "$T/a0/probe_weights.npy" ] && ok "probe_weights.npy" || bad "no probe_weights.npy"
else
    bad "short runs failed"
fi

# 1 vs 2 threads: byte-identical outputs (the fit's fixed row blocks, one
# BLAS thread per job; only the timings in the summary may differ)
det() { ND_QUIET=1 "$ND_BIN" probe --dataset "$M/dataset" --features "$M/features.npy" --field -64,163,16 \
        --max-iter 8 --alpha 1 "$@"; }
if det --threads 1 --out "$T/t1" 2>/dev/null && det --threads 2 --out "$T/t2" 2>/dev/null; then
    same=1
    for f in probes.csv probe_weights.npy; do cmp -s "$T/t1/$f" "$T/t2/$f" || { same=0; bad "$f differs for 1 vs 2 threads"; }; done
    cmp -s <(grep -v seconds "$T/t1/probe_summary.json") <(grep -v seconds "$T/t2/probe_summary.json") \
        || { same=0; bad "probe_summary.json differs for 1 vs 2 threads"; }
    [ $same = 1 ] && ok "1 vs 2 threads: probes.csv, probe_weights.npy, probe_summary.json byte-identical"
else
    bad "thread runs failed"
fi

# golden (`dissect probe` with the arguments of det above, --threads 1,
# OPENBLAS_CORETYPE=Haswell, fixture at an absolute path): the 1-thread run equals tests/golden/probe-mini (made with the
# Haswell kernel tests/run.sh pins; other kernels round sgemm differently)
G=tests/golden/probe-mini
if [ "${OPENBLAS_CORETYPE:-}" = Haswell ]; then tol=(); what="rtol 1e-9"
else tol=(--rtol 1e-2 --atol 1e-3); what="rtol 1e-2: OpenBLAS kernel ${OPENBLAS_CORETYPE:-auto}, not Haswell"; fi
out=$("$ND_BIN" compare "${tol[@]+"${tol[@]}"}" "$T/t1" "$G" 2>&1); rc=$?
echo "  golden probe: $(echo "$out" | tail -1)"
[ $rc = 0 ] && ok "probe run equals the golden one ($what)" || bad "probe run differs from golden ($what): $(echo "$out" | head -5)"
# a perturbed golden copy must fail: one test IoU (rel 1e-6), a missing concept, a summary member
cp -r "$G" "$T/g1"
awk -F, -v OFS=, 'NR == 3 { $10 = sprintf("%.9g", $10 * (1 + 1e-6)) } { print }' "$G/probes.csv" > "$T/g1/probes.csv"
out=$("$ND_BIN" compare "$G" "$T/g1" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q '^DIFF probes.csv: row 3 (label=2), column linear_test_iou' \
    && ok "perturbed linear_test_iou detected" || bad "perturbed golden not detected (exit $rc): $(echo "$out" | head -3)"
cp -r "$G" "$T/g2"
sed -i 4d "$T/g2/probes.csv"
out=$("$ND_BIN" compare "$G" "$T/g2" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q 'only in A' && ok "missing concept detected" \
    || bad "missing concept not detected (exit $rc): $(echo "$out" | head -3)"
cp -r "$G" "$T/g3"
sed -i 's/"train_images": 60/"train_images": 61/' "$T/g3/probe_summary.json"
out=$("$ND_BIN" compare "$G" "$T/g3" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q 'train_images' && ok "perturbed summary member detected" \
    || bad "perturbed summary not detected (exit $rc): $(echo "$out" | head -3)"
grep -q '"format_version": 2' "$G/probe_summary.json" && ok "probe_summary.json has format_version 2" || bad "no format_version"

# the [probes] section of sweep configs (validated by --check; a probed sweep
# of the mini fixture takes minutes, so it is not run here)
cfg() { sed "s|\${DATA}|$ND_SHARED|; s|\${RESULTS}|$T|" experiments/configs/quick-lite-mini.ini > "$T/p.ini"
        printf '\n[probes]\n%s\n' "$1" >> "$T/p.ini"; }
cfg $'enabled = true\nalphas = 0, 1\ndraws = 1'
if ND_QUIET=1 "$ND_BIN" sweep --check "$T/p.ini" > "$T/eff.ini" 2>/dev/null && grep -q '^\[probes\]' "$T/eff.ini" \
    && grep -q '^alphas = 0,1' "$T/eff.ini"; then ok "[probes] in the effective config"
else bad "[probes] missing from the effective config: $(cat "$T/eff.ini")"; fi
cfg $'enabled = true\nalphas = 0, 0.7'
expect_fail "probe alpha not in the sweep" 2 "alpha 0.7 is not one of" "$ND_BIN" sweep --check "$T/p.ini"
cfg 'enabled = maybe'
expect_fail "probes enabled not a bool" 2 "enabled: 'maybe'" "$ND_BIN" sweep --check "$T/p.ini"
cfg 'train_fraction = 1.5'
expect_fail "probes train_fraction" 2 "train_fraction" "$ND_BIN" sweep --check "$T/p.ini"
finish
