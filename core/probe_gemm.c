/* probe_gemm.c - fixed-block float products over rows (see probe_gemm.h). */
#include "core/probe_gemm.h"
#include "core/blas.h"
#include "core/err.h"
#include "core/jobs.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const float *X, *B;
    size_t rows, K, N, u0, u1; /* units [u0, u1) of this job */
    int trans;
    float *Y;       /* product, or NULL for the covariance */
    double *cov;    /* [units][K][K] */
    float *tmp;     /* [K][K] (covariance) */
} gemm_job;

static void *gemm_worker(void *arg)
{
    gemm_job *j = arg;
    size_t K = j->K;
    for (size_t u = j->u0; u < j->u1; u++) {
        if (j->Y) {
            size_t i0 = u * PR_GEMM_ROWS, n = i0 + PR_GEMM_ROWS < j->rows ? PR_GEMM_ROWS : j->rows - i0;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, j->trans ? CblasTrans : CblasNoTrans, (int)n,
                        (int)j->N, (int)K, 1, j->X + i0 * K, (int)K, j->B, j->trans ? (int)K : (int)j->N,
                        0, j->Y + i0 * j->N, (int)j->N);
            continue;
        }
        double *c = j->cov + u * K * K;
        for (size_t b = 0; b < PR_COV_BLOCKS; b++) {
            size_t i0 = (u * PR_COV_BLOCKS + b) * PR_GEMM_ROWS;
            if (i0 >= j->rows)
                break;
            size_t n = i0 + PR_GEMM_ROWS < j->rows ? PR_GEMM_ROWS : j->rows - i0;
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)K, (int)n, 1, j->X + i0 * K, (int)K,
                        0, j->tmp, (int)K);
            for (size_t r = 0; r < K; r++)
                for (size_t s = r; s < K; s++)
                    c[r * K + s] += j->tmp[r * K + s];
        }
    }
    return NULL;
}

static void run(gemm_job *proto, size_t units, int threads)
{
    int nt = nd_threads(threads);
    if ((size_t)nt > units)
        nt = units ? (int)units : 1;
    gemm_job jobs[ND_MAX_THREADS];
    for (int k = 0; k < nt; k++) {
        jobs[k] = *proto;
        jobs[k].u0 = units * (size_t)k / (size_t)nt, jobs[k].u1 = units * (size_t)(k + 1) / (size_t)nt;
        if (proto->tmp)
            jobs[k].tmp = proto->tmp + (size_t)k * proto->K * proto->K;
    }
    int saved = nd_blas_serial_begin();
    nd_run_jobs(gemm_worker, jobs, sizeof jobs[0], nt);
    nd_blas_serial_end(saved);
}

int pr_rows_sgemm(const float *X, size_t rows, size_t K, const float *B, size_t N, int trans,
                  float *Y, int threads)
{
    gemm_job j = {X, B, rows, K, N, 0, 0, trans, Y, NULL, NULL};
    run(&j, (rows + PR_GEMM_ROWS - 1) / PR_GEMM_ROWS, threads);
    return 0;
}

int pr_rows_cov(const float *X, size_t rows, size_t K, double *Cv, int threads)
{
    size_t units = (rows + PR_GEMM_ROWS * PR_COV_BLOCKS - 1) / (PR_GEMM_ROWS * PR_COV_BLOCKS);
    double *cov = nd_calloc((units + 1) * K * K, sizeof *cov);
    float *tmp = nd_malloc((size_t)ND_MAX_THREADS * K * K * sizeof *tmp);
    if (!cov || !tmp) {
        free(cov), free(tmp);
        return -1;
    }
    gemm_job j = {X, NULL, rows, K, 0, 0, 0, 0, NULL, cov, tmp};
    run(&j, units, threads);
    memset(Cv, 0, K * K * sizeof *Cv);
    for (size_t u = 0; u < units; u++) /* unit order: independent of the thread count */
        for (size_t r = 0; r < K; r++)
            for (size_t s = r; s < K; s++)
                Cv[r * K + s] += cov[u * K * K + r * K + s];
    for (size_t r = 0; r < K; r++)
        for (size_t s = r; s < K; s++)
            Cv[s * K + r] = Cv[r * K + s] /= (double)rows;
    free(cov), free(tmp);
    return 0;
}
