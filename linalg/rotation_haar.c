/* rotation_haar.c - Haar-random rotations in SO(n) (module rotation, rot_).
 *
 * Sampling (Mezzadri 2007, "How to generate random matrices from the
 * classical compact groups"): A with i.i.d. N(0,1) entries, A = QR by
 * Householder (LAPACK dgeqrf + dorgqr).  Householder QR alone is not Haar:
 * the signs of diag(R) are a deterministic function of A, which biases Q.
 * Multiplying column j of Q by sign(R[j][j]) makes the factorisation unique
 * (diag R > 0) and Q Haar on O(n).  Q is then moved to SO(n) by negating
 * column 0 when det Q = -1; right multiplication by a fixed reflection maps
 * Haar measure on the det -1 coset onto Haar measure on SO(n).  Works for any 2 <= n <= 32768 (tested to 4096).
 *
 *   - Random numbers: GSL mt19937 seeded with seed + 1 (GSL maps seed 0 to
 *     its default 4357, which would alias two of our seeds), N(0,1) from
 *     gsl_ran_gaussian_ziggurat.  A is filled in column-major order:
 *     A[0][0], A[1][0], ..., A[n-1][0], A[0][1], ...  (LAPACK's own layout,
 *     so no transposition is needed before the QR).  Changing this order
 *     changes every Q drawn from a seed; tests pin Q for seed 1, n = 3.
 *   - Same seed, same Q bit for bit on the same machine, library build and
 *     OpenBLAS thread count (OPENBLAS_NUM_THREADS): the blocked QR splits
 *     its work by thread count, so other thread counts agree only to
 *     rounding (~5e-15 at n = 256, measured in test_rotation).
 *   - det Q is known exactly without an LU: the Q returned by dorgqr is the
 *     product of reflectors H_i = I - tau_i v v^T, each of determinant -1
 *     when tau_i != 0 and +1 (H_i = I) when tau_i = 0; the sign fix
 *     contributes prod sign(R[j][j]).  rot_det() (LU) cross-checks in tests.
 *
 * This part of the module lives in its own file because GSL's headers
 * (gsl_randist.h pulls in gsl_cblas.h) and OpenBLAS's cblas.h declare the
 * same CBLAS enums and cannot be included in one translation unit.
 */
#include "linalg/rotation.h"
#include "linalg/rotation_internal.h"

#include "core/err.h"
#include "core/blas.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <lapacke.h>

/* ------------------------------------------------------------------------ */
/* Haar sampling                                                             */
/* ------------------------------------------------------------------------ */

int rot_haar_rng(double *Q, size_t n, gsl_rng *r, unsigned flags)
{
    if (n < 2 || n > ROT_DIM_MAX)
        return nd_fail("rot_haar: dimension n = %zu, expected 2 <= n <= %d", n, ROT_DIM_MAX);
    lapack_int ln = (lapack_int)n;
    double *A = nd_malloc(n * n * sizeof *A);
    double *tau = nd_malloc(n * sizeof *tau);
    double *sgn = nd_malloc(n * sizeof *sgn);
    int rc = -1, saved = -1;
    if (!A || !tau || !sgn)
        goto out;

    for (size_t k = 0; k < n * n; k++)
        A[k] = gsl_ran_gaussian_ziggurat(r, 1.0);
    saved = nd_blas_serial_begin();

    lapack_int info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, ln, ln, A, ln, tau);
    ND_ASSERT(info >= 0);
    if (info > 0) {
        nd_fail("rot_haar: dgeqrf failed (info = %d)", (int)info);
        goto out;
    }
    int det = 1;
    for (size_t j = 0; j < n; j++) {
        if (tau[j] != 0.0)
            det = -det;
        /* R[j][j] = 0 has probability 0; count it as positive. */
        sgn[j] = (flags & ROT_HAAR_NO_SIGN_FIX) || A[j + j * n] >= 0.0 ? 1.0 : -1.0;
        if (sgn[j] < 0)
            det = -det;
    }
    info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, ln, ln, ln, A, ln, tau);
    ND_ASSERT(info >= 0);
    if (info > 0) {
        nd_fail("rot_haar: dorgqr failed (info = %d)", (int)info);
        goto out;
    }
    if (det < 0)
        sgn[0] = -sgn[0];

    /* A is column-major: Q[i][j] = A[i + j*n]. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            Q[i * n + j] = A[i + j * n] * sgn[j];
    rc = 0;
out:
    if (saved >= 0)
        nd_blas_serial_end(saved);
    free(A);
    free(tau);
    free(sgn);
    return rc;
}

int rot_haar(double *Q, size_t n, unsigned long seed)
{
    if (seed > ROT_SEED_MAX)
        return nd_fail("rot_haar: seed %lu out of range, expected 0..%lu", seed, ROT_SEED_MAX);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r)
        return nd_fail("rot_haar: cannot allocate the random number generator");
    gsl_rng_set(r, seed + 1);
    int rc = rot_haar_rng(Q, n, r, 0);
    gsl_rng_free(r);
    return rc;
}
