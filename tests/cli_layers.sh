#!/bin/bash
# cli_layers.sh - `dissect layers`: two layers of SqueezeNet, trained and
# random, on 8 DTD photographs with colours.  The counts equal `dissect units`
# on the same layer written by `dissect features` (the forward-pass
# thresholds and tally are the file-based ones); a second run skips both
# networks and leaves layers.csv byte-identical, and so does a copied run
# folder reached through a symlinked dataset (resume.key holds contents, not
# paths); a changed weights byte or setting is refused naming the key line;
# bad configs exit 2.
. "$(dirname "$0")/lib_cli.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
D=$(cd "$ND_SHARED/data" && pwd)
# a copy of the weights: the resume section changes one of its bytes
cp "$ND_SHARED/models/squeezenet-v1.0-deep-compression/compressed_SqueezeNet.net" "$T/w.net"
W=$T/w.net
for c in banded cracked; do
    mkdir -p "$T/tex/$c"
    for f in $(ls "$D/dtd-10/images/$c" | head -4); do ln -s "$D/dtd-10/images/$c/$f" "$T/tex/$c/$f"; done
done
expect_ok "import" "$ND_BIN" import --textures "$T/tex" --colors "$D/colornames/w2color.npy" \
    --min-images 1 --out "$T/ds"
cat > "$T/layers.ini" <<INI
[dataset]
path = $T/ds
name = t_x^{2}@a&b
[activations]
model = squeezenet
weights = $W
[dissect]
profile = netdissect
[layers]
layers = conv1,fire9
random_seed = 3
batch = 3
[output]
dir = $T/run
INI
expect_ok "layers run" "$ND_BIN" layers "$T/layers.ini"
for f in layers_unique.png layers_unique.svg layers_fraction.png layers_fraction.svg; do
    if [ -s "$T/run/figures/$f" ]; then ok "figure $f"; else bad "figure $f missing"; fi
done
rows=$(grep -c . "$T/run/layers.csv")
# header + 2 networks x 2 layers x (color, texture, all)
if [ "$rows" = 13 ]; then ok "layers.csv: 12 rows"; else bad "layers.csv has $rows lines: $(cat "$T/run/layers.csv")"; fi
# the golden run (tests/golden/layers/README.md), made with OpenBLAS's
# Haswell kernel: under it the whole folder at rtol 1e-5, atol 1e-8 (float32
# sgemm in the forward pass, as for the sweep's rotated points); under
# another kernel pixels move across thresholds, so only the counts, exactly
if [ "${OPENBLAS_CORETYPE:-}" = Haswell ]; then
    out=$("$ND_BIN" compare --rtol 1e-5 --atol 1e-8 "$T/run" tests/golden/layers 2>&1)
else
    echo "  note: OPENBLAS_CORETYPE is not Haswell: the golden comparison covers layers.csv only"
    out=$("$ND_BIN" compare --rtol 0 --atol 0 "$T/run/layers.csv" tests/golden/layers/layers.csv 2>&1)
fi
if [ $? = 0 ]; then ok "layers run equals tests/golden/layers: $(tail -1 <<<"$out")"
else bad "layers run differs from tests/golden/layers: $(head -5 <<<"$out")"; fi
# the title (dataset name) shown as written, in a well-formed SVG (gnuplot
# writes an escaped & bare; figures.c sends \046)
svg_literal() { # NAME SVG TEXT: TEXT (XML-escaped) is one text run of SVG, which has no bare &
    if ! grep -Pq '&(?!amp;|lt;|gt;|quot;|apos;|#[0-9]+;)' "$2"; then ok "$1: no bare & (XML)"
    else bad "$1: a bare &: $(grep -Po '.{20}&(?!amp;|lt;|gt;|quot;|apos;|#[0-9]+;).{10}' "$2" | head -1)"; fi
    if grep -qF ">$3<" "$2"; then ok "$1: '$3' shown as written"
    else bad "$1: no text run '$3' in $2: $(grep -o '>[^<]*conv[^<]*<' "$2" | head -3 | tr '\n' ' ')"; fi
}
for f in layers_unique layers_fraction; do
    svg_literal "$f title" "$T/run/figures/$f.svg" 'squeezenet layers conv1,fire9 on t_x^{2}@a&amp;b'
