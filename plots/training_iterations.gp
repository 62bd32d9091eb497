# training_iterations.gp - interpretability over training iterations: unique
# detectors per category at the last conv layer of the baseline's snapshots
# (log iteration axis; iteration 0, the initialisation, is left out of the
# log axis and kept in iterations.csv) and held-out accuracy on the right.
# Reads a training run's iterations.csv (iteration, val_acc, <cat>_unique ...).
# Variables (gnuplot -e):
#   data     path of iterations.csv      cats   category names, space separated
#   layer    the layer's name (title)    outbase output path without extension
# Writes outbase.png (pngcairo if available, else png) and outbase.svg.

if (!exists("data") || !exists("outbase") || !exists("cats")) {
    print "usage: gnuplot -e \"data='RUN/iterations.csv'; cats='object part'; outbase='out/training_iterations'\" training_iterations.gp"
    exit status 2
}
if (!exists("layer")) layer = "the last conv layer"
set datafile separator ","
set title sprintf("Unique detectors at %s and held-out accuracy against training iteration", layer)
set xlabel "training iteration"
set ylabel "unique detectors (per-category convention)"
set y2label "held-out accuracy"
set logscale x
set yrange [0:*]
set y2range [0:1]
set ytics nomirror
set y2tics
set key outside right top box
set grid ytics lc rgb "#dddddd"
catcolour(i) = word("#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf", (i - 1) % 10 + 1)
nc = words(cats)
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
            set terminal pngcairo size 1000,600 enhanced font "Sans,11"
        } else {
            set terminal png size 1000,600 enhanced
        }
    } else {
        set terminal svg size 1000,600 enhanced font "Sans,11" background rgb "white"
    }
    set output outbase.".".fmt
    plot for [i=1:nc] data using ($1 > 0 ? $1 : NaN):(column(word(cats, i)."_unique")) \
             with linespoints lw 2 pt 7 lc rgb catcolour(i) title word(cats, i), \
         data using ($1 > 0 ? $1 : NaN):"val_acc" axes x1y2 with linespoints lw 2 dt 2 pt 6 \
             lc rgb "black" title "held-out accuracy"
    unset output
}
