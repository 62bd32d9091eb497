/* apply.h - rotating activations: r(x) = R a(x) at every spatial position.
 *
 * Activations are [N, K, h, w] float32; R is K x K (double, converted to float
 * for sgemm).  One sgemm per group of images, never a per-pixel loop.
 */
#ifndef ND_APPLY_H
#define ND_APPLY_H

#include <stddef.h>

#include "core/features.h"

/* Images are rotated in groups of ROT_GROUP consecutive images, fixed by
 * global index (see apply.c): a rotated value depends on its group only. */
#define ROT_GROUP 8

/* out[i] = R in[i] for n images of K x hw each (out must not alias in),
 * in[0] the first image of a group (so the values are rot_features'):
 * images [0, 8), [8, 16), ... one product each.  0, or -1 with nd_fail()
 * when this thread's scratch cannot be allocated. */
int rot_apply(float *out, const float *in, const float *Rf, size_t n, size_t K, size_t hw);

/* A feature source that yields R a(x) for the images of `in` (which must
 * outlive it); R is copied.  It also hands over one group at a time
 * unit-major (nd_features_units, group ROT_GROUP).  Free with rot_features_free().  While it
 * exists OpenBLAS runs on one thread: callers parallelise over images (as
 * the dissector does), and rotated values do not depend on thread counts. */
int rot_features(nd_features *out, const nd_features *in, const double *R);
void rot_features_free(nd_features *f);

#endif
