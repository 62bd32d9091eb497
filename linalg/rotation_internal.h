/* rotation_internal.h - linalg-private entry points of rotation.c.
 *
 * Not part of the public contract (rotation.h).  They exist so that the
 * statistical tests can draw many matrices from one generator stream and can
 * demonstrate that the Haar test rejects a biased sampler.
 */
#ifndef ND_ROTATION_INTERNAL_H
#define ND_ROTATION_INTERNAL_H

#include <stddef.h>

#include <gsl/gsl_rng.h>

/* Flags for rot_haar_rng(). */
enum {
    /* Skip the sign(diag R) correction: Q is then NOT Haar-distributed
     * (Mezzadri 2007).  The det +1 fix is still applied.  Tests only. */
    ROT_HAAR_NO_SIGN_FIX = 1u << 0,
};

/* rot_haar() drawing its n*n Gaussians from an existing generator `r`
 * (column-major order of A, see rotation.c).  rot_haar(Q, n, seed) is
 * rot_haar_rng(Q, n, mt19937 seeded with seed + 1, 0). */
int rot_haar_rng(double *Q, size_t n, gsl_rng *r, unsigned flags);

#endif
