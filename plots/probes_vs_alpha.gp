# probes_vs_alpha.gp - one concept category of a sweep with [probes]: mean
# test IoU of the best single unit, the binary probe and the linear probe
# against alpha (error bars: sd over draws), and units needed against alpha.
# Reads probe_summary.csv.  Variables:
#   summary   path of probe_summary.csv    cat       the category
#   plottitle "network layer on dataset"   outbase   output path without extension
#   catlabel  the category as a title shows it (escaped for enhanced text)
if (!exists("summary") || !exists("outbase") || !exists("cat")) {
    print "usage: gnuplot -e \"summary='RUN/probe_summary.csv'; cat='object'; outbase='out/probes_object'\" probes_vs_alpha.gp"
    exit status 2
}
if (!exists("plottitle")) plottitle = ""
if (!exists("catlabel")) catlabel = cat
set datafile separator ","
sel(c) = (strcol("category") eq cat) ? column(c) : NaN
set offsets 0.03, 0.03, 0, 0
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
            set terminal pngcairo size 960,900 enhanced font "Sans,11"
        } else {
            set terminal png size 960,900 enhanced
        }
    } else {
        set terminal svg size 960,900 enhanced font "Sans,11" background rgb "white"
    }
    set output outbase.".".fmt
    set multiplot layout 2,1 title sprintf("Category %s under rotation Q^{/Symbol a} (test images, mean over draws)\n{/*0.8 %s}", catlabel, plottitle)
    set xlabel "rotation power {/Symbol a}"
    set ylabel "test IoU (mean over concepts)"
    set yrange [0:*]
    set grid ytics lc rgb "#dddddd"
    set key top right box
    plot summary using "alpha":(sel("linear_mean")):(sel("linear_sd")) with yerrorlines lw 2 title "linear probe", \
         summary using "alpha":(sel("binary_mean")):(sel("binary_sd")) with yerrorlines lw 2 title "binary probe", \
         summary using "alpha":(sel("single_mean")):(sel("single_sd")) with yerrorlines lw 2 title "best single unit"
    set ylabel "units needed (90% of the probe's train IoU)"
    set logscale y 2
    set yrange [1:*]
    plot summary using "alpha":(sel("units_mean")):(sel("units_sd")) with yerrorlines lw 2 title "units needed"
    unset logscale y
    unset multiplot
    unset output
}
