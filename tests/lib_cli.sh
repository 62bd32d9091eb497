# lib_cli.sh - helpers for shell tests of the dissect binary (sourced).
# expect_fail NAME STATUS PATTERN CMD...: CMD must exit STATUS, print exactly
# one line on stderr matching PATTERN (extended regex).
set -u
: "${ND_BIN:?ND_BIN must point at the dissect binary}"
: "${ND_SHARED:=../shared}"
PASS=0 FAIL=0
ok()   { PASS=$((PASS + 1)); [ "${ND_TEST_VERBOSE:-0}" = 1 ] && echo "  ok   $*"; return 0; }
bad()  { FAIL=$((FAIL + 1)); echo "  FAIL $*"; }
expect_fail() {
    local name=$1 want=$2 pat=$3; shift 3
    local err; err=$(mktemp)
    ND_QUIET=1 "$@" >/dev/null 2>"$err"; local rc=$?
    local lines; lines=$(grep -c . "$err")
    if [ $rc -ne "$want" ]; then bad "$name: exit $rc, expected $want; stderr: $(head -c 300 "$err")"
    elif [ "$lines" -ne 1 ]; then bad "$name: $lines lines on stderr, expected 1: $(head -c 300 "$err")"
    elif ! grep -Eq -- "$pat" "$err"; then bad "$name: message '$(cat "$err")' does not match /$pat/"
    else ok "$name"; echo "  $name -> $(cat "$err")"; fi
    rm -f "$err"
}
expect_ok() {
    local name=$1; shift
    local err; err=$(mktemp)
    if "$@" >/dev/null 2>"$err"; then ok "$name"; else bad "$name: exit $?: $(head -c 500 "$err")"; fi
    rm -f "$err"
}
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ]; }
# expect_fail_clean NAME STATUS PATTERN OUT CMD...: expect_fail, and then no
# output may be left at OUT: no file there (a folder there must hold no
# files), and no "*.tmp.*" temporary beside it or inside it.
expect_fail_clean() {
    local name=$1 want=$2 pat=$3 out=$4; shift 4
    expect_fail "$name" "$want" "$pat" "$@"
    local left=""
    if [ -d "$out" ]; then left=$(find "$out" -type f | head -3)
    elif [ -e "$out" ]; then left=$out; fi
    local tmps; tmps=$(ls -d "$(dirname "$out")"/*.tmp.* 2>/dev/null | head -3)
    if [ -n "$left$tmps" ]; then bad "$name: output left behind: $left $tmps"
    else ok "$name: nothing left at $(basename "$out")"; fi
}
# npy HEADER: write a v1.0 .npy header for float32 with the given shape tuple text
npy_header() { # $1 shape text like "(120, 256, 13, 13)"
    local dict="{'descr': '<f4', 'fortran_order': False, 'shape': $1, }"
    local total=$(( (10 + ${#dict} + 1 + 63) / 64 * 64 ))
    local pad=$(( total - 10 - ${#dict} - 1 ))
    local hl=$(( total - 10 ))
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((hl % 256)))\\x$(printf %02x $((hl / 256)))"
    printf '%s%*s\n' "$dict" $pad ''
}