done
# a layer name with _ as a tic: the random network alone, conv_final
sed '/^weights =/d; s/^layers = .*/layers = conv_final/; s|^dir = .*|dir = '"$T/tic"'|' "$T/layers.ini" > "$T/tic.ini"
expect_ok "layers run: random conv_final" "$ND_BIN" layers "$T/tic.ini"
svg_literal "conv_final tic" "$T/tic/figures/layers_unique.svg" conv_final
expect_ok "features fire9" "$ND_BIN" features --model squeezenet --weights "$W" --dataset "$T/ds" \
    --layer conv1,fire9 --out "$T/feat"
expect_ok "units fire9" "$ND_BIN" units --dataset "$T/ds" --features "$T/feat/fire9.npy" --out "$T/u9"
if grep -q '^{"format": "geometry", "format_version": 1, "model": "squeezenet", "layer": "fire9"' "$T/feat/fire9.json" &&
    grep -q '"format_version": 1,' "$T/u9/summary.json"; then ok "geometry .json and summary.json carry format versions"
else bad "format versions missing: $(head -c 80 "$T/feat/fire9.json") / $(head -4 "$T/u9/summary.json" | tr '\n' ' ')"; fi
want=$(grep -o '"detectors": [0-9]*' "$T/u9/summary.json" | head -1 | grep -o '[0-9]*$')
got=$(awk -F, '$1 == "trained" && $2 == "fire9" && $5 == "all" { print $6 }' "$T/run/layers.csv")
if [ -n "$want" ] && [ "$want" = "$got" ]; then ok "fire9 detectors from the forward pass = from the file ($got)"
else bad "fire9 detectors: layers $got, units $want"; fi
if cmp -s "$T/run/trained/fire9/thresholds.npy" "$T/u9/thresholds.npy"; then ok "fire9 thresholds byte-identical"
else bad "fire9 thresholds differ between layers and units"; fi
cp "$T/run/layers.csv" "$T/first.csv"
err=$("$ND_BIN" layers --no-plot "$T/layers.ini" 2>&1 >/dev/null)
if [ "$(grep -c skipped <<<"$err")" = 2 ] && cmp -s "$T/first.csv" "$T/run/layers.csv"; then
    ok "second run skips both networks, same layers.csv"
else bad "resume: $err"; fi
cp -r "$T/run" "$T/copied"
ln -s "$T/ds" "$T/ds-link"
sed "s|^path = .*|path = $T/ds-link/|; s|^dir = .*|dir = $T/copied|" "$T/layers.ini" > "$T/copied.ini"
err=$("$ND_BIN" layers --no-plot "$T/copied.ini" 2>&1 >/dev/null)
if [ $? = 0 ] && [ "$(grep -c skipped <<<"$err")" = 2 ] && cmp -s "$T/first.csv" "$T/copied/layers.csv"; then
    ok "a copied run folder, the dataset through a symlink: both networks skipped"
else bad "copied folder resume: $err"; fi
cp "$T/w.net" "$T/w.saved"
printf '\x5a' | dd of="$T/w.net" bs=1 seek=4000 conv=notrunc 2>/dev/null
expect_fail "a changed weights byte refused, naming the key line" 1 \
    "w\.net: the weights changed since this folder's results were computed \('weights = size [0-9]+ hash [0-9a-f]+', now 'weights = size" \
    "$ND_BIN" layers --no-plot "$T/copied.ini"
cp "$T/w.saved" "$T/w.net"
sed 's/^profile = netdissect/profile = lite/' "$T/copied.ini" > "$T/lite.ini"
expect_fail "another profile refused, naming the key line" 1 \
    "resume\.key:[0-9]+: this folder's results were computed with 'profile = netdissect', this run has 'profile = netdissect-lite'" \
    "$ND_BIN" layers --no-plot "$T/lite.ini"
grep -v '^\[layers\]\|^layers =\|^random_seed\|^batch' "$T/layers.ini" > "$T/nolayers.ini"
expect_fail "no [layers] section" 2 "alphas" "$ND_BIN" layers "$T/nolayers.ini"
sed 's/^layers = conv1,fire9/layers = conv1,fire99/' "$T/layers.ini" > "$T/bad.ini"
expect_fail "another layer list in the run folder" 1 "resume\.key:[0-9]+: .*'layers = conv1,fire9', this run has 'layers = conv1,fire99'" "$ND_BIN" layers "$T/bad.ini"
expect_fail_clean "unknown layer" 1 "fire99" "$T/run2/trained" "$ND_BIN" layers --out "$T/run2" "$T/bad.ini"
cp "$T/layers.ini" "$T/rot.ini"
printf '[rotation]\nalphas = 0,1\n' >> "$T/rot.ini"
expect_fail "rotation keys in a layers experiment" 2 "not used by a layers experiment" "$ND_BIN" layers "$T/rot.ini"
finish
