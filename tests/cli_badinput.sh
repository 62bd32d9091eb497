#!/usr/bin/env bash
# cli_badinput.sh - the catalogue of bad inputs, across every reader and
# command.  Each case must fail with exactly one line on stderr that names the
# file (or option) and what is wrong, the documented exit status (1 bad input
# or runtime failure, 2 bad command line or config), and leave no output file
# behind (expect_fail_clean).  Each case is listed by name in the log:
#   "  <case> -> <the error line>".
# Inputs are made here from the shared fixture (copied into a temporary
# folder and damaged) or written with printf; nothing is added to the data.
source tests/lib_cli.sh
FIX=$ND_SHARED/fixtures/netdissect-lite-mini
W="$ND_SHARED/models/squeezenet-v1.0-deep-compression/compressed_SqueezeNet.net"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ND_QUIET=1

# mknpy FILE DESCR SHAPE [DATA-FILE]: a v1.0 .npy header (padded to 64) + raw data
mknpy() {
    local dict="{'descr': '$2', 'fortran_order': False, 'shape': $3, }"
    local total=$(( (10 + ${#dict} + 1 + 63) / 64 * 64 )); local hl=$((total - 10))
    { printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $((hl % 256)))\\x$(printf %02x $((hl / 256)))"
      printf '%s%*s\n' "$dict" $((total - 10 - ${#dict} - 1)) ''; [ -n "${4:-}" ] && cat "$4"; } > "$1"
}
D=$T/ds; cp -r "$FIX/dataset" "$D"; chmod -R u+w "$D"
F=$FIX/features.npy
O=$T/out           # every failing command writes here (or tries to)
units() { "$ND_BIN" units --profile netdissect-lite --dataset "$@" --out "$O"; }
save() { cp "$D/$1" "$T/$1.bak"; }
restore() { cp "$T/$1.bak" "$D/$1"; }

echo "[activations (.npy) for dissect units]"
# 4 bytes at float index (image 7, unit 9, y 2, x 3) of a [120,256,13,13] float32 file
poke() { cp "$F" "$2"; chmod u+w "$2"; printf "$1" | dd of="$2" bs=1 seek=$((128 + 4*(7*256*169 + 9*169 + 2*13 + 3))) conv=notrunc status=none; }
poke '\x00\x00\x80\x7f' "$T/inf.npy"
expect_fail_clean "Inf activation" 1 "inf\.npy: non-finite activation inf at image 7, unit 9, position \(y=2, x=3\)" "$O" \
    units "$D" --features "$T/inf.npy"
poke '\x00\x00\xc0\xff' "$T/nan.npy"
expect_fail_clean "NaN activation" 1 "nan\.npy: non-finite activation -?nan at image 7, unit 9" "$O" units "$D" --features "$T/nan.npy"
head -c $((128 + 100*256*169*4)) "$F" | tail -c +129 > "$T/raw100"
mknpy "$T/short.npy" '<f4' '(100, 256, 13, 13)' "$T/raw100"
expect_fail_clean "shape does not match the dataset" 1 "short\.npy: 100 images, but .*index\.csv has 120 rows" "$O" \
    units "$D" --features "$T/short.npy"
mknpy "$T/three.npy" '<f4' '(100, 256, 169)' "$T/raw100"
expect_fail_clean "3-D activations" 1 "three\.npy: .*(4-D|\[N, K, h, w\]|dimensions)" "$O" units "$D" --features "$T/three.npy"
: > "$T/zero.npy"
expect_fail_clean "zero-size .npy" 1 "zero\.npy: not a \.npy file" "$O" units "$D" --features "$T/zero.npy"
head -c 100000 "$F" > "$T/trunc.npy"
expect_fail_clean "truncated .npy" 1 "trunc\.npy: .*truncated" "$O" units "$D" --features "$T/trunc.npy"
printf 'unit,score\n1,0.5\n' > "$T/text.npy"
expect_fail_clean "text file as .npy" 1 "text\.npy: not a \.npy file \(bad magic\)" "$O" units "$D" --features "$T/text.npy"
sed "s/'fortran_order': False/'fortran_order': True /" "$T/short.npy" > "$T/fortran.npy"
expect_fail_clean "Fortran-order .npy" 1 "fortran\.npy: .*Fortran order" "$O" units "$D" --features "$T/fortran.npy"
mknpy "$T/complex.npy" '<c8' '(1, 1, 1, 1)'; printf '\0\0\0\0\0\0\0\0' >> "$T/complex.npy"
expect_fail_clean "unsupported dtype" 1 "complex\.npy: \.npy dtype '<c8' not supported" "$O" units "$D" --features "$T/complex.npy"
# header of 63 bytes instead of 64: float32 data at an odd offset
{ printf '\x93NUMPY\x01\x00\x35\x00'; printf "%-52s\n" "{'descr':'<f4','fortran_order':False,'shape':(1,)}"; printf '\0\0\x80\x3f'; } > "$T/odd.npy"
expect_fail_clean "misaligned .npy data" 1 "odd\.npy: \.npy data starts at byte 63, not a multiple of the 4-byte element size" "$O" \
    units "$D" --features "$T/odd.npy"
expect_fail_clean "directory where a file is expected" 1 "$T: not a regular file" "$O" units "$D" --features "$T"
expect_fail_clean "missing activations file" 1 "nope\.npy: cannot open: No such file" "$O" units "$D" --features "$T/nope.npy"

echo "[dataset (Broden CSVs and label PNGs)]"
expect_fail_clean "dataset folder is a file" 1 "features\.npy: expected a dataset folder" "$O" units "$F" --features "$F"
save index.csv
head -1 "$T/index.csv.bak" > "$D/index.csv"
expect_fail_clean "empty dataset" 1 "index\.csv: no images listed" "$O" units "$D" --features "$F"
: > "$D/index.csv"
expect_fail_clean "empty index.csv" 1 "index\.csv: empty file, expected a header row" "$O" units "$D" --features "$F"
{ cat "$T/index.csv.bak"; sed -n 5p "$T/index.csv.bak"; } > "$D/index.csv"
expect_fail_clean "duplicate image rows" 1 "index\.csv: image 'mini/00003\.jpg' is listed twice \(data rows 4 and 121\)" "$O" \
    units "$D" --features "$F"
sed '3s/,37,$/,99,/' "$T/index.csv.bak" > "$D/index.csv"
expect_fail_clean "image-level label missing from label.csv" 1 "index\.csv:3: column 'scene': image-level label 99 is not in label\.csv" "$O" \
    units "$D" --features "$F"
sed '2s/,227,227,113,113,/,227,227,100,100,/' "$T/index.csv.bak" > "$D/index.csv"
expect_fail_clean "PNG of the wrong size" 1 "00000_color\.png: label image is 113x113, index\.csv says sw x sh = 100x100" "$O" \
    units "$D" --features "$F"
sed '4s/,113,113,/,113,abc,/' "$T/index.csv.bak" > "$D/index.csv"
expect_fail_clean "non-numeric size field" 1 "index\.csv:4: field 'sw': expected a positive integer, got 'abc'" "$O" units "$D" --features "$F"
sed '6s/^mini/"mini/' "$T/index.csv.bak" > "$D/index.csv"
expect_fail_clean "unterminated quote in index.csv" 1 "index\.csv:6: unterminated quoted field" "$O" units "$D" --features "$F"
{ cat "$T/index.csv.bak"; printf 'x\0y\n'; } > "$D/index.csv"
expect_fail_clean "NUL byte in index.csv" 1 "index\.csv: binary data \(NUL byte\) in a CSV file" "$O" units "$D" --features "$F"
sed '1s/^image,split/img,split/' "$T/index.csv.bak" > "$D/index.csv"
expect_fail_clean "index.csv header" 1 "index\.csv: header column 1 should be 'image', found 'img'" "$O" units "$D" --features "$F"
rm "$D/index.csv"; mkdir "$D/index.csv"
expect_fail_clean "index.csv is a directory" 1 "index\.csv: is a directory, expected a CSV file" "$O" units "$D" --features "$F"
rmdir "$D/index.csv"; restore index.csv
# PNGs
cp "$D/images/mini/00004_object.png" "$T/png.bak"
head -c 300 "$T/png.bak" > "$D/images/mini/00004_object.png"
expect_fail_clean "truncated label PNG" 1 "00004_object\.png: broken PNG \(index\.csv row 6, column 'object'\)" "$O" units "$D" --features "$F"
printf 'GIF89a not a png' > "$D/images/mini/00004_object.png"
expect_fail_clean "label image that is not a PNG" 1 "00004_object\.png: not a PNG file \(index\.csv row 6, column 'object'\)" "$O" \
    units "$D" --features "$F"
rm "$D/images/mini/00004_object.png"
expect_fail_clean "missing label PNG" 1 "00004_object\.png: cannot open label image \(index\.csv row 6, column 'object'\): No such file" "$O" \
    units "$D" --features "$F"
cp "$T/png.bak" "$D/images/mini/00004_object.png"
# a pixel label missing from label.csv: drop label 1 (black-c, colour only) from label.csv and c_color.csv
save label.csv; save c_color.csv
grep -v '^1,black-c,' "$T/label.csv.bak" > "$D/label.csv"; grep -v '^1,1,black-c,' "$T/c_color.csv.bak" > "$D/c_color.csv"
expect_fail_clean "pixel label missing from label.csv" 1 "_color\.png: pixel \(x=[0-9]+, y=[0-9]+\) has label number 1, which is not in label\.csv" "$O" \
    units "$D" --features "$F"
restore c_color.csv
expect_fail_clean "c_color.csv names a label missing from label.csv" 1 "c_color\.csv:2: label number 1 is not in label\.csv" "$O" \
    units "$D" --features "$F"
{ cat "$T/label.csv.bak"; sed -n 3p "$T/label.csv.bak"; } > "$D/label.csv"
expect_fail_clean "label number listed twice" 1 "label\.csv:[0-9]+: label number 2 listed twice" "$O" units "$D" --features "$F"
restore label.csv
sed '3s/,21\.507871$/,-1/' "$T/c_color.csv.bak" > "$D/c_color.csv"
expect_fail_clean "negative coverage" 1 "c_color\.csv:3: field 'coverage': expected a number >= 0, got '-1'" "$O" units "$D" --features "$F"
restore c_color.csv
save c_scene.csv; head -1 "$T/c_scene.csv.bak" > "$D/c_scene.csv"
expect_fail_clean "category with no labels" 1 "c_scene\.csv: category 'scene' is the primary category of no label" "$O" units "$D" --features "$F"
restore c_scene.csv
save category.csv; rm "$D/category.csv"
expect_fail_clean "missing category.csv" 1 "category\.csv: cannot open: No such file" "$O" units "$D" --features "$F"
restore category.csv

echo "[thresholds and output folder]"
printf '0.5\n0.25\n' > "$T/thr2.txt"
expect_fail_clean "2 thresholds for 256 units" 1 "thr2\.txt: 2 thresholds, the activations have 256 units" "$O" \
    units "$D" --features "$F" --thresholds "$T/thr2.txt"
expect_fail_clean "unwritable output folder" 1 "features\.npy/out: cannot create directory: Not a directory" "$T/none" \
    "$ND_BIN" units --profile netdissect-lite --dataset "$D" --features "$F" --thresholds "$FIX/thresholds.npy" --out "$F/out"
mkdir -p "$T/od/result.csv"
expect_fail "result.csv is a directory" 1 "od/result\.csv: is a directory, expected a file" \
    "$ND_BIN" units --profile netdissect-lite --dataset "$D" --features "$F" --thresholds "$FIX/thresholds.npy" --out "$T/od"
if [ -z "$(find "$T/od" -type f)" ]; then ok "result.csv is a directory: no file left"; else bad "files left in $T/od: $(find "$T/od" -type f)"; fi

echo "[dissect rotate --from]"
mkf8() { local f=$1; shift; local d=""; for v in "$@"; do d+=$(printf '%s' "$v"); done; printf "$d" > "$T/raw.f8"; mknpy "$f" '<f8' '(2, 2)' "$T/raw.f8"; }
ONE='\x00\x00\x00\x00\x00\x00\xf0\x3f' ZERO='\x00\x00\x00\x00\x00\x00\x00\x00' NAN='\x00\x00\x00\x00\x00\x00\xf8\x7f'
mkf8 "$T/shear.npy" $ONE $ONE $ZERO $ONE
expect_fail_clean "non-orthogonal --from matrix" 1 "shear\.npy: not orthogonal: max \|Q\^T Q - I\| = 1 exceeds the tolerance" "$T/R.npy" \
    "$ND_BIN" rotate --from "$T/shear.npy" --alpha 0.5 --out "$T/R.npy"
mkf8 "$T/nanq.npy" $ONE $ZERO $NAN $ONE
expect_fail_clean "NaN in a --from matrix" 1 "nanq\.npy: entry \[1\]\[0\] = nan is not finite" "$T/R.npy" \
    "$ND_BIN" rotate --from "$T/nanq.npy" --out "$T/R.npy"

echo "[models: images and weights]"
mkdir -p "$T/img"
head -c 2000 "$D/images/mini/00000.jpg" > "$T/img/trunc.jpg"
expect_fail "truncated JPEG" 1 "trunc\.jpg: .*(Premature end|truncated|JPEG)" "$ND_BIN" classify --weights "$W" "$T/img/trunc.jpg"
# 449 bytes whose header claims 32784 x 65295 pixels (a fuzzing find: 6.4 GB were allocated)
expect_fail "JPEG header claiming 2 gigapixels" 1 "huge-dimensions-oom: JPEG header says 32784 x 65295 pixels, more than the 64-megapixel limit" \
    "$ND_BIN" classify --weights "$W" tests/regress/fuzz_jpeg/huge-dimensions-oom
head -c 600000 "$W" > "$T/short.net"
expect_fail "truncated weight file" 1 "short\.net: truncated in layer" "$ND_BIN" classify --weights "$T/short.net" \
    --synsets "$(dirname "$W")/synset_words.txt" "$D/images/mini/00000.jpg"
{ cat "$W"; printf 'xx'; } > "$T/long.net"
expect_fail "weight file with trailing bytes" 1 "long\.net: 2 extra bytes after the last layer" "$ND_BIN" classify --weights "$T/long.net" \
    --synsets "$(dirname "$W")/synset_words.txt" "$D/images/mini/00000.jpg"
mkdir -p "$T/ds2/images" "$T/ds2/images/mini"
cp "$D"/*.csv "$T/ds2/"; head -3 "$D/index.csv" > "$T/ds2/index.csv"
cp "$D/images/mini/00000.jpg" "$T/ds2/images/mini/"; head -c 3000 "$D/images/mini/00001.jpg" > "$T/ds2/images/mini/00001.jpg"
expect_fail_clean "truncated JPEG in a dataset (features)" 1 "00001\.jpg: .*(Premature end|truncated|JPEG)" "$T/f.npy" \
    "$ND_BIN" features --model squeezenet --random-weights 1 --dataset "$T/ds2" --layer conv1 --out "$T/f.npy"

echo "[sweep configs]"
ini() { printf '[dataset]\npath = %s\n[activations]\nnpy = %s\n[rotation]\nalphas = 0, 1\n[output]\ndir = %s\n%b' "$D" "$F" "$T/run" "${1:-}"; }
ini "colour = red\n" > "$T/unknown.ini"
expect_fail_clean "config: unknown key" 2 "unknown\.ini:9: .*colour" "$T/run" "$ND_BIN" sweep "$T/unknown.ini"
printf '[dataset]\npath = %s\n[rotation]\nalphas = 0, 1\n[output]\ndir = %s\n' "$D" "$T/run" > "$T/nonpy.ini"
expect_fail_clean "config: missing key" 2 "nonpy\.ini:[0-9]+: \[activations\] npy: required key missing" "$T/run" "$ND_BIN" sweep "$T/nonpy.ini"
ini | sed 's/alphas = 0, 1/alphas = 0, 1.5/' > "$T/alpha.ini"
expect_fail_clean "config: alpha out of range" 2 "alpha\.ini:6: \[rotation\] alphas: alpha 1\.5 is outside \[0, 1\]" "$T/run" \
    "$ND_BIN" sweep "$T/alpha.ini"
ini | sed 's/^\[rotation\]$/[rotation/' > "$T/syntax.ini"
expect_fail_clean "config: section header without ]" 2 "syntax\.ini:5: section header without a closing '\]'" "$T/run" "$ND_BIN" sweep "$T/syntax.ini"
expect_fail_clean "config is a directory" 2 "$T/ds: is a directory, expected a config file" "$T/run" "$ND_BIN" sweep "$T/ds"
ini '[dissect]\nprofile = netdissect-lite\n' | sed "s|npy = .*|npy = $T/short.npy|" > "$T/mismatch.ini"
expect_fail_clean "sweep: activations do not match the dataset" 1 "short\.npy: 100 images, but .*index\.csv has 120 rows" "$T/run/sweep.csv" \
    "$ND_BIN" sweep --no-plot --out "$T/run" "$T/mismatch.ini"

echo "[sweep run folder]"
ini '[dissect]\nprofile = netdissect-lite\n' | sed -e 's/alphas = 0, 1/alphas = 0/' -e "s|dir = .*|dir = $T/run1|" > "$T/one.ini"
expect_ok "a one-point sweep" "$ND_BIN" sweep --no-plot "$T/one.ini"
rm "$T/run1/sweep.csv" "$T/run1/summary.csv"
sed -i '2s/^0,0,-1,/0,0,x,/' "$T/run1/points/a0_d0/point.csv"
# a damaged point.csv is an unfinished point: recomputed, and said so (issue 11)
if ND_QUIET=0 "$ND_BIN" sweep --no-plot "$T/one.ini" 2>&1 >/dev/null | grep -q "a0_d0/point\.csv: line 2: expected alpha,draw,seed and 21 counts of point a0_d0; recomputing" \
    && grep -q "^0,0,-1," "$T/run1/points/a0_d0/point.csv"; then ok "sweep: damaged point.csv on resume recomputed"
else bad "sweep: damaged point.csv on resume not recomputed"; fi
rm "$T/run1/sweep.csv" "$T/run1/summary.csv"
printf 'alpha\n' > "$T/run1/summary.csv"; printf 'alpha\n' > "$T/run1/sweep.csv"
expect_fail "plot: damaged summary.csv" 1 "(summary\.csv|gnuplot failed)" "$ND_BIN" plot "$T/run1"
if [ -z "$(find "$T/run1/figures" -name '*.png' -o -name '*.svg' -o -name '*.tmp.*' 2>/dev/null)" ]; then ok "plot: no figure left"
else bad "plot: left $(find "$T/run1/figures" -type f)"; fi

echo "[recount and compare]"
: > "$T/empty.csv"
expect_fail "recount of an empty file" 1 "empty\.csv: empty file, expected a header row" "$ND_BIN" recount "$T/empty.csv"
printf 'unit,category,label,score,color-label,color-truth\n1,color,red,0.1,red,5\n' > "$T/partial.csv"
expect_fail "recount: missing -activation column" 1 "partial\.csv: column 'color-activation' missing" "$ND_BIN" recount "$T/partial.csv"
# odd but valid: a category name with a quote and a backslash must give valid JSON
printf 'unit,category,label,score,"a""b\\c-label",a"b\\c-truth,a"b\\c-activation,a"b\\c-intersect,a"b\\c-iou\n1,x,y,0.5,l,10,10,5,0.3333333333333333\n' > "$T/odd.csv"
expect_ok "recount: odd category name" "$ND_BIN" recount "$T/odd.csv" --out "$T/odd.json"
expect_ok "recount: its JSON reads back" "$ND_BIN" compare "$T/odd.json" "$T/odd.json"
printf '{"a": [1, 2}\n' > "$T/a.json"; printf '{"a": [1, 2]}\n' > "$T/b.json"
expect_fail "compare: malformed JSON" 1 "a\.json: " "$ND_BIN" compare "$T/a.json" "$T/b.json"
expect_fail "compare: missing file" 1 "nope\.csv: no such file or folder" "$ND_BIN" compare "$T/nope.csv" "$T/partial.csv"
finish
