# layers_fraction.gp - fraction of units that are detectors, per concept category, by layer
# (units whose best category is c and whose score > 0.04, over all units of the layer),
# trained network solid, random weights dashed:
# the paper's section 3.3 picture (colour and texture early, objects late).
# Reads a layers run's layers_plot.csv (columns "<net>_<category>_fraction").
# Variables (gnuplot -e):
#   data      path of layers_plot.csv       cats     category names, space separated
#   nets      "trained random" (present ones)  plottitle  title line (escaped
#             for enhanced text: figures.c fig_gp_quote_label)
#   outbase   output path without extension
# Writes outbase.png (pngcairo if available, else png) and outbase.svg.

if (!exists("data") || !exists("outbase") || !exists("cats") || !exists("nets")) {
    print "usage: gnuplot -e \"data='RUN/layers_plot.csv'; cats='object color texture'; nets='trained random'; outbase='out/layers_fraction'\" layers_fraction.gp"
    exit status 2
}
if (!exists("plottitle")) plottitle = ""
set datafile separator ","
set title sprintf("Fraction of units that are detectors, per category, by layer\n{/*0.8 %s}", plottitle)
set xlabel "layer"
set xtics noenhanced  # layer names from the data, shown as written
set ylabel "fraction of units (detectors of the category)"
set yrange [0:*]
set key outside right top box
set grid ytics lc rgb "#dddddd"
catcolour(i) = word("#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf", (i - 1) % 10 + 1)
nc = words(cats)
nn = words(nets)
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
            set terminal pngcairo size 1100,640 enhanced font "Sans,11"
        } else {
            set terminal png size 1100,640 enhanced
        }
    } else {
        set terminal svg size 1100,640 enhanced font "Sans,11" background rgb "white"
    }
    set output outbase.".".fmt
    plot for [k=1:nn] for [i=1:nc] data using "index":(column(word(nets, k)."_".word(cats, i)."_fraction")):xtic(2) \
         with linespoints lw 2 pt 7 dt k lc rgb catcolour(i) title word(cats, i)." (".word(nets, k).")" noenhanced
    unset output
}
