# unique_vs_alpha.gp - unique detectors against the rotation power alpha.
#
# For both counting conventions (per-category: the headline, as the released
# CVPR numbers; top-label: the paper's prose), the mean over random rotations
# as a line with points and the min-max range over draws as a shaded band.
# Reads a sweep's summary.csv (columns by name).  Variables (gnuplot -e):
#   summary   path of summary.csv          sweep      path of sweep.csv (unused here)
#   plottitle "network layer on dataset"   outbase    output path without extension
# Writes outbase.png (pngcairo if available, else png) and outbase.svg.
# Run by `dissect plot RUN_DIR` (and at the end of `dissect sweep`).

if (!exists("summary") || !exists("outbase")) {
    print "usage: gnuplot -e \"summary='RUN/summary.csv'; outbase='out/unique_vs_alpha'; plottitle='...'\" unique_vs_alpha.gp"
    exit status 2
}
if (!exists("plottitle")) plottitle = ""

set datafile separator ","
set title sprintf("Unique detectors under rotation Q^{/Symbol a}\n{/*0.8 %s}", plottitle)
set xlabel "rotation power {/Symbol a}  (0 = unit basis, 1 = full random rotation Q)"
set ylabel "unique detectors (IoU > threshold)"
set xrange [*:*]
set yrange [0:*]
set key bottom left box opaque
set grid ytics lc rgb "#dddddd"
set style fill transparent solid 0.25 noborder

set style line 1 lc rgb "#1f77b4" lw 2 pt 7 ps 0.9
set style line 2 lc rgb "#d62728" lw 2 pt 5 ps 0.9 dt 2

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
    plot summary using "alpha":"unique_percat_min":"unique_percat_max" with filledcurves ls 1 notitle, \
         ''      using "alpha":"unique_percat_mean" with linespoints ls 1 \
                 title "per-category (headline): mean, min-max band over draws", \
         ''      using "alpha":"unique_toplabel_min":"unique_toplabel_max" with filledcurves ls 2 notitle, \
         ''      using "alpha":"unique_toplabel_mean" with linespoints ls 2 \
                 title "top-label: mean, min-max band over draws"
    unset output
}
