#!/usr/bin/env bash
# cli_interrupt.sh - Ctrl-C (SIGINT) or SIGTERM during a long command (sweep,
# features, import, units): the process must be gone within a second, with
# exit status 128 + signal, leave no temporary or partial file (for import, no
# half-built dataset folder), and the next run must succeed - for a sweep,
# resuming (finished points skipped) and ending with the same files as an
# uninterrupted run.
source tests/lib_cli.sh
FIX=$ND_SHARED/fixtures/netdissect-lite-mini
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ND_QUIET=1

# interrupt NAME SIG PID: send SIG to PID (still running), wait for it; it
# must exit within 1000 ms with status 128 + signal number.
interrupt() {
    local name=$1 sig=$2 pid=$3
    if ! kill -0 "$pid" 2>/dev/null; then bad "$name: finished before the signal could be sent"; wait "$pid"; return; fi
    local t0; t0=$(date +%s%N)
    kill -"$sig" "$pid"
    local i; for i in $(seq 500); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    wait "$pid"; local rc=$?
    local want=$((128 + $(kill -l "$sig")))
    if [ $rc -eq $want ] && [ $ms -le 1000 ]; then ok "$name: stopped in $ms ms, exit $rc"; echo "  $name: stopped in $ms ms, exit $rc"
    else bad "$name: exit $rc after $ms ms (want $want within 1000 ms)"; fi
}
# wait_for GLOB SECONDS: until a file matching GLOB exists
wait_for() { local i; for i in $(seq $(( $2 * 20 ))); do compgen -G "$1" >/dev/null && return 0; sleep 0.05; done; return 1; }
no_temporaries() {
    local left; left=$(find "$2" -name '*.tmp.*' | head -3)
    if [ -z "$left" ]; then ok "$1: no temporary left"; else bad "$1: temporaries left: $left"; fi
}

echo "[sweep: SIGINT after the first point, then resume]"
cat > "$T/s.ini" <<INI
[dataset]
path = $FIX/dataset
[activations]
npy = $FIX/features.npy
[dissect]
profile = netdissect
field = -64,163,16
[rotation]
alphas = 0, 0.5, 1
draws = 2
[output]
dir = $T/run
INI
"$ND_BIN" sweep --no-plot --threads 1 "$T/s.ini" >/dev/null 2>"$T/err" &
pid=$!
if wait_for "$T/run/points/*/point.csv" 60; then
    sleep 0.2
    interrupt "sweep, SIGINT" INT $pid
