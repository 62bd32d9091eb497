#!/usr/bin/env bash
# demo.sh - `make demo`: the paper's rotation experiment (section 3.2) on
# SqueezeNet v1.0 (Deep Compression) fire9 over MSRC-v2, end to end:
#   1. import MSRC-v2 into Broden format     -> results/cache/msrc-v2/       (cached)
#   2. extract fire9 activations             -> results/cache/msrc-v2-fire9.npy (cached)
#   3. dissect sweep experiments/configs/rotation-squeezenet-msrc.ini
#                                            -> results/rotation-squeezenet-msrc/
#   4. figures (the sweep draws them; `dissect plot DIR` redraws them)
#   5. dissect report of the sweep             -> results/rotation-squeezenet-msrc/report/
#      (the unrotated fire9 dissection's report is its before/ folder)
# A stopped demo started again reuses the cache and every finished sweep point.
#
# Environment: DATA (default ../shared) holds data/msrc-v2 and
# models/squeezenet-v1.0-deep-compression; BUILD (default build) the binary;
# RESULTS (default results) the outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared}
BUILD=${BUILD:-build}
export RESULTS=${RESULTS:-results}
export DATA
BIN=$BUILD/dissect
MSRC=$DATA/data/msrc-v2
WEIGHTS=$DATA/models/squeezenet-v1.0-deep-compression/compressed_SqueezeNet.net
CONFIG=experiments/configs/rotation-squeezenet-msrc.ini
CACHE=$RESULTS/cache
t0=$(date +%s)

missing=0
for f in "$MSRC/images" "$MSRC/labels" "$MSRC/classes.csv"; do
    if [ ! -e "$f" ]; then
        echo "demo: missing $f" >&2
        missing=1
    fi
done
if [ $missing = 1 ]; then
    cat >&2 <<MSG
demo: the MSRC-v2 dataset is not at $MSRC (set DATA=... to the folder holding data/msrc-v2).
      Expected: images/<name>.jpg (591 photographs), labels/<name>.png (8-bit class maps,
      0 = void, 1..23 = classes.csv ids) and classes.csv (id,name).  Public copy: the
      Microsoft Research Cambridge object recognition image database v2 (MSRC-v2), e.g.
      as redistributed in the GitHub repository TonyZZX/MultiGraph_MultiLabel_Learning
      (folder MSRC_v2); convert its BMP images and MATLAB label files to JPEG / PNG maps.
MSG
fi
if [ ! -f "$WEIGHTS" ]; then
    cat >&2 <<MSG
demo: missing $WEIGHTS
      (set DATA=... to the folder holding models/squeezenet-v1.0-deep-compression).
      Public copy: compressed_SqueezeNet.net from the GitHub repository
      songhan/SqueezeNet-Deep-Compression (SqueezeNet v1.0 compressed by Deep Compression).
MSG
    missing=1
fi
[ $missing = 0 ] || exit 1
[ -x "$BIN" ] || { echo "demo: $BIN not built (run make)" >&2; exit 1; }

mkdir -p "$CACHE"
echo "== 1/3 MSRC-v2 in Broden format: $CACHE/msrc-v2"
if [ -f "$CACHE/msrc-v2/index.csv" ]; then
    echo "   cached"
else
    "$BIN" import --images "$MSRC/images" --labels "$MSRC/labels" --classes "$MSRC/classes.csv" \
        --out "$CACHE/msrc-v2"
fi

echo "== 2/3 SqueezeNet fire9 activations: $CACHE/msrc-v2-fire9.npy"
if [ -f "$CACHE/msrc-v2-fire9.npy" ] && [ -f "$CACHE/msrc-v2-fire9.json" ]; then
    echo "   cached"
else
    "$BIN" features --model squeezenet --weights "$WEIGHTS" --dataset "$CACHE/msrc-v2" \
        --layer fire9 --out "$CACHE/msrc-v2-fire9.npy"
fi

echo "== 3/3 rotation sweep: $CONFIG"
"$BIN" sweep "$CONFIG"

OUT=$RESULTS/rotation-squeezenet-msrc
echo "== report: $OUT/report"
"$BIN" report "$OUT" --features "$CACHE/msrc-v2-fire9.npy" --out "$OUT/report" >/dev/null

t1=$(date +%s)
echo
echo "demo done in $((t1 - t0)) s wall time ($(nproc) cores)."
# The headline from summary.csv: unique detectors at alpha = 0 and 1.
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
         $1 == 0 || $1 == 1 {
             printf "   alpha %s: unique detectors per-category mean %s (range %s-%s), top-label mean %s (range %s-%s) over %s draw(s)\n",
                 $1, $col["unique_percat_mean"], $col["unique_percat_min"], $col["unique_percat_max"],
                 $col["unique_toplabel_mean"], $col["unique_toplabel_min"], $col["unique_toplabel_max"], $2 }' \
    "$RESULTS/rotation-squeezenet-msrc/summary.csv"
echo "   sweep table:  $OUT/sweep.csv (per point), $OUT/summary.csv (mean, sd, min, max over draws)"
echo "   figures:      $OUT/figures/unique_vs_alpha.png (.svg), $OUT/figures/category_vs_alpha.png (.svg)"
echo "   report:       $OUT/report/index.html (the sweep), $OUT/report/before/index.html (unrotated fire9)"
