/* thresholds.h - per-unit exact top-quantile thresholds of a layer.
 *
 * A unit's threshold is the level-(1 - quantile) quantile of all its
 * activations, at every position of every image at feature resolution, with
 * linear interpolation between order statistics (core/quantile.h;
 * docs/method.md).  Three exact methods, which agree bit for bit:
 *
 *   ND_THR_STREAM     one pass: each thread keeps, per unit, the candidates
 *                     above a rising floor - a superset of the unit's
 *                     keep = n - floor(p (n - 1)) largest values, which hold
 *                     both order statistics (core/topk.h).  Floors start
 *                     from a sample of 32 or 64 images; a guess too high is
 *                     detected and costs a second pass.  Memory: 2 keep
 *                     floats per unit and thread (fails above 1 GiB).
 *   ND_THR_HISTOGRAM  two histogram passes (qt_stream), memory independent of N.
 *   ND_THR_SELECT     gather each unit's values and quickselect: the slow
 *                     obvious reference.
 *   ND_THR_AUTO       the stream, or the histograms when the stream's
 *                     candidates would not fit (a pass over a rotated source
 *                     costs an sgemm, so passes matter).
 */
#ifndef ND_THRESHOLDS_H
#define ND_THRESHOLDS_H

#include "core/features.h"
#include "core/progress.h"
#include "core/quantile.h"

/* Images per block read by the threshold passes (nd_features_blocks);
 * blocks are aligned to global image indices (so shards whose ends are
 * multiples of it read the single process's blocks). */
#define ND_THR_BLOCK ND_FEATURES_BLOCK

typedef enum {
    ND_THR_AUTO = 0,
    ND_THR_STREAM = 1,
    ND_THR_HISTOGRAM = 2,
    ND_THR_SELECT = 3
} nd_thr_method;

/* Thresholds out[K] by `method`; *used (if not NULL) is the method that
 * produced them (never ND_THR_AUTO).  Progress stage "thresholds", in units. */
int nd_thresholds_by(const nd_features *f, double quantile, int threads, nd_thr_method method,
                     nd_progress progress, double *out, nd_thr_method *used);

/* ND_THR_AUTO without progress. */
int nd_thresholds(const nd_features *f, double quantile, int threads, double *out /* [K] */);
/* ND_THR_SELECT without progress (the reference, for tests). */
int nd_thresholds_select(const nd_features *f, double quantile, int threads, double *out);

const char *nd_thr_method_name(nd_thr_method m);

/* One histogram pass over a shard: add the pass-`pass` counts of images
 * [i0, i1) to q (core/quantile.h; q = qt_stream_new(K, N*h*w, 1 - quantile)
 * over all N images).  Counts are integers, so shards that sum their
 * qt_stream_counts() before each qt_stream_end_pass() get the thresholds of
 * ND_THR_HISTOGRAM over all images - which are those of every method, bit
 * for bit (exact order statistics).  The blocks read are aligned to global
 * image indices, as in the single-process passes. */
int nd_thresholds_pass(const nd_features *f, qt_stream *q, int pass, size_t i0, size_t i1, int threads);

#endif
