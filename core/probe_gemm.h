/* probe_gemm.h - the probes' big float products over rows, in fixed blocks.
 *
 * OpenBLAS's own threads would make the last bits depend on the thread
 * count; here the rows are cut into fixed blocks run by nd_run_jobs with
 * one BLAS thread each, and sums over rows (the covariance) are reduced in
 * double in block order: the results are the same for any --threads.
 *
 *     pr_rows_sgemm(X, rows, K, B, N, 1, Y, threads);   Y = X B^T  ([rows][N])
 *     pr_rows_cov(X, rows, K, Cv, threads);             Cv = X^T X / rows (double)
 */
#ifndef ND_PROBE_GEMM_H
#define ND_PROBE_GEMM_H

#include <stddef.h>

#define PR_GEMM_ROWS 4096   /* rows per product block */
#define PR_COV_BLOCKS 8     /* blocks summed (in double) per covariance unit */

/* Y[rows][N] = X[rows][K] B^T (B [N][K], trans = 1) or X B (B [K][N], trans = 0). */
int pr_rows_sgemm(const float *X, size_t rows, size_t K, const float *B, size_t N, int trans,
                  float *Y, int threads);
/* Cv[K][K] (full, symmetric) = X^T X / rows, float products per block, double sums. */
int pr_rows_cov(const float *X, size_t rows, size_t K, double *Cv, int threads);

#endif
