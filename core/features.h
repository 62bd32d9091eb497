/* features.h - a source of activations [N, K, h, w] (float32, C order, N in
 * dataset index order), read in blocks of whole images.
 *
 * The dissector never assumes the activations sit in one array: a source
 * can be a memory-mapped .npy (float32 returned in place, float16 converted),
 * or a transform of another source (linalg's rotation r(x) = R a(x) is one),
 * so rotated activations stream into the dissector without being written.
 *
 *     nd_features f;
 *     if (nd_features_from_npy(&f, &npy)) ...
 *     float *buf = malloc(n * f.K * f.h * f.w * sizeof(float));
 *     const float *x;
 *     f.get(f.ctx, i0, n, buf, &x);   // x = images i0..i0+n-1 (may point into buf or not)
 */
#ifndef ND_FEATURES_H
#define ND_FEATURES_H

#include <stddef.h>

#include "core/npy.h"

typedef struct nd_features {
    size_t N, K, h, w;
    /* Make images [i0, i0+n) available as float32 [n, K, h, w] at *out.
     * buf has room for n*K*h*w floats; the source may fill it or point *out
     * elsewhere (e.g. into a mapping).  Returns 0, or -1 with nd_fail().
     * Must be safe to call from several threads with distinct bufs. */
    int (*get)(void *ctx, size_t i0, size_t n, float *buf, const float **out);
    void *ctx;
} nd_features;

/* A 4-D float32 or float16 .npy; the npy_t must outlive the source. */
int nd_features_from_npy(nd_features *f, const npy_t *a);

/* Check every value is finite; error names the file, image, unit and value. */
int nd_features_check_finite(const nd_features *f, const char *name);

/* Job tid of nt: run fn on blocks tid, tid + nt, ... of 16 images, read
 * through f into a private buffer (x = images i0 .. i0+n-1), until fn
 * returns nonzero.
 * Returns 0, or -1 with the message in err (a worker thread's own buffer). */
int nd_features_blocks(const nd_features *f, int tid, int nt, int (*fn)(void *ctx, const float *x, size_t i0, size_t n),
                       void *ctx, char *err, size_t errlen);

#endif
