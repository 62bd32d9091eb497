/* ablate.h - switching units off at a layer's output and running the rest
 * of the network (interventions, issue 19).
 *
 * A set removes either channels (the units: their values become 0) or
 * directions: orthonormal rows d_1..d_k of length K, and at every pixel
 * the activation vector a (K values) becomes a - D^T D a (D = k x K, the
 * rows d_j): the projection onto those directions is taken out.  With
 * d_j = e_u (the identity's rows) both are the same thing, and the code
 * gives the same bytes (tested).
 *
 * Rotated units: a dissection of the rotated layer r(x) = R a(x) (the
 * sweep's convention, linalg/apply.h, R = Q^alpha) sees unit u as
 * r_u = (row u of R) . a, so switching off rotated unit u and rotating
 * back is removing the direction d = R^T e_u = row u of R.
 *
 *     abl_set s;
 *     abl_units(&s, K, (int[]){3, 17}, 2, "--units");
 *     abl_run(&run, &s, out);   // every image: act -> ablated -> rest -> out
 *     abl_free(&s);
 */
#ifndef ND_ABLATE_H
#define ND_ABLATE_H

#include "models/net.h"

#include <stddef.h>

typedef struct {
    int K;       /* channels of the layer */
    int k;       /* units or directions removed; 0 = none (the intact network) */
    int *units;  /* [k] distinct channels 0..K-1 (zeroed), or NULL */
    float *dirs; /* [k][K] orthonormal directions (projected out), or NULL */
} abl_set;

/* A set of channels; errors (out of 0..K-1, a channel twice) name `what`.
 * k = 0 is the empty set (no change). */
int abl_units(abl_set *s, int K, const int *units, int k, const char *what);
/* Directions d_j = row rows[j] of R (K x K, row-major, orthogonal): the
 * rotated units rows[] of the rotated layer R a.  Same checks on rows. */
int abl_dirs(abl_set *s, int K, const double *R, const int *rows, int k, const char *what);
void abl_free(abl_set *s);

/* One image's activations act (K x hw, channel-major) in place; scratch
 * holds abl_scratch(s, hw) floats.  Directions: two single sgemm calls
 * (C = D act; act = act - D^T C). */
size_t abl_scratch(const abl_set *s, size_t hw);
void abl_apply(const abl_set *s, float *act, size_t hw, float *scratch);

/* Unit choices. */
/* The k units with the highest score (ties: the lower unit first). */
void abl_top_units(const double *score, int K, int k, int *out);
/* k distinct units of K, uniformly (GSL mt19937 seeded with seed, then
 * selection sampling, gsl_ran_choose's rule): sorted; the same seed gives
 * the same set. */
int abl_random_units(int K, int k, unsigned long seed, int *out);

/* The rest of a network over N images from a layer's stored activations. */
typedef struct {
    const net_t *net;
    int layer;        /* the ablated layer */
    int last;         /* the output layer (logits) */
    size_t N;
    const float *act; /* [N][K][h][w] of the layer */
    int threads;      /* workers (one net_ws each, single-threaded BLAS) */
} abl_runner;

/* out [N][C] = the last layer's output for every image, with s applied at
 * the layer.  Checks the layer can be run from (net_reads_only_from).
 * Results do not depend on the thread count. */
int abl_run(const abl_runner *r, const abl_set *s, float *out);

#endif
