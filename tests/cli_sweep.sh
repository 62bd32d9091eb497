#!/usr/bin/env bash
# cli_sweep.sh - `dissect sweep` and `dissect plot` end to end on the quick config:
# config errors (one line, file:line, exit 2), an uninterrupted run with figures,
# alpha = 0 identical to `dissect units`, and the resume test: a run killed with
# SIGKILL mid-way and restarted gives a byte-identical sweep.csv and computes no
# finished point twice.
source tests/lib_cli.sh
export DATA=$ND_SHARED ND_QUIET=1
CFG=experiments/configs/quick-lite-mini.ini
FX=$ND_SHARED/fixtures/netdissect-lite-mini
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# ---- config errors: exit 2, one line naming file, line, section and key
base() { printf '[dataset]\npath = %s/dataset\n[activations]\nnpy = %s/features.npy\n' "$FX" "$FX"; }
{ base; printf '[rotation]\nalphas = 0,1\nalpha_step = 0.1\n[output]\ndir = out\n'; } >"$T/unknown.ini"
expect_fail "config: unknown key" 2 "^dissect: $T/unknown.ini:7: \[rotation\] alpha_step: unknown key" \
    "$ND_BIN" sweep "$T/unknown.ini"
{ base; printf '[rotation]\nalphas = 0;0.5;1\n[output]\ndir = out\n'; } >"$T/malformed.ini"
expect_fail "config: malformed alpha list" 2 "^dissect: $T/malformed.ini:6: \[rotation\] alphas: '0;0.5;1': expected a comma-separated list" \
    "$ND_BIN" sweep "$T/malformed.ini"
{ base; printf '[rotation]\nalphas = 0,0.5 x,1\n[output]\ndir = out\n'; } >"$T/malformed2.ini"
expect_fail "config: malformed alpha item" 2 "^dissect: $T/malformed2.ini:6: \[rotation\] alphas: '0,0.5 x,1'" \
    "$ND_BIN" sweep "$T/malformed2.ini"
printf '[activations]\nnpy = %s/features.npy\n[rotation]\nalphas = 0,1\n[output]\ndir = out\n' "$FX" >"$T/nodata.ini"
expect_fail "config: missing dataset" 2 "^dissect: $T/nodata.ini:6: \[dataset\] path: required key missing" \
    "$ND_BIN" sweep "$T/nodata.ini"
{ printf '[dataset]\npath = no/such/dataset\n[activations]\nnpy = %s/features.npy\n' "$FX";
  printf '[rotation]\nalphas = 0,1\n[output]\ndir = out\n'; } >"$T/nodir.ini"
expect_fail "config: dataset folder absent" 2 "^dissect: $T/nodir.ini:2: \[dataset\] path: .*no/such/dataset: no such folder" \
    "$ND_BIN" sweep "$T/nodir.ini"
{ base; printf '[rotation]\nalphas = 0,0.5,1.2\n[output]\ndir = out\n'; } >"$T/extrap.ini"
expect_fail "config: alpha outside [0,1] without opt-in" 2 "^dissect: $T/extrap.ini:6: \[rotation\] alphas: alpha 1.2 is outside \[0, 1\]" \
    "$ND_BIN" sweep "$T/extrap.ini"
{ base; printf '[rotation]\nalphas = 0,0.5,1.2\nallow_extrapolation = true\n[dissect]\nfield = -64,163,16\n[output]\ndir = out\n'; } >"$T/extrap_ok.ini"
expect_ok "config: alpha outside [0,1] with opt-in accepted (--check)" "$ND_BIN" sweep --check "$T/extrap_ok.ini"
expect_fail "usage: unknown option" 2 "^dissect sweep: unknown option or missing value: '--bogus'" "$ND_BIN" sweep --bogus x.ini
expect_fail "plot usage: unknown option" 2 "^dissect plot: unknown option" "$ND_BIN" plot -z x
expect_fail "usage: no config" 2 "^dissect sweep: expected one CONFIG" "$ND_BIN" sweep
expect_fail "usage: missing config file" 2 "^dissect: /no/such.ini: cannot read config" "$ND_BIN" sweep /no/such.ini

