# training_unique.gp - unique detectors per category at the last conv layer
# for each training condition (the paper's figure of section 3.4): the
# baseline's mean over seeds with its standard deviation as an error bar,
# no dropout, batch norm and the random untrained network beside it.
# Reads a training run's figure_unique.csv (category, then <group>,<group>_sd).
# Variables (gnuplot -e):
#   data     path of figure_unique.csv    layer    the layer's name (title)
#   cats     category names (unused: the rows are the categories)
#   outbase  output path without extension
# Writes outbase.png (pngcairo if available, else png) and outbase.svg.

if (!exists("data") || !exists("outbase")) {
    print "usage: gnuplot -e \"data='RUN/figure_unique.csv'; outbase='out/training_unique'\" training_unique.gp"
    exit status 2
}
if (!exists("layer")) layer = "the last conv layer"
set datafile separator ","
set key autotitle columnhead
set title sprintf("Unique detectors per category at %s by training condition\n{/*0.8 baseline: mean over seeds, bar = standard deviation}", layer)
set ylabel "unique detectors (per-category convention)"
set yrange [0:*]
set style fill solid 0.8 border -1
set xrange [-0.6:*]
set offsets 0, 0.6, 0, 0
set key outside right top box
set grid ytics lc rgb "#dddddd"
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
    plot data using ($0 - 0.3):2:(0.19) with boxes lc rgb "#1f77b4" title "baseline", \
         data using ($0 - 0.3):2:3 with yerrorbars lc rgb "black" pt 0 notitle, \
         data using ($0 - 0.1):4:(0.19) with boxes lc rgb "#ff7f0e" title "no dropout", \
         data using ($0 + 0.1):6:(0.19) with boxes lc rgb "#2ca02c" title "batch norm", \
         data using ($0 + 0.3):8:(0.19) with boxes lc rgb "#7f7f7f" title "random", \
         data using 0:(NaN):xtic(1) notitle
    unset output
}
