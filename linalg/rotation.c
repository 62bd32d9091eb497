/* rotation.c - fractional powers of rotations, diagnostics, validation.
 * (Haar sampling is in rotation_haar.c; see the comment there.)
 *
 * Powers: Q = Z T Z^T, real Schur form (LAPACK dgees, Z orthogonal).  For
 * an orthogonal Q, T is normal and quasi-triangular, hence block diagonal
 * up to rounding: 2x2 rotation blocks and 1x1 blocks of +1 or -1.  Each
 * 2x2 block gives its signed angle theta = atan2(sin, cos) with
 * sin = (T10 - T01)/2 and cos = (T00 + T11)/2 (symmetric in the two
 * entries, so rounding in either does not bias the angle), theta in
 * (-pi, pi].  Pairs of -1 eigenvalues (1x1 blocks) are paired in Schur
 * order: Q acts on the plane of their two Schur vectors as -I, a rotation
 * by pi.  Q^alpha = Z T^alpha Z^T with every plane rotated by alpha*theta.
 * This is the principal power: the minimal geodesic from I (alpha = 0) to
 * Q (alpha = 1).  It is unique unless Q has eigenvalue -1: then the plane
 * may be rotated either way (and with a -1 eigenspace of dimension >= 4,
 * the pairing into planes is arbitrary too); any choice gives an
 * orthogonal Q^alpha with det +1 and (Q^alpha)^(1/alpha) = Q, but the
 * geodesic is not unique.  For Haar Q this happens with probability 0.
 * Computing Z T^alpha Z^T from exact rotation blocks (cos, sin of one
 * angle) rather than from T itself keeps Q^alpha orthogonal to working
 * precision for every alpha.
 */
#include "linalg/rotation.h"

#include "core/err.h"
#include "core/blas.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

static int check_n(size_t n, const char *fn)
{
    if (n < 2)
        return nd_fail("%s: dimension n = %zu, expected n >= 2", fn, n);
    if (n > ROT_DIM_MAX)
        return nd_fail("%s: dimension n = %zu, expected n <= %d", fn, n, ROT_DIM_MAX);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Real Schur form and powers                                                */
/* ------------------------------------------------------------------------ */

struct rot_schur {
    size_t n;
    double *Z;     /* Schur vectors, column-major: column k at Z + k*n */
    size_t m;      /* number of rotation planes */
    size_t *p, *q; /* plane k is spanned by Schur vectors p[k], q[k] ... */
    double *theta; /* ... and Q rotates it by theta[k] in (-pi, pi] */
    double *Q;     /* Q itself (row-major): the exact endpoint alpha = 1 */
};

void rot_schur_free(rot_schur *s)
{
    if (!s)
        return;
    free(s->Z);
    free(s->p);
    free(s->q);
    free(s->theta);
    free(s->Q);
    free(s);
}

static int schur_init_(rot_schur **out, const double *Q, size_t n, double eig_tol, const char *what)
{
    *out = NULL;
    if (check_n(n, "rot_power"))
        return -1;
    lapack_int ln = (lapack_int)n;
    rot_schur *s = nd_calloc(1, sizeof *s);
    double *T = nd_malloc(n * n * sizeof *T);
    double *wr = nd_malloc(n * sizeof *wr);
    double *wi = nd_malloc(n * sizeof *wi);
    size_t *neg = nd_malloc(n * sizeof *neg);
    if (!s || !T || !wr || !wi || !neg)
        goto fail;
    s->n = n;
    s->Z = nd_malloc(n * n * sizeof *s->Z);
    s->p = nd_malloc((n / 2) * sizeof *s->p);
    s->q = nd_malloc((n / 2) * sizeof *s->q);
    s->theta = nd_malloc((n / 2) * sizeof *s->theta);
    s->Q = nd_malloc(n * n * sizeof *s->Q);
    if (!s->Z || !s->p || !s->q || !s->theta || !s->Q)
        goto fail;
    memcpy(s->Q, Q, n * n * sizeof *s->Q);

    /* Column-major copy: T(i,j) = T[i + j*n] = Q[i][j]. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            T[i + j * n] = Q[i * n + j];
    for (size_t k = 0; k < n * n; k++)
        if (!isfinite(T[k])) {
            nd_fail("rot_power: Q[%zu][%zu] = %g is not finite", k % n, k / n, T[k]);
            goto fail;
        }
    lapack_int sdim = 0;
    lapack_int info = LAPACKE_dgees(LAPACK_COL_MAJOR, 'V', 'N', NULL, ln, T, ln, &sdim, wr, wi,
                                    s->Z, ln);
    ND_ASSERT(info >= 0);
    if (info > 0) {
        nd_fail("rot_power: the real Schur form did not converge (dgees info = %d)", (int)info);
        goto fail;
    }

    size_t nneg = 0;
    for (size_t k = 0; k < n;) {
        if (wi[k] != 0.0 && k + 1 < n) {
            /* 2x2 block; dgees stores a conjugate pair as wi[k] > 0, wi[k+1] < 0. */
            double t00 = T[k + k * n], t01 = T[k + (k + 1) * n];
            double t10 = T[(k + 1) + k * n], t11 = T[(k + 1) + (k + 1) * n];
            double c = 0.5 * (t00 + t11), sn = 0.5 * (t10 - t01);
            double mod = hypot(wr[k], wi[k]);
            if (fabs(mod - 1.0) > eig_tol) {
                nd_fail("%s: not orthogonal (eigenvalue %g%+gi has modulus %g, beyond 1 +- %g)", what,
                        wr[k], wi[k], mod, eig_tol);
                goto fail;
            }
            s->p[s->m] = k;
            s->q[s->m] = k + 1;
            s->theta[s->m] = atan2(sn, c);
            s->m++;
            k += 2;
        } else {
            double t = T[k + k * n];
            if (fabs(fabs(t) - 1.0) > eig_tol) {
                nd_fail("%s: not orthogonal (real eigenvalue %g, beyond +-1 +- %g)", what, t, eig_tol);
                goto fail;
            }
            if (t < 0)
                neg[nneg++] = k;
            k++;
        }
    }
    if (nneg % 2) {
        nd_fail("%s: det = -1 (odd number of eigenvalues -1), expected a rotation", what);
        goto fail;
    }
    for (size_t i = 0; i < nneg; i += 2) {
        s->p[s->m] = neg[i];
        s->q[s->m] = neg[i + 1];
        s->theta[s->m] = M_PI;
        s->m++;
    }
    free(T);
    free(wr);
    free(wi);
    free(neg);
    *out = s;
    return 0;