# ---- uninterrupted run, with figures
expect_ok "quick sweep, uninterrupted" "$ND_BIN" sweep "$CFG" --out "$T/full"
for f in sweep.csv summary.csv config.effective.ini figures/unique_vs_alpha.png figures/unique_vs_alpha.svg \
         figures/category_vs_alpha.png figures/category_vs_alpha.svg \
         figures/category_unique_vs_alpha.png figures/category_unique_vs_alpha.svg; do
    if [ -s "$T/full/$f" ]; then ok "output $f"; else bad "output $f missing or empty"; fi
done
n=$(($(wc -l <"$T/full/sweep.csv") - 1))
if [ "$n" = 5 ]; then ok "sweep.csv has 5 points"; else bad "sweep.csv has $n points, expected 5 (1 + 2 draws x 2 alphas)"; fi
if head -c 8 "$T/full/figures/unique_vs_alpha.png" | od -An -c | grep -q 'P   N   G'; then ok "PNG signature"; else bad "unique_vs_alpha.png is not a PNG"; fi
rm -f "$T/full/figures/"*.png "$T/full/figures/"*.svg
expect_ok "dissect plot redraws the figures" "$ND_BIN" plot "$T/full"
if [ -s "$T/full/figures/category_vs_alpha.svg" ]; then ok "plot: svg redrawn"; else bad "plot: svg not redrawn"; fi
expect_fail "plot: not a run folder" 1 "^dissect: .*no summary.csv" "$ND_BIN" plot "$T"

# ---- alpha = 0 equals `dissect units` on the same activations, byte for byte
expect_ok "dissect units on the same activations" "$ND_BIN" units --dataset "$FX/dataset" \
    --features "$FX/features.npy" --profile netdissect --field -64,163,16 --out "$T/units"
for f in result.csv thresholds.npy; do
    if cmp -s "$T/units/$f" "$T/full/points/a0_d0/$f"; then ok "alpha 0 $f == units $f"
    else bad "alpha 0 $f differs from dissect units"; fi
done

