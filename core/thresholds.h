/* thresholds.h - per-unit exact top-quantile thresholds of a layer.
 *
 * A unit's threshold is the level-(1 - quantile) quantile of all its
 * activations, at every position of every image at feature resolution, with
 * linear interpolation between order statistics (core/quantile.h;
 * docs/method.md).  Three exact methods, which agree bit for bit:
 *
 *   ND_THR_WINDOW     one pass: a sample of about 1,024 images brackets each
 *                     unit's quantile in a value window; one pass over all
 *                     images counts the values below it and keeps those
 *                     inside, which pins both order statistics.  Fails when
 *                     the window misses (or the input is too small to sample).
 *   ND_THR_HISTOGRAM  two histogram passes (qt_stream), memory independent of N.
 *   ND_THR_SELECT     gather each unit's values and quickselect: the slow
 *                     obvious reference.
 *   ND_THR_AUTO       the window when it brackets the quantile, else the
 *                     histograms (a pass over a rotated source costs an
 *                     sgemm, so passes matter).
 */
#ifndef ND_THRESHOLDS_H
#define ND_THRESHOLDS_H

#include "core/features.h"
#include "core/progress.h"

typedef enum {
    ND_THR_AUTO = 0,
    ND_THR_WINDOW = 1,
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

#endif