fail:
    rot_schur_free(s);
    free(T);
    free(wr);
    free(wi);
    free(neg);
    return -1;
}

static int schur_init_serial(rot_schur **out, const double *Q, size_t n, double eig_tol, const char *what)
{
    int saved = nd_blas_serial_begin();
    int rc = schur_init_(out, Q, n, eig_tol, what);
    nd_blas_serial_end(saved);
    return rc;
}

int rot_schur_init(rot_schur **out, const double *Q, size_t n)
{
    return schur_init_serial(out, Q, n, ROT_POWER_TOL, "rot_power: Q");
}

int rot_schur_power(const rot_schur *s, double *out, double alpha)
{
    size_t n = s->n;
    if (!isfinite(alpha))
        return nd_fail("rot_power: alpha = %g is not finite", alpha);
    /* The endpoints exactly: Z T^alpha Z^T would give I and Q only to
     * rounding (about 1e-15), and every caller (`dissect rotate`, the
     * sweep) must get the same bytes for alpha = 0 and 1. */
    if (alpha == 0.0 || alpha == 1.0) {
        if (alpha == 1.0) {
            memcpy(out, s->Q, n * n * sizeof *out);
        } else {
            memset(out, 0, n * n * sizeof *out);
            for (size_t i = 0; i < n; i++)
                out[i * n + i] = 1.0;
        }
        return 0;
    }
    /* W = Z T^alpha (column-major); T^alpha is the identity outside the planes. */
    double *W = nd_malloc(n * n * sizeof *W);
    if (!W)
        return -1;
    memcpy(W, s->Z, n * n * sizeof *W);
    for (size_t k = 0; k < s->m; k++) {
        double a = alpha * s->theta[k], c = cos(a), sn = sin(a);
        const double *zp = s->Z + s->p[k] * n, *zq = s->Z + s->q[k] * n;
        double *wp = W + s->p[k] * n, *wq = W + s->q[k] * n;
        for (size_t i = 0; i < n; i++) {
            wp[i] = c * zp[i] + sn * zq[i];
            wq[i] = -sn * zp[i] + c * zq[i];
        }
    }
    /* A column-major buffer read as row-major is the transpose: W and Z
     * arrive as W^T and Z^T, so out = (W^T)^T (Z^T) = W Z^T, row-major. */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0, W, (int)n,
                s->Z, (int)n, 0.0, out, (int)n);
    free(W);
    return 0;
}

