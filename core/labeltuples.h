/* labeltuples.h - the label tuples of a dataset's images, numbered once.
 *
 * Pixel p of an image with nl label layers carries the tuple (layer
 * 0's label, ..., layer nl-1's label).  The tuples are few (label layers
 * are regions, and their boundaries are shared by every unit's mask), so
 * the tally counts a mask once against the tuple numbers and gives each
 * tuple's count to its nl labels (core/tally.c).  The numbering depends on
 * the labels only, so it is done once when a dataset is opened
 * (core/broden.c) instead of in every tally: per image the tuples' labels
 * and the tuple numbers as runs in raster order (a few per row: ~3 KB an
 * image at Broden's 113 x 113, where a number per pixel would be 25 KB).
 * nd_ltuples_expand() gives the number of every pixel back.
 */
#ifndef ND_LABELTUPLES_H
#define ND_LABELTUPLES_H

#include <stddef.h>
#include <stdint.h>

struct broden;

/* One image's tuples (with one layer, its labels): NULL from
 * nd_ltuples_image_of() when it has no layer, more than 65,536 pixels, or
 * no loaded maps (a shard). */
typedef struct {
    const uint16_t *lab;   /* [ntup][nl] the tuples' labels */
    const uint16_t *start; /* [nrun] each run's first pixel, ascending from 0 */
    const uint16_t *tup;   /* [nrun] each run's tuple number */
    const uint16_t *row;   /* [sh] the run holding each row's first pixel */
    int ntup, nrun;
    size_t nl;
} nd_ltuples_image;

typedef struct {
    nd_ltuples_image *img; /* [N] */
    size_t N;
    uint16_t **pool;       /* the threads' storage, [npool] */
    int npool;
} nd_ltuples;

/* Number the tuples of images [r0, r1) of ds (all of whose maps are
 * loaded) on nt threads; the others get none. */
int nd_ltuples_build(nd_ltuples *t, const struct broden *ds, size_t r0, size_t r1, int nt);
void nd_ltuples_free(nd_ltuples *t);
static inline const nd_ltuples_image *nd_ltuples_image_of(const nd_ltuples *t, size_t i)
{
    return t->img && i < t->N && t->img[i].nrun ? &t->img[i] : NULL;
}

/* id[p] = the tuple number of pixel p, for p < npix (the image's pixel
 * count); id has room for npix + 8 values (8-wide stores). */
void nd_ltuples_expand(const nd_ltuples_image *im, size_t npix, uint16_t *id);

#endif
