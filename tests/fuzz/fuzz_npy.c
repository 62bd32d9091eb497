/* fuzz_npy.c - the .npy reader (core/npy.c npy_open: magic, version, header
 * dict, shape, dtype, size check) on arbitrary bytes, then what each caller
 * does with an accepted array: conversion of every element, the 4-D feature
 * source with its finiteness check (dissect units), the thresholds vector
 * (--thresholds T.npy), and the rotation check of `dissect rotate --from`
 * (square float matrix -> rot_validate, then Q^0.5 when it passes).
 * Input: the .npy file. */
#include "core/err.h"
#include "core/features.h"
#include "core/npy.h"
#include "experiments/units_io.h"
#include "linalg/rotation.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *p;
    if (!p)
        p = fz_path("f.npy");
    fz_write(p, data, size);
    npy_t a;
    if (npy_open(&a, p) == 0) {
        size_t cnt = 1;
        for (int i = 0; i < a.ndim; i++)
            cnt *= a.shape[i];
        ND_ASSERT(cnt == a.count && a.count * a.elsize <= size);
        double *v = malloc((a.count ? a.count : 1) * sizeof *v);
        float *f = malloc((a.count ? a.count : 1) * sizeof *f);
        ND_ASSERT(v && f);
        npy_to_f64(&a, 0, a.count, v);
        npy_to_f32(&a, 0, a.count, f);
        if (a.ndim == 4) {
            nd_features F;
            if (nd_features_from_npy(&F, &a) == 0) {
                ND_ASSERT(F.N * F.K * F.h * F.w == a.count);
                if (nd_features_check_finite(&F, p) == 0)
                    for (size_t q = 0; q < a.count; q++)
                        ND_ASSERT(f[q] - f[q] == 0);
                if (F.N) {
                    const float *x;
                    if (F.get(F.ctx, F.N - 1, 1, f, &x) == 0 && F.K * F.h * F.w != 0)
                        (void)*(volatile const float *)&x[F.K * F.h * F.w - 1];
                }
            }
            fz_done();
        }
        if (a.ndim == 2 && a.shape[0] == a.shape[1] && a.shape[0] <= 24) {
            size_t n = a.shape[0];
            if (rot_validate(v, n, 1e-6, p) == 0) {
                double *R = malloc(n * n * sizeof *R);
                ND_ASSERT(R);
                (void)rot_power(R, v, n, 0.5);
                free(R);
            }
            fz_done();
        }
        free(v);
        free(f);
        npy_close(&a);
        double *t = NULL;
        if (units_load_thresholds(p, 3, &t) == 0)
            free(t);
    }
    fz_done();
    return 0;
}
