/* rotation.h - random rotations in SO(n) and their fractional powers.
 *
 * Matrices are n x n, row-major, double.  The method: docs/method.md
 * (the rotation experiment).
 *
 *     double *Q = nd_malloc(n*n*sizeof *Q), *R = nd_malloc(n*n*sizeof *R);
 *     rot_haar(Q, n, seed);          // Haar-uniform in SO(n), reproducible from seed
 *     rot_power(R, Q, n, 0.5);       // Q^0.5: halfway along the geodesic from I to Q
 */
#ifndef ND_ROTATION_H
#define ND_ROTATION_H

#include <stddef.h>

/* Haar-random Q in SO(n) from a seed (GSL mt19937 + Gaussian, Householder QR
 * with the sign of diag(R) folded in, det fixed to +1).  n >= 2. */
int rot_haar(double *Q, size_t n, unsigned long seed);

/* out = Q^alpha (principal power via the real Schur form; out may not alias Q).
 * Q must be orthogonal with det +1.  alpha = 0 gives exactly I and
 * alpha = 1 exactly Q (the same bytes), as does rot_schur_power. */
int rot_power(double *out, const double *Q, size_t n, double alpha);

/* The rotation angles of Q (principal log): one theta in (-pi, pi] per 2x2
 * block of the real Schur form; *m receives the number of angles (<= n/2). */
int rot_angles(double *theta, size_t *m, const double *Q, size_t n);

/* max |Q^T Q - I| and det(Q), for diagnostics and validation. */
double rot_orth_error(const double *Q, size_t n);
double rot_det(const double *Q, size_t n);

/* Validate a user-supplied matrix: square n x n, orthogonal within tol
 * (max |Q^T Q - I|, tol in (0, ROT_TOL_MAX]), det +1 within n tol; the error
 * names `what` (a file). */
int rot_validate(const double *Q, size_t n, double tol, const char *what);
/* rot_power of a Q that passed rot_validate(Q, n, tol, what): the one
 * tolerance for both steps (the power step's eigenvalue check is the bound
 * that tol implies, n tol), and errors name `what`. */
int rot_power_tol(double *out, const double *Q, size_t n, double alpha, double tol, const char *what);
/* Largest orthogonality tolerance accepted (`dissect rotate --tol`): beyond
 * it a matrix is too far from a rotation for Q^alpha to mean the rotation
 * it was meant to be. */
#define ROT_TOL_MAX 1e-2

/* ---- limits and details ------------------------------------------------- */

/* Largest seed rot_haar accepts.  GSL's mt19937 keeps only 32 bits of its
 * seed and replaces 0 by 4357, so rot_haar seeds it with seed + 1: every
 * seed in [0, ROT_SEED_MAX] gives its own generator state. */
#define ROT_SEED_MAX 4294967294UL

/* Largest n accepted: n*n must stay addressable with LAPACK's 32-bit
 * lapack_int (32768^2 doubles = 8 GiB, far beyond any layer). */
#define ROT_DIM_MAX 32768

/* Notes on the functions above (details in rotation.c, rotation_haar.c):
 * - rot_haar fails for n < 2, n > 32768 or seed > ROT_SEED_MAX.  Entries of
 *   the Gaussian matrix are drawn in column-major order (documented there).
 * - rot_power accepts any finite alpha (0..1 is the geodesic I -> Q; other
 *   values are the principal powers).  It fails if Q has det -1 or is not
 *   orthogonal.  If Q has eigenvalue -1, the power is not unique (the plane
 *   can turn either way); any choice made is orthogonal with det +1.
 * - rot_angles lists the 2x2 blocks in Schur order, then pi for each pair of
 *   -1 eigenvalues; eigenvalues +1 give no angle.
 * - rot_orth_error and rot_det return NaN when out of memory. */

/* rot_power checks that every eigenvalue of Q has modulus within this of 1
 * (a gross check against a non-orthogonal Q; for user input, rot_validate
 * with a tolerance, then rot_power_tol with the same one). */
#define ROT_POWER_TOL 1e-4

/* The real Schur form of Q computed once, for several powers of the same Q
 * (a sweep over alpha).  rot_power(out, Q, n, a) is init + power + free.
 *
 *     rot_schur *s;
 *     if (rot_schur_init(&s, Q, n)) return -1;
 *     for (...) rot_schur_power(s, R, alpha[i]);
 *     rot_schur_free(s);
 */
typedef struct rot_schur rot_schur;
int rot_schur_init(rot_schur **s, const double *Q, size_t n);
/* out (n x n, row-major) = Q^alpha.  Safe to call from several threads on
 * the same s.  Fails only when out of memory or alpha is not finite. */
int rot_schur_power(const rot_schur *s, double *out, double alpha);
/* The angles of Q, as rot_angles(). */
size_t rot_schur_angles(const rot_schur *s, double *theta);
void rot_schur_free(rot_schur *s);

#endif