else bad "sweep: no point finished within 60 s: $(cat "$T/err")"; kill $pid; wait $pid; fi
no_temporaries "sweep" "$T/run"
done_before=$(ls "$T"/run/points/*/point.csv 2>/dev/null | wc -l)
if [ ! -e "$T/run/sweep.csv" ] && [ "$done_before" -ge 1 ] && [ "$done_before" -lt 5 ]; then
    ok "sweep: interrupted with $done_before of 5 points done, no sweep.csv yet"
else bad "sweep: after the interrupt: $done_before points, sweep.csv $( [ -e "$T/run/sweep.csv" ] && echo present || echo absent)"; fi
expect_ok "sweep, next run" "$ND_BIN" sweep --no-plot --threads 1 "$T/s.ini"
skipped=$(grep -ci 'skip' "$T/run/sweep.log")
if [ "$skipped" -ge "$done_before" ]; then ok "sweep: the next run skipped the $done_before finished points"
else bad "sweep: the next run skipped $skipped points, $done_before were finished: $(cat "$T/run/sweep.log")"; fi
sed -i "s|^dir = .*|dir = $T/ref|" "$T/s.ini"
expect_ok "sweep, uninterrupted reference" "$ND_BIN" sweep --no-plot --threads 1 "$T/s.ini"
same=1
for f in sweep.csv summary.csv $(cd "$T/ref" && find points -type f | sort); do
    cmp -s "$T/run/$f" "$T/ref/$f" || { same=0; bad "sweep: $f differs from the uninterrupted run"; }
done
[ $same = 1 ] && ok "sweep: interrupted + resumed run is byte-identical to an uninterrupted one ($(cd "$T/ref" && find points -type f | wc -l) point files, sweep.csv, summary.csv)"

echo "[features: SIGTERM while extracting]"
mkdir -p "$T/feat"
"$ND_BIN" features --model squeezenet --random-weights 3 --dataset "$FIX/dataset" --layer fire9 \
    --out "$T/feat/f.npy" >/dev/null 2>"$T/err" &
pid=$!
if wait_for "$T/feat/f.npy.tmp.*" 30; then
    sleep 0.3
    interrupt "features, SIGTERM" TERM $pid
else bad "features: no temporary output appeared: $(cat "$T/err")"; kill $pid; wait $pid; fi
if [ -z "$(ls "$T/feat" 2>/dev/null)" ]; then ok "features: nothing left in the output folder"
else bad "features: left behind: $(ls "$T/feat")"; fi

echo "[import: SIGINT while writing the dataset folder]"
MSRC=$ND_SHARED/data/msrc-v2
"$ND_BIN" import --images "$MSRC/images" --labels "$MSRC/labels" --classes "$MSRC/classes.csv" --out "$T/imp/ds" >/dev/null 2>"$T/err" &
pid=$!
mkdir -p "$T/imp"
if wait_for "$T/imp/ds.tmp.*/images/*.jpg" 30; then
    sleep 0.2
    interrupt "import, SIGINT" INT $pid
else bad "import: no image written within 30 s: $(cat "$T/err")"; kill $pid; wait $pid; fi
if [ -z "$(ls -A "$T/imp")" ]; then ok "import: the temporary dataset folder is gone"
else bad "import: left behind: $(ls "$T/imp") ($(find "$T/imp" -type f | wc -l) files)"; fi
mkdir -p "$T/im" "$T/lb"
for n in 1_1_s 1_2_s 2_1_s 3_1_s 4_1_s 5_1_s; do
    ln -s "$MSRC/images/$n.jpg" "$T/im/$n.jpg"; ln -s "$MSRC/labels/$n.png" "$T/lb/$n.png"
done
expect_ok "import, next run (6 images)" "$ND_BIN" import --images "$T/im" --labels "$T/lb" --classes "$MSRC/classes.csv" \
    --out "$T/imp/ds" --min-images 1

echo "[units: SIGINT, then the next run]"
# The fixture's 120 images take well under 0.2 s, so the interrupted run reads
# the fixture tiled 8 times (960 images: the same label files, the activations
# repeated), long enough to be caught mid-way.
mkdir -p "$T/tiled"
for e in "$FIX"/dataset/*; do [ "$(basename "$e")" = index.csv ] || ln -s "$e" "$T/tiled/"; done
head -n 1 "$FIX/dataset/index.csv" >"$T/tiled/index.csv"
for r in 1 2 3 4 5 6 7 8; do # image names must differ; the label files are shared
    tail -n +2 "$FIX/dataset/index.csv" | sed "s|^\([^,]*\)\.jpg,|\1_$r.jpg,|" >>"$T/tiled/index.csv"
done
hdr=$(( $(od -An -tu2 -j8 -N2 "$FIX/features.npy") + 10 ))
{ npy_header "(960, 256, 13, 13)"; for r in 1 2 3 4 5 6 7 8; do tail -c +$((hdr + 1)) "$FIX/features.npy"; done; } >"$T/tiled.npy"
"$ND_BIN" units --dataset "$T/tiled" --features "$T/tiled.npy" --field -64,163,16 --threads 1 \
    --out "$T/u" >/dev/null 2>&1 &
pid=$!
sleep 0.2
interrupt "units, SIGINT" INT $pid
if [ -z "$(find "$T/u" -type f 2>/dev/null)" ]; then ok "units: no file left"; else bad "units: left $(find "$T/u" -type f)"; fi
expect_ok "units, next run" "$ND_BIN" units --dataset "$FIX/dataset" --features "$FIX/features.npy" --field -64,163,16 --out "$T/u"
cmp -s "$T/u/result.csv" "$T/ref/points/a0_d0/result.csv" && ok "units: same result.csv as the sweep's alpha 0 point" \
    || bad "units: result.csv differs from the sweep's alpha 0 point"
finish
