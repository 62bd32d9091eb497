#!/usr/bin/env bash
# cli_report.sh - `dissect report`: a report of the mini fixture's dissection,
# bad inputs (one line, exit 1, no report left, not even a temporary), and
# the report in a real browser: headless Chromium runs the pages' own
# self-tests (index.html#selftest: no script errors, K table rows, sorting
# changes the order, each column sorts, the category filter; unit.html#selftest:
# every unit drawn, every image decoded) and takes a screenshot under results/.
source tests/lib_cli.sh
FIX=$ND_SHARED/fixtures/netdissect-lite-mini
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
F=$FIX/features.npy

echo "[a report of the mini fixture]"
ND_QUIET=1 "$ND_BIN" units --dataset $FIX/dataset --features $F --field -64,163,16 --out $T/res 2>/dev/null
expect_ok "report --top 3 (activations found through summary.json)" "$ND_BIN" report $T/res --top 3 --out $T/rep
n=$(ls $T/rep/sprites 2>/dev/null | wc -l)
[ "$n" = 256 ] && ok "one sprite per unit (256)" || bad "$n sprites, expected 256"
[ -f $T/rep/index.html ] && [ -f $T/rep/unit.html ] && [ -f $T/rep/data.js ] && ok "index.html, unit.html, data.js" \
    || bad "pages missing: $(ls $T/rep)"
grep -q '^var ND = {"format": "report", "format_version": 1,' $T/rep/data.js && ok "data.js carries its format version" \
    || bad "data.js without a format version: $(head -c 80 $T/rep/data.js)"
rows=$(grep -c '<tr data-cat=' $T/rep/index.html)
[ "$rows" = 256 ] && ok "unit table has 256 rows" || bad "unit table has $rows rows"
grep -q 'src="http\|href="http\|src="//' $T/rep/*.html && bad "a page fetches from the network" || ok "nothing fetched from the network"
expect_ok "an existing report is replaced" "$ND_BIN" report $T/res --top 2 --features $F --out $T/rep
grep -q '"cells": \[\[[0-9]*, "[^"]*", [^]]*\], \[[0-9]*, "[^"]*", [^]]*\]\]' $T/rep/data.js && ok "replaced report has 2 images per unit" \
    || bad "the replaced report is not the new one"
ls -d $T/rep.tmp.* >/dev/null 2>&1 && bad "temporary left beside the report" || ok "no temporary left"

echo "[a sweep report]"
cat > $T/sweep.ini <<INI
[dataset]
path = $FIX/dataset
[activations]
npy = $F
[dissect]
profile = netdissect
field = -64,163,16
[rotation]
alphas = 0, 1
draws = 1
base_seed = 1
[output]
dir = $T/sweep
INI
ND_QUIET=1 "$ND_BIN" sweep $T/sweep.ini >/dev/null 2>&1
expect_ok "report of a sweep folder" "$ND_BIN" report $T/sweep --top 2 --units 3 --out $T/srep
[ -f $T/srep/before/index.html ] && [ -f $T/srep/after/index.html ] && ok "reports of the unrotated and alpha = 1 points" \
    || bad "sweep sub-reports missing: $(ls $T/srep)"
pairs=$(grep -c 'class="pair"' $T/srep/index.html)
[ "$pairs" = 3 ] && ok "3 detectors side by side before/after" || bad "$pairs before/after pairs, expected 3"
grep -q 'src="figures/unique_vs_alpha.png"' $T/srep/index.html && [ -f $T/srep/figures/unique_vs_alpha.png ] \
    && ok "the sweep's figure is in the report" || bad "figure missing from the sweep report"

echo "[bad input]"
cp -r $T/res $T/nocsv && rm $T/nocsv/result.csv
expect_fail_clean "result folder without result.csv" 1 'nocsv/result.csv: missing' $T/o1 "$ND_BIN" report $T/nocsv --features $F --out $T/o1
cp -r $T/res $T/nosum && rm $T/nosum/summary.json
expect_fail_clean "result folder without summary.json" 1 'nosum/summary.json: missing' $T/o2 "$ND_BIN" report $T/nosum --features $F --out $T/o2
cp -r $T/res $T/newer && sed -i 's/"format_version": [0-9]*/"format_version": 99/' $T/newer/summary.json
expect_fail_clean "a summary of a newer format" 1 'newer/summary.json: field "format_version": 99, newer than this dissect reads' \
    $T/o7 "$ND_BIN" report $T/newer --features $F --out $T/o7
