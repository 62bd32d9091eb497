#!/usr/bin/env bash
# cli_robust.sh - the failure classes of issue 11, one section per item: what
# a researcher ran into past the demo (a destroyed input, empty figures on a
# full disk, resumes refused or mixed, ...).  Each section failed before the
# fix.  Full-disk cases use a small tmpfs (root only; skipped with a message
# otherwise).
source tests/lib_cli.sh
FIX=$ND_SHARED/fixtures/netdissect-lite-mini
T=$(mktemp -d)
MNT=""
cleanup() { [ -n "$MNT" ] && umount "$MNT" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
export ND_QUIET=1
# same NAME A B: files A and B are byte-identical
same() { if cmp -s "$2" "$3"; then ok "$1"; else bad "$1: $2 changed"; fi; }
units() { "$ND_BIN" units --profile netdissect-lite --dataset "$FIX/dataset" --features "$FIX/features.npy" \
    --thresholds "$FIX/thresholds.npy" "$@"; }

echo "[1: an existing file is never replaced by an output of another kind, nor an input]"
cp "$FIX/features.npy" "$T/feat.npy"
printf 'a,b\n1,2\n' > "$T/table.csv"; cp "$T/table.csv" "$T/table.saved"
expect_fail "--label-store naming the features" 1 "feat\.npy: .*(input|not a label store)" \
    units --features "$T/feat.npy" --label-store "$T/feat.npy" --out "$T/u1"
same "the features file is intact" "$T/feat.npy" "$FIX/features.npy"
expect_fail "--label-store naming a CSV file" 1 "table\.csv: exists and is not a label store" \
    units --label-store "$T/table.csv" --out "$T/u1"
same "the CSV file is intact" "$T/table.csv" "$T/table.saved"
cp "$FIX/features.npy" "$T/feat.npy"   # (each case on a fresh copy: no cascade from the one before)
expect_fail "rotate --out naming its --features" 1 "feat\.npy: is also an input" \
    "$ND_BIN" rotate --features "$T/feat.npy" --seed 1 --out "$T/feat.npy"
ln -s "$T/feat.npy" "$T/link.npy"
expect_fail "rotate --out naming its --features through a symlink" 1 "link\.npy: is also an input" \
    "$ND_BIN" rotate --features "$T/feat.npy" --seed 1 --out "$T/link.npy"
same "the features file is intact after rotate" "$T/feat.npy" "$FIX/features.npy"
expect_fail "rotate --out naming a CSV file" 1 "table\.csv: exists and is not a \.npy file" \
    "$ND_BIN" rotate --dim 4 --seed 1 --out "$T/table.csv"
same "the CSV file is intact after rotate" "$T/table.csv" "$T/table.saved"
expect_fail "recount --out naming its input" 1 "r\.csv: is also an input" \
    sh -c "cp '$ND_SHARED/data/netdissect-release/caffe_reference_places205.csv' '$T/r.csv'; '$ND_BIN' recount --out '$T/r.csv' '$T/r.csv'"
cp "$FIX/features.npy" "$T/feat.npy"
expect_fail "recount --out naming a binary file" 1 "feat\.npy: exists and is a binary file" \
    "$ND_BIN" recount --out "$T/feat.npy" "$ND_SHARED/data/netdissect-release/caffe_reference_places205.csv"
same "the features file is intact after recount" "$T/feat.npy" "$FIX/features.npy"
expect_ok "a label store replaces a stale label store" units --label-store "$T/store" --out "$T/u1"

# A small finished sweep that later sections copy, extend and resume.
export ND_PLOTS=$PWD/plots
sweepini() { # FILE OUT [extra [rotation] lines...]: a lite sweep config, alphas 0 and 1
    local f=$1 out=$2; shift 2
    { printf '[dataset]\npath = %s\nname = mini_set\n[activations]\nnpy = %s\n' "${DS:-$FIX/dataset}" "${NPY:-$FIX/features.npy}"
      printf '[dissect]\nprofile = netdissect-lite\n[rotation]\n'
      if [ $# -gt 0 ]; then printf '%s\n' "$@"; else printf 'alphas = 0, 1\n'; fi
      printf '[output]\ndir = %s\n' "$out"; } > "$f"
}
sweepini "$T/base.ini" "$T/base"
expect_ok "the base sweep" "$ND_BIN" sweep --no-plot "$T/base.ini"

echo "[2: a figure that gnuplot could not write completely never replaces a good one]"
if ! command -v gnuplot >/dev/null; then echo "  skipped: no gnuplot"
elif ! { mkdir -p "$T/mnt" && mount -t tmpfs -o size=1m tmpfs "$T/mnt" 2>/dev/null; }; then
    echo "  skipped: cannot mount a tmpfs here (needs root)"
else
    MNT=$T/mnt
    mkdir "$MNT/run" && cp "$T/base/sweep.csv" "$T/base/summary.csv" "$T/base/config.effective.ini" "$MNT/run/"
    expect_ok "plot on the small disk" "$ND_BIN" plot "$MNT/run"
    cp -r "$MNT/run/figures" "$T/figures.saved"
    dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null   # the disk is now full
    expect_fail "plot on the full disk" 1 "(incomplete|truncated|not a PNG|write failed|No space)" "$ND_BIN" plot "$MNT/run"
    if diff -r "$T/figures.saved" "$MNT/run/figures" -x gnuplot.log >/dev/null && \
        [ -z "$(find "$MNT/run/figures" -name '*.tmp.*')" ]; then ok "full disk: the previous figures are kept, no temporary left"
    else bad "full disk: figures changed: $(diff -rq "$T/figures.saved" "$MNT/run/figures" -x gnuplot.log | head -2)"; fi
    umount "$MNT" && MNT=""
fi
echo "[2: standard output that cannot be written is a failure]"
expect_fail "recount > /dev/full" 1 "standard output" sh -c "'$ND_BIN' recount '$ND_SHARED/data/netdissect-release/caffe_reference_places205.csv' > /dev/full"

echo "[5: a start that fails its input check writes nothing, and --check finds it]"
# activations of 3 images for a dataset of 120 (header only matters: zeros)
python3 - "$T/short.npy" <<'PY'
import sys
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 256, 13, 13), }"
h += ' ' * (117 - len(h)) + '\n'
open(sys.argv[1], 'wb').write(b'\x93NUMPY\x01\x00' + bytes([len(h), 0]) + h.encode() + bytes(3 * 256 * 13 * 13 * 4))
PY
NPY=$T/short.npy sweepini "$T/short.ini" "$T/poison"
expect_fail "sweep --check: activations of the wrong N" 1 "short\.npy: 3 images, but .*index\.csv has 120 rows" \
    "$ND_BIN" sweep --check "$T/short.ini"
