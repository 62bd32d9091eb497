# category_vs_alpha.gp - detector units per concept category against alpha,
# stacked: the band of category i spans the cumulative mean counts of
# categories 1..i-1 and 1..i (means over random rotations), so the top edge
# is the total number of detectors.
# Reads a sweep's summary.csv (columns "<category>_detectors_mean").  Variables:
#   summary   path of summary.csv          cats       category names, space separated
#   plottitle "network layer on dataset"   outbase    output path without extension
# Writes outbase.png (pngcairo if available, else png) and outbase.svg.

if (!exists("summary") || !exists("outbase") || !exists("cats")) {
    print "usage: gnuplot -e \"summary='RUN/summary.csv'; cats='color object ...'; outbase='out/category_vs_alpha'\" category_vs_alpha.gp"
    exit status 2
}
if (!exists("plottitle")) plottitle = ""
n = words(cats)

set datafile separator ","
set title sprintf("Detector units per category under rotation Q^{/Symbol a} (mean over draws)\n{/*0.8 %s}", plottitle)
set xlabel "rotation power {/Symbol a}  (0 = unit basis, 1 = full random rotation Q)"
set ylabel "detector units (stacked by best category)"
set yrange [0:*]
set key outside right top box invert
set grid ytics lc rgb "#dddddd"
set style fill solid 0.85 border lc rgb "#ffffff"

# cumulative mean detectors of categories 1..i at the current row
cum(i) = (i < 1) ? 0 : sum [j=1:i] column(word(cats, j)."_detectors_mean")
catcolour(i) = word("#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf", (i - 1) % 10 + 1)

do for [fmt in "png svg"] {
    if (fmt eq "png") {
        if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
            set terminal pngcairo size 960,640 enhanced font "Sans,11"
        } else {
            set terminal png size 960,640 enhanced
        }
    } else {
        set terminal svg size 960,640 enhanced font "Sans,11" background rgb "white"
    }
    set output outbase.".".fmt
    plot for [i=1:n] summary using "alpha":(cum(i - 1)):(cum(i)) with filledcurves \
         lc rgb catcolour(i) title word(cats, i) noenhanced
    unset output
}
