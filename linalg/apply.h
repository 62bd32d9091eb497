/* apply.h - rotating activations: r(x) = R a(x) at every spatial position.
 *
 * Activations are [N, K, h, w] float32; R is K x K (double, converted to float
 * for sgemm).  One sgemm per image (or block of images), never a per-pixel loop.
 */
#ifndef ND_APPLY_H
#define ND_APPLY_H

#include <stddef.h>

#include "core/features.h"

/* out[i] = R in[i] for n images of K x hw each (out must not alias in). */
void rot_apply(float *out, const float *in, const float *Rf, size_t n, size_t K, size_t hw);

/* A feature source that yields R a(x) for the images of `in` (which must
 * outlive it); R is copied.  Free with rot_features_free().  While it
 * exists OpenBLAS runs on one thread: callers parallelise over images (as
 * the dissector does), and rotated values do not depend on thread counts. */
int rot_features(nd_features *out, const nd_features *in, const double *R);
void rot_features_free(nd_features *f);

#endif