size_t rot_schur_angles(const rot_schur *s, double *theta)
{
    memcpy(theta, s->theta, s->m * sizeof *theta);
    return s->m;
}

int rot_power(double *out, const double *Q, size_t n, double alpha)
{
    if (!isfinite(alpha))
        return nd_fail("rot_power: alpha = %g is not finite", alpha);
    rot_schur *s;
    if (rot_schur_init(&s, Q, n))
        return -1;
    int rc = rot_schur_power(s, out, alpha);
    rot_schur_free(s);
    return rc;
}

int rot_power_tol(double *out, const double *Q, size_t n, double alpha, double tol, const char *what)
{
    if (!isfinite(alpha))
        return nd_fail("rot_power: alpha = %g is not finite", alpha);
    /* max |E| <= tol for Q^T Q = I + E bounds ||E||_2 by n tol, and every
     * eigenvalue modulus then lies within n tol of 1: the power step's check
     * follows from the validation and never refuses what it accepted */
    double eig_tol = (double)n * tol > ROT_POWER_TOL ? (double)n * tol : ROT_POWER_TOL;
    rot_schur *s;
    if (schur_init_serial(&s, Q, n, eig_tol, what))
        return -1;
    int rc = rot_schur_power(s, out, alpha);
    rot_schur_free(s);
    return rc;
}

int rot_angles(double *theta, size_t *m, const double *Q, size_t n)
{
    rot_schur *s;
    *m = 0;
    if (rot_schur_init(&s, Q, n))
        return -1;
    *m = rot_schur_angles(s, theta);
    rot_schur_free(s);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Diagnostics and validation                                                */
/* ------------------------------------------------------------------------ */

double rot_orth_error(const double *Q, size_t n)
{
    if (n == 0 || n > ROT_DIM_MAX)
        return NAN;
    double *C = nd_malloc(n * n * sizeof *C);
    if (!C)
        return NAN;
    /* C = Q^T Q, upper triangle only (symmetric). */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)n, 1.0, Q, (int)n, 0.0, C,
                (int)n);
    double err = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++) {
            double e = fabs(C[i * n + j] - (i == j ? 1.0 : 0.0));
            if (!(e <= err)) /* also propagates NaN */
                err = e;
        }
    free(C);
    return err;
}

double rot_det(const double *Q, size_t n)
{
    if (n == 0 || n > ROT_DIM_MAX)
        return NAN;
    double *A = nd_malloc(n * n * sizeof *A);
    lapack_int *piv = nd_malloc(n * sizeof *piv);
    if (!A || !piv) {
        free(A);
        free(piv);
        return NAN;
    }
    memcpy(A, Q, n * n * sizeof *A);
    lapack_int info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n, A,
                                     (lapack_int)n, piv);
    double det;
    if (info < 0) {
        det = NAN;
    } else {
        /* Sum of logs rather than a product: no overflow for large n. */
        double logabs = 0;
        int sign = 1;
        for (size_t i = 0; i < n; i++) {
            double u = A[i * n + i];
            if (u < 0)
                sign = -sign;
            logabs += log(fabs(u)); /* -inf for a singular matrix: det 0 */
            if (piv[i] != (lapack_int)(i + 1))
                sign = -sign;
        }
        det = sign * exp(logabs);
    }
    free(A);
    free(piv);
    return det;
}

int rot_validate(const double *Q, size_t n, double tol, const char *what)
{
    if (n < 2 || n > ROT_DIM_MAX)
        return nd_fail("%s: %zu x %zu matrix, expected a rotation of size 2..%d", what, n, n,
                       ROT_DIM_MAX);
    for (size_t k = 0; k < n * n; k++)
        if (!isfinite(Q[k]))
            return nd_fail("%s: entry [%zu][%zu] = %g is not finite", what, k / n, k % n, Q[k]);
    double e = rot_orth_error(Q, n);
    if (!(e <= tol))
        return nd_fail("%s: not orthogonal: max |Q^T Q - I| = %.3g exceeds the tolerance %.3g",
                       what, e, tol);
    double d = rot_det(Q, n);
    /* With Q^T Q = I + E, det Q^2 = det(I + E) ~ 1 + tr E, so an orthogonal-
     * within-tol Q has |det| within about n*tol/2 of 1; only the sign is
     * really in question, and n*tol keeps the check from rejecting what the
     * orthogonality test accepted. */
    if (!(fabs(d - 1.0) <= (double)n * tol))
        return nd_fail("%s: det = %.6g, expected +1 (a reflection, not a rotation: negate one "
                       "row or column)",
                       what, d);
    return 0;
}
