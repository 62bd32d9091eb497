# ablate_effect.gp - what the network loses when units are switched off
# (`dissect ablate`): one panel per concept, the mean drop of the intact top
# class's probability against the number of units removed k: the concept's
# top-k detectors on images with the concept (solid) and without it
# (dashed), k random units on images with it (mean and sd over draws), and
# the concept's top-k detectors of the rotated layer (alpha = 1) and k random
# units of the rotated layer (directions).
# Reads figures/effect_vs_k.dat (one block per concept, gnuplot index).
# Variables (gnuplot -e):
#   data      path of effect_vs_k.dat     concepts  names, space separated (in block order)
#   plottitle title line                  outbase   output path without extension
# Writes outbase.png (pngcairo if available, else png) and outbase.svg.

if (!exists("data") || !exists("outbase") || !exists("concepts")) {
    print "usage: gnuplot -e \"data='RUN/figures/effect_vs_k.dat'; concepts='a b'; outbase='out/effect_vs_k'\" ablate_effect.gp"
    exit status 2
}
if (!exists("plottitle")) plottitle = ""
n = words(concepts)
cols = n < 3 ? n : 3
rows = (n + cols - 1) / cols
set logscale x 2
set xlabel "units removed k"
set ylabel "drop of p(intact top-1 class)"
set grid ytics lc rgb "#dddddd"
set key below font ",7" maxrows 3 samplen 2
set style line 1 lc rgb "#d62728" lw 2 pt 7 ps 0.8
set style line 2 lc rgb "#d62728" lw 1.5 pt 6 ps 0.8 dt 2
set style line 3 lc rgb "#7f7f7f" lw 1.5 pt 5 ps 0.7
set style line 4 lc rgb "#1f77b4" lw 1.5 pt 9 ps 0.8
set style line 5 lc rgb "#9ecae1" lw 1.5 pt 8 ps 0.7 dt 3
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
            set terminal pngcairo size 420*cols,400*rows+40 enhanced font "Sans,10"
        } else {
            set terminal png size 420*cols,400*rows+40 enhanced
        }
    } else {
        set terminal svg size 420*cols,400*rows+40 enhanced font "Sans,10" background rgb "white"
    }
    set output outbase.".".fmt
    set multiplot layout rows,cols title "Switching units off: ".plottitle noenhanced
    do for [i=1:n] {
        set title word(concepts, i) noenhanced
        plot data index (i-1) using 1:2 with linespoints ls 1 title "top-k detectors, images with it", \
             '' index (i-1) using 1:3 with linespoints ls 2 title "top-k detectors, images without", \
             '' index (i-1) using 1:4:5 with yerrorlines ls 3 title "k random units, images with it", \
             '' index (i-1) using 1:6 with linespoints ls 4 title "top-k rotated (alpha 1), with it", \
             '' index (i-1) using 1:8:9 with yerrorlines ls 5 title "k random rotated, with it"
    }
    unset multiplot
    unset output
}
