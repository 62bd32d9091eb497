#!/usr/bin/env bash
# cli_ablate.sh - `dissect ablate`: bad unit lists and choices give one line
# and exit 2 before any work or output; on a tiny world network trained
# here (400 images of 32x32, 150 iterations, conv2 of 32 units, 12 scene
# classes) the experiment writes effects.csv, classes.csv (balanced accuracy,
# units ranked on train, measured on val), the figure and both dissections;
# 1 and 2 threads give the same bytes; a config gives the same as options.
# (The SqueezeNet fixture checks are in test_ablate.c.)
source tests/lib_cli.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ND_QUIET=1
W=$ND_SHARED/models/squeezenet-v1.0-deep-compression/compressed_SqueezeNet.net
FIX=$ND_SHARED/fixtures/netdissect-lite-mini/dataset

echo "[help and usage errors: one line, exit 2, nothing written]"
expect_ok "ablate --help" "$ND_BIN" ablate --help
expect_fail "no network" 2 "exactly one of --weights and --checkpoint" "$ND_BIN" ablate --dataset "$FIX" --layer fire9 --out "$T/x"
expect_fail "both networks" 2 "exactly one of" "$ND_BIN" ablate --weights "$W" --checkpoint "$T" --dataset "$FIX" --layer fire9 --out "$T/x"
expect_fail "bad --k order" 2 "--k: '4,2'" "$ND_BIN" ablate --weights "$W" --dataset "$FIX" --layer fire9 --out "$T/x" --k 4,2
expect_fail "--classes without a checkpoint" 2 "--classes needs a --checkpoint" "$ND_BIN" ablate --weights "$W" --dataset "$FIX" --layer fire9 --out "$T/x" --classes scene
SQ=("$ND_BIN" ablate --weights "$W" --dataset "$FIX" --layer fire9)
expect_fail_clean "unit 0" 2 "--units: unit 0 is out of range \(the layer has units 1..512\)" "$T/x" "${SQ[@]}" --out "$T/x" --units 0
expect_fail_clean "unit 513" 2 "--units: unit 513 is out of range" "$T/x" "${SQ[@]}" --out "$T/x" --units 5,513
expect_fail_clean "duplicate unit" 2 "--units: unit 7 is listed twice" "$T/x" "${SQ[@]}" --out "$T/x" --units 7,9,7
expect_fail_clean "empty unit list" 2 "empty argument after '--units'" "$T/x" "${SQ[@]}" --out "$T/x" --units ""
expect_fail_clean "comma only" 2 "--units: ',' is not a list of unit numbers" "$T/x" "${SQ[@]}" --out "$T/x" --units ,
expect_fail_clean "k above the layer" 2 "--k: 600 units asked for, fire9 has 512" "$T/x" "${SQ[@]}" --out "$T/x" --k 1,600
expect_fail_clean "unknown concept" 2 "--concepts: 'unicorn' is not a label" "$T/x" "${SQ[@]}" --out "$T/x" --concepts unicorn
expect_fail_clean "unknown category" 2 "--category: 'nope' is not a category" "$T/x" "${SQ[@]}" --out "$T/x" --category nope
expect_fail_clean "output layer" 1 "pool10 is the output layer" "$T/x" "$ND_BIN" ablate --weights "$W" --dataset "$FIX" --layer pool10 --out "$T/x"
printf '[ablate]\nlayer = fire9\nunits =\n' > "$T/empty.ini"
expect_fail "config: empty units" 2 "--units: empty list" "$ND_BIN" ablate --config "$T/empty.ini" --weights "$W" --dataset "$FIX" --out "$T/x"
printf '[ablate]\nlayer = fire9\nunitz = 3\n' > "$T/typo.ini"
expect_fail "config: unknown key" 2 "typo.ini:3: \[ablate\] unitz: unknown key" "$ND_BIN" ablate --config "$T/typo.ini"
printf '[ablate]\nk = 1, 0\n' > "$T/badk.ini"
expect_fail "config: bad k" 2 "badk.ini:2: \[ablate\] k: '1, 0'" "$ND_BIN" ablate --config "$T/badk.ini"

