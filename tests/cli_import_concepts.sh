#!/bin/bash
# cli_import_concepts.sh - `dissect import` with --textures and --colors:
# bad inputs give one line naming the file, exit 1 and leave nothing; a
# small combined import (object subset + texture subset + colours) twice is
# byte-identical and reads back with `dissect units`-free checks (CSV shape).
. "$(dirname "$0")/lib_cli.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
S=$ND_SHARED/data
D=$(cd "$S" && pwd)

# a texture set of 2 classes x 2 photographs, an object set of 3 images (links)
mkdir -p "$T/tex/banded" "$T/tex/bubbly" "$T/obj/images" "$T/obj/labels"
for f in banded_0002 banded_0004; do ln -s "$D/dtd-10/images/banded/$f.jpg" "$T/tex/banded/$f.jpg"; done
for f in $(ls "$D/dtd-10/images/bubbly" | head -2 | sed "s/.jpg//"); do ln -s "$D/dtd-10/images/bubbly/$f.jpg" "$T/tex/bubbly/$f.jpg"; done
for f in 1_1_s 2_1_s 3_1_s; do
    ln -s "$D/msrc-v2/images/$f.jpg" "$T/obj/images/$f.jpg"
    ln -s "$D/msrc-v2/labels/$f.png" "$T/obj/labels/$f.png"
done
OBJ=(--images "$T/obj/images" --labels "$T/obj/labels" --classes "$D/msrc-v2/classes.csv")
COL=(--colors "$D/colornames/w2color.npy")

expect_ok "combined import" "$ND_BIN" import "${OBJ[@]}" --textures "$T/tex" "${COL[@]}" \
    --min-images 1 --size 64 --out "$T/a"
expect_ok "combined import again" "$ND_BIN" import "${OBJ[@]}" --textures "$T/tex" "${COL[@]}" \
    --min-images 1 --size 64 --threads 1 --out "$T/b"
if diff -r "$T/a" "$T/b" >/dev/null; then ok "two imports byte-identical (2 threads vs 1)"
else bad "two imports differ: $(diff -rq "$T/a" "$T/b" | head -3)"; fi
if [ "$(head -1 "$T/a/index.csv")" = "image,split,ih,iw,sh,sw,object,color,texture" ] &&
   [ "$(cut -d, -f1 "$T/a/category.csv" | tr '\n' ' ')" = "name object color texture " ] &&
   [ -f "$T/a/c_color.csv" ] && [ -f "$T/a/c_texture.csv" ] && [ "$(wc -l < "$T/a/sources.csv")" = 8 ]
then ok "categories object, color, texture; c_*.csv; sources.csv"
else bad "combined layout: $(head -1 "$T/a/index.csv"); $(cat "$T/a/category.csv")"; fi

# bad inputs
mkdir "$T/tex/empty"
expect_fail_clean "empty class folder" 1 "tex/empty: empty class folder" "$T/o1" \
    "$ND_BIN" import --textures "$T/tex" --out "$T/o1"
rmdir "$T/tex/empty"
echo "notes" > "$T/tex/bubbly/notes.txt"
expect_fail_clean "non-image file" 1 "notes.txt: not a photograph" "$T/o2" \
    "$ND_BIN" import --textures "$T/tex" --out "$T/o2"
rm "$T/tex/bubbly/notes.txt"
echo "not a jpeg" > "$T/tex/bubbly/broken.jpg"
expect_fail_clean "corrupt photograph" 1 "broken.jpg" "$T/o3" \
    "$ND_BIN" import --textures "$T/tex" "${COL[@]}" --out "$T/o3"
rm "$T/tex/bubbly/broken.jpg"
make_bad_npy() { # a (32, 1024) uint8 .npy: header from the real table, shape text changed
    head -c 80 "$D/colornames/w2color.npy" | sed 's/(32, 32, 32)/(32, 1024)  /' > "$1"
    tail -c 32768 "$D/colornames/w2color.npy" >> "$1"
}
make_bad_npy "$T/bad.npy"
expect_fail_clean "table of the wrong shape" 1 "bad.npy: colour table shape" "$T/o4" \
    "$ND_BIN" import --textures "$T/tex" --colors "$T/bad.npy" --out "$T/o4"
expect_fail_clean "missing table" 1 "nope.npy: cannot open" "$T/o5" \
    "$ND_BIN" import --textures "$T/tex" --colors "$T/nope.npy" --out "$T/o5"
mkdir -p "$T/tex2/banded"
ln -s "$D/dtd-10/images/banded/banded_0002.jpg" "$T/tex2/banded/banded_0002.jpg"
expect_fail_clean "the same name from two sources" 1 "both be named 'banded_0002'" "$T/o6" \
    "$ND_BIN" import --textures "$T/tex" --textures "$T/tex2" --out "$T/o6"
expect_fail "object set incomplete" 2 "together" "$ND_BIN" import --images "$T/obj/images" --out "$T/o7"
expect_fail "bad coverage" 2 "min-coverage" "$ND_BIN" import --textures "$T/tex" --min-coverage -1 --out "$T/o8"
finish
