#include "core/features.h"
#include "core/err.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int npy_get(void *ctx, size_t i0, size_t n, float *buf, const float **out)
{
    const npy_t *a = ctx;
    size_t per = a->shape[1] * a->shape[2] * a->shape[3];
    if (a->dtype == NPY_F32) {
        *out = (const float *)a->data + i0 * per;
        return 0;
    }
    npy_to_f32(a, i0 * per, n * per, buf);
    *out = buf;
    return 0;
}

int nd_features_from_npy(nd_features *f, const npy_t *a)
{
    memset(f, 0, sizeof *f);
    if (a->ndim != 4)
        return nd_fail("%s: activations must be 4-D [N, K, h, w], got %d dimensions", a->path, a->ndim);
    if (a->dtype != NPY_F32 && a->dtype != NPY_F16 && a->dtype != NPY_F64)
        return nd_fail("%s: activations must be float32 or float16, got %s", a->path,
                       npy_dtype_name(a->dtype));
    for (int d = 0; d < 4; d++)
        if (a->shape[d] == 0)
            return nd_fail("%s: activations have an empty dimension (shape[%d] = 0)", a->path, d);
    f->N = a->shape[0];
    f->K = a->shape[1];
    f->h = a->shape[2];
    f->w = a->shape[3];
    f->get = npy_get;
    f->ctx = (void *)a;
    return 0;
}

int nd_features_check_finite(const nd_features *f, const char *name)
{
    size_t per = f->K * f->h * f->w, B = 64;
    float *buf = nd_malloc(B * per * sizeof *buf);
    if (!buf)
        return -1;
    int rc = 0;
    for (size_t i0 = 0; i0 < f->N && !rc; i0 += B) {
        size_t n = f->N - i0 < B ? f->N - i0 : B;
        const float *x;
        if (f->get(f->ctx, i0, n, buf, &x)) {
            rc = -1;
            break;
        }
        /* a branch-free scan for an all-ones exponent; locate only on failure */
        const uint32_t *bits = (const uint32_t *)(const void *)x;
        uint32_t any = 0;
        for (size_t j = 0; j < n * per; j++)
            any |= (uint32_t)((bits[j] & 0x7f800000u) == 0x7f800000u);
        if (!any)
            continue;
        for (size_t j = 0; j < n * per; j++)
            if (!isfinite(x[j])) {
                size_t img = i0 + j / per, k = (j % per) / (f->h * f->w), p = j % (f->h * f->w);
                rc = nd_fail("%s: non-finite activation %g at image %zu, unit %zu, position (y=%zu, x=%zu)",
                             name, (double)x[j], img, k, p / f->w, p % f->w);
                break;
            }
    }
    free(buf);
    return rc;
}

/* Run fn on this job's blocks of images (blocks tid, tid + nt, ... of 16
 * images), read through f into a private buffer, until fn returns nonzero.
 * Returns 0, or -1 with the message in err. */
int nd_features_blocks(const nd_features *f, int tid, int nt, int (*fn)(void *ctx, const float *x, size_t i0, size_t n),
                      void *ctx, char *err, size_t errlen)
{
    size_t B = 16, per = f->K * f->h * f->w;
    float *buf = nd_malloc(B * per * sizeof *buf);
    if (!buf) {
        snprintf(err, errlen, "%s", nd_errmsg());
        return -1;
    }
    int rc = 0;
    size_t nblocks = (f->N + B - 1) / B;
    for (size_t ck = (size_t)tid; ck < nblocks; ck += (size_t)nt) {
        size_t a = ck * B, n = f->N - a < B ? f->N - a : B;
        const float *x;
        if (f->get(f->ctx, a, n, buf, &x)) {
            snprintf(err, errlen, "%s", nd_errmsg());
            rc = -1;
            break;
        }
        if (fn(ctx, x, a, n))
            break;
    }
    free(buf);
    return rc;
}
