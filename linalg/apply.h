/* apply.h - rotating activations: r(x) = R a(x) at every spatial position.
 *
 * Activations are [N, K, h, w] float32; R is K x K (double, converted to float
 * for sgemm).  One sgemm per image (the reference) or per packed block of
 * ROT_BLOCK images (the streaming source), never a per-pixel loop.
 */
#ifndef ND_APPLY_H
#define ND_APPLY_H

#include <stddef.h>

#include "core/features.h"

/* out[i] = R in[i] for n images of K x hw each (out must not alias in):
 * one sgemm per image, the reference for the packed path. */
void rot_apply(float *out, const float *in, const float *Rf, size_t n, size_t K, size_t hw);

/* Images per packed product: image i always sits in slot i % ROT_BLOCK of
 * a K x (ROT_BLOCK * hw) product, so its rotated values do not depend on
 * how a caller blocks its requests.  Callers that read in multiples of
 * ROT_BLOCK aligned images waste nothing. */
enum { ROT_BLOCK = 8 };

/* out[i] = R in[i] for the n images of slots slot0 .. slot0 + n - 1
 * (slot0 + n <= ROT_BLOCK) of one packed block; the other slots are zero.
 * scratch: 2 * ROT_BLOCK * K * hw floats.  Agrees with rot_apply() to
 * float32 rounding, not bit for bit. */
void rot_apply_block(float *out, const float *in, const float *Rf, size_t slot0, size_t n, size_t K,
                     size_t hw, float *scratch);

/* A feature source that yields R a(x) for the images of `in` (which must
 * outlive it), through rot_apply_block (each image in its global slot, so
 * values do not depend on the caller's blocks or threads); R is copied.  Free with rot_features_free().  While it
 * exists OpenBLAS runs on one thread: callers parallelise over images (as
 * the dissector does), and rotated values do not depend on thread counts. */
int rot_features(nd_features *out, const nd_features *in, const double *R);
void rot_features_free(nd_features *f);

#endif
