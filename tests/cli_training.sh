#!/usr/bin/env bash
# cli_training.sh - `dissect training`, the quick version of the
# training-conditions experiment: a tiny world (120 + 40 images at 18x18), a
# 2-conv network, 20 iterations, 2 seeds.  Checks the outputs and their
# consistency (a condition's dissection equals `dissect features
# --checkpoint` + `dissect units` on the same snapshot; the seeds' mean in
# summary.csv is the mean of their rows; the last snapshot of the iterations
# curve is the first seed's final network; the random network's parameters
# is trained with lr 0 for one iteration), resume (a second run recomputes nothing and writes the same
# tables; a removed dissection is redone alone and identical), a changed
# setting refused, and config errors.
source tests/lib_cli.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ND_QUIET=1

cat > "$T/train.ini" <<'INI'
[architecture]
input = 16
conv1 = conv cout=8 k=3 stride=2 pad=1
bn1 = batchnorm
relu1 = relu
pool1 = maxpool k=2 stride=1
conv2 = conv cout=8 k=3 stride=1 pad=1
bn2 = batchnorm
relu2 = relu
fc6 = fc cout=16
drop6 = dropout
fc7 = fc cout=12
[data]
dataset = set-by-the-experiment
category = scene
split = train
val_split = val
resize = 18
[schedule]
iterations = 20
batch = 16
lr = 0.01
[conditions]
seed = 1
dropout = on
batchnorm = off
[snapshots]
iterations = 5
[output]
dir = set-by-the-experiment
INI
cat > "$T/exp.ini" <<'INI'
[experiment]
train_config = train.ini
seeds = 1, 2
layers = relu1, relu2
snapshots = 2, 5, 10
[world]
images = 120
probe_images = 40
size = 18
[sweep]
alphas = 0, 1
draws = 1
probes = true
[output]
dir = out
INI
O=$T/out

echo "[the quick experiment]"
"$ND_BIN" training --help | grep -q "usage: dissect training" && ok "--help" || bad "--help"
expect_ok "dissect training (quick)" "$ND_BIN" training "$T/exp.ini"
for f in conditions.csv summary.csv table.md iterations.csv iterations.md figures/training_unique.png \
    figures/training_unique.svg figures/training_iterations.png figures/training_iterations.svg \
    sweep/sweep.csv sweep/points/a1_d0/probes.csv; do
    [ -s "$O/$f" ] && ok "$f written" || bad "$f missing"
done
grep -q '"format": "training",' "$O/training.json" && grep -q '"format_version": 1,' "$O/training.json" &&
    grep -q '"name": "batchnorm", "seed": 1, "dropout": 1, "batchnorm": 1' "$O/training.json" &&
    ok "training.json: format version and the conditions" || bad "training.json: $(head -c 300 "$O/training.json")"
# 5 conditions x 2 layers x (5 categories + all)
rows=$(($(wc -l < "$O/conditions.csv") - 1))
[ "$rows" = 60 ] && ok "conditions.csv: 60 rows" || bad "conditions.csv: $rows rows"
# iterations: 0 (the initialisation), 2, 5, 10, 20
its=$(tail -n +2 "$O/iterations.csv" | cut -d, -f1 | tr '\n' ' ')
[ "$its" = "0 2 5 10 20 " ] && ok "iterations 0 2 5 10 20" || bad "iterations: $its"

echo "[consistency]"
S=$O/runs/base-s1/snap-00000020
expect_ok "features --checkpoint" "$ND_BIN" features --checkpoint "$S" --dataset "$O/probe" --layer relu2 --out "$T/f.npy"
expect_ok "units" "$ND_BIN" units --dataset "$O/probe" --features "$T/f.npy" --out "$T/u"
cmp -s <(cut -d, -f1-6 "$T/u/result.csv") <(cut -d, -f1-6 "$O/dissect/base-s1/relu2/result.csv") &&
    ok "the condition's relu2 = features + units on its snapshot" || bad "dissect/base-s1/relu2 differs from units"