# ---- resume: SIGKILL after the first finished point, restart, compare
"$ND_BIN" sweep "$CFG" --out "$T/res" --no-plot --threads 1 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
    [ -f "$T/res/points/a0_d0/point.csv" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
done_before=$(cd "$T/res/points" && ls -d */ 2>/dev/null | while read -r d; do [ -f "$d/point.csv" ] && echo "${d%/}"; done)
nb=$(echo "$done_before" | grep -c .)
if [ "$nb" -ge 1 ] && [ "$nb" -lt 5 ]; then ok "killed mid-way ($nb of 5 points finished)"
else bad "kill did not land mid-way: $nb of 5 points finished"; fi
if [ -f "$T/res/sweep.csv" ]; then bad "sweep.csv exists after the kill"; else ok "no sweep.csv after the kill"; fi
# identity of every finished point's files (inode + mtime): a recomputation replaces them
snap() { for d in $done_before; do stat -c '%n %i %Y.%y' "$T/res/points/$d"/*; done; }
before=$(snap)
expect_ok "restart after SIGKILL" "$ND_BIN" sweep "$CFG" --out "$T/res" --no-plot
after=$(snap)
if [ "$before" = "$after" ]; then ok "finished points untouched by the restart"; else bad "finished point files changed on restart"; fi
if cmp -s "$T/res/sweep.csv" "$T/full/sweep.csv"; then ok "resumed sweep.csv byte-identical to uninterrupted"
else bad "resumed sweep.csv differs: $(diff "$T/res/sweep.csv" "$T/full/sweep.csv" | head -5)"; fi
if cmp -s "$T/res/summary.csv" "$T/full/summary.csv"; then ok "resumed summary.csv byte-identical"; else bad "resumed summary.csv differs"; fi
expect_ok "resumed run equals uninterrupted run (compare, rtol 0, atol 0)" \
    "$ND_BIN" compare --rtol 0 --atol 0 "$T/res" "$T/full"
# the log: every point computed at most once over both runs, finished ones skipped
for d in a0_d0 a0.5_d0 a1_d0 a0.5_d1 a1_d1; do
    c=$(grep -c " computed $d " "$T/res/sweep.log")
    s=$(grep -c " skipped $d " "$T/res/sweep.log")
    if echo "$done_before" | grep -qx "$d"; then
        if [ "$c" -le 1 ] && [ "$s" = 1 ]; then ok "log: $d finished before the kill, skipped after"
        else bad "log: $d computed $c, skipped $s times (finished before the kill)"; fi
    elif [ "$c" = 1 ] && [ "$s" = 0 ]; then ok "log: $d computed once"
    else bad "log: $d computed $c times, skipped $s"; fi
done
left=$(find "$T/res" -name '*.tmp.*' | wc -l)
if [ "$left" = 0 ]; then ok "no temporary files left"; else bad "$left temporary files left"; fi

# ---- the same with Ctrl-C (SIGINT): temporaries removed by the handler, result identical
"$ND_BIN" sweep "$CFG" --out "$T/int" --no-plot --threads 1 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
    [ -f "$T/int/points/a0.5_d0/point.csv" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
done
kill -INT $pid 2>/dev/null
wait $pid; rc=$?
if [ $rc = 130 ]; then ok "SIGINT stops the sweep with status 130"; else bad "SIGINT: exit $rc, expected 130 (finished too early?)"; fi
left=$(find "$T/int" -name '*.tmp.*' | wc -l)
if [ "$left" = 0 ]; then ok "SIGINT leaves no temporaries"; else bad "SIGINT left $left temporaries"; fi
expect_ok "restart after SIGINT" "$ND_BIN" sweep "$CFG" --out "$T/int" --no-plot
if cmp -s "$T/int/sweep.csv" "$T/full/sweep.csv"; then ok "sweep.csv after SIGINT + restart identical"; else bad "sweep.csv after SIGINT differs"; fi

# ---- a third run computes nothing; a different config on the same folder is refused
nc=$(grep -c ' computed a' "$T/res/sweep.log")
expect_ok "re-run of a finished sweep" "$ND_BIN" sweep "$CFG" --out "$T/res" --no-plot
if [ "$(grep -c ' computed a' "$T/res/sweep.log")" = "$nc" ] && [ "$(grep -c ' skipped a' "$T/res/sweep.log")" -ge 5 ]
then ok "re-run computed nothing"; else bad "re-run recomputed points"; fi
# (more draws or alphas would resume: tests/cli_robust.sh; another quantile changes every point)
sed 's/^quantile = 0.005/quantile = 0.01/' "$CFG" >"$T/other.ini"
sed -i "s|^path = \${DATA}|path = $ND_SHARED|; s|^npy = \${DATA}|npy = $ND_SHARED|" "$T/other.ini"
expect_fail "other config into the same folder refused" 1 "resume.key:[0-9]+: this folder's points were computed with 'quantile = 0.005', this run has 'quantile = 0.01'" \
    "$ND_BIN" sweep "$T/other.ini" --out "$T/res" --no-plot

# ---- activations computed by the sweep (model + random weights), cached for the next run
printf '[dataset]\npath = %s/dataset\n[activations]\nmodel = squeezenet\nlayer = fire9\nrandom_seed = 3\n' "$FX" >"$T/compute.ini"
printf '[dissect]\nprofile = netdissect\n[rotation]\nalphas = 0,1\n[output]\ndir = compute-run\n' >>"$T/compute.ini"
expect_ok "sweep computing its activations (squeezenet fire9, random weights)" "$ND_BIN" sweep "$T/compute.ini" --no-plot
if [ -s "$T/compute-run/features.npy" ] && grep -q '"field"' "$T/compute-run/features.json"; then ok "activations cached with their .json"
else bad "no features.npy / features.json in the run folder"; fi
if grep -Eq '^field = -?[0-9]+,[0-9]+,[0-9]+$' "$T/compute-run/config.effective.ini"; then ok "receptive field from the .json recorded"
else bad "no field in config.effective.ini"; fi
m1=$(stat -c %Y.%i "$T/compute-run/features.npy")
rm "$T/compute-run/sweep.csv"
expect_ok "second run reuses the cached activations" "$ND_BIN" sweep "$T/compute.ini" --no-plot
if [ "$m1" = "$(stat -c %Y.%i "$T/compute-run/features.npy")" ] && [ -s "$T/compute-run/sweep.csv" ]; then ok "cache reused, tables rebuilt"
else bad "activations recomputed or sweep.csv not rebuilt"; fi
finish
