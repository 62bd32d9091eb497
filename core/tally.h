/* tally.h - the raw counts of a dissection: G, I, A and M.
 *
 * For every image with labels, each unit's map is upsampled to label
 * resolution under the profile's rule, thresholded into a mask, and counted
 * against the image's label layers and image-level labels (docs/method.md):
 *   G[l]       pixels of label l (unit-independent, from the dataset)
 *   I[u][l]    pixels of unit u's mask that carry label l
 *   A[u][c]    mask pixels of unit u counted toward category c (profile's A rule)
 *   M[u]       mask pixels of unit u
 * All int64 and additive over disjoint image ranges (threads, shards).
 */
#ifndef ND_TALLY_H
#define ND_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "core/broden.h"
#include "core/features.h"
#include "core/options.h"
#include "core/upsample.h"

typedef struct {
    size_t K, L, C;  /* units, label slots (max label number + 1; slot 0 unused), selected categories */
    int64_t *G;      /* [L] label pixels */
    int64_t *I;      /* [K][L] mask & label pixels */
    int64_t *A;      /* [K][C] mask pixels counted toward each category */
    int64_t *M;      /* [K] mask pixels */
} nd_tally;

int nd_tally_alloc(nd_tally *t, size_t K, size_t L, size_t C);
void nd_tally_free(nd_tally *t);
int nd_tally_add(nd_tally *dst, const nd_tally *src); /* shard merge */
/* For the tests: nonzero = count every mask pixel by pixel in every layer
 * (the path of label maps over 65,536 pixels, which have no tuples)
 * instead of by the images' label tuples (core/labeltuples.h). */
extern int nd_tally_by_layers;
/* Add the counts of images [i0, i1) to t (allocated with the dataset's L, C). */
int nd_tally_run(const broden *ds, const nd_features *f, const nd_options *o,
                 const double *thresholds, size_t i0, size_t i1, nd_tally *t);

/* The upsampling plan the tally uses for an image with sh x sw label maps
 * and width iw under o's profile; its mask is up_mask(plan, map,
 * (float)threshold) - the report draws masks with exactly this. */
int nd_tally_plan(up_plan *p, const nd_features *f, const nd_options *o, int sh, int sw, int iw);

#endif
