/* probe_truth.c - the probes' ground truth at label resolution, per image
 * and concept: built once per point (pr_truth_build) from the label maps,
 * so the many scoring calls of a point (units needed scores ~14 refits)
 * stop re-scanning every layer of a category for every concept and image.
 * pr_image_truth is the reference each list is made from. */
#include "core/err.h"
#include "core/probe_internal.h"

#include <stdlib.h>
#include <string.h>

int pr_image_truth(const pr_ctx *x, size_t i, size_t c, size_t npix, unsigned char *pos, unsigned char *cat)
{
    const broden_layer *ly;
    const broden_imglabel *il;
    size_t nl, ni;
    int whole = 0, catwhole = 0;
    broden_image_layers(x->ds, i, &ly, &nl);
    broden_image_labels(x->ds, i, &il, &ni);
    for (size_t k = 0; k < ni; k++)
        if (il[k].category == x->category[c]) {
            catwhole = 1;
            whole |= il[k].label == x->label[c];
        }
    memset(pos, whole, npix);
    memset(cat, catwhole, npix);
    for (size_t k = 0; k < nl; k++)
        if (ly[k].category == x->category[c])
            for (size_t q = 0; q < npix; q++) {
                uint16_t l = ly[k].map[q];
                pos[q] |= l == x->label[c];
                cat[q] |= l != 0;
            }
    return whole | catwhole << 1;
}

/* the pixels q with m[q] set appended to t->px (grown as needed); n set */
static int append_list(pr_truth *t, size_t *cap, const unsigned char *m, size_t npix, size_t *n)
{
    if (t->npx + npix > *cap) {
        size_t nc = (*cap ? 2 * *cap : 1 << 20) + npix;
        uint32_t *p = realloc(t->px, nc * sizeof *p);
        if (!p)
            return nd_fail("out of memory");
        t->px = p, *cap = nc;
    }
    size_t n0 = t->npx;
    for (size_t q = 0; q < npix; q++)
        if (m[q])
            t->px[t->npx++] = (uint32_t)q;
    *n = t->npx - n0;
    return 0;
}

/* one image's lists: each concept of a category it has ground truth in,
 * and (once per category) the category's pixels */
static int image_lists(const pr_ctx *x, pr_truth *t, size_t j, size_t i, size_t npix, unsigned char *pos,
                       unsigned char *cat, size_t *cap)
{
    uint64_t present = broden_present(x->ds, i), done = 0;
    for (size_t c = 0; c < x->C; c++) {
        pr_list *pl = &t->pos[j * x->C + c];
        int g = x->category[c];
        *pl = (pr_list){t->npx, 0, 0};
        if (!((present >> g) & 1u))
            continue;
        int w = pr_image_truth(x, i, c, npix, pos, cat);
        pl->whole = w & 1;
        if (!pl->whole && append_list(t, cap, pos, npix, &pl->n))
            return -1;
        if ((done >> g) & 1u)
            continue;
        done |= (uint64_t)1 << g;
        pr_list *cl = &t->cat[j * t->ncat + (size_t)g];
        *cl = (pr_list){t->npx, 0, w >> 1};
        if (!cl->whole && append_list(t, cap, cat, npix, &cl->n))
            return -1;
    }
    return 0;
}

int pr_truth_build(const pr_ctx *x, int set, pr_truth *t)
{
    size_t nimg = set ? x->nte : x->ntr, cap = 0, npmax = 0;
    memset(t, 0, sizeof *t);
    for (size_t c = 0; c < x->C; c++)
        t->ncat = (size_t)x->category[c] + 1 > t->ncat ? (size_t)x->category[c] + 1 : t->ncat;
    t->pos = nd_calloc(nimg * x->C + 1, sizeof *t->pos), t->cat = nd_calloc(nimg * t->ncat + 1, sizeof *t->cat);
    if (!t->pos || !t->cat)
        return pr_truth_free(t), -1;
    for (size_t j = 0; j < nimg; j++) {
        int ih, iw, sh, sw;
        broden_image_size(x->ds, x->img[(set ? x->ntr : 0) + j], &ih, &iw, &sh, &sw);
        npmax = (size_t)sh * (size_t)sw > npmax ? (size_t)sh * (size_t)sw : npmax;
    }
    unsigned char *pos = nd_malloc(npmax + 1), *cat = nd_malloc(npmax + 1);
    int rc = pos && cat ? 0 : -1;
    for (size_t j = 0; j < nimg && !rc; j++) {
        size_t i = x->img[(set ? x->ntr : 0) + j];
        int ih, iw, sh, sw;
        broden_image_size(x->ds, i, &ih, &iw, &sh, &sw);
        rc = image_lists(x, t, j, i, (size_t)sh * (size_t)sw, pos, cat, &cap);
    }
    free(pos), free(cat);
    if (rc)
        pr_truth_free(t);
    return rc;
}

void pr_truth_free(pr_truth *t)
{
    free(t->pos), free(t->cat), free(t->px);
    memset(t, 0, sizeof *t);
}