expect_fail "sweep: activations of the wrong N" 1 "short\.npy: 3 images, but .*index\.csv has 120 rows" \
    "$ND_BIN" sweep --no-plot "$T/short.ini"
if [ -z "$(ls -A "$T/poison" 2>/dev/null)" ]; then ok "nothing written by the failed start"; else bad "the failed start wrote $(ls -A "$T/poison" | tr '\n' ' ')"; fi
cp "$FIX/features.npy" "$T/act.npy"
NPY=$T/act.npy sweepini "$T/fixed.ini" "$T/poison"
expect_ok "the corrected config then runs in the same folder" "$ND_BIN" sweep --no-plot "$T/fixed.ini"

echo "[3: a copied run folder, a dataset through a symlink or with a trailing / resume]"
cp -r "$T/base" "$T/copied"
sleep 1; touch "$T/copied/points"/*/*   # copies do not keep modification times
out=$("$ND_BIN" sweep --no-plot "$T/base.ini" -o "$T/copied" 2>&1)
if [ $? = 0 ] && grep -q "(0 computed" <<<"$out"; then ok "a copied run folder resumes, nothing recomputed"
else bad "copied run folder: $(tail -1 <<<"$out")"; fi
ln -s "$FIX/dataset" "$T/ds-link"
DS=$T/ds-link/ sweepini "$T/link.ini" "$T/base"
out=$("$ND_BIN" sweep --no-plot "$T/link.ini" 2>&1)
if [ $? = 0 ] && grep -q "(0 computed" <<<"$out"; then ok "the dataset through a symlink, with a trailing /, resumes"
else bad "dataset through a symlink: $(tail -1 <<<"$out")"; fi

echo "[4: an input replaced after a finished sweep is noticed]"
# the finished run of [5] on $T/act.npy: replace it by another file of the
# same shape (one value changed) and delete one point
D4=$T/poison
[ -f "$D4/sweep.csv" ] || { D4=$T/four; "$ND_BIN" sweep --no-plot "$T/fixed.ini" -o "$D4" >/dev/null 2>&1; }
cp "$D4/sweep.csv" "$T/sweep.saved"
printf '\x40' | dd of="$T/act.npy" bs=1 seek=10000000 conv=notrunc 2>/dev/null
rm -r "$D4/points/a1_d0"
expect_fail "replaced activations refused" 1 "act\.npy: the activations changed since" "$ND_BIN" sweep --no-plot "$T/fixed.ini" -o "$D4"
same "sweep.csv of the first inputs kept" "$D4/sweep.csv" "$T/sweep.saved"
sweepini "$T/q.ini" "$T/base" "alphas = 0, 1" "base_seed = 7"
expect_fail "another base_seed refused" 1 "resume\.key:[0-9]+: this folder's points were computed with 'base_seed = 1', this run has 'base_seed = 7'" \
    "$ND_BIN" sweep --no-plot "$T/q.ini"

echo "[6: more alphas, more draws or another title resume and compute only the new points]"
cp -r "$T/base" "$T/more"
sweepini "$T/more.ini" "$T/more" "alphas = 0, 0.5, 1" "draws = 2"
echo "title = another_title" >> "$T/more.ini"
out=$("$ND_BIN" sweep --no-plot "$T/more.ini" 2>&1)
if [ $? = 0 ] && grep -q "sweep: 5 points (3 computed, 2 done earlier)" <<<"$out"; then ok "superset: only the 3 new points computed"
else bad "superset: $(tail -3 <<<"$out" | tr '\n' ' ')"; fi
same "the earlier points kept" "$T/more/points/a1_d0/point.csv" "$T/base/points/a1_d0/point.csv"
if grep -qxF "$(tail -1 "$T/base/sweep.csv")" "$T/more/sweep.csv"; then ok "their row in the new sweep.csv"; else bad "row a1_d0 differs"; fi

echo "[7: compare matches rows on their key, and compares ids exactly]"
R=$T/base/points/a0_d0/result.csv
# two near-tied units listed in the other order: the same result
awk 'NR == 2 { keep = $0; next } NR == 3 { print; print keep; next } { print }' "$R" > "$T/swapped.csv"
expect_ok "rows in another order are the same rows" "$ND_BIN" compare "$T/swapped.csv" "$R"
awk -F, -v OFS=, 'NR == 2 { $1 = $1 + 1 } { print }' "$R" > "$T/unitoff.csv"
if ! "$ND_BIN" compare --rtol 0.1 "$T/unitoff.csv" "$R" >/dev/null 2>&1; then ok "a unit id within the tolerance is another unit"
else bad "unit $(sed -n 2p "$R" | cut -d, -f1) vs $(sed -n 2p "$T/unitoff.csv" | cut -d, -f1) accepted under --rtol 0.1"; fi

echo "[14: a truncated point.csv is recomputed, not a reason to stop]"
cp "$T/base/sweep.csv" "$T/base.sweep.saved"
head -c 40 "$T/base/points/a1_d0/point.csv" > "$T/cut" && cp "$T/cut" "$T/base/points/a1_d0/point.csv"
out=$("$ND_BIN" sweep --no-plot "$T/base.ini" 2>&1)
if [ $? = 0 ] && grep -q "(1 computed, 1 done earlier)" <<<"$out"; then ok "the damaged point recomputed"
else bad "truncated point.csv: $(tail -1 <<<"$out")"; fi
same "then sweep.csv as before" "$T/base/sweep.csv" "$T/base.sweep.saved"
echo "[15: the temporary of a features run killed with -9 is removed by the next run]"
mkdir -p "$T/feat"
# feat [OLD]: start a features run and wait for its own temporary (not OLD,
# the killed run's: under load the next run may not have opened yet)
feat() { "$ND_BIN" features --model squeezenet --random-weights 3 --dataset "$FIX/dataset" --layer fire9 \
    --out "$T/feat/f.npy" >/dev/null 2>&1 & pid=$!
    for _ in $(seq 300); do ls "$T/feat" | grep -vxF "${1:-}" | grep -q '^f\.npy\.tmp\.' && break; sleep 0.1; done
    sleep 0.2; }
feat; kill -KILL $pid; wait $pid 2>/dev/null
first=$(ls "$T/feat")
feat "$first"; kill -TERM $pid; wait $pid 2>/dev/null   # the second run's own temporary goes with SIGTERM
if [ -n "$first" ] && [ -z "$(ls "$T/feat")" ]; then ok "kill -9 left $first, the next run removed it"
else bad "after kill -9 ($first) and another run: $(ls "$T/feat" | tr '\n' ' ')"; fi

echo "[8: an empty path is a usage error everywhere]"
mkdir -p "$T/cwd"
expect_fail "sweep -o ''" 2 "empty argument after '-o'" sh -c "cd '$T/cwd' && '$ND_BIN' sweep --no-plot -o '' '$T/base.ini'"
if [ -z "$(ls -A "$T/cwd")" ]; then ok "nothing written into the current folder"; else bad "sweep -o '' wrote $(ls -A "$T/cwd" | tr '\n' ' ')"; fi
expect_fail "units --out ''" 2 "empty argument after '--out'" units --out ''
expect_fail "rotate --out=" 2 "'--out=': empty value" "$ND_BIN" rotate --dim 4 --seed 1 --out=

echo "[9: an underscore in a title stays an underscore]"
if command -v gnuplot >/dev/null; then
    expect_ok "plot of the run titled another_title" "$ND_BIN" plot "$T/more"
    if grep -q "another_title" "$T/more/figures/unique_vs_alpha.svg"; then ok "the SVG shows 'another_title'"
    else bad "the title became $(grep -o 'another[^<]*' "$T/more/figures/unique_vs_alpha.svg" | head -1) (a subscript)"; fi
else echo "  skipped: no gnuplot"; fi

echo "[10: a sweep shows its extraction's progress, and Ctrl-C says where it stopped]"
printf '[dataset]\npath = %s\n[activations]\nmodel = squeezenet\nlayer = fire9\nrandom_seed = 3\n' "$FIX/dataset" > "$T/ex.ini"
printf '[rotation]\nalphas = 0\n[output]\ndir = %s\n' "$T/ex" >> "$T/ex.ini"
# interrupt SIGNAL CONFIG FILE PATTERN: start a sweep, send SIGNAL once FILE
# exists or stderr matches PATTERN; its stderr is left in $T/int.err
interrupt() {
    ND_QUIET=0 "$ND_BIN" sweep --no-plot "$2" 2>"$T/int.err" >/dev/null & local pid=$!
    for _ in $(seq 200); do { [ -e "$3" ] || grep -Eq "$4" "$T/int.err"; } && break; sleep 0.1; done
    kill -"$1" $pid; wait $pid; irc=$?
}
interrupt INT "$T/ex.ini" /nonexistent "[0-9]+/120 images"
if grep -Eq "computing activations.*[0-9]+/120 images" "$T/int.err"; then ok "extraction progress shown"
else bad "no extraction progress: $(head -c 300 "$T/int.err")"; fi
if [ $irc = 130 ] && grep -q "interrupted while computing the activations.*run the same command again" "$T/int.err"; then
    ok "Ctrl-C during the extraction: exit 130 and where it stopped"
else bad "Ctrl-C during the extraction: exit $irc, $(tail -1 "$T/int.err")"; fi
sweepini "$T/int.ini" "$T/int" "alphas = 0, 1" "draws = 2"
interrupt INT "$T/int.ini" "$T/int/points/a0_d0/point.csv" "^$^"
# the signal follows the first point's file; a fast machine may finish one more point first
if [ $irc = 130 ] && grep -Eq "interrupted during point a1_d[01] \([12] of 3 points finished.*resume" "$T/int.err"; then
    ok "Ctrl-C during a point: exit 130, the point, and that a rerun resumes"
else bad "Ctrl-C during a point: exit $irc, $(tail -1 "$T/int.err")"; fi
if grep -q "a0_d0: .*time left known after the first rotated point" "$T/int.err"; then ok "no time estimate from the unrotated point"
else bad "first estimate: $(grep a0_d0 "$T/int.err")"; fi

echo "[11: a UTF-8 byte-order mark is accepted by every reader]"
bom() { printf '\xef\xbb\xbf'; cat "$1"; }
S=$T/base/points/a0_d0
bom "$S/summary.json" > "$T/bom.json"
expect_ok "compare: JSON with a BOM" "$ND_BIN" compare "$T/bom.json" "$S/summary.json"
bom "$S/result.csv" > "$T/bom.csv"
expect_ok "compare: CSV with a BOM" "$ND_BIN" compare "$T/bom.csv" "$S/result.csv"
python3 -c "
import struct,sys
d=open('$FIX/thresholds.npy','rb').read(); hl=struct.unpack('<H',d[8:10])[0]; v=d[10+hl:]
n=len(v)//8; print('\n'.join(repr(x) for x in struct.unpack('<%dd'%n,v)))" > "$T/thr.txt"
bom "$T/thr.txt" > "$T/thr_bom.txt"
expect_ok "units --thresholds: a text file with a BOM" units --thresholds "$T/thr_bom.txt" --out "$T/bomu"
bom "$T/base.ini" > "$T/bom.ini"
expect_ok "sweep --check: a config with a BOM" "$ND_BIN" sweep --check "$T/bom.ini"
printf '\xef\xbb\xbf[dataset]\nname = x\n' > "$T/bom2.ini"
expect_fail "a config with a BOM: a missing key names its section line" 2 "bom2\.ini:1: \[dataset\] path: required key missing" \
    "$ND_BIN" sweep --check "$T/bom2.ini"

echo "[12: rotate --from: the --tol accepted at input is the power step's limit too]"
"$ND_BIN" rotate --dim 8 --seed 1 --out "$T/Q.npy" >/dev/null
python3 - "$T/Q.npy" "$T/Qp.npy" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read()); hl = struct.unpack('<H', d[8:10])[0]
at = 10 + hl   # Q[0][0] += 2e-3: max |Q^T Q - I| about 4e-3
struct.pack_into('<d', d, at, struct.unpack_from('<d', d, at)[0] + 2e-3)
open(sys.argv[2], 'wb').write(d)
PY
expect_ok "a Q within --tol 1e-2 is raised to a power" "$ND_BIN" rotate --from "$T/Qp.npy" --tol 1e-2 --alpha 0.5 --out "$T/R.npy"
expect_fail "beyond the default --tol: refused naming the file" 1 "Qp\.npy: not orthogonal" \
    "$ND_BIN" rotate --from "$T/Qp.npy" --alpha 0.5 --out "$T/R.npy"
expect_fail "--tol beyond its documented limit" 2 "--tol '0.5': expected a number in \(0, 0.01\]" \
    "$ND_BIN" rotate --from "$T/Qp.npy" --tol 0.5 --alpha 0.5 --out "$T/R.npy"

echo "[13: a category that no image labels is named in a warning, once]"
mkdir "$T/ds13" && cp "$FIX/dataset"/*.csv "$T/ds13/" && ln -s "$FIX/dataset/images" "$T/ds13/images"
awk -F, -v OFS=, 'NR > 1 { $NF = "" } { print }' "$FIX/dataset/index.csv" > "$T/ds13/index.csv"   # no texture
ND_QUIET=1 "$ND_BIN" units --profile netdissect-lite --dataset "$T/ds13" --features "$FIX/features.npy" \
    --thresholds "$FIX/thresholds.npy" --out "$T/u13" 2>"$T/w13"
if [ "$(grep -c "warning: .*ds13: no image has a label of category 'texture'" "$T/w13")" = 1 ]; then ok "units: one warning naming texture"
else bad "units: warnings: $(grep -c warning "$T/w13") ($(head -c 200 "$T/w13"))"; fi
DS=$T/ds13 sweepini "$T/s13.ini" "$T/s13"
ND_QUIET=1 "$ND_BIN" sweep --no-plot "$T/s13.ini" 2>"$T/w13" >/dev/null
if [ "$(grep -c "warning: .*category 'texture'" "$T/w13")" = 1 ]; then ok "sweep of 2 points: the warning once"
else bad "sweep: $(grep -c warning "$T/w13") warnings"; fi

echo "[16: the documented conventions, and one range per shared option]"
h=$("$ND_BIN" units --help)
for fact in "counts from 1" "count from 0" "float64" "version 1, 2 or 3" "or ndl" "$("$ND_BIN" sweep --help | grep -o 'threads in [0-9.]*')"; do
    if grep -qF -- "$fact" <<<"$h"; then ok "units --help: $fact"; else bad "units --help does not say '$fact'"; fi
done
if "$ND_BIN" sweep --help | grep -q "sample standard"; then ok "sweep --help: summary.csv's sd is the sample sd"
else bad "sweep --help does not say which sd"; fi
expect_ok "units --threads 0 (all cores), as sweep --threads 0" units --threads 0 --out "$T/u16"
expect_fail "sweep --threads 100: the same limit as units" 2 "--threads '100': expected an integer in 0\.\.64" \
    "$ND_BIN" sweep --threads 100 --check "$T/base.ini"
expect_fail "features --random-weights beyond the rotation seeds' range" 2 "expected a seed in 0\.\.4294967294" \
    "$ND_BIN" features --model squeezenet --random-weights 4294967295 --dataset "$FIX/dataset" --layer fire9 --out "$T/f16.npy"
sweepini "$T/seed16.ini" "$T/s16" "alphas = 0, 1" "base_seed = 4294967295"
expect_fail "config base_seed: the same range" 2 "base_seed: '4294967295': expected a seed in 0\.\.4294967294" \
    "$ND_BIN" sweep --check "$T/seed16.ini"
sweepini "$T/prof16.ini" "$T/s16"; sed -i 's/^profile = netdissect-lite/profile = ndl/' "$T/prof16.ini"
if "$ND_BIN" sweep --check "$T/prof16.ini" | grep -q "^profile = netdissect-lite"; then ok "config: profile = ndl, as on the command line"
else bad "config: profile = ndl refused"; fi

finish
