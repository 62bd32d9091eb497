#!/usr/bin/env bash
# cli_world.sh - dissect world from the command line: help, usage errors
# (exit 2), runtime errors (exit 1, one line, nothing left), a small world
# that `dissect features` and `dissect units` accept, and the same bytes
# from a second run.
source tests/lib_cli.sh
T=$(mktemp -d)
export ND_QUIET=1

expect_ok "world --help" "$ND_BIN" world --help
expect_fail "world without --out" 2 "--out is required" "$ND_BIN" world --images 3
expect_fail "world bad --size" 2 "--size: '4' is not a whole number in 8..1024" "$ND_BIN" world --out "$T/x" --size 4
expect_fail "world bad --noise" 2 "--noise" "$ND_BIN" world --out "$T/x" --noise -1
expect_fail "world fractional --images" 2 "--images" "$ND_BIN" world --out "$T/x" --images 2.5
expect_fail "world stray argument" 2 "unexpected argument" "$ND_BIN" world --out "$T/x" extra
expect_fail_clean "world missing table" 1 "nope.npy" "$T/x" "$ND_BIN" world --out "$T/x" --images 3 --colors "$T/nope.npy"

expect_ok "world 24 images" "$ND_BIN" world --out "$T/w" --images 24 --size 32 --seed 9
rows=$(($(wc -l < "$T/w/index.csv") - 1))
if [ "$rows" = 24 ] && head -1 "$T/w/index.csv" | grep -q '^image,split,ih,iw,sh,sw,object,part,material,color,scene$'; then
    ok "index.csv 24 rows"; else bad "index.csv: $rows rows"; fi
if [ "$(grep -c ',val,' "$T/w/index.csv")" = 4 ]; then ok "every 5th image is val"; else bad "val rows: $(grep -c ',val,' "$T/w/index.csv")"; fi
expect_fail "world over existing" 1 "w: already exists" "$ND_BIN" world --out "$T/w" --images 3
expect_ok "world again on 1 thread" "$ND_BIN" world --out "$T/w2" --images 24 --size 32 --seed 9 --threads 1
if diff -r "$T/w" "$T/w2" >/dev/null; then ok "same bytes on 1 and 2 threads"; else bad "worlds differ"; fi
for f in README.md sample.png world.json; do
    if [ -s "$T/w/$f" ]; then ok "$f written"; else bad "$f missing"; fi
done

expect_ok "features on the world" "$ND_BIN" features --model squeezenet --random-weights 3 --dataset "$T/w" --layer conv1 --out "$T/f.npy"
expect_ok "units on the world" "$ND_BIN" units --dataset "$T/w" --features "$T/f.npy" --out "$T/u"
rm -rf "$T"
finish
