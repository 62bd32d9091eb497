/* quantile.h - exact order-statistic quantiles of float data.
 *
 * The level-p quantile with linear interpolation between order statistics
 * (numpy's default 'linear' method, Hyndman-Fan type 7): with the n values
 * sorted ascending v[0..n-1], pos = p*(n-1), i = floor(pos), t = pos - i,
 * Q = v[i] + t*(v[i+1] - v[i])  (written b - (1-t)(b-a) when t >= 0.5, as
 * numpy does, so both agree to the last bit in double).
 *
 * qt_select() finds the two order statistics by 3-way quickselect (linear
 * time, robust to the many ties of post-ReLU zeros); qt_sorted() is the slow
 * obvious reference (full sort) kept for tests.
 */
#ifndef ND_QUANTILE_H
#define ND_QUANTILE_H

#include <stddef.h>

/* Quantile of v[0..n-1] at level p in [0, 1]; reorders v.  n >= 1. */
double qt_select(float *v, size_t n, double p);
/* The same by sorting a copy (reference implementation). */
double qt_sorted(const float *v, size_t n, double p);
/* Interpolate between two adjacent order statistics a <= b at fraction t. */
double qt_lerp(double a, double b, double t);

#endif
