# category_unique_vs_alpha.gp - unique detectors per concept category against
# the rotation power alpha (per-category convention), beside the total: for
# each category and for the total, the mean over random rotations as a line
# with points and the min-max range over draws as a shaded band.
# Reads a sweep's summary.csv (columns "<category>_unique_percat_mean/_min/_max"
# and "unique_percat_*").  Variables (gnuplot -e):
#   summary   path of summary.csv          cats       category names, space separated
#   plottitle "network layer on dataset"   outbase    output path without extension
# Writes outbase.png (pngcairo if available, else png) and outbase.svg.

if (!exists("summary") || !exists("outbase") || !exists("cats")) {
    print "usage: gnuplot -e \"summary='RUN/summary.csv'; cats='object color texture'; outbase='out/category_unique_vs_alpha'\" category_unique_vs_alpha.gp"
    exit status 2
}
if (!exists("plottitle")) plottitle = ""
n = words(cats)
set datafile separator ","
set xlabel "rotation power {/Symbol a}"
set yrange [0:*]
set grid ytics lc rgb "#dddddd"
set style fill transparent solid 0.2 noborder
catcolour(i) = word("#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf", (i - 1) % 10 + 1)
col(i, s) = word(cats, i)."_unique_percat_".s

do for [fmt in "png svg"] {
    if (fmt eq "png") {
        if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
            set terminal pngcairo size 1280,560 enhanced font "Sans,11"
        } else {
            set terminal png size 1280,560 enhanced
        }
    } else {
        set terminal svg size 1280,560 enhanced font "Sans,11" background rgb "white"
    }
    set output outbase.".".fmt
    set multiplot layout 1,2 title sprintf("Unique detectors under rotation Q^{/Symbol a} (mean, min-max band over draws)\n{/*0.8 %s}", plottitle)
    set title "total (per-category convention)"
    set ylabel "unique detectors"
    set key bottom left box opaque
    plot summary using "alpha":"unique_percat_min":"unique_percat_max" with filledcurves lc rgb "#444444" notitle, \
         ''      using "alpha":"unique_percat_mean" with linespoints lw 2 pt 7 lc rgb "#444444" title "all categories"
    set title "per category"
    set ylabel "unique detectors of the category"
    set key top right box opaque
    plot for [i=1:n] summary using "alpha":(column(col(i, "min"))):(column(col(i, "max"))) with filledcurves lc rgb catcolour(i) notitle, \
         for [i=1:n] summary using "alpha":(column(col(i, "mean"))) with linespoints lw 2 pt 7 lc rgb catcolour(i) title word(cats, i) noenhanced
    unset multiplot
    unset output
}
