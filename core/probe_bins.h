/* probe_bins.h - the threshold level of each upsampled score (the probes'
 * train-IoU histograms): the reference rule and its array form.  The level
 * of v on [lo, hi] over PR_BINS levels is floor((v - lo) / (hi - lo) *
 * PR_BINS), clamped to [0, PR_BINS - 1]. */
#ifndef ND_PROBE_BINS_H
#define ND_PROBE_BINS_H

#include <stddef.h>

/* the reference rule (one division); 0 when hi <= lo */
int pr_bin_ref(double v, double lo, double hi);

/* b[q] = pr_bin_ref(v[q], lo, hi) for q < n, by one multiply per value,
 * two values a step; the rare values within 1e-9 of a level edge (or out of
 * range) are redone by the reference rule. */
void pr_bins(const float *v, size_t n, double lo, double hi, int *b);

#endif
