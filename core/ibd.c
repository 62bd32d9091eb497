/* ibd.c - greedy least-squares decomposition (see ibd.h).  Selection works
 * on the candidates orthogonalised against the chosen ones (modified
 * Gram-Schmidt): adding m lowers the squared residual by (r.q_m)^2/|q_m|^2. */
#include "core/ibd.h"
#include "core/err.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* coefficients: least squares of v on the picked rows (dgels on B_S^T) */
static int solve(const double *v, const double *B, size_t K, const int *pick, int n, double *coef)
{
    double *A = nd_malloc(K * (size_t)n * sizeof *A), *y = nd_malloc(K * sizeof *y);
    if (!A || !y) {
        free(A), free(y);
        return -1;
    }
    for (size_t k = 0; k < K; k++)
        for (int j = 0; j < n; j++)
            A[k * (size_t)n + (size_t)j] = B[(size_t)pick[j] * K + k];
    memcpy(y, v, K * sizeof *y);
    lapack_int info = LAPACKE_dgels(LAPACK_ROW_MAJOR, 'N', (lapack_int)K, n, 1, A, n, y, 1);
    if (info == 0)
        memcpy(coef, y, (size_t)n * sizeof *coef);
    free(A), free(y);
    return info ? nd_fail("ibd: least squares failed (LAPACK info %d)", (int)info) : 0;
}

int ibd_decompose(const double *v, const double *B, size_t M, size_t K, int kmax, int *pick,
                  double *coef, int *n, double *resid)
{
    double *Qo = nd_malloc(M * K * sizeof *Qo), *r = nd_malloc(K * sizeof *r);
    unsigned char *used = nd_calloc(M + 1, 1);
    if (!Qo || !r || !used) {
        free(Qo), free(r), free(used);
        return -1;
    }
    memcpy(Qo, B, M * K * sizeof *Qo);
    memcpy(r, v, K * sizeof *r);
    double vn = sqrt(dot(v, v, K));
    *n = 0;
    for (int step = 0; step < kmax && (size_t)step < M; step++) {
        long best = -1;
        double gain = 0;
        for (size_t m = 0; m < M; m++) {
            double qq = dot(Qo + m * K, Qo + m * K, K);
            /* a candidate already (numerically) in the span adds nothing */
            if (used[m] || !(qq > 1e-20 * dot(B + m * K, B + m * K, K)))
                continue;
            double rq = dot(r, Qo + m * K, K), g = rq * rq / qq;
            if (g > gain)
                gain = g, best = (long)m;
        }
        if (best < 0)
            break;
        used[best] = 1;
        pick[(*n)++] = (int)best;
        const double *q = Qo + (size_t)best * K;
        double qq = dot(q, q, K), rq = dot(r, q, K);
        for (size_t k = 0; k < K; k++)
            r[k] -= rq / qq * q[k];
        for (size_t m = 0; m < M; m++) /* orthogonalise the rest against q */
            if (!used[m]) {
                double a = dot(Qo + m * K, q, K) / qq;
                for (size_t k = 0; k < K; k++)
                    Qo[m * K + k] -= a * q[k];
            }
    }
    int rc = *n ? solve(v, B, K, pick, *n, coef) : 0;
    if (!rc) { /* the residual of the least-squares fit, recomputed from the coefficients */
        for (size_t k = 0; k < K; k++) {
            double s = v[k];
            for (int j = 0; j < *n; j++)
                s -= coef[j] * B[(size_t)pick[j] * K + k];
            r[k] = s;
        }
        *resid = vn > 0 ? sqrt(dot(r, r, K)) / vn : 0;
    }
    free(Qo), free(r), free(used);
    return rc;
}
