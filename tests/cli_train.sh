#!/usr/bin/env bash
# cli_train.sh - `dissect train`: two runs with one seed are byte-identical
# (also with 1 and 2 BLAS threads); a run killed with SIGKILL and started
# again ends identical to an uninterrupted one; the full-batch mode
# (--from CKPT --steps N) runs; corrupt and truncated checkpoint files and
# bad configs are rejected with one line naming the file.  Data: the
# NetDissect-Lite mini fixture (100 images with a scene label, 5 classes),
# squashed to 36x36 and cropped to 32x32.
source tests/lib_cli.sh
FIX=$ND_SHARED/fixtures/netdissect-lite-mini/dataset
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ND_QUIET=1

config() { # config ITERATIONS SNAPSHOTS
cat <<INI
[architecture]
input = 32
conv1 = conv cout=8 k=3 stride=1 pad=1
bn1 = batchnorm
relu1 = relu
pool1 = maxpool k=3 stride=2
conv2 = conv cout=16 k=3 stride=2 pad=1 relu=1
gap = gap
drop = dropout
fc = fc cout=5
[data]
dataset = $FIX
category = scene
split = train
val_split = train
[schedule]
iterations = $1
batch = 10
lr = 0.05
lr_schedule = cosine
[conditions]
seed = 3
dropout = on
dropout_rate = 0.3
augment = on
[snapshots]
iterations = $2
INI
}
# same_run NAME A B: the snapshots and the log of two runs are byte-identical
same_run() {
    if diff -r -x '*.tmp.*' "$2" "$3" >/dev/null; then ok "$1"; echo "  $1: identical"
    else bad "$1: $(diff -r -q -x '*.tmp.*' "$2" "$3" | head -3)"; fi
}

echo "[determinism: one seed, two runs, 2 and 1 threads]"
config 30 "10, 20" > "$T/a.ini"
expect_ok "run 1" "$ND_BIN" train "$T/a.ini" --out "$T/r1" --threads 2
expect_ok "run 2" "$ND_BIN" train "$T/a.ini" --out "$T/r2" --threads 1
same_run "same seed, same files" "$T/r1" "$T/r2"
for f in snap-00000010 snap-00000020 snap-00000030 snapshots.csv; do
    [ -e "$T/r1/$f" ] && ok "wrote $f" || bad "missing $f"
done
head -1 "$T/r1/snap-00000030/net.txt" | grep -q "netdissect-c network 1" && ok "net.txt" || bad "net.txt header"
sed 's/seed = 3/seed = 4/' "$T/a.ini" > "$T/b.ini"
"$ND_BIN" train "$T/b.ini" --out "$T/r3" >/dev/null 2>&1
if cmp -s "$T/r1/snap-00000030/conv1.weight.npy" "$T/r3/snap-00000030/conv1.weight.npy"; then
    bad "another seed gives the same weights"; else ok "another seed, other weights"; fi

echo "[kill -9 and resume equals an uninterrupted run]"
config 200 "20, 40, 60, 100" > "$T/k.ini"
expect_ok "uninterrupted" "$ND_BIN" train "$T/k.ini" --out "$T/u"
"$ND_BIN" train "$T/k.ini" --out "$T/k" >/dev/null 2>&1 &
pid=$!
for i in $(seq 400); do [ -d "$T/k/snap-00000040" ] && break; sleep 0.02; done
kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null
if [ -d "$T/k/snap-00000200" ]; then echo "  (the run finished before the kill: resume is trivial)"; fi
ls "$T/k" | sed 's/^/  after kill: /' | head -5
expect_ok "resumed" "$ND_BIN" train "$T/k.ini" --out "$T/k"
# a kill -9 can leave a half-written snapshot under its temporary name: the resume removes
# it (snapshots.csv's afile temporary "*.tmp.PID" carries no host name yet, so it is left)
left=$(ls -d "$T"/k/snap-*.tmp.* 2>/dev/null | head -1)
[ -z "$left" ] && ok "no temporary snapshot folder left" || bad "left behind: $left"
mkdir "$T/k/snap-00000099.tmp.$(hostname).999999999" "$T/k/snap-00000098.tmp.otherhost.1"
expect_ok "resumed again" "$ND_BIN" train "$T/k.ini" --out "$T/k"
[ ! -e "$T/k/snap-00000099.tmp.$(hostname).999999999" ] && [ -d "$T/k/snap-00000098.tmp.otherhost.1" ] &&
    ok "stale temporary of this host removed, another host's kept" || bad "stale temporary cleanup"
rmdir "$T/k/snap-00000098.tmp.otherhost.1"
same_run "killed + resumed = uninterrupted" "$T/u" "$T/k"

echo "[full-batch steps from a checkpoint]"
expect_ok "--from --steps 2" "$ND_BIN" train "$T/a.ini" --from "$T/r1/snap-00000010" --steps 2 --out "$T/fb"
expect_ok "again" "$ND_BIN" train "$T/a.ini" --from "$T/r1/snap-00000010" --steps 2 --out "$T/fb2"
same_run "full-batch steps are deterministic" "$T/fb" "$T/fb2"
grep -q "^iteration 2$" "$T/fb/snap-00000002/state.txt" && ok "iteration 2 recorded" || bad "iteration"

