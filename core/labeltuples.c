/* labeltuples.c - numbering the label tuples of a dataset's images once
 * (what and why: core/labeltuples.h). */
#include "core/labeltuples.h"
#include "core/broden.h"
#include "core/err.h"
#include "core/jobs.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* One thread's scratch for numbering an image: the tuple number of every
 * pixel (the row above is looked at), the tuples' labels, a hash of the
 * tuples, and the runs found. */
typedef struct {
    uint16_t *id;     /* [npix + 8] tuple number of each pixel; 8 more for 8-wide stores */
    uint16_t *lab;    /* [ntup][nl] the tuples' labels */
    int *slot;        /* [nslot] hash of tuples -> number + 1, 0 = empty */
    uint16_t *start, *tup; /* [npix] the runs */
    uint16_t *row;    /* [sh] the run holding each row's first pixel */
    size_t npix_cap, nl_cap, nslot;
    size_t nl;        /* labels per tuple of the image numbered last */
    int ntup, nrun;
} numbering;

static void numbering_free(numbering *nb)
{
    free(nb->id), free(nb->lab), free(nb->slot), free(nb->start), free(nb->tup), free(nb->row);
    memset(nb, 0, sizeof *nb);
}

static int numbering_reserve(numbering *nb, size_t npix, size_t nl)
{
    if (npix <= nb->npix_cap && nl <= nb->nl_cap)
        return 0;
    npix = npix > nb->npix_cap ? npix : nb->npix_cap, nl = nl > nb->nl_cap ? nl : nb->nl_cap;
    numbering_free(nb);
    size_t nslot = 1;
    while (nslot < 2 * npix)
        nslot *= 2;
    nb->id = nd_calloc(npix + 8, sizeof *nb->id);
    nb->lab = nd_malloc(npix * nl * sizeof *nb->lab + 1);
    nb->slot = nd_calloc(nslot, sizeof *nb->slot);
    nb->start = nd_malloc(npix * sizeof *nb->start);
    nb->tup = nd_malloc(npix * sizeof *nb->tup);
    nb->row = nd_malloc(npix * sizeof *nb->row);
    if (!nb->id || !nb->lab || !nb->slot || !nb->start || !nb->tup || !nb->row) {
        numbering_free(nb);
        return -1;
    }
    nb->npix_cap = npix, nb->nl_cap = nl, nb->nslot = nslot;
    return 0;
}

/* The number of pixel p's tuple, adding it if new (open addressing). */
static int tuple_find(numbering *nb, const broden_layer *layers, size_t nl, size_t p)
{
    uint32_t h = 2166136261u;
    for (size_t k = 0; k < nl; k++)
        h = (h ^ layers[k].map[p]) * 16777619u;
    for (size_t s = h & (nb->nslot - 1);; s = (s + 1) & (nb->nslot - 1)) {
        int t = nb->slot[s] - 1;
        if (t < 0) {
            t = nb->ntup++;
            for (size_t k = 0; k < nl; k++)
                nb->lab[(size_t)t * nl + k] = layers[k].map[p];
            nb->slot[s] = t + 1;
            return t;
        }
        size_t k = 0;
        while (k < nl && nb->lab[(size_t)t * nl + k] == layers[k].map[p])
            k++;
        if (k == nl)
            return t;
    }
}

/* 1 if pixel p holds tuple t's labels in every layer. */
static inline int tuple_at(const numbering *nb, const broden_layer *layers, size_t nl, size_t p, int t)
{
    size_t k = 0;
    while (k < nl && nb->lab[(size_t)t * nl + k] == layers[k].map[p])
        k++;
    return k == nl;
}

/* The number of pixel p's tuple where it differs from its left neighbour
 * (a new run from p): most often the tuple of the pixel above (a region
 * boundary crossing the row), else looked up. */
static inline uint16_t tuple_next(numbering *nb, const broden_layer *layers, size_t nl, size_t p, size_t sw)
{
    int t = p >= sw && tuple_at(nb, layers, nl, p, nb->id[p - sw]) ? nb->id[p - sw]
                                                                    : tuple_find(nb, layers, nl, p);
    nb->start[nb->nrun] = (uint16_t)p, nb->tup[nb->nrun++] = (uint16_t)t;
    return (uint16_t)t;
}

