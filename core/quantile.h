/* quantile.h - exact order-statistic quantiles of float data.
 *
 * The level-p quantile with linear interpolation between order statistics
 * (numpy's default 'linear' method, Hyndman-Fan type 7): with the n values
 * sorted ascending v[0..n-1], pos = p*(n-1), i = floor(pos), t = pos - i,
 * Q = v[i] + t*(v[i+1] - v[i])  (written b - (1-t)(b-a) when t >= 0.5, as
 * numpy does, so both agree to the last bit in double).
 *
 * qt_select() finds the two order statistics by quickselect (linear time,
 * robust to the many ties of post-ReLU zeros: a 3-way partition on ranges
 * above 4,096 values, branch-free two-way splits through a stack buffer
 * below, where mispredicted compares were the cost); qt_sorted() is the
 * slow obvious reference (full sort) kept for tests.
 */
#ifndef ND_QUANTILE_H
#define ND_QUANTILE_H

#include <stddef.h>
#include <stdint.h>

/* Quantile of v[0..n-1] at level p in [0, 1]; reorders v.  n >= 1. */
double qt_select(float *v, size_t n, double p);
/* The same by sorting a copy (reference implementation). */
double qt_sorted(const float *v, size_t n, double p);
/* The k-th smallest (0-based) of v[0..n-1]; reorders v. */
float qt_kth(float *v, size_t n, size_t k);
/* Fold v[0..n) into *lo and *hi (the smallest and largest so far; start
 * from INFINITY / -INFINITY or from a value of the data).  Finite values. */
void qt_minmax(const float *v, size_t n, float *lo, float *hi);
/* Ranks r0 <= r1 and fraction t that the level-p quantile of n values uses. */
void qt_ranks(size_t n, double p, size_t *r0, size_t *r1, double *t);
/* Interpolate between two adjacent order statistics a <= b at fraction t. */
double qt_lerp(double a, double b, double t);

/* Streaming exact quantiles for many units at once, in two passes over the
 * data (so a source that is expensive to produce, e.g. rotated activations,
 * is produced twice, whatever its size), with memory independent of N.
 *
 * Floats map to order-preserving 32-bit keys.  Pass 1 histograms the top 16
 * bits of each unit's keys and finds the bins holding the two order
 * statistics that the quantile interpolates; pass 2 histograms the low 16
 * bits inside those bins, which pins both order statistics exactly.
 * Histograms are integer counts, so partial histograms of disjoint image
 * ranges add up exactly (threads, shards).
 *
 *     qt_stream *q = qt_stream_new(K, n_per_unit, level);
 *     for pass in 1, 2:  for each block: qt_stream_add(q, pass, part, x, n_img, hw)  (part: per-thread)
 *                        qt_stream_end_pass(q, pass)
 *     qt_stream_result(q, thresholds);
 */
typedef struct qt_stream qt_stream;
typedef struct qt_part qt_part; /* one thread's private counts */
qt_stream *qt_stream_new(size_t K, uint64_t n_per_unit, double level);
qt_part *qt_part_new(const qt_stream *q, int pass);
/* x: n images of [K][hw] floats */
void qt_part_add(const qt_stream *q, qt_part *part, int pass, const float *x, size_t n, size_t hw);
/* adds the part's counts into q and frees the part */
void qt_part_merge(qt_stream *q, qt_part *part, int pass);
int qt_stream_end_pass(qt_stream *q, int pass);
/* The pass's merged counts, *n of them (before qt_stream_end_pass of that
 * pass): shards of the images (e.g. MPI ranks) sum these elementwise, and
 * then each ends the pass on the summed counts - the result is that of one
 * stream over all images. */
uint32_t *qt_stream_counts(qt_stream *q, int pass, size_t *n);
void qt_stream_result(const qt_stream *q, double *out);
void qt_stream_free(qt_stream *q);

#endif