echo "[corrupt and truncated checkpoints, bad configs]"
cp -r "$T/r1/snap-00000030" "$T/c1"
printf 'x' | dd of="$T/c1/conv2.weight.npy" bs=1 seek=300 conv=notrunc 2>/dev/null
expect_fail_clean "corrupt tensor" 1 "c1/conv2.weight.npy: .*checksum" "$T/o1" "$ND_BIN" train "$T/a.ini" --from "$T/c1" --steps 1 --out "$T/o1"
cp -r "$T/r1/snap-00000030" "$T/c2"
truncate -s 100 "$T/c2/fc.weight.npy"
expect_fail_clean "truncated tensor" 1 "c2/fc.weight.npy: 100 bytes" "$T/o2" "$ND_BIN" train "$T/a.ini" --from "$T/c2" --steps 1 --out "$T/o2"
cp -r "$T/r1/snap-00000030" "$T/c3"
truncate -s 10 "$T/c3/state.txt"
expect_fail_clean "truncated state.txt" 1 "c3/state.txt" "$T/o3" "$ND_BIN" train "$T/a.ini" --from "$T/c3" --steps 1 --out "$T/o3"
cp -r "$T/r1/snap-00000030" "$T/c4"
rm "$T/c4/rng.bin"
expect_fail_clean "missing rng.bin" 1 "c4/rng.bin" "$T/o4" "$ND_BIN" train "$T/a.ini" --from "$T/c4" --steps 1 --out "$T/o4"
sed 's/^conv2 = conv cout=16/conv2 = convv cout=16/' "$T/a.ini" > "$T/bad1.ini"
expect_fail "unknown layer kind" 2 "bad1.ini:[0-9]+: \[architecture\] conv2: layer conv2: unknown kind 'convv'" "$ND_BIN" train "$T/bad1.ini" --out "$T/o5"
sed 's/^lr = 0.05/lr = fast/' "$T/a.ini" > "$T/bad2.ini"
expect_fail "bad lr" 2 "bad2.ini:[0-9]+: \[schedule\] lr: 'fast'" "$ND_BIN" train "$T/bad2.ini" --out "$T/o5"
sed 's/^fc = fc cout=5/fc = fc cout=7/' "$T/a.ini" > "$T/bad3.ini"
expect_fail "classes" 1 "last layer \(fc\) has 7 outputs, the data has 5 classes" "$ND_BIN" train "$T/bad3.ini" --out "$T/o5"
expect_fail "usage" 2 "--from and --steps go together" "$ND_BIN" train "$T/a.ini" --steps 2
"$ND_BIN" train --help | grep -q "usage: dissect train" && ok "--help" || bad "--help"
echo "[a trained network through features and units (the dissection path)]"
expect_ok "features --checkpoint" "$ND_BIN" features --checkpoint "$T/r1/snap-00000030" --dataset "$FIX" --layer conv2 --out "$T/f.npy"
grep -q '"field": \[-3, 9, 4\]' "$T/f.json" && ok "receptive field of conv2 in f.json" || bad "f.json: $(cat "$T/f.json")"
expect_ok "units on it" "$ND_BIN" units --dataset "$FIX" --features "$T/f.npy" --out "$T/u"
[ "$(wc -l < "$T/u/result.csv")" -eq 17 ] && ok "16 units dissected" || bad "result.csv rows"
expect_fail "unknown layer" 1 "snap-00000030: unknown layer 'nope' \(layers: conv1 bn1 relu1 pool1 conv2 gap drop fc\)" "$ND_BIN" features --checkpoint "$T/r1/snap-00000030" --dataset "$FIX" --layer nope --out "$T/f2.npy"
expect_fail "checkpoint + model" 2 "--checkpoint replaces --model" "$ND_BIN" features --checkpoint "$T/r1/snap-00000030" --model squeezenet --dataset "$FIX" --layer conv2 --out "$T/f2.npy"
cat > "$T/sw.ini" <<INI
[dataset]
path = $FIX
[activations]
checkpoint = $T/r1/snap-00000030
layer = conv2
[rotation]
alphas = 0, 1
draws = 1
[output]
dir = $T/sw
INI
expect_ok "sweep with [activations] checkpoint" "$ND_BIN" sweep "$T/sw.ini" --no-plot
[ -s "$T/sw/sweep.csv" ] && [ -s "$T/sw/features.npy" ] && ok "sweep.csv and the cached features" || bad "sweep outputs"
grep -q "^checkpoint = $T/r1/snap-00000030" "$T/sw/config.effective.ini" && ok "effective config names the checkpoint" || bad "effective config"
sed "s|^layer = conv2|random_seed = 1|" "$T/sw.ini" > "$T/sw2.ini"
expect_fail "checkpoint + random_seed" 2 "give one of weights, random_seed and checkpoint" "$ND_BIN" sweep "$T/sw2.ini" --no-plot
finish
