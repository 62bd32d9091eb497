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
    return nd_features_check_finite_range(f, name, 0, f->N);
}

void nd_image_shard(size_t N, int rank, int nranks, size_t align, size_t *i0, size_t *i1)
{
    size_t nb = (N + align - 1) / align, r = (size_t)rank, R = (size_t)nranks;
    size_t b0 = nb * r / R, b1 = nb * (r + 1) / R;
    *i0 = b0 * align < N ? b0 * align : N;
    *i1 = b1 * align < N ? b1 * align : N;
}

int nd_features_check_finite_range(const nd_features *f, const char *name, size_t first, size_t end)
{
    size_t per = f->K * f->h * f->w, B = 64;
    float *buf = nd_malloc(B * per * sizeof *buf);
    if (!buf)
        return -1;
    int rc = 0;
    for (size_t i0 = first; i0 < end && !rc; i0 += B) {
        size_t n = end - i0 < B ? end - i0 : B;
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
