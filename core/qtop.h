/* qtop.h - exact per-unit top-quantile thresholds in ONE pass, for
 * activations that are produced on the fly (a forward pass) and never
 * stored.
 *
 * The threshold at level p (0.995) interpolates the order statistics of
 * rank r0 and r1 = r0 + 1 (qt_ranks), both among the m = n - r0 largest
 * values of the unit.  So each unit keeps a buffer of at most 2m values:
 * when it fills, quickselect keeps the m largest and their minimum becomes
 * a floor below which (and at which) a new value cannot change the top-m
 * multiset.  Memory is about 2 * quantile * n floats per unit (for
 * SqueezeNet's nine layers on 1,791 images: ~250 MB), time is linear.
 * The result is the same number qt_select() gives on all the values, to
 * the last bit, whatever the order in which blocks arrive, since the top-m
 * multiset does not depend on it.
 *
 *     qt_top *q = qt_top_new(K, n_per_unit, 1 - 0.005);
 *     for each block of images: qt_top_add(q, x, n_img, hw, threads);   // x: [n_img][K][hw]
 *     if (qt_top_result(q, thresholds)) ...;   // error if a count is off or a value not finite
 *     qt_top_free(q);
 */
#ifndef ND_QTOP_H
#define ND_QTOP_H

#include <stddef.h>
#include <stdint.h>

typedef struct qt_top qt_top;

/* NULL when out of memory (error recorded). */
qt_top *qt_top_new(size_t K, uint64_t n_per_unit, double level);
/* Units are split over `threads` (nd_threads rule); deterministic. */
int qt_top_add(qt_top *q, const float *x, size_t n_img, size_t hw, int threads);
/* Thresholds [K]; -1 when a unit saw a count other than n_per_unit or a
 * non-finite value (error names the unit). */
int qt_top_result(qt_top *q, double *out);
void qt_top_free(qt_top *q);

#endif
