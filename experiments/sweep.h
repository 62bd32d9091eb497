/* sweep.h - the rotation experiment (paper section 3.2) driven by a config.
 *
 * Run folder layout (<out> = [output] dir):
 *   config.effective.ini       the configuration in use (see config.h)
 *   points/a<alpha>_d<draw>/   one dissection: result.csv, summary.json,
 *                              thresholds.npy (nd_write_result) and point.csv,
 *                              written last: the point's row of sweep.csv.
 *                              A point is complete iff point.csv exists.
 *   sweep.csv                  one row per point (alpha, draw, seed, counts)
 *   summary.csv                per alpha: n, mean, sd, min, max over draws
 *   figures/                   unique_vs_alpha and category_vs_alpha, .png and .svg
 *                              (experiments/figures.h)
 *   sweep.log                  one line per point and run: computed / skipped
 *
 * The alpha = 0 point is dissected once, from the activations themselves
 * (no rotation applied: the same call as `dissect units`); its row has draw 0
 * and seed -1.  Each other point uses R = Q_d^alpha, Q_d = rot_haar(K,
 * base_seed + d).  Every file is written atomically, so a run killed at any
 * moment and started again skips the complete points and ends with the
 * same files as an uninterrupted run.
 */
#ifndef ND_SWEEP_H
#define ND_SWEEP_H

#include "experiments/config.h"

typedef struct {
    int threads; /* dissector threads, 0 = all cores (results do not depend on it) */
    int verbose; /* also the dissector's and feature extraction's progress lines */
    int no_plot; /* skip the figures */
} sweep_opts;

/* Run (or resume) the sweep; c may be updated (field resolved). 0 or -1. */
int sweep_run(config *c, const sweep_opts *o);

#endif