echo "[a tiny world network: effects, balanced accuracy per class]"
"$ND_BIN" world --out "$T/w" --images 400 --size 32 --seed 3 >/dev/null 2>&1 || bad "world"
cat > "$T/t.ini" <<INI
[architecture]
input = 32
conv1 = conv cout=16 k=3 stride=1 pad=1
bn1 = batchnorm
relu1 = relu
pool1 = maxpool k=3 stride=2
conv2 = conv cout=32 k=3 stride=1 pad=1 relu=1
gap = gap
fc = fc cout=12
[data]
dataset = $T/w
category = scene
split = train
val_split = val
[schedule]
iterations = 150
batch = 32
lr = 0.05
lr_schedule = cosine
[conditions]
seed = 1
dropout = off
augment = off
[snapshots]
iterations = 150
INI
expect_ok "train the tiny network" "$ND_BIN" train "$T/t.ini" --out "$T/r"
CK=$T/r/snap-00000150
A=("$ND_BIN" ablate --checkpoint "$CK" --dataset "$T/w" --layer conv2 --k 1,2,4 --random-draws 3 --rotation-draws 2 --top-concepts 3 --classes scene --units 1,5 --category color)
expect_ok "ablate, 2 threads" "${A[@]}" --out "$T/a2" --threads 2
expect_ok "ablate, 1 thread" "${A[@]}" --out "$T/a1" --threads 1
for f in effects.csv classes.csv figures/ablate_effect.png figures/ablate_effect.svg figures/effect_vs_k.dat \
         dissection/result.csv dissection-rot-d0/result.csv dissection-rot-d1/result.csv; do
    [ -s "$T/a2/$f" ] && ok "wrote $f" || bad "missing $f"
done
same() { cmp -s "$T/a1/$1" "$T/a2/$1" && ok "$1: 1 and 2 threads identical" || bad "$1 differs between 1 and 2 threads"; }
same effects.csv; same classes.csv; same dissection/result.csv; same dissection-rot-d1/result.csv
rows=$(awk -F, 'NR > 1 && ($3 == "top" || $3 == "random" || $3 == "rotated")' "$T/a2/effects.csv" | wc -l)
[ "$rows" = 27 ] && ok "effects.csv: 3 concepts x 3 k x 3 methods" || bad "effects.csv: $rows method rows, want 27"
rr=$(awk -F, 'NR > 1 && $3 == "rotated-random"' "$T/a2/effects.csv" | wc -l)
[ "$rr" = 9 ] && ok "effects.csv: 9 rotated-random rows" || bad "effects.csv: $rr rotated-random rows, want 9"
awk -F, 'NR > 1 && $3 == "list"' "$T/a2/effects.csv" | grep -q ',list,2,1,1 5,' && ok "--units 1,5: one list row per concept" || bad "no list rows"
grep -q ',category:color,' "$T/a2/effects.csv" && ok "--category color rows" || bad "no category rows"
crow=$(awk 'NR > 1' "$T/a2/classes.csv" | wc -l)
[ "$crow" = 36 ] && ok "classes.csv: 12 classes x 3 k" || bad "classes.csv: $crow rows, want 36"
# balanced accuracy is (recall + TNR) / 2: in [0, 1], drop = intact - ablated
awk -F, 'NR > 1 { if ($6 < 0 || $6 > 1 || $7 < 0 || $7 > 1 || ($6 - $7 - $8) > 1e-5 || ($6 - $7 - $8) < -1e-5) bad++ }
         END { exit bad > 0 }' "$T/a2/classes.csv" && ok "classes.csv: balanced accuracies in [0,1], drop = intact - ablated" || bad "classes.csv values"
# the in-run dissection is `dissect units`'s (same options, same activations)
"$ND_BIN" features --checkpoint "$CK" --dataset "$T/w" --layer conv2 --out "$T/c2.npy" >/dev/null 2>&1
"$ND_BIN" units --dataset "$T/w" --features "$T/c2.npy" --out "$T/u" >/dev/null 2>&1
cmp -s "$T/u/result.csv" "$T/a2/dissection/result.csv" && ok "dissection/ = dissect units" || bad "dissection/result.csv differs from dissect units"
printf '[ablate]\ncheckpoint = %s\ndataset = %s\nlayer = conv2\nk = 1, 2, 4\nrandom_draws = 3\nrotation_draws = 2\ntop_concepts = 3\nclasses = scene\nunits = 1,5\ncategory = color\n' "$CK" "$T/w" > "$T/c.ini"
expect_ok "ablate from a config, --features given" "$ND_BIN" ablate --config "$T/c.ini" --features "$T/c2.npy" --out "$T/ac"
cmp -s "$T/ac/effects.csv" "$T/a2/effects.csv" && cmp -s "$T/ac/classes.csv" "$T/a2/classes.csv" \
    && ok "config + features = options" || bad "config run differs"
finish
