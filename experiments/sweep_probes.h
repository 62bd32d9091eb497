/* sweep_probes.h - the [probes] part of a sweep (config.h): per chosen
 * point, core/probe.h's scores written beside the dissection, and at the
 * end the run's tables and one figure per category.
 *
 *   points/<point>/probes.csv, probe_summary.json, probe_weights.npy, ibd.csv
 *                   (pr_write; ibd.csv when the activations are SqueezeNet
 *                   fire9 with weights); probe_summary.json is written last
 *                   and marks the point's probes complete (resume)
 *   probes.csv      every concept of every probed point
 *   probe_summary.csv  per alpha and category: means over the concepts of
 *                   each point, then mean and sd over draws, of single-unit,
 *                   binary-probe and linear-probe test IoU and units needed
 *   figures/probes_<category>.{png,svg}
 */
#ifndef ND_SWEEP_PROBES_H
#define ND_SWEEP_PROBES_H

#include "core/broden.h"
#include "core/features.h"
#include "experiments/config.h"

/* Whether the point (alpha, draw) is probed. */
int sweep_probe_wanted(const config *c, double alpha, int draw);

/* Probe one point into point_dir (R NULL for the unrotated one); ref_dir,
 * the unrotated point's folder, gives the equivariance check (or NULL).
 * Skips a point whose probe_summary.json exists.  *seconds: time taken. */
int sweep_probe_point(const config *c, const broden *ds, const nd_features *f, const double *R,
                      double alpha, long seed, const char *point_dir, const char *ref_dir,
                      int threads, double *seconds);

/* The run's tables and figures from the probed points' folders. */
typedef struct {
    double alpha;
    int draw;
    long seed;
    const char *dir;
} sweep_probe_pt;
int sweep_probe_tables(const config *c, const broden *ds, const sweep_probe_pt *pts, int n, int plot);

#endif
