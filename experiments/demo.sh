#!/usr/bin/env bash
# demo.sh - `make demo`: the paper's experiments on SqueezeNet v1.0 (Deep
# Compression) over MSRC-v2 + DTD-10 with Broden's colour names (categories
# object, color, texture; 1,791 images), end to end:
#   1. import MSRC-v2 + DTD-10 + colours into Broden format -> results/cache/concepts/ (cached)
#   2. fire5 and fire9 activations in one pass, float16      -> results/cache/concepts-features/ (cached)
#   3. rotation sweeps (section 3.2), 5 alphas x 3 draws, at fire9 and fire5
#        experiments/configs/rotation-squeezenet-concepts-{fire9,fire5}.ini
#        -> results/rotation-squeezenet-concepts-{fire9,fire5}/
#   4. the layers experiment (section 3.3): conv1, fire2..fire9, trained and random
#        experiments/configs/layers-squeezenet-concepts.ini -> results/layers-squeezenet-concepts/
#   5. dissect report of the fire9 sweep     -> results/rotation-squeezenet-concepts-fire9/report/
# Figures are drawn by each step (`dissect plot DIR` redraws a sweep's).
# A stopped demo started again reuses the cache, every finished sweep point and
# every finished network of the layers experiment.
#
# Environment: DATA (default ../shared) holds data/msrc-v2, data/dtd-10,
# data/colornames and models/squeezenet-v1.0-deep-compression; BUILD (default
# build) the binary; RESULTS (default results) the outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared}
BUILD=${BUILD:-build}
export RESULTS=${RESULTS:-results}
export DATA
BIN=$BUILD/dissect
MSRC=$DATA/data/msrc-v2
DTD=$DATA/data/dtd-10/images
COLORS=$DATA/data/colornames/w2color.npy
WEIGHTS=$DATA/models/squeezenet-v1.0-deep-compression/compressed_SqueezeNet.net
CONFIGS=experiments/configs
CACHE=$RESULTS/cache
t0=$(date +%s)

missing=0
for f in "$MSRC/images" "$MSRC/labels" "$MSRC/classes.csv" "$DTD" "$COLORS"; do
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
echo "== 1/5 MSRC-v2 + DTD-10 + colours in Broden format: $CACHE/concepts"
if [ -f "$CACHE/concepts/index.csv" ]; then
    echo "   cached"
else
    "$BIN" import --images "$MSRC/images" --labels "$MSRC/labels" --classes "$MSRC/classes.csv" \
        --textures "$DTD" --colors "$COLORS" --out "$CACHE/concepts"
fi
awk -F, 'NR > 1 { printf "   %s: %s labels (%s images)\n", $1, $4, $5 }' "$CACHE/concepts/category.csv"

echo "== 2/5 SqueezeNet fire5 and fire9 activations (one pass, float16): $CACHE/concepts-features/"
if [ -f "$CACHE/concepts-features/fire5.json" ] && [ -f "$CACHE/concepts-features/fire9.json" ]; then
    echo "   cached"
else
    "$BIN" features --model squeezenet --weights "$WEIGHTS" --dataset "$CACHE/concepts" \
        --layer fire5,fire9 --float16 --out "$CACHE/concepts-features"
fi

for L in fire9 fire5; do
    n=$([ $L = fire9 ] && echo 3 || echo 4)
    echo "== $n/5 rotation sweep at $L: $CONFIGS/rotation-squeezenet-concepts-$L.ini"
    "$BIN" sweep "$CONFIGS/rotation-squeezenet-concepts-$L.ini"
done

echo "== 5/5 layers experiment: $CONFIGS/layers-squeezenet-concepts.ini"
"$BIN" layers "$CONFIGS/layers-squeezenet-concepts.ini"

OUT9=$RESULTS/rotation-squeezenet-concepts-fire9
echo "== report: $OUT9/report"
"$BIN" report "$OUT9" --features "$CACHE/concepts-features/fire9.npy" --out "$OUT9/report" >/dev/null

t1=$(date +%s)
echo
echo "demo done in $((t1 - t0)) s wall time ($(nproc) cores); disk: $(du -sh "$RESULTS" | cut -f1) under $RESULTS."
for L in fire9 fire5; do
    OUT=$RESULTS/rotation-squeezenet-concepts-$L
    echo "   $L rotation sweep (mean over draws, min-max):"
    # per-category unique detectors at alpha = 0 and 1, from summary.csv
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { col[$i] = i; if ($i ~ /_unique_percat_mean$/) { c = $i; sub(/_unique_percat_mean$/, "", c); cats[++n] = c } } next }
             $1 == 0 || $1 == 1 {
                 line = sprintf("     alpha %s: unique detectors %.1f (%s-%s)", $1, $col["unique_percat_mean"], $col["unique_percat_min"], $col["unique_percat_max"])
                 for (k = 1; k <= n; k++)
                     line = line sprintf(", %s %.1f (%s-%s)", cats[k], $col[cats[k] "_unique_percat_mean"], $col[cats[k] "_unique_percat_min"], $col[cats[k] "_unique_percat_max"])
                 print line }' "$OUT/summary.csv"
    echo "     figures: $OUT/figures/category_unique_vs_alpha.png (.svg), unique_vs_alpha, category_vs_alpha"
done
LOUT=$RESULTS/layers-squeezenet-concepts
echo "   layers experiment: unique detectors per category (per-category convention), detectors in ()"
awk -F, 'NR == 1 { next }
         { key = $1 " " $2; if (!(key in seen)) { seen[key] = 1; order[++n] = key }
           cell[key, $5] = sprintf("%s (%s)", $7, $6); if (!($5 in catseen)) { catseen[$5] = 1; cats[++m] = $5 } }
         END { printf "     %-16s", "net layer"; for (k = 1; k <= m; k++) printf " %12s", cats[k]; print ""
               for (i = 1; i <= n; i++) { printf "     %-16s", order[i]; for (k = 1; k <= m; k++) printf " %12s", cell[order[i], cats[k]]; print "" } }' \
    "$LOUT/layers.csv"
echo "     table: $LOUT/layers.csv; figures: $LOUT/figures/layers_unique.png, layers_fraction.png (.svg)"
echo "   report: $OUT9/report/index.html (the fire9 sweep), $OUT9/report/before/index.html (unrotated fire9)"