expect_fail_clean "no such folder" 1 'nothere/summary.json: missing' $T/o3 "$ND_BIN" report $T/nothere --out $T/o3
# datasets that do not match the result: fewer images, a label renamed
mkds() { mkdir -p $1 && for e in $FIX/dataset/*; do ln -s $e $1/; done; rm $1/$2; }
mkds $T/ds60 index.csv && head -61 $FIX/dataset/index.csv > $T/ds60/index.csv
expect_fail_clean "dataset with fewer images" 1 '60 images, but .*does not match the result' $T/o4 \
    "$ND_BIN" report $T/res --features $F --dataset $T/ds60 --out $T/o4
mkds $T/dsl label.csv && sed 's/^\([0-9]*\),dotted,/\1,spotted,/' $FIX/dataset/label.csv > $T/dsl/label.csv
expect_fail_clean "dataset without the unit's label" 1 "label 'dotted' is not in .*does not match the result" $T/o5 \
    "$ND_BIN" report $T/res --features $F --dataset $T/dsl --out $T/o5
{ npy_header "(60, 256, 13, 13)"; tail -c +129 $F | head -c $((60*256*169*4)); } > $T/f60.npy
expect_fail_clean "activations that do not match" 1 'f60.npy: 60 images x 256 units, but .*do not match' $T/o6 \
    "$ND_BIN" report $T/res --features $T/f60.npy --out $T/o6
# a failure half-way (the photographs are missing): no report, no temporary
mkds $T/dsi images && mkdir -p $T/dsi/images/mini && ln -s $FIX/dataset/images/mini/*.png $T/dsi/images/mini/
expect_fail_clean "photographs missing (fails while drawing)" 1 '00000.jpg' $T/o7 \
    "$ND_BIN" report $T/res --features $F --dataset $T/dsi --out $T/o7
mkdir -p $T/other && echo keep > $T/other/file.txt
expect_fail "an --out that is not a report" 1 'exists and is not a report' "$ND_BIN" report $T/res --features $F --out $T/other
[ "$(cat $T/other/file.txt)" = keep ] && ok "the folder that is not a report is untouched" || bad "other folder changed"
cp -r $T/res $T/nofeat && sed -i '/"features"/d' $T/nofeat/summary.json
expect_fail_clean "summary.json without the features path" 1 'field "features": missing .*give --features' $T/o8 \
    "$ND_BIN" report $T/nofeat --out $T/o8
expect_fail "--top 0" 2 'top' "$ND_BIN" report $T/res --top 0
expect_fail "two folders" 2 'expected one' "$ND_BIN" report $T/res $T/res

echo "[in a browser]"
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
    echo "  SKIP: chromium is not installed (make deps installs it); browser checks not run"
else
    chrome() { timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir=$T/chrome --virtual-time-budget=10000 "$@" 2>/dev/null; }
    for page in rep/index rep/unit srep/index; do
        dom=$(chrome --dump-dom "file://$T/$page.html#selftest")
        verdict=$(echo "$dom" | sed -n '/<pre id="selftest">/,/<\/pre>/p' | sed 's/<[^>]*>//g')
        echo "$verdict" | sed 's/^/    /'
        if echo "$verdict" | grep -q 'SELFTEST PASS'; then ok "$page.html self-test in Chromium"
        else bad "$page.html self-test: ${verdict:-no verdict in the page (did the script run?)}"; fi
    done
    dom=$(chrome --dump-dom "file://$T/rep/unit.html#selftest")
    echo "$dom" | grep -q '256 images, 0 not decoded' && ok "every sprite decodes" || bad "sprites not decoded"
    mkdir -p results
    best=$(sed -n 's/.*<a href="unit.html#u=\([0-9]*\)">.*/\1/p' $T/rep/index.html | head -1)
    rm -f results/report-selftest.png
    chrome --window-size=1400,900 --screenshot=$PWD/results/report-selftest.png "file://$T/rep/unit.html#u=$best" >/dev/null
    [ -s results/report-selftest.png ] && ok "screenshot results/report-selftest.png (unit $best)" || bad "no screenshot"
fi
finish
