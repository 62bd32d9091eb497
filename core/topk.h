/* topk.h - exact upper quantiles of many units in one streaming pass.
 *
 * A top quantile (level p close to 1) of a unit's n values interpolates
 * between two order statistics that both lie among its `keep` = n - r0
 * largest values (r0 = floor(p (n - 1)), quantile.h).  A qt_top keeps, per
 * unit, a buffer of at most 2 keep candidates and a floor: a value at or
 * below the floor cannot be among the keep largest seen so far, so it is
 * skipped (most values are, after the first images); when the buffer fills
 * it is cut back to its keep largest by quickselect and the floor rises to
 * the smallest of them.  The multiset of the keep largest values is thus
 * always held exactly, whatever order the values arrive in, so the
 * quantile is exact - equal to sorting - in a single pass over the data,
 * with memory 2 keep floats per unit (independent of the data's values).
 *
 * Each thread fills its own qt_top from disjoint images; the union of the
 * threads' buffers holds the keep largest values of all of them, so the
 * result does not depend on how images were split over threads.
 *
 *     size_t keep = qt_top_keep(n, level);
 *     qt_top *t = qt_top_new(K, keep, NULL);      (one per thread)
 *     qt_top_add(t, x, n_images, hw);             (x: n_images of [K][hw])
 *     qt_top_result(parts, nparts, n, level, out);  (the selection on nparts threads)
 */
#ifndef ND_TOPK_H
#define ND_TOPK_H

#include <stddef.h>
#include <stdint.h>

typedef struct qt_top qt_top;

/* Largest values per unit that the level-p quantile of n values needs. */
size_t qt_top_keep(uint64_t n, double level);
/* NULL if out of memory.  floor0 (or NULL): per-unit guesses of a value
 * below the keep-th largest (e.g. from a sample); values at or below them
 * are skipped from the start, and qt_top_result reports a wrong guess. */
qt_top *qt_top_new(size_t K, size_t keep, const float *floor0);
/* x: n images of [K][hw] floats (finite) */
int qt_top_add(qt_top *t, const float *x, size_t n, size_t hw);
/* The level-p quantile of each unit's n values from the threads' parts
 * (together they saw every value once); out[K].  0 done, 1 if a guessed
 * floor was too high (start again without guesses), -1 out of memory. */
int qt_top_result(qt_top *const *parts, int nparts, uint64_t n, double level, double *out);
/* The same per unit: missed[K] (zeroed by the caller) flags the units
 * whose guessed floor was too high (their out[] is not written: read them
 * again, e.g. through qt_top_add_unit, without guesses); returns how many,
 * or -1 out of memory. */
long qt_top_result_units(qt_top *const *parts, int nparts, uint64_t n, double level, double *out,
                         unsigned char *missed);
/* Add one map v[0..hw) of unit k (a pass over some units only). */
int qt_top_add_unit(qt_top *t, size_t k, const float *v, size_t hw);
/* What the sieve (core/onepass.c) needs of a map, from the read that adds it. */
typedef struct {
    float floor;  /* the floor its values were taken above (-INFINITY: none yet, all taken) */
    float max;    /* the map's maximum (nd_map_max's bits) */
    size_t above; /* how many were above the floor */
} qt_scan;
/* qt_top_add_unit of one map, also filling *s and, unless mk is NULL, the
 * nodes above s->floor as the bits of mk[(hw + 63) / 64] (node p: bit
 * p % 64 of word p / 64).  0 done, -1 out of memory. */
int qt_top_add_unit_scan(qt_top *t, size_t k, const float *v, size_t hw, qt_scan *s, uint64_t *mk);
void qt_top_free(qt_top *t);
/* The k-th largest of v[0..n) (1 <= k <= n; the value qt_kth(v, n, n - k)
 * gives), by the final selection's histogram (or quickselect when the
 * range does not suit one); reorders v. */
float qt_kth_largest(float *v, size_t n, size_t k);

/* Unit k's current floor in t: at least keep of the values seen so far
 * are at or above it, so no value at or below it exceeds the final
 * quantile; -INFINITY before there is one.  Floors only rise
 * (core/onepass.c sieves maps by them). */
float qt_top_floor(const qt_top *t, size_t k);

/* The values of v[0..n) above f, in order, written to dst (room for n
 * floats); returns how many.  impl 0 the scalar reference, 1 the SSE2
 * path, 2 the AVX2 path, 3 the AVX-512 path, 4 the AVX-512 path of
 * qt_top_add's log (room for n + 16 floats), 5 the AVX2 path of the log
 * ((size_t)-1 if the CPU lacks it); qt_top_add uses the fastest the CPU
 * has.  For the tests. */
size_t qt_above_impl(int impl, const float *v, size_t n, float f, float *dst);
/* The same by the fastest path (the one qt_top_add uses). */
size_t qt_above(const float *v, size_t n, float f, float *dst);
/* The scan of qt_top_add_unit_scan alone (nothing added): qt_above's
 * values, *max and (unless NULL) the mask mk of v[0..n) (n >= 1). */
size_t qt_scan_map(const float *v, size_t n, float f, float *dst, float *max, uint64_t *mk);
/* The same by path impl: 0 the obvious loops, 1 the path of CPUs without
 * AVX2, 2 the AVX2 path, 3 the AVX-512 path ((size_t)-1 if the CPU lacks
 * it).  For the tests. */
size_t qt_scan_map_impl(int impl, const float *v, size_t n, float f, float *dst, float *max, uint64_t *mk);

#endif
