#!/usr/bin/env bash
# cli_determinism.sh - the same inputs and seeds give bit-identical result
# files with 1 and with 2 threads, and across two runs: `dissect units` (both
# profiles, computed thresholds) and a small `dissect sweep` (3 points, two
# random rotations), every file of the run folder compared byte for byte
# (config.effective.ini after removing the lines that name the run folder).
# The OpenBLAS thread count is held fixed (linalg documents that Q is
# bit-identical per seed for a given OpenBLAS thread count).
source tests/lib_cli.sh
FIX=$ND_SHARED/fixtures/netdissect-lite-mini
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ND_QUIET=1
same_dirs() { # NAME A B
    local f diffs=0 n=0
    for f in $(cd "$2" && find . -type f ! -name sweep.log ! -name '.sweep.lock' ! -name config.effective.ini | sort); do
        n=$((n + 1))
        cmp -s "$2/$f" "$3/$f" || { diffs=$((diffs + 1)); bad "$1: $f differs"; }
    done
    [ -z "$(cd "$3" && find . -type f ! -name sweep.log ! -name '.sweep.lock' ! -name config.effective.ini | sort | comm -13 <(cd "$2" && find . -type f | sort) -)" ] \
        || { diffs=$((diffs + 1)); bad "$1: files only in $3"; }
    if [ -f "$2/config.effective.ini" ]; then
        cmp -s <(grep -v -e "$2" -e '^; from:' "$2/config.effective.ini") <(grep -v -e "$3" -e '^; from:' "$3/config.effective.ini") \
            || { diffs=$((diffs + 1)); bad "$1: config.effective.ini differs beyond the run folder"; }
    fi
    [ $diffs = 0 ] && [ $n -gt 0 ] && ok "$1: $n files byte-identical" && echo "  $1: $n files byte-identical"
}

echo "[dissect units]"
for prof in netdissect netdissect-lite; do
    for run in t1 t2 t2b; do
        th=${run%b}; th=${th#t}
        expect_ok "units $prof --threads $th ($run)" "$ND_BIN" units --profile $prof --field -64,163,16 --dataset "$FIX/dataset" \
            --features "$FIX/features.npy" --threads "$th" --out "$T/u-$prof-$run"
    done
    same_dirs "units $prof, 1 vs 2 threads" "$T/u-$prof-t1" "$T/u-$prof-t2"
    same_dirs "units $prof, two runs with 2 threads" "$T/u-$prof-t2" "$T/u-$prof-t2b"
done

echo "[dissect sweep]"
cat > "$T/s.ini" <<INI
[dataset]
path = $FIX/dataset
[activations]
npy = $FIX/features.npy
[dissect]
field = -64,163,16
[rotation]
alphas = 0, 0.5
draws = 2
base_seed = 11
[output]
dir = $T/unused
INI
export OPENBLAS_NUM_THREADS=2
for run in t1 t2 t2b; do
    th=${run%b}; th=${th#t}
    expect_ok "sweep --threads $th ($run)" "$ND_BIN" sweep --no-plot --threads "$th" --out "$T/s-$run" "$T/s.ini"
done
same_dirs "sweep, 1 vs 2 threads" "$T/s-t1" "$T/s-t2"
same_dirs "sweep, two runs with 2 threads" "$T/s-t2" "$T/s-t2b"
finish
