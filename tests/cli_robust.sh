#!/usr/bin/env bash
# cli_robust.sh - the failure classes of issue 11, one section per item: what
# a researcher ran into past the demo (a destroyed input, empty figures on a
# full disk, resumes refused or mixed, ...).  Each section failed before the
# fix.  Full-disk cases use a small tmpfs (root only; skipped with a message
# otherwise).
source tests/lib_cli.sh
FIX=$ND_SHARED/fixtures/netdissect-lite-mini
T=$(mktemp -d)
MNT=""
cleanup() { [ -n "$MNT" ] && umount "$MNT" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
export ND_QUIET=1
# same NAME A B: files A and B are byte-identical
same() { if cmp -s "$2" "$3"; then ok "$1"; else bad "$1: $2 changed"; fi; }
units() { "$ND_BIN" units --profile netdissect-lite --dataset "$FIX/dataset" --features "$FIX/features.npy" \
    --thresholds "$FIX/thresholds.npy" "$@"; }

echo "[1: an existing file is never replaced by an output of another kind, nor an input]"
cp "$FIX/features.npy" "$T/feat.npy"
printf 'a,b\n1,2\n' > "$T/table.csv"; cp "$T/table.csv" "$T/table.saved"
expect_fail "--label-store naming the features" 1 "feat\.npy: .*(input|not a label store)" \
    units --features "$T/feat.npy" --label-store "$T/feat.npy" --out "$T/u1"
same "the features file is intact" "$T/feat.npy" "$FIX/features.npy"
expect_fail "--label-store naming a CSV file" 1 "table\.csv: exists and is not a label store" \
    units --label-store "$T/table.csv" --out "$T/u1"
same "the CSV file is intact" "$T/table.csv" "$T/table.saved"
expect_fail "rotate --out naming its --features" 1 "feat\.npy: is also an input" \
    "$ND_BIN" rotate --features "$T/feat.npy" --seed 1 --out "$T/feat.npy"
ln -s "$T/feat.npy" "$T/link.npy"
expect_fail "rotate --out naming its --features through a symlink" 1 "link\.npy: is also an input" \
    "$ND_BIN" rotate --features "$T/feat.npy" --seed 1 --out "$T/link.npy"
same "the features file is intact after rotate" "$T/feat.npy" "$FIX/features.npy"
expect_fail "rotate --out naming a CSV file" 1 "table\.csv: exists and is not a \.npy file" \
    "$ND_BIN" rotate --dim 4 --seed 1 --out "$T/table.csv"
same "the CSV file is intact after rotate" "$T/table.csv" "$T/table.saved"
expect_fail "recount --out naming its input" 1 "r\.csv: is also an input" \
    sh -c "cp '$ND_SHARED/data/netdissect-release/caffe_reference_places205.csv' '$T/r.csv'; '$ND_BIN' recount --out '$T/r.csv' '$T/r.csv'"
expect_ok "a label store replaces a stale label store" units --label-store "$T/store" --out "$T/u1"
