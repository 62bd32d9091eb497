/* ibd.h - interpretable basis decomposition (Zhou et al., ECCV 2018).
 *
 * A class's weight vector v (K) over a layer's units is written as a sum of
 * concept vectors plus a residual: greedily, each step adds the basis vector
 * whose inclusion leaves the smallest least-squares residual of v on the
 * chosen set, up to kmax vectors; the coefficients are the least-squares
 * solution on the chosen set (so they change as vectors are added).
 *
 * For SqueezeNet the class scores are avgpool(ReLU(W a + b)) over fire9
 * (conv_final, 1x1): the rows of W are the vectors decomposed, by the linear
 * probes' concept vectors (rotation-equivariant: a rotation R of the basis
 * turns both rows and probes by R, so the decomposition is the same) or by
 * single units labelled by dissection (the basis vectors e_k, not
 * equivariant).
 */
#ifndef ND_IBD_H
#define ND_IBD_H

#include <stddef.h>

/* v [K]; basis B [M][K] (row m is vector m).  Writes *n <= kmax picks
 * (pick[], indices into B, in order of choice), coef[] (least squares on
 * the picks) and *resid = ||v - sum coef_j B_pick_j|| / ||v||. */
int ibd_decompose(const double *v, const double *B, size_t M, size_t K, int kmax, int *pick,
                  double *coef, int *n, double *resid);

#endif
