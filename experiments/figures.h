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
 * variables `vars` (fig_var lines; outbase is added), writing
 * <run_dir>/figures/<base>.{png,svg} (complete or absent); first = 1
 * starts figures/gnuplot.log afresh. */
#include <stdio.h>
int fig_run(const char *base, const char *run_dir, const char *vars, int first);
/* Write name='value'; (a gnuplot string, quotes doubled) to f. */
void fig_var(FILE *f, const char *name, const char *v);

/* Folder holding the gnuplot scripts: $ND_PLOTS, else <binary>/../plots,
 * else ./plots; NULL (and nd_fail) if none holds unique_vs_alpha.gp. */
const char *fig_plots_dir(void);

#endif