want=$(awk -F, '$1 ~ /^base-s/ && $3 == "relu2" && $5 == "all" { s += $7; n++ } END { printf "%.4f", s / n }' "$O/conditions.csv")
got=$(awk -F, '$1 == "baseline" && $3 == "relu2" && $4 == "all" { print $5 }' "$O/summary.csv")
[ "$want" = "$got" ] && ok "baseline mean = mean of the seeds ($got)" || bad "baseline mean $got, seeds give $want"
a=$(awk -F, '$1 == "base-s1" && $3 == "relu2" && $5 == "object" { print $7 }' "$O/conditions.csv")
b=$(awk -F, '$1 == 20 { print $3 }' "$O/iterations.csv")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "iteration 20 = base-s1's final network (object unique $a)" || bad "iteration 20 object $b, base-s1 $a"
if grep -q "^lr = 0$" "$O/configs/random.ini" && grep -q "^iterations = 1$" "$O/configs/random.ini"; then
    ok "random: lr 0, one iteration"; else bad "random config"; fi
grep -q "^batchnorm = on$" "$O/configs/batchnorm.ini" && grep -q "^dropout = off$" "$O/configs/nodropout.ini" &&
    grep -q "^seed = 2$" "$O/configs/base-s2.ini" && ok "conditions change single keys" || bad "derived configs"

echo "[resume]"
cp "$O/conditions.csv" "$O/iterations.csv" "$O/summary.csv" "$T/"
touch -d '2000-01-01' "$O/dissect/base-s2/counts.csv" "$O/runs/base-s1/snapshots.csv"
expect_ok "run again" "$ND_BIN" training "$T/exp.ini"
[ "$(stat -c %Y "$O/dissect/base-s2/counts.csv")" = "$(date -d 2000-01-01 +%s)" ] &&
    [ "$(stat -c %Y "$O/runs/base-s1/snapshots.csv")" = "$(date -d 2000-01-01 +%s)" ] &&
    ok "nothing recomputed" || bad "a finished step was recomputed"
cmp -s "$O/conditions.csv" "$T/conditions.csv" && cmp -s "$O/summary.csv" "$T/summary.csv" &&
    ok "same tables" || bad "tables changed on resume"
cp "$O/dissect/nodropout/relu1/result.csv" "$T/r1.csv"
rm -r "$O/dissect/nodropout/relu1" "$O/dissect/nodropout/counts.csv" # as if killed before counts.csv
expect_ok "resume after a lost dissection" "$ND_BIN" training "$T/exp.ini"
cmp -s "$O/dissect/nodropout/relu1/result.csv" "$T/r1.csv" && cmp -s "$O/conditions.csv" "$T/conditions.csv" &&
    ok "redone identically" || bad "redone dissection differs"

echo "[refusals and config errors]"
sed 's/^size = 18$/size = 18\nnoise = 3/' "$T/exp.ini" > "$T/changed.ini"
expect_fail "a changed world refused" 1 "world.key: made with other settings.*remove .*/out/world" "$ND_BIN" training "$T/changed.ini"
sed 's/^layers = relu1, relu2$/layers = relu1, relu9/' "$T/exp.ini" | sed 's#^dir = out#dir = out2#' > "$T/badlayer.ini"
expect_fail "unknown layer" 1 "badlayer.ini: \[experiment\] layers: 'relu9' is not a layer of .*train.ini" "$ND_BIN" training "$T/badlayer.ini"
[ ! -e "$T/out2" ] && ok "nothing made for a wrong layer" || bad "out2 made before the layer check"
sed 's/^seeds = 1, 2$/seeds = 1, 1/' "$T/exp.ini" > "$T/bad1.ini"
expect_fail "repeated seed" 2 "bad1.ini:3: \[experiment\] seeds: '1, 1' must be distinct" "$ND_BIN" training "$T/bad1.ini"
sed '/^snapshots/d' "$T/exp.ini" > "$T/bad2.ini"
expect_fail "missing key" 2 "bad2.ini: missing \[experiment\] snapshots" "$ND_BIN" training "$T/bad2.ini"
sed 's/^size = 18$/sise = 18/' "$T/exp.ini" > "$T/bad3.ini"
expect_fail "unknown key" 2 "bad3.ini:[0-9]+: \[world\] sise: '18' is not a key of this section" "$ND_BIN" training "$T/bad3.ini"
sed 's/^\[schedule\]$/[schedule]\n/; /^iterations = 20$/d' "$T/train.ini" > "$T/noiter.ini"
sed 's/^train_config = train.ini$/train_config = noiter.ini/; s#^dir = out#dir = out3#' "$T/exp.ini" > "$T/bad4.ini"
expect_fail "template without the key set per condition" 1 "noiter.ini: no .*iterations" "$ND_BIN" training "$T/bad4.ini"
expect_fail "no config" 2 "expected one CONFIG" "$ND_BIN" training
finish
