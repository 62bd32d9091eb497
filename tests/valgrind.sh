#!/usr/bin/env bash
# valgrind.sh - `make valgrind`: a small dissection and a small sweep under
# valgrind (memcheck, --error-exitcode=1, leaks counted as errors): the first
# 12 images of the NetDissect-Lite fixture, 256 units; the sweep dissects the
# unrotated layer and one full rotation.  Exit 1 on any error.
set -u
: "${ND_BIN:?}" "${ND_SHARED:?}"
FIX=$ND_SHARED/fixtures/netdissect-lite-mini
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
N=12
# dataset: header + N rows, image folders linked
mkdir -p "$T/ds"
for f in "$FIX"/dataset/*.csv; do cp "$f" "$T/ds/"; done
head -$((N + 1)) "$FIX/dataset/index.csv" > "$T/ds/index.csv"
ln -s "$FIX/dataset/images" "$T/ds/images"
# activations: the first N images of [120, 256, 13, 13] float32, header rewritten
dict="{'descr': '<f4', 'fortran_order': False, 'shape': ($N, 256, 13, 13), }"
total=$(( (10 + ${#dict} + 1 + 63) / 64 * 64 )); hl=$((total - 10))
{ printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $((hl % 256)))\\x$(printf %02x $((hl / 256)))"
  printf '%s%*s\n' "$dict" $((total - 10 - ${#dict} - 1)) ''
  tail -c +129 "$FIX/features.npy" | head -c $((N * 256 * 169 * 4)); } > "$T/f.npy"
cat > "$T/s.ini" <<INI
[dataset]
path = $T/ds
[activations]
npy = $T/f.npy
[dissect]
field = -64,163,16
[rotation]
alphas = 0, 1
draws = 1
[output]
dir = $T/run
INI
VG=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect)
export ND_QUIET=1 OPENBLAS_NUM_THREADS=1
rc=0
run() {
    local name=$1; shift
    local t0=$SECONDS
    if "${VG[@]}" "$@" >"$T/out" 2>"$T/err"; then echo "valgrind clean: $name ($((SECONDS - t0)) s)"
    else echo "VALGRIND FAILED: $name"; tail -40 "$T/err"; rc=1; fi
}
run "dissect units, $N images x 256 units, netdissect profile, 2 threads" \
    "$ND_BIN" units --dataset "$T/ds" --features "$T/f.npy" --field -64,163,16 --threads 2 --out "$T/u"
run "dissect units, netdissect-lite profile" \
    "$ND_BIN" units --profile netdissect-lite --dataset "$T/ds" --features "$T/f.npy" --threads 2 --out "$T/ul"
run "dissect units --label-store (building the store)" \
    "$ND_BIN" units --profile netdissect-lite --dataset "$T/ds" --features "$T/f.npy" --label-store "$T/l.store" --out "$T/us"
run "dissect units --label-store (mapping it)" \
    "$ND_BIN" units --profile netdissect-lite --dataset "$T/ds" --features "$T/f.npy" --label-store "$T/l.store" --out "$T/us2"
run "dissect sweep, alphas 0 and 1, one draw" "$ND_BIN" sweep --no-plot --threads 2 "$T/s.ini"
run "dissect recount" "$ND_BIN" recount "$T/u/result.csv" --out "$T/c.json"
cp -r "$T/run" "$T/run2"
run "dissect compare (two run folders)" "$ND_BIN" compare "$T/run" "$T/run2"
# a failing run must be clean too (error paths free what they took)
printf 'image,split\n' > "$T/bad.csv"; cp -r "$T/ds" "$T/ds2"; rm "$T/ds2/index.csv"; cp "$T/bad.csv" "$T/ds2/index.csv"
if "${VG[@]}" "$ND_BIN" units --dataset "$T/ds2" --features "$T/f.npy" --field -64,163,16 --out "$T/u2" >/dev/null 2>"$T/err"; then
    echo "VALGRIND: the bad dataset was accepted"; rc=1
elif grep -q '== ' "$T/err" || [ "$(grep -c . "$T/err")" != 1 ]; then echo "VALGRIND FAILED: error path"; cat "$T/err"; rc=1
else echo "valgrind clean: error path ($(cat "$T/err"))"; fi
[ $rc = 0 ] && echo "valgrind: all clean"
exit $rc
