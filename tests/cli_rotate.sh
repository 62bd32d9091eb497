# cli_rotate.sh - `dissect rotate`: matrices, rotated activations, bad inputs.
# Small .npy inputs are made here with printf (no Python needed); float
# outputs are compared through `od -t f4/f8` and awk.
source tests/lib_cli.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# mknpy FILE DESCR SHAPE BYTES: a v1.0 .npy with the given header fields and
# raw data given as a printf format of \x escapes.
mknpy() {
    local file=$1 descr=$2 shape=$3 data=$4
    local dict="{'descr': '$descr', 'fortran_order': False, 'shape': $shape, }"
    local len=$(( ${#dict} + 1 )) pad
    pad=$(( (64 - (10 + len) % 64) % 64 ))
    len=$((len + pad))
    { printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $((len % 256)))\\x$(printf %02x $((len / 256)))"
      printf '%s' "$dict"; printf "%${pad}s" ''; printf '\n'; printf "$data"; } >"$file"
}
F64_1='\x00\x00\x00\x00\x00\x00\xf0\x3f'
F64_M1='\x00\x00\x00\x00\x00\x00\xf0\xbf'
F64_0='\x00\x00\x00\x00\x00\x00\x00\x00'
# the same six values as float32 and float16: 0, 1, 2.5, 0.75, 3, 0.125
F32=('\x00\x00\x00\x00' '\x00\x00\x80\x3f' '\x00\x00\x20\x40' '\x00\x00\x40\x3f' '\x00\x00\x40\x40' '\x00\x00\x00\x3e')
F16=('\x00\x00' '\x00\x3c' '\x00\x41' '\x00\x3a' '\x00\x42' '\x00\x30')
d32= d16=
for i in $(seq 0 71); do k=$(( (i * 7 + i / 5) % 6 )); d32+=${F32[$k]}; d16+=${F16[$k]}; done
mknpy "$T/F.npy" '<f4' '(3, 4, 2, 3)' "$d32"
mknpy "$T/F16.npy" '<f2' '(3, 4, 2, 3)' "$d16"

# floats of an .npy as text, one per line (header length from bytes 8-9)
values() {
    local hl; hl=$(od -A n -t u2 -j 8 -N 2 "$1" | tr -d ' ')
    od -A n -v -t "$2" -j $((10 + hl)) "$1" | tr -s ' ' '\n' | grep -v '^$'
}
# close A B TYPE: max |a - b| <= 1e-5 * max |b|
close() {
    paste <(values "$1" "$3") <(values "$2" "$3") | awk '
        { d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d; b = $2 < 0 ? -$2 : $2; if (b > s) s = b; n++ }
        END { printf "max abs diff %.3g, scale %.3g, %d values\n", m, s, n; exit !(n > 0 && m <= 1e-5 * s) }'
}
check() { if "$@"; then ok "$*"; else bad "$*"; fi; }

echo "[success paths]"
expect_ok "draw Q^0.5" "$ND_BIN" rotate --dim 16 --seed 3 --alpha 0.5 --out "$T/R.npy"
check grep -q "'shape': (16, 16)" "$T/R.npy"
check grep -q "'descr': '<f8'" "$T/R.npy"
expect_ok "same again" "$ND_BIN" rotate --dim 16 --seed 3 --alpha 0.5 --out "$T/R_again.npy"
check cmp -s "$T/R.npy" "$T/R_again.npy"
expect_ok "other seed" "$ND_BIN" rotate --dim 16 --seed 4 --alpha 0.5 --out "$T/R4.npy"
if cmp -s "$T/R.npy" "$T/R4.npy"; then bad "seed 4 equals seed 3"; else ok "seeds differ"; fi
expect_ok "Q^1" "$ND_BIN" rotate --dim 16 --seed 3 --out "$T/Q.npy"
# (Q^0.5)^2 through --from: a validated input and Q within rounding
expect_ok "--from R, alpha 2" "$ND_BIN" rotate --from "$T/R.npy" --alpha 2 --out "$T/RR.npy"
check close "$T/RR.npy" "$T/Q.npy" f8
out=$("$ND_BIN" rotate --dim 8 --seed 1 --alpha 0.25 --out "$T/S.npy" 2>/dev/null)
echo "  summary: $out"
check grep -Eq '^rotate: n=8 seed=1 alpha=0.25 orth_error=[0-9.e+-]+ det=1\.0000000000|det=0\.99999999999' <<<"$out"
expect_ok "--help" "$ND_BIN" rotate --help
check grep -q 'example' <("$ND_BIN" rotate --help)

echo "[rotated activations]"
expect_ok "rotate F by Q" "$ND_BIN" rotate --features "$T/F.npy" --seed 3 --out "$T/G.npy"
check grep -q "'shape': (3, 4, 2, 3)" "$T/G.npy"
check test "$(stat -c %s "$T/G.npy")" -eq "$(stat -c %s "$T/F.npy")"
if cmp -s "$T/F.npy" "$T/G.npy"; then bad "rotation left F unchanged"; else ok "G differs from F"; fi
expect_ok "rotate back by Q^-1" "$ND_BIN" rotate --features "$T/G.npy" --seed 3 --alpha -1 --block 2 --out "$T/H.npy"
check close "$T/H.npy" "$T/F.npy" f4
expect_ok "Q4" "$ND_BIN" rotate --dim 4 --seed 3 --out "$T/Q4.npy"
expect_ok "Q4 from a file" "$ND_BIN" rotate --features "$T/F.npy" --from "$T/Q4.npy" --out "$T/G2.npy"
check cmp -s "$T/G.npy" "$T/G2.npy"
expect_ok "float16 input" "$ND_BIN" rotate --features "$T/F16.npy" --seed 3 --dim 4 --out "$T/G16.npy"
check cmp -s "$T/G.npy" "$T/G16.npy"
expect_ok "alpha 0 is the identity" "$ND_BIN" rotate --features "$T/F.npy" --seed 3 --alpha 0 --out "$T/I.npy"
check cmp -s "$T/F.npy" "$T/I.npy"

echo "[bad inputs]"
mknpy "$T/shear.npy" '<f8' '(2, 2)' "$F64_1$F64_1$F64_0$F64_1"
mknpy "$T/rect.npy" '<f8' '(2, 3)' "$F64_1$F64_0$F64_0$F64_0$F64_1$F64_0"
mknpy "$T/refl.npy" '<f8' '(2, 2)' "$F64_1$F64_0$F64_0$F64_M1"
O="$T/out.npy"
fails() { # NAME STATUS REGEX ARGS...: must fail and leave no output behind
    local name=$1 st=$2 re=$3; shift 3
    expect_fail "$name" "$st" "$re" "$ND_BIN" rotate "$@"
    if [ -e "$O" ] || ls "$T" | grep -q '\.tmp\.'; then bad "$name: output left behind"; rm -f "$O" "$T"/*.tmp.*; fi
}
fails "non-orthogonal" 1 'shear\.npy: not orthogonal' --from "$T/shear.npy" --out "$O"
fails "non-square" 1 'rect\.npy: shape \(2, 3\), expected a square' --from "$T/rect.npy" --out "$O"
fails "det -1" 1 'refl\.npy: det = -1' --from "$T/refl.npy" --out "$O"
fails "missing file" 1 'nope\.npy' --from "$T/nope.npy" --out "$O"
fails "missing features" 1 'nope\.npy' --features "$T/nope.npy" --seed 1 --out "$O"
fails "alpha not a number" 2 "--alpha 'abc'" --dim 4 --seed 1 --alpha abc --out "$O"
fails "missing --out" 2 '--out is required' --dim 4 --seed 1
fails "seed and from" 2 'exclude' --dim 4 --seed 1 --from "$T/Q4.npy" --out "$O"
fails "no seed" 2 '--seed' --dim 4 --out "$O"
fails "negative seed" 2 "--seed '-1'" --dim 4 --seed -1 --out "$O"
fails "dim 1" 2 "--dim '1'" --dim 1 --seed 1 --out "$O"
fails "unknown option" 2 "unknown option '--bogus'" --bogus --out "$O"
fails "features not 4-D" 1 'Q4\.npy: 2-D f8 array|Q4\.npy: 2-D .* expected float32' --features "$T/Q4.npy" --seed 1 --out "$O"
fails "dim vs features" 1 'F\.npy: 4 units, but --dim is 5' --features "$T/F.npy" --seed 1 --dim 5 --out "$O"
fails "from vs features" 1 'Q\.npy: 16 x 16 matrix, but .*F\.npy has 4 units' --features "$T/F.npy" --from "$T/Q.npy" --out "$O"
fails "from vs dim" 1 'Q4\.npy: 4 x 4 matrix, but --dim is 5' --from "$T/Q4.npy" --dim 5 --out "$O"
fails "tol too tight" 1 'R\.npy: not orthogonal' --from "$T/R.npy" --tol 1e-300 --out "$O"
finish
