/* bench_probe.c - all concepts of one SqueezeNet fire9 point on the demo
 * dataset (MSRC-v2 imported, fire9 from `dissect features`; see README):
 * linear probe, units needed, single units, binary probe, with the time of
 * each stage and the probes' gemm rate against the sgemm peak measured in
 * the same run.  Goal: a point under 15 s on 2 cores (not met yet: see
 * bench/README.md).
 *
 *     build/bench/bench_probe [--dataset DIR] [--features F.npy] [--alpha A]
 */
#include "core/blas.h"
#include "core/broden.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/npy.h"
#include "core/probe.h"
#include "linalg/rotation.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double sgemm_peak(void)
{
    int S = 1536;
    float *a = malloc(sizeof *a * (size_t)S * S), *b = malloc(sizeof *b * (size_t)S * S);
    float *c = malloc(sizeof *c * (size_t)S * S);
    for (size_t i = 0; i < (size_t)S * S; i++)
        a[i] = (float)(i % 13) * 0.1f, b[i] = (float)(i % 7) * 0.1f;
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t = nd_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, S, S, 1, a, S, b, S, 0, c, S);
        t = nd_now() - t;
        best = t < best ? t : best;
    }
    free(a), free(b), free(c);
    return 2.0 * S * S * S / best * 1e-9;
}

static double t_stage;
static void stage(void *ctx, const char *name, size_t done, size_t total)
{
    (void)ctx;
    fprintf(stderr, "  [%6.2f s, now %.2f] %s %zu/%zu\n", nd_now() - t_stage, nd_now(), name, done, total);
}

int main(int argc, char **argv)
{
    nd_blas_fix_kernel(argv);
    const char *dataset = "results/cache/msrc-v2", *features = "results/cache/msrc-v2-fire9.npy";
    double alpha = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--dataset"))
            dataset = argv[i + 1];
        else if (!strcmp(argv[i], "--features"))
            features = argv[i + 1];
        else if (!strcmp(argv[i], "--alpha"))
            alpha = atof(argv[i + 1]);
    }
    broden *ds;
    npy_t npy;
    nd_features f;
    if (broden_open(&ds, dataset, NULL) || npy_open(&npy, features) || nd_features_from_npy(&f, &npy)) {
        fprintf(stderr, "bench_probe: %s (run `make demo` or the README's import + features first)\n",
                nd_errmsg());
        return 1;
    }
    double peak = sgemm_peak();
    printf("sgemm 1536^3 peak: %.1f GFLOP/s (this run, %d threads)\n", peak, nd_threads(0));
    pr_options o;
    pr_options_default(&o);
    o.field_offset = -60, o.field_size = 155, o.field_stride = 16, o.have_field = 1; /* fire9 */
    o.progress = (nd_progress){stage, NULL};
    double *R = NULL;
    if (alpha != 0) {
        double *Q = malloc(sizeof *Q * f.K * f.K);
        R = malloc(sizeof *R * f.K * f.K);
        rot_haar(Q, f.K, 1), rot_power(R, Q, f.K, alpha);
        free(Q);
    }
    pr_result r;
    t_stage = nd_now();
    fprintf(stderr, "start %.2f\n", t_stage);
    size_t e0 = pr_eval_calls();
    if (pr_run(ds, &f, R, &o, &r)) {
        fprintf(stderr, "bench_probe: %s\n", nd_errmsg());
        return 1;
    }
    size_t evals = pr_eval_calls() - e0, rows = r.n_train * f.h * f.w;
    /* two gemms of rows x K x C per evaluation */
    double gflop = (double)evals * 4.0 * (double)rows * (double)f.K * (double)r.C * 1e-9;
    int itmax = 0;
    for (size_t c = 0; c < r.C; c++)
        itmax = r.linear[c].iters > itmax ? r.linear[c].iters : itmax;
    printf("fire9 point (alpha %g): %zu concepts, %zu train rows x %zu units\n", alpha, r.C, rows, f.K);
    printf("  linear probe   %6.2f s (L-BFGS iterations <= %d)\n", r.seconds_linear, itmax);
    printf("  units needed   %6.2f s\n", r.seconds_units);
    printf("  single units   %6.2f s (train thresholds + 2 tallies)\n", r.seconds_single);
    printf("  binary probe   %6.2f s\n", r.seconds_binary);
    printf("  total          %6.2f s  (goal < 15 s on 2 cores)\n", r.seconds_total);
    printf("  loss evaluations: %zu, %.0f GFLOP in their gemms (dgemm: the fit runs in double) = %.1f "
           "GFLOP/s over the whole point, %.0f%% of the sgemm peak\n",
           evals, gflop, gflop / r.seconds_total, 100 * gflop / r.seconds_total / peak);
    pr_result_free(&r);
    free(R);
    npy_close(&npy);
    broden_free(ds);
    return 0;
}