/* Forget the previous image's tuples: clear only the hash slots in use. */
static void numbering_reset(numbering *nb, size_t nl)
{
    for (int t = 0; t < nb->ntup; t++) {
        uint32_t h = 2166136261u;
        for (size_t k = 0; k < nb->nl; k++)
            h = (h ^ nb->lab[(size_t)t * nb->nl + k]) * 16777619u;
        size_t s = h & (nb->nslot - 1);
        while (nb->slot[s] != t + 1)
            s = (s + 1) & (nb->nslot - 1);
        nb->slot[s] = 0;
    }
    nb->ntup = 0, nb->nrun = 0, nb->nl = nl;
}

/* Number the tuples of an image's nl >= 1 layers of npix <= 65,536 pixels
 * (rows of sw) and find their runs: eight pixels per test of all layers
 * against their left neighbours; where one differs, a run starts, whose
 * tuple is the one above or looked up. */
static void number_image(numbering *nb, const broden_layer *layers, size_t nl, size_t npix, size_t sw)
{
    numbering_reset(nb, nl);
    uint16_t cur = (uint16_t)tuple_find(nb, layers, nl, 0), *id = nb->id;
    nb->start[0] = 0, nb->tup[0] = cur, nb->nrun = 1;
    id[0] = cur;
    size_t p = 1;
#if defined(__SSE2__)
    for (; p + 8 <= npix; p += 8) {
        __m128i eq = _mm_set1_epi8(-1);
        for (size_t k = 0; k < nl; k++)
            eq = _mm_and_si128(eq, _mm_cmpeq_epi16(_mm_loadu_si128((const __m128i *)(const void *)(layers[k].map + p)),
                                                   _mm_loadu_si128((const __m128i *)(const void *)(layers[k].map + p - 1))));
        unsigned diff = ~(unsigned)_mm_movemask_epi8(eq) & 0x5555u; /* one bit per pixel */
        /* eight at a time from each change on: the stores past the block
         * are rewritten by the next ones (id has 8 more entries) */
        _mm_storeu_si128((__m128i *)(void *)(id + p), _mm_set1_epi16((short)cur));
        for (; diff; diff &= diff - 1) {
            size_t q = p + (size_t)__builtin_ctz(diff) / 2;
            cur = tuple_next(nb, layers, nl, q, sw);
            _mm_storeu_si128((__m128i *)(void *)(id + q), _mm_set1_epi16((short)cur));
        }
    }
#endif
    for (; p < npix; p++) {
        if (!tuple_at(nb, layers, nl, p, cur))
            cur = tuple_next(nb, layers, nl, p, sw);
        id[p] = cur;
    }
}

/* row[y] = the run holding pixel y * sw, for the nb->nrun runs found. */
static void row_runs(numbering *nb, size_t sh, size_t sw)
{
    int r = 0;
    for (size_t y = 0; y < sh; y++) {
        while (r + 1 < nb->nrun && nb->start[r + 1] <= y * sw)
            r++;
        nb->row[y] = (uint16_t)r;
    }
}

void nd_ltuples_expand(const nd_ltuples_image *im, size_t npix, uint16_t *id)
{
    for (int r = 0; r < im->nrun; r++) {
        size_t p = im->start[r], e = r + 1 < im->nrun ? im->start[r + 1] : npix;
#if defined(__SSE2__)
        /* eight at a time: the stores past the run are rewritten by the next run's */
        __m128i v = _mm_set1_epi16((short)im->tup[r]);
        for (; p < e; p += 8)
            _mm_storeu_si128((__m128i *)(void *)(id + p), v);
#else
        for (; p < e; p++)
            id[p] = im->tup[r];
#endif
    }
}

/* One thread's images r0 + tid, r0 + tid + nt, ...: each image's labels,
 * run starts and run tuples appended to the thread's pool, at off[i]. */
typedef struct {
    const broden *ds;
    nd_ltuples *t;
    size_t *off;
    size_t r0, r1;
    int tid, nt, rc;
    uint16_t *pool;
    size_t len, cap;
} build_job;

