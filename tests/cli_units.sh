#!/usr/bin/env bash
# CLI tests of `dissect units` and `dissect recount`: the documented results
# on the fixture and the release file, and a catalogue of malformed inputs,
# each of which must give exactly one line on stderr, exit status 1 (bad
# input) or 2 (bad command line), and leave no result file behind.
source tests/lib_cli.sh
FIX=$ND_SHARED/fixtures/netdissect-lite-mini
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

no_output() { # $1 dir: no result files may exist
    if ls "$1"/result.csv "$1"/summary.json "$1"/thresholds.npy "$1"/*.tmp.* >/dev/null 2>&1; then
        bad "$2: output left behind in $1"; else ok "$2: no output left"; fi
}
units() { "$ND_BIN" units --profile netdissect-lite "$@"; }

echo "[success paths]"
expect_ok "units, NDL profile, given thresholds" units --dataset $FIX/dataset --features $FIX/features.npy \
    --thresholds $FIX/thresholds.npy --out $T/ok
grep -q '"detectors": 84' $T/ok/summary.json && ok "84 detectors (fixture meta: 84 units with IoU >= 0.04)" || bad "detector count"
[ "$(wc -l < $T/ok/result.csv)" = 257 ] && ok "result.csv has 256 rows" || bad "result.csv rows"
expect_ok "units, ND profile, exact thresholds" "$ND_BIN" units --dataset $FIX/dataset --features $FIX/features.npy \
    --field -64,163,16 --out $T/nd
"$ND_BIN" units --dataset $FIX/dataset --features $FIX/features.npy --field -64,163,16 --out $T/nd2 2>/dev/null
cmp -s $T/nd/result.csv $T/nd2/result.csv && cmp -s $T/nd/summary.json $T/nd2/summary.json \
    && ok "two runs give byte-identical result files" || bad "results differ between runs"
"$ND_BIN" units --dataset $FIX/dataset --features $FIX/features.npy --field -64,163,16 --threads 1 --out $T/nd1 2>/dev/null
cmp -s $T/nd/result.csv $T/nd1/result.csv && ok "1 thread and all threads give identical results" || bad "thread count changes results"
printf '%s\n' $(seq 1 256 | sed 's/.*/0.1/') > $T/thr.txt
expect_ok "thresholds from a text file" units --dataset $FIX/dataset --features $FIX/features.npy --thresholds $T/thr.txt --out $T/txt
expect_ok "category subset" units --dataset $FIX/dataset --features $FIX/features.npy --thresholds $FIX/thresholds.npy \
    --categories object,color --out $T/sub
head -1 $T/sub/result.csv | grep -q '^unit,category,label,score,color-label' && ! head -1 $T/sub/result.csv | grep -q part- \
    && ok "subset keeps category.csv order and only those columns" || bad "subset columns"
out=$("$ND_BIN" recount $ND_SHARED/data/netdissect-release/caffe_reference_places205.csv --out $T/rc.json)
echo "$out" | grep -q 'detectors (score > 0.04): 107' && echo "$out" | grep -q '79 per-category (headline), 60 top-label' \
    && ok "recount of the released AlexNet result: 107 detectors, 79 and 60 unique" || bad "recount: $out"
echo "$out" | grep 'max abs difference'

echo "[prepared label store]"
expect_ok "units building a label store" units --dataset $FIX/dataset --features $FIX/features.npy \
    --thresholds $FIX/thresholds.npy --label-store $T/mini.store --out $T/st1
expect_ok "units using the store" units --dataset $FIX/dataset --features $FIX/features.npy \
    --thresholds $FIX/thresholds.npy --label-store $T/mini.store --out $T/st2
cmp -s $T/st1/result.csv $T/ok/result.csv && cmp -s $T/st2/result.csv $T/ok/result.csv \
    && ok "results with and without the store are identical" || bad "store changes results"
SD=$T/stds; cp -r $FIX/dataset $SD; chmod -R u+w $SD
units --dataset $SD --features $FIX/features.npy --thresholds $FIX/thresholds.npy --label-store $T/s2.store --out $T/st3 2>/dev/null
sed -i 's/^1,black-c,/1,blackish-c,/' $SD/label.csv
units --dataset $SD --features $FIX/features.npy --thresholds $FIX/thresholds.npy --label-store $T/s2.store --out $T/st4 2>/dev/null
grep -q blackish $T/st4/result.csv && ok "an edited dataset makes the store stale (rebuilt)" || bad "stale store used"
printf '\xff\xff' | dd of=$T/s2.store bs=1 seek=$((64 + 2*500)) conv=notrunc status=none
expect_fail "damaged label store" 1 "label store holds label number 65535, beyond label.csv" \
    units --dataset $SD --features $FIX/features.npy --thresholds $FIX/thresholds.npy --label-store $T/s2.store --out $T/st5

echo "[bad inputs]"
D=$T/ds; cp -r $FIX/dataset $D; chmod -R u+w $D
O=$T/out
# 1 missing label PNG
mv $D/images/mini/00005_color.png $T/saved.png
expect_fail "missing PNG" 1 "00005_color.png.*(cannot open|No such)" units --dataset $D --features $FIX/features.npy --out $O
no_output $O "missing PNG"; mv $T/saved.png $D/images/mini/00005_color.png
# 2 image-level label not in label.csv
cp $D/index.csv $T/index.bak
sed -i '3s/,37,$/,99,/' $D/index.csv
expect_fail "label number not in label.csv" 1 "index.csv:3: column 'scene': image-level label 99 is not in label.csv" \
    units --dataset $D --features $FIX/features.npy --out $O
no_output $O "unknown label"; cp $T/index.bak $D/index.csv
# 3 duplicate image rows
sed -n 2p $D/index.csv >> $D/index.csv
expect_fail "duplicate image row" 1 "listed twice" units --dataset $D --features $FIX/features.npy --out $O
no_output $O "duplicate row"; cp $T/index.bak $D/index.csv
# 4 wrong number of fields
sed -i '4s/,train,/,train,,/' $D/index.csv
expect_fail "row with an extra field" 1 "index.csv:4: 13 fields, the header has 12" units --dataset $D --features $FIX/features.npy --out $O
cp $T/index.bak $D/index.csv
# 5 bad size field
sed -i '4s/,227,227,113,113,/,227,227,abc,113,/' $D/index.csv
expect_fail "non-numeric sh" 1 "index.csv:4: field 'sh'" units --dataset $D --features $FIX/features.npy --out $O
cp $T/index.bak $D/index.csv
# 6 label map of the wrong size (index.csv says 100x100)
sed -i '2s/,227,227,113,113,/,227,227,100,100,/' $D/index.csv
expect_fail "PNG of the wrong size" 1 "00000_color.png: label image is 113x113, index.csv says sw x sh = 100x100" \
    units --dataset $D --features $FIX/features.npy --out $O
cp $T/index.bak $D/index.csv
# 7 empty dataset
head -1 $T/index.bak > $D/index.csv
expect_fail "empty dataset" 1 "index.csv: no images listed" units --dataset $D --features $FIX/features.npy --out $O
cp $T/index.bak $D/index.csv
# 8 category with no labels (scene's labels lose their coverage and go to the last category)
cp $D/c_scene.csv $T/ct.bak; head -1 $T/ct.bak > $D/c_scene.csv
expect_fail "category with no labels" 1 "category 'scene' is the primary category of no label" \
    units --dataset $D --features $FIX/features.npy --out $O
cp $T/ct.bak $D/c_scene.csv
# 9 shape that does not match the dataset (100 images instead of 120)
{ npy_header "(100, 256, 13, 13)"; head -c $((100*256*169*4)) /dev/zero; } > $T/short.npy
expect_fail "activations for 100 of 120 images" 1 "short.npy: 100 images, but .*index.csv has 120 rows" \
    units --dataset $D --features $T/short.npy --out $O
no_output $O "shape mismatch"
# 10 NaN in the activations
cp $FIX/features.npy $T/nan.npy; chmod u+w $T/nan.npy
printf '\x00\x00\xc0\x7f' | dd of=$T/nan.npy bs=1 seek=$((128 + 4*(5*256*169 + 3*169 + 20))) conv=notrunc status=none
expect_fail "NaN activation" 1 "nan.npy: non-finite activation nan at image 5, unit 3, position \(y=1, x=7\)" \
    units --dataset $D --features $T/nan.npy --out $O
no_output $O "NaN"
# 11 truncated .npy
head -c 1000000 $FIX/features.npy > $T/trunc.npy
expect_fail "truncated .npy" 1 "trunc.npy: .*truncated" units --dataset $D --features $T/trunc.npy --out $O
# 12 zero-size .npy
: > $T/zero.npy
expect_fail "zero-size .npy" 1 "zero.npy: not a .npy file" units --dataset $D --features $T/zero.npy --out $O
# 13 a directory where a file is expected
expect_fail "directory as features" 1 "not a regular file" units --dataset $D --features $T --out $O
# 14 dataset path is a file
expect_fail "file as dataset" 1 "expected a dataset folder" units --dataset $FIX/features.npy --features $FIX/features.npy --out $O
# 15 unwritable output folder (a path below a regular file: even root cannot create it)
expect_fail "unwritable output folder" 1 "cannot create directory|not a directory|Not a directory" \
    units --dataset $D --features $FIX/features.npy --thresholds $FIX/thresholds.npy --out $FIX/features.npy/out
# 16 wrong number of thresholds
head -5 $T/thr.txt > $T/thr5.txt
expect_fail "5 thresholds for 256 units" 1 "thr5.txt: 5 thresholds, the activations have 256 units" \
    units --dataset $D --features $FIX/features.npy --thresholds $T/thr5.txt --out $O
# 17 threshold file with text
printf '0.1\nabc\n' > $T/thrbad.txt
expect_fail "non-numeric threshold" 1 "thrbad.txt:2: expected a number" units --dataset $D --features $FIX/features.npy --thresholds $T/thrbad.txt --out $O
# 18 unknown category
expect_fail "unknown category" 1 "'animal' is not a category" units --dataset $D --features $FIX/features.npy --categories animal --out $O
no_output $O "all failures"
# usage errors: exit 2
expect_fail "unknown profile" 2 "--profile: 'fast' is not" "$ND_BIN" units --profile fast --dataset $D --features x --out $O
expect_fail "malformed --field" 2 "--field: expected OFFSET,SIZE,STRIDE" "$ND_BIN" units --field 1,2 --dataset $D --features $FIX/features.npy --out $O
expect_fail "netdissect profile without field" 2 "needs --field" "$ND_BIN" units --dataset $D --features $FIX/features.npy --out $O
expect_fail "missing --out" 2 "are required" "$ND_BIN" units --dataset $D --features $FIX/features.npy
expect_fail "quantile out of range" 2 "--quantile: expected a number in \(0, 1\)" "$ND_BIN" units --quantile 2 --dataset $D --features x --out $O
expect_fail "unknown command" 2 "unknown command" "$ND_BIN" dissekt
echo "[the one quiet rule: dissect --quiet or ND_QUIET silences progress lines, not the summary]"
quiet_case() { # NAME WANT_PROGRESS(0/1) ENV... -- ARGS...
    local name=$1 want=$2; shift 2
    env -u ND_QUIET "$@" --dataset $FIX/dataset --features $FIX/features.npy --profile netdissect-lite \
        --thresholds $FIX/thresholds.npy --out $T/quiet >/dev/null 2>$T/quiet.err
    local rc=$? prog=0
    grep -q "reading dataset" $T/quiet.err && prog=1
    if [ $rc -ne 0 ]; then bad "$name: exit $rc: $(head -c 300 $T/quiet.err)"
    elif [ $prog -ne "$want" ]; then bad "$name: progress lines shown=$prog, expected $want"
    elif ! grep -q "unique detectors" $T/quiet.err; then bad "$name: the summary line is missing"
    else ok "$name"; fi
}
quiet_case "no quiet: progress shown" 1 "$ND_BIN" units
quiet_case "dissect --quiet: no progress" 0 "$ND_BIN" --quiet units
quiet_case "ND_QUIET=1: no progress" 0 ND_QUIET=1 "$ND_BIN" units
quiet_case "ND_QUIET=0: progress shown" 1 ND_QUIET=0 "$ND_BIN" units

# recount
expect_fail "recount of a non-result CSV" 1 "index.csv: header has no 'unit'" "$ND_BIN" recount $D/index.csv
sed '2s/,grass,13100838,/,grass,abc,/' $ND_SHARED/data/netdissect-release/caffe_reference_places205.csv > $T/rbad.csv
expect_fail "recount with a bad count" 1 "rbad.csv:2: field 'object-truth': expected a number" "$ND_BIN" recount $T/rbad.csv
finish
