/* rotation.h - random rotations in SO(n) and their fractional powers.
 *
 * Matrices are n x n, row-major, double.  See dissection-spec.md section 3.
 *
 *     double *Q = malloc(n*n*sizeof *Q), *R = malloc(n*n*sizeof *R);
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
 * Q must be orthogonal with det +1. */
int rot_power(double *out, const double *Q, size_t n, double alpha);

/* The rotation angles of Q (principal log): one theta in (-pi, pi] per 2x2
 * block of the real Schur form; *m receives the number of angles (<= n/2). */
int rot_angles(double *theta, size_t *m, const double *Q, size_t n);

/* max |Q^T Q - I| and det(Q), for diagnostics and validation. */
double rot_orth_error(const double *Q, size_t n);
double rot_det(const double *Q, size_t n);

/* Validate a user-supplied matrix: square n x n, orthogonal within tol
 * (max |Q^T Q - I|), det +1 within tol; the error names `what` (a file). */
int rot_validate(const double *Q, size_t n, double tol, const char *what);

#endif
