/* bench_rotate.c - throughput of rotating activations, against the machine's
 * sgemm peak measured in the same run.
 *
 * Workload: N = 5000 images, K = 256 units, 13 x 13 maps (AlexNet conv5),
 * r(x) = R a(x): 2 K^2 h w N = 1.1e11 flop.  All 5000 images are processed;
 * to keep memory small the input cycles through a pool of 512 distinct
 * images (89 MB, far beyond the caches, so the data really streams from
 * memory) and the output through a second pool.  Peak: a square 2048 sgemm
 * (best of 3), the most favourable shape OpenBLAS gets.
 */
#include "core/err.h"
#include "linalg/apply.h"
#include "linalg/rotation.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *alloc_f(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_rotate: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
    return p;
}

/* an in-memory source over the pool, for the rot_features path */
typedef struct {
    const float *pool;
    size_t per, pool_n;
} pool_src;

static int pool_get(void *ctx, size_t i0, size_t n, float *buf, const float **out)
{
    const pool_src *p = ctx;
    (void)buf;
    *out = p->pool + (i0 % p->pool_n) * p->per; /* blocks never straddle the pool end */
    (void)n;
    return 0;
}

int main(void)
{
    const size_t N = 5000, K = 256, h = 13, w = 13, hw = h * w, per = K * hw;
    const size_t POOL = 512, BLOCK = 64; /* 512 is a multiple of 64 */
    printf("OpenBLAS threads: %d\n", openblas_get_num_threads());

    /* peak */
    const int S = 2048;
    float *A = alloc_f((size_t)S * S), *B = alloc_f((size_t)S * S), *C = alloc_f((size_t)S * S);
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, S, S, 1.0f, A, S, B, S, 0.0f, C,
                    S);
        t = now() - t;
        if (t < best)
            best = t;
    }
    double peak = 2.0 * S * S * S / best * 1e-9;
    printf("sgemm %dx%dx%d: %.3f s, %.1f GFLOP/s (peak reference)\n", S, S, S, best, peak);
    free(A), free(B), free(C);

    double *Q = malloc(K * K * sizeof *Q), *R = malloc(K * K * sizeof *R);
    if (!Q || !R || rot_haar(Q, K, 1) || rot_power(R, Q, K, 0.5)) {
        fprintf(stderr, "bench_rotate: %s\n", nd_errmsg());
        return 1;
    }
    float *Rf = malloc(K * K * sizeof *Rf);
    for (size_t k = 0; k < K * K; k++)
        Rf[k] = (float)R[k];
    float *in = alloc_f(POOL * per), *out = alloc_f(POOL * per);
    double flop = 2.0 * K * K * hw * N;

    /* warm-up: one pass over the pools */
    rot_apply(out, in, Rf, POOL, K, hw);

    double t = now();
    for (size_t i0 = 0; i0 < N; i0 += BLOCK) {
        size_t nb = N - i0 < BLOCK ? N - i0 : BLOCK, o = (i0 % POOL) * per;
        rot_apply(out + o, in + o, Rf, nb, K, hw);
    }
    t = now() - t;
    double g = flop / t * 1e-9;
    printf("rot_apply     N=%zu K=%zu %zux%zu: %.3f s, %.1f GFLOP/s = %.0f%% of sgemm peak, "
           "%.0f images/s\n",
           N, K, h, w, t, g, 100 * g / peak, N / t);

    /* the streaming source the dissector uses (scratch malloc per call) */
    pool_src ps = {in, per, POOL};
    nd_features inner = {N, K, h, w, pool_get, &ps}, f;
    if (rot_features(&f, &inner, R)) {
        fprintf(stderr, "bench_rotate: %s\n", nd_errmsg());
        return 1;
    }
    float *buf = alloc_f(BLOCK * per);
    t = now();
    for (size_t i0 = 0; i0 < N; i0 += BLOCK) {
        size_t nb = N - i0 < BLOCK ? N - i0 : BLOCK;
        const float *x;
        f.get(f.ctx, i0, nb, buf, &x);
    }
    t = now() - t;
    g = flop / t * 1e-9;
    printf("rot_features  N=%zu K=%zu %zux%zu: %.3f s, %.1f GFLOP/s = %.0f%% of sgemm peak\n", N, K,
           h, w, t, g, 100 * g / peak);
    rot_features_free(&f);
    free(buf), free(in), free(out), free(Q), free(R), free(Rf);
    return 0;
}
