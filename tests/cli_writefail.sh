#!/usr/bin/env bash
# cli_writefail.sh - writes that cannot lie.  A write failure (here a file
# size limit, `ulimit -f` in a subshell: write() then fails with EFBIG, as on
# a full disk) must give one clear error line, exit 1, leave no temporary
# behind, and leave the previous complete result byte for byte in place -
# including when the limit is hit by the second or third file of a result
# folder, after the first one was written fine.
source tests/lib_cli.sh
FIX=$ND_SHARED/fixtures/netdissect-lite-mini
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ND_QUIET=1
units() { "$ND_BIN" units --profile netdissect-lite --dataset "$FIX/dataset" --features "$FIX/features.npy" \
    --thresholds "$FIX/thresholds.npy" "$@"; }
# limited KB CMD...: run CMD with a file size limit of KB kilobytes
limited() { local kb=$1; shift; ( ulimit -f "$kb"; "$@" ); }
unchanged() { # NAME DIR: every file of DIR equals the saved copy in DIR.saved
    if diff -r "$2.saved" "$2" >/dev/null && [ -z "$(find "$2" -name '*.tmp.*')" ]; then
        ok "$1: previous result unchanged, no temporary left"
    else bad "$1: $(diff -rq "$2.saved" "$2" | head -3) $(find "$2" -name '*.tmp.*')"; fi
}

echo "[dissect units: result folder]"
expect_ok "a complete result" units --out "$T/out"
cp -r "$T/out" "$T/out.saved"
ls -l "$T/out" | awk 'NR > 1 { printf "  %s %d bytes\n", $9, $5 }'
# the new run differs in every file (thresholds computed at another quantile),
# so a partial replacement would show; the limits fall in the first (1 KB)
# or the second file (result.csv, 70 KB), after the first was written
new() { "$ND_BIN" units --profile netdissect-lite --dataset "$FIX/dataset" --features "$FIX/features.npy" \
    --quantile 0.01 --iou-threshold 0.05 --out "$T/out"; }
for kb in 1 4 16 64; do   # (stderr is a file too: a limit of 0 would swallow the message)
    expect_fail "units, file size limit ${kb} KB" 1 "out/(thresholds\.npy|result\.csv|summary\.json|maxact\.npy): write failed: File too large \(previous result left in place\)" \
        limited $kb new
    unchanged "units, limit ${kb} KB" "$T/out"
done
expect_ok "the same run without a limit" new
if ! cmp -s "$T/out/thresholds.npy" "$T/out.saved/thresholds.npy" && ! cmp -s "$T/out/result.csv" "$T/out.saved/result.csv" \
    && ! cmp -s "$T/out/summary.json" "$T/out.saved/summary.json"; then
    ok "then the new result replaces all three files"; else bad "new result not written"; fi

echo "[dissect rotate]"
mkdir -p "$T/q"
expect_ok "Q" "$ND_BIN" rotate --dim 64 --seed 1 --out "$T/q/Q.npy"
cp -r "$T/q" "$T/q.saved"
expect_fail "rotate, file size limit 8 KB" 1 "Q\.npy: write failed: File too large" limited 8 "$ND_BIN" rotate --dim 64 --seed 2 --out "$T/q/Q.npy"
unchanged "rotate" "$T/q"

echo "[dissect sweep]"
cat > "$T/s.ini" <<INI
[dataset]
path = $FIX/dataset
[activations]
npy = $FIX/features.npy
[dissect]
profile = netdissect-lite
[rotation]
alphas = 0, 1
draws = 1
[output]
dir = $T/run
INI
expect_ok "a complete sweep" "$ND_BIN" sweep --no-plot "$T/s.ini"
rm -f "$T/run/sweep.log"   # the log is appended to by every run, by design
cp -r "$T/run" "$T/run.saved"
# make one point incomplete (a point is complete iff its point.csv exists):
# the next run recomputes it and hits the limit on its first file
rm "$T/run/points/a1_d0/point.csv" "$T/run.saved/points/a1_d0/point.csv"
expect_fail "sweep, file size limit 1 KB" 1 "a1_d0/(thresholds|maxact)\.npy: write failed: File too large" \
    limited 1 "$ND_BIN" sweep --no-plot "$T/s.ini"
rm -f "$T/run/sweep.log"
unchanged "sweep" "$T/run"
finish
