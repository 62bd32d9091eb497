/* figures.h - the figures of a sweep run folder (gnuplot, the plots/ scripts).
 *
 *   <run>/figures/unique_vs_alpha.{png,svg}    unique detectors against alpha
 *   <run>/figures/category_vs_alpha.{png,svg}  detectors per category against alpha
 *
 * drawn from <run>/summary.csv and <run>/sweep.csv; gnuplot's own messages
 * go to <run>/figures/gnuplot.log.  Used by the sweep and `dissect plot`.
 */
#ifndef ND_FIGURES_H
#define ND_FIGURES_H

/* Draw both figures of a finished run folder.  0 or -1 (nd_fail). */
int fig_draw(const char *run_dir);

/* Folder holding the gnuplot scripts: $ND_PLOTS, else <binary>/../plots,
 * else ./plots; NULL (and nd_fail) if none holds unique_vs_alpha.gp. */
const char *fig_plots_dir(void);

#endif
