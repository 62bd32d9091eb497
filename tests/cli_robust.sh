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

# A small finished sweep that later sections copy, extend and resume.
export ND_PLOTS=$PWD/plots
sweepini() { # FILE OUT [extra [rotation] lines...]: a lite sweep config, alphas 0 and 1
    local f=$1 out=$2; shift 2
    { printf '[dataset]\npath = %s\nname = mini_set\n[activations]\nnpy = %s\n' "${DS:-$FIX/dataset}" "${NPY:-$FIX/features.npy}"
      printf '[dissect]\nprofile = netdissect-lite\n[rotation]\n'
      if [ $# -gt 0 ]; then printf '%s\n' "$@"; else printf 'alphas = 0, 1\n'; fi
      printf '[output]\ndir = %s\n' "$out"; } > "$f"
}
sweepini "$T/base.ini" "$T/base"
expect_ok "the base sweep" "$ND_BIN" sweep --no-plot "$T/base.ini"

echo "[2: a figure that gnuplot could not write completely never replaces a good one]"
if ! command -v gnuplot >/dev/null; then echo "  skipped: no gnuplot"
elif ! { mkdir -p "$T/mnt" && mount -t tmpfs -o size=1m tmpfs "$T/mnt" 2>/dev/null; }; then
    echo "  skipped: cannot mount a tmpfs here (needs root)"
else
    MNT=$T/mnt
    mkdir "$MNT/run" && cp "$T/base/sweep.csv" "$T/base/summary.csv" "$T/base/config.effective.ini" "$MNT/run/"
    expect_ok "plot on the small disk" "$ND_BIN" plot "$MNT/run"
    cp -r "$MNT/run/figures" "$T/figures.saved"
    dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null   # the disk is now full
    expect_fail "plot on the full disk" 1 "(incomplete|truncated|not a PNG|write failed|No space)" "$ND_BIN" plot "$MNT/run"
    if diff -r "$T/figures.saved" "$MNT/run/figures" -x gnuplot.log >/dev/null && \
        [ -z "$(find "$MNT/run/figures" -name '*.tmp.*')" ]; then ok "full disk: the previous figures are kept, no temporary left"
    else bad "full disk: figures changed: $(diff -rq "$T/figures.saved" "$MNT/run/figures" -x gnuplot.log | head -2)"; fi
    umount "$MNT" && MNT=""
fi
echo "[2: standard output that cannot be written is a failure]"
expect_fail "recount > /dev/full" 1 "standard output" sh -c "'$ND_BIN' recount '$ND_SHARED/data/netdissect-release/caffe_reference_places205.csv' > /dev/full"
