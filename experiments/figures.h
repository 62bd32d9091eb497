/* figures.h - the figures of a sweep run folder (gnuplot, the plots/ scripts).
 *
 *   <run>/figures/unique_vs_alpha.{png,svg}    unique detectors against alpha
 *   <run>/figures/category_vs_alpha.{png,svg}  detectors per category against alpha
 *   <run>/figures/category_unique_vs_alpha.{png,svg}  unique detectors per category
 *                                              against alpha (mean, min-max band) beside the total
 *
 * drawn from <run>/summary.csv and <run>/sweep.csv; gnuplot's own messages
 * go to <run>/figures/gnuplot.log.  Used by the sweep and `dissect plot`.
 */
#ifndef ND_FIGURES_H
#define ND_FIGURES_H

/* Draw the three figures of a finished sweep run folder.  0 or -1 (nd_fail). */
int fig_draw(const char *run_dir);

/* For other experiments' figures: run plots/<base>.gp with the gnuplot
 * variables `vars` (fig_gp_quote lines; outbase is added) through
 * fig_gnuplot, writing <run_dir>/figures/<base>.{png,svg} (complete or
 * absent, verified); first = 1 starts figures/gnuplot.log afresh. */
int fig_run(const char *base, const char *run_dir, const char *vars, int first);

/* Folder holding the gnuplot scripts: $ND_PLOTS, else <binary>/../plots,
 * else ./plots; NULL (and nd_fail) if none holds unique_vs_alpha.gp. */
const char *fig_plots_dir(void);

/* Run gnuplot on one script with `vars` (gnuplot statements) and outbase
 * set; writes <run>/figures/<base>.{png,svg} atomically (first = 1 starts
 * gnuplot.log afresh).  Variables as fig_gp_quote writes them. */
#include <stdio.h>
int fig_gnuplot(const char *script, const char *run_dir, const char *base, const char *vars, int first);
/* name='value'; as a gnuplot statement ('' inside): file names, word
 * lists and other values the script uses as data. */
void fig_gp_quote(FILE *f, const char *name, const char *v);
/* The same for text a figure prints inside enhanced text (titles built
 * with sprintf around markup): every character shows as written - the one
 * escaping rule for figure text.  Labels taken from the data (keys from
 * category names, tics from layer names) are printed `noenhanced` by the
 * scripts instead. */
void fig_gp_quote_label(FILE *f, const char *name, const char *v);

#endif