static int pool_append(build_job *j, const uint16_t *v, size_t n)
{
    if (j->len + n > j->cap) {
        size_t cap = j->cap ? j->cap : 65536;
        while (cap < j->len + n)
            cap *= 2;
        uint16_t *q = realloc(j->pool, cap * sizeof *q);
        if (!q)
            return -1;
        j->pool = q, j->cap = cap;
    }
    memcpy(j->pool + j->len, v, n * sizeof *v);
    j->len += n;
    return 0;
}

static void *build_worker(void *arg)
{
    build_job *j = arg;
    numbering nb = {0};
    for (size_t i = j->r0 + (size_t)j->tid; i < j->r1 && !j->rc; i += (size_t)j->nt) {
        const broden_layer *layers;
        size_t nl;
        int sh, sw;
        broden_image_layers(j->ds, i, &layers, &nl);
        broden_image_size(j->ds, i, NULL, NULL, &sh, &sw);
        size_t npix = (size_t)sh * (size_t)sw;
        if (nl < 1 || npix > 65536 || npix == 0 || !layers[0].map)
            continue;
        if (numbering_reserve(&nb, npix, nl)) {
            j->rc = -1;
            break;
        }
        number_image(&nb, layers, nl, npix, (size_t)sw);
        row_runs(&nb, (size_t)sh, (size_t)sw);
        nd_ltuples_image *im = &j->t->img[i];
        im->ntup = nb.ntup, im->nrun = nb.nrun, im->nl = nl;
        j->off[i] = j->len;
        if (pool_append(j, nb.lab, (size_t)nb.ntup * nl) || pool_append(j, nb.start, (size_t)nb.nrun) ||
            pool_append(j, nb.tup, (size_t)nb.nrun) || pool_append(j, nb.row, (size_t)sh))
            j->rc = -1;
    }
    numbering_free(&nb);
    return NULL;
}

int nd_ltuples_build(nd_ltuples *t, const broden *ds, size_t r0, size_t r1, int nt)
{
    memset(t, 0, sizeof *t);
    t->N = broden_num_images(ds);
    t->img = nd_calloc(t->N ? t->N : 1, sizeof *t->img);
    size_t *off = nd_calloc(t->N ? t->N : 1, sizeof *off);
    build_job *jobs = nd_calloc((size_t)nt, sizeof *jobs);
    t->pool = nd_calloc((size_t)nt, sizeof *t->pool);
    int rc = !t->img || !off || !jobs || !t->pool ? -1 : 0;
    if (!rc) {
        t->npool = nt;
        for (int k = 0; k < nt; k++)
            jobs[k] = (build_job){.ds = ds, .t = t, .off = off, .r0 = r0, .r1 = r1, .tid = k, .nt = nt};
        nd_run_jobs(build_worker, jobs, sizeof *jobs, nt);
        for (int k = 0; k < nt; k++) {
            uint16_t *q = jobs[k].len ? realloc(jobs[k].pool, jobs[k].len * sizeof *q) : NULL;
            t->pool[k] = q ? q : jobs[k].pool; /* shrunk to its length (or left as it is) */
            if (jobs[k].rc && !rc)
                rc = nd_fail("out of memory numbering the label tuples");
        }
    }
    /* the pools no longer move: the images' offsets become pointers */
    for (size_t i = r0; !rc && i < r1 && i < t->N; i++) {
        nd_ltuples_image *im = &t->img[i];
        if (!im->nrun)
            continue;
        const uint16_t *base = t->pool[(i - r0) % (size_t)nt] + off[i];
        im->lab = base, im->start = base + (size_t)im->ntup * im->nl, im->tup = im->start + im->nrun;
        im->row = im->tup + im->nrun;
    }
    free(off), free(jobs);
    if (rc)
        nd_ltuples_free(t);
    return rc;
}

void nd_ltuples_free(nd_ltuples *t)
{
    for (int k = 0; t->pool && k < t->npool; k++)
        free(t->pool[k]);
    free(t->pool), free(t->img);
    memset(t, 0, sizeof *t);
}
