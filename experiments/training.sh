#!/usr/bin/env bash
# training.sh - the training-conditions experiment of issue 16 (SKELETON:
# steps 1-4 run once `dissect train` and `dissect features --checkpoint`
# exist, i.e. after the trainer of issue 15 is merged; step 5, the table and
# figures, is still to be written - see the TODO at the end).
#
#   experiments/training.sh            full run (results/training/)
#   QUICK=1 experiments/training.sh    small world, few iterations (for make test)
#
# 1. a training world (train and val splits) and a separate probe world of
#    another seed, so that dissection runs on images no network has seen;
# 2. one config per condition, derived from experiments/configs/world-training.ini
#    by changing single keys: base-s1..s3 (seeds 1..3), nodropout, batchnorm,
#    random (He initialisation: lr 0 for one iteration, so nothing changes);
# 3. `dissect train` per condition (it resumes from its last snapshot);
# 4. features and `dissect units` at relu1..relu5 of every condition's final
#    network, and at relu5 of every snapshot of base-s1 (the iterations curve).
# Every step skips work whose output already exists, so a stopped run resumes.
set -euo pipefail
BIN=${ND_BIN:-build/dissect}
RESULTS=${RESULTS:-results}
export RESULTS
R=$RESULTS/training
[ "${QUICK:-0}" = 1 ] && R=$RESULTS/training-quick
TEMPLATE=${TEMPLATE:-experiments/configs/world-training.ini}
if [ "${QUICK:-0}" = 1 ]; then
    NWORLD=300 NPROBE=100 ITERS=20 SNAPS="5, 10" LAYERS="relu5"
else
    NWORLD=30000 NPROBE=3000 ITERS="" SNAPS="" LAYERS="relu1 relu2 relu3 relu4 relu5"
fi
mkdir -p "$R/configs"
R=$(cd "$R" && pwd) # configs resolve relative paths from their own folder

# set KEY in [SECTION] of an INI on stdin to VALUE (the key must exist there)
setkey() {
    awk -v sec="$1" -v key="$2" -v val="$3" '
        /^\[/ { cur = $0; gsub(/[][]/, "", cur) }
        cur == sec && $1 == key && $2 == "=" { print key " = " val; found = 1; next }
        { print }
        END { if (!found) { print "training.sh: no key " key " in [" sec "]" > "/dev/stderr"; exit 1 } }'
}

# 1. worlds
[ -d "$R/world" ] || "$BIN" world --out "$R/world" --images "$NWORLD" --size 72 --seed 1
[ -d "$R/probe" ] || "$BIN" world --out "$R/probe" --images "$NPROBE" --size 72 --seed 2 --val-every 0

# 2. configs
condition_config() { # NAME SEED DROPOUT BATCHNORM
    local cfg=$R/configs/$1.ini
    setkey conditions seed "$2" < "$TEMPLATE" | setkey conditions dropout "$3" |
        setkey conditions batchnorm "$4" | setkey data dataset "$R/world" |
        setkey output dir "$R/$1" > "$cfg.tmp"
    if [ "$1" = random ]; then
        setkey schedule lr 0 < "$cfg.tmp" | setkey schedule iterations 1 |
            setkey snapshots iterations 1 > "$cfg.tmp2" && mv "$cfg.tmp2" "$cfg.tmp"
    elif [ -n "$ITERS" ]; then
        setkey schedule iterations "$ITERS" < "$cfg.tmp" | setkey snapshots iterations "$SNAPS" > "$cfg.tmp2" &&
            mv "$cfg.tmp2" "$cfg.tmp"
    fi
    mv "$cfg.tmp" "$cfg"
}
CONDITIONS="base-s1 base-s2 base-s3 nodropout batchnorm random"
condition_config base-s1 1 on off
condition_config base-s2 2 on off
condition_config base-s3 3 on off
condition_config nodropout 1 off off
condition_config batchnorm 1 on on
condition_config random 1 on off

# 3. training (resumable by itself)
for c in $CONDITIONS; do
    "$BIN" train "$R/configs/$c.ini"
done

# 4. dissection on the probe world
dissect_snapshot() { # SNAPSHOT-DIR LAYER OUT-DIR
    [ -f "$3/summary.json" ] && return 0
    mkdir -p "$3"
    "$BIN" features --checkpoint "$1" --dataset "$R/probe" --layer "$2" --out "$3/features.npy"
    "$BIN" units --dataset "$R/probe" --features "$3/features.npy" --out "$3"
    rm -f "$3/features.npy" # activations are not kept (disk)
}
for c in $CONDITIONS; do
    last=$(ls -d "$R/$c"/snap-* | sort | tail -1)
    for layer in $LAYERS; do
        dissect_snapshot "$last" "$layer" "$R/dissect/$c/$layer"
    done
done
for s in "$R"/base-s1/snap-*; do
    dissect_snapshot "$s" relu5 "$R/dissect/iterations/$(basename "$s")"
done

# 5. TODO (after the trainer lands): the table condition x category (unique
# detectors, detectors; held-out accuracy from each run's snapshots.csv; mean
# and spread over the three seeds), the figure of unique detectors per
# category per condition, and unique detectors and accuracy against
# iteration - best as a C command beside `dissect sweep` (summary.json is
# JSON), not more shell.
echo "training.sh: trained and dissected under $R; tables and figures: not written yet (TODO)"
