#!/usr/bin/env bash
# cli_models.sh - dissect import / features / classify from the command line:
# help, usage errors (exit 2), runtime errors (exit 1, one line naming the
# file), and a small end-to-end run (12 MSRC-v2 images).
source tests/lib_cli.sh
MSRC=$(cd "$ND_SHARED/data/msrc-v2" && pwd)
W="$ND_SHARED/models/squeezenet-v1.0-deep-compression/compressed_SqueezeNet.net"
T=$(mktemp -d)
export ND_QUIET=1

for c in import features classify; do
    expect_ok "$c --help" "$ND_BIN" $c --help
done
expect_fail "import without --out" 2 "required" "$ND_BIN" import --images "$MSRC/images"
expect_fail "import bad --size" 2 "size" "$ND_BIN" import --images a --labels b --classes c --out d --size 1
expect_fail "features without --layer" 2 "required" "$ND_BIN" features --model squeezenet --weights "$W" --dataset x --out y.npy
expect_fail "features both weights" 2 "exactly one" "$ND_BIN" features --model squeezenet --weights "$W" --random-weights 1 --dataset x --layer fire9 --out y.npy
expect_fail "features bad batch" 2 "batch" "$ND_BIN" features --model squeezenet --random-weights 1 --dataset x --layer fire9 --out y.npy --batch 0
expect_fail "classify no images" 2 "no images" "$ND_BIN" classify --weights "$W"

# a 12-image dataset
mkdir -p "$T/im" "$T/lb"
for n in 1_1_s 1_2_s 2_1_s 3_1_s 4_1_s 5_1_s 6_1_s 7_1_s 8_1_s 9_1_s 10_1_s 11_1_s; do
    ln -s "$MSRC/images/$n.jpg" "$T/im/$n.jpg"
    ln -s "$MSRC/labels/$n.png" "$T/lb/$n.png"
done
expect_ok "import subset" "$ND_BIN" import --images "$T/im" --labels "$T/lb" --classes "$MSRC/classes.csv" --out "$T/ds" --min-images 2
rows=$(($(wc -l < "$T/ds/index.csv") - 1))
if [ "$rows" = 12 ] && head -1 "$T/ds/index.csv" | grep -q '^image,split,ih,iw,sh,sw,object$'; then ok "index.csv 12 rows"; else bad "index.csv: $rows rows"; fi
expect_fail "import over existing" 1 "ds: already exists" "$ND_BIN" import --images "$T/im" --labels "$T/lb" --classes "$MSRC/classes.csv" --out "$T/ds"
expect_fail "import missing classes" 1 "nope.csv: cannot open" "$ND_BIN" import --images "$T/im" --labels "$T/lb" --classes "$T/nope.csv" --out "$T/ds2"

expect_ok "features random fire9" "$ND_BIN" features --model squeezenet --random-weights 7 --dataset "$T/ds" --layer fire9 --out "$T/f.npy" --batch 5
if grep -q '"field": \[-60, 155, 16\]' "$T/f.json" && grep -q '"images": 12' "$T/f.json" && grep -q 'random-he seed 7' "$T/f.json"; then
    ok "geometry json"; else bad "geometry json: $(cat "$T/f.json")"; fi
# 12 x 512 x 13 x 13 float32 = 4153344 bytes of data + 128 header
size=$(stat -c %s "$T/f.npy")
if [ "$size" = 4153472 ]; then ok "npy size"; else bad "npy size $size"; fi
expect_ok "features again, batch 32" "$ND_BIN" features --model squeezenet --random-weights 7 --dataset "$T/ds" --layer fire9 --out "$T/g.npy"
if cmp -s "$T/f.npy" "$T/g.npy"; then ok "same result for batch 5 and 32"; else bad "batch size changes the result"; fi
expect_fail "features unknown layer" 1 "fire10" "$ND_BIN" features --model squeezenet --weights "$W" --dataset "$T/ds" --layer fire10 --out "$T/h.npy"
expect_fail "features unknown model" 1 "alexnet" "$ND_BIN" features --model alexnet --weights "$W" --dataset "$T/ds" --layer fire9 --out "$T/h.npy"
expect_fail "features no dataset" 1 "nowhere/index.csv" "$ND_BIN" features --model squeezenet --weights "$W" --dataset "$T/nowhere" --layer fire9 --out "$T/h.npy"
rm "$T/ds/images/3_1_s.jpg"
expect_fail "features missing image" 1 "3_1_s.jpg" "$ND_BIN" features --model squeezenet --weights "$W" --dataset "$T/ds" --layer fire9 --out "$T/h.npy"
if [ ! -e "$T/h.npy" ] && [ -z "$(ls "$T" | grep tmp)" ]; then ok "no partial output"; else bad "partial output left: $(ls "$T")"; fi

head -c 600000 "$W" > "$T/short.net"
expect_fail "classify truncated weights" 1 "short.net: truncated in layer" "$ND_BIN" classify --weights "$T/short.net" --synsets "$(dirname "$W")/synset_words.txt" "$MSRC/images/1_1_s.jpg"
out=$("$ND_BIN" classify --weights "$W" "$MSRC/images/11_8_s.jpg" "$MSRC/images/16_10_s.jpg" 2>&1)
if echo "$out" | sed -n 2p | grep -q "919 street sign" && echo "$out" | sed -n 8p | grep -q "255 Leonberg"; then
    ok "classify top-1"; else bad "classify: $out"; fi
# OpenBLAS falls back to its SSE3 "Prescott" kernel on CPUs newer than its
# model table (5x slower sgemm); dissect then restarts itself with a kernel
# the CPU runs (core/blas.c).  A value the user set is kept.
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
    core=$(env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "$ND_BIN" --help 2>&1 | grep '^Core:' | tail -1)
    case "$core" in *Prescott*|*Core2*|*Nehalem*|*Sandybridge*|"") bad "BLAS kernel without OPENBLAS_CORETYPE: '$core'";;
        *) ok "BLAS kernel without OPENBLAS_CORETYPE: $core";; esac
    core=$(OPENBLAS_CORETYPE=Nehalem OPENBLAS_VERBOSE=2 "$ND_BIN" --help 2>&1 | grep '^Core:' | tail -1)
    if [ "$core" = "Core: Nehalem" ]; then ok "OPENBLAS_CORETYPE set by the user is kept"; else bad "user's OPENBLAS_CORETYPE: '$core'"; fi
fi
rm -rf "$T"
finish
