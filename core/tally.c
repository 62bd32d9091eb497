/* tally.c - the tally pass (counts: tally.h; rules: docs/method.md).
 *
 * Memory stays bounded: activations are read in blocks of images through
 * the feature source, and only one unit map is upsampled at a time per
 * thread.  Work is split over threads by fixed image chunks, each thread
 * owning a private tally that is summed at the end; all counts are
 * integers, so the result does not depend on the number of threads.
 */
#include "core/tally.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/upsample.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

int nd_tally_alloc(nd_tally *t, size_t K, size_t L, size_t C)
{
    memset(t, 0, sizeof *t);
    t->K = K, t->L = L, t->C = C;
    t->G = nd_calloc(L, sizeof *t->G);
    t->I = nd_calloc(K * L, sizeof *t->I);
    t->A = nd_calloc(K * C, sizeof *t->A);
    t->M = nd_calloc(K, sizeof *t->M);
    if (!t->G || !t->I || !t->A || !t->M) {
        nd_tally_free(t);
        return nd_fail_prefix("a %zu x %zu tally", K, L);
    }
    return 0;
}

void nd_tally_free(nd_tally *t)
{
    free(t->G), free(t->I), free(t->A), free(t->M);
    memset(t, 0, sizeof *t);
}

int nd_tally_add(nd_tally *d, const nd_tally *s)
{
    if (d->K != s->K || d->L != s->L || d->C != s->C)
        return nd_fail("cannot add tallies of different shapes (%zux%zux%zu vs %zux%zux%zu)", d->K,
                       d->L, d->C, s->K, s->L, s->C);
    for (size_t i = 0; i < d->L; i++)
        d->G[i] += s->G[i];
    for (size_t i = 0; i < d->K * d->L; i++)
        d->I[i] += s->I[i];
    for (size_t i = 0; i < d->K * d->C; i++)
        d->A[i] += s->A[i];
    for (size_t i = 0; i < d->K; i++)
        d->M[i] += s->M[i];
    return 0;
}

typedef struct {
    const broden *ds;
    const nd_features *f;
    const nd_options *o;
    const nd_profile_info *prof;
    const float *thr32;
    const unsigned char *prim; /* [L] selected primary category, C for none */
    size_t i0, i1, chunk;
    int tid, nt;
    nd_tally t;       /* this job's counts; t.I is held label-major, [L][K] (see fold_job) */
    int rc;
    char err[1024];
} tally_job;

int nd_tally_plan(up_plan *p, const nd_features *f, const nd_options *o, int sh, int sw, int iw)
{
    return !nd_profile_get(o->profile)->upsample_field
               ? up_plan_lite(p, (int)f->h, (int)f->w, sh, sw)
               : up_plan_nd(p, (int)f->h, (int)f->w, sh, sw, iw, o->field_offset, o->field_size, o->field_stride);
}


/* G of images [i0, i1) (the obvious loop; for shards). */
static void shard_truth(const broden *ds, int once, size_t i0, size_t i1, int64_t *G)
{
    for (size_t i = i0; i < i1; i++) {
        const broden_layer *layers;
        const broden_imglabel *ils;
        size_t nl, ni;
        int sh, sw;
        broden_image_size(ds, i, NULL, NULL, &sh, &sw);
        broden_image_layers(ds, i, &layers, &nl);
        broden_image_labels(ds, i, &ils, &ni);
        size_t npix = (size_t)sh * (size_t)sw;
        for (size_t k = 0; k < nl; k++)
            for (size_t p = 0; p < npix; p++)
                G[layers[k].map[p]]++;
        for (size_t k = 0; k < ni; k++) {
            int dup = 0;
            for (size_t q = 0; q < k && once; q++)
                dup |= ils[q].label == ils[k].label;
            if (!dup)
                G[ils[k].label] += (int64_t)npix;
        }
    }
    G[0] = 0;
}


/* The label tuples of one image: pixel p carries the tuple (layer 0's
 * label, ..., layer nl-1's label), numbered in id[p]; the tuples are few
 * (label layers are regions, and their boundaries are shared by all the
 * units' masks), so a unit's mask is counted once against id[] and each
 * tuple's count then goes to its nl labels, instead of one pass over the
 * mask per layer.  The counts are the same integers either way. */
typedef struct {
    uint16_t *id;     /* [npix] tuple number of each pixel */
    uint16_t *lab;    /* [ntup][nl] the tuples' labels */
    int64_t *cnt;     /* [ntup] mask pixels per tuple (zero between units) */
    uint16_t *touch;  /* [ntup] tuples met by the current mask */
    int *slot;        /* [nslot] hash of tuples -> number + 1, 0 = empty */
    size_t npix_cap, nl_cap, nslot;
    size_t nl;        /* labels per tuple of the image numbered last */
    int ntup;
} tuples;

static void tuples_free(tuples *tp)
{
    free(tp->id), free(tp->lab), free(tp->cnt), free(tp->touch), free(tp->slot);
    memset(tp, 0, sizeof *tp);
}

static int tuples_reserve(tuples *tp, size_t npix, size_t nl)
{
    if (npix <= tp->npix_cap && nl <= tp->nl_cap)
        return 0;
    npix = npix > tp->npix_cap ? npix : tp->npix_cap, nl = nl > tp->nl_cap ? nl : tp->nl_cap;
    tuples_free(tp);
    size_t nslot = 1;
    while (nslot < 2 * npix)
        nslot *= 2;
    tp->id = nd_malloc(npix * sizeof *tp->id);
    tp->lab = nd_malloc(npix * nl * sizeof *tp->lab + 1);
    tp->cnt = nd_calloc(npix, sizeof *tp->cnt);
    tp->touch = nd_malloc(npix * sizeof *tp->touch);
    tp->slot = nd_calloc(nslot, sizeof *tp->slot);
    if (!tp->id || !tp->lab || !tp->cnt || !tp->touch || !tp->slot) {
        tuples_free(tp);
        return -1;
    }
    tp->npix_cap = npix, tp->nl_cap = nl, tp->nslot = nslot;
    return 0;
}

/* The number of pixel p's tuple, adding it if new (open addressing). */
static int tuple_find(tuples *tp, const broden_layer *layers, size_t nl, size_t p)
{
    uint32_t h = 2166136261u;
    for (size_t k = 0; k < nl; k++)
        h = (h ^ layers[k].map[p]) * 16777619u;
    for (size_t s = h & (tp->nslot - 1);; s = (s + 1) & (tp->nslot - 1)) {
        int t = tp->slot[s] - 1;
        if (t < 0) {
            t = tp->ntup++;
            for (size_t k = 0; k < nl; k++)
                tp->lab[(size_t)t * nl + k] = layers[k].map[p];
            tp->slot[s] = t + 1;
            return t;
        }
        size_t k = 0;
        while (k < nl && tp->lab[(size_t)t * nl + k] == layers[k].map[p])
            k++;
        if (k == nl)
            return t;
    }
}

/* 1 if pixel p holds tuple t's labels in every layer. */
static inline int tuple_at(const tuples *tp, const broden_layer *layers, size_t nl, size_t p, int t)
{
    size_t k = 0;
    while (k < nl && tp->lab[(size_t)t * nl + k] == layers[k].map[p])
        k++;
    return k == nl;
}

/* How many of pixels p..p+7 (p + 8 <= npix), from p on, hold tuple t's
 * labels in every layer: 8, or the position of the first that does not. */
static inline int tuple_match8(const tuples *tp, const broden_layer *layers, size_t nl, size_t p, int t)
{
#if defined(__SSE2__)
    unsigned eq = 0xFFFFu;
    for (size_t k = 0; k < nl && eq; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(layers[k].map + p));
        __m128i c = _mm_set1_epi16((short)tp->lab[(size_t)t * nl + k]);
        eq &= (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi16(v, c));
    }
    return eq == 0xFFFFu ? 8 : __builtin_ctz(~eq) / 2;
#else
    int r = 0;
    while (r < 8 && tuple_at(tp, layers, nl, p + (size_t)r, t))
        r++;
    return r;
#endif
}

/* Number the tuples of an image's nl >= 1 layers of npix <= 65,536 pixels:
 * eight pixels per test of all layers, a lookup where the tuple changes. */
static void tuples_build(tuples *tp, const broden_layer *layers, size_t nl, size_t npix)
{
    for (int t = 0; t < tp->ntup; t++) { /* clear only the slots in use */
        uint32_t h = 2166136261u;
        for (size_t k = 0; k < tp->nl; k++)
            h = (h ^ tp->lab[(size_t)t * tp->nl + k]) * 16777619u;
        size_t s = h & (tp->nslot - 1);
        while (tp->slot[s] != t + 1)
            s = (s + 1) & (tp->nslot - 1);
        tp->slot[s] = 0;
    }
    tp->ntup = 0, tp->nl = nl;
    int cur = tuple_find(tp, layers, nl, 0);
    tp->id[0] = (uint16_t)cur;
    for (size_t p = 1; p < npix;) {
        size_t lim = npix - p < 8 ? npix - p : 8, r = 0;
        if (lim == 8)
            r = (size_t)tuple_match8(tp, layers, nl, p, cur);
        else
            while (r < lim && tuple_at(tp, layers, nl, p + r, cur))
                r++;
        for (size_t q = 0; q < r; q++)
            tp->id[p + q] = (uint16_t)cur;
        p += r;
        if (r < lim) { /* p holds another tuple */
            cur = tuple_find(tp, layers, nl, p);
            tp->id[p++] = (uint16_t)cur;
        }
    }
}

/* Mask pixels q..q+7 are 8 consecutive label pixels (idx increases) that
 * all hold value cur (a label or a tuple number): mask rows are runs of pixels over label regions, so
 * most groups of 8 are counted with one compare. */
static inline int same8(const uint16_t *map, const int *idx, int q, int m, uint16_t cur)
{
#if defined(__SSE2__)
    if (q + 8 > m || idx[q + 7] - idx[q] != 7)
        return 0;
    __m128i v = _mm_loadu_si128((const __m128i *)(map + idx[q]));
    return _mm_movemask_epi8(_mm_cmpeq_epi16(v, _mm_set1_epi16((short)cur))) == 0xFFFF;
#else
    (void)map, (void)idx, (void)q, (void)m, (void)cur;
    return 0;
#endif
}

/* The direct count, one pass over the mask per layer: for a single layer,
 * and for label maps too large for 16-bit tuple numbers. */
static void count_layers(const broden_layer *layers, const int *idx, int m, size_t nl, int64_t *Iu, size_t K,
                         unsigned char *hit, const unsigned char *prim)
{
    for (size_t k = 0; k < nl; k++) {
        const uint16_t *map = layers[k].map;
        uint16_t cur = map[idx[0]];
        int64_t run = 0;
        for (int q = 0; q < m;) {
            if (same8(map, idx, q, m, cur)) {
                run += 8, q += 8;
                continue;
            }
            uint16_t l = map[idx[q]];
            if (l != cur) {
                Iu[cur * K] += run;
                if (hit)
                    hit[prim[cur]] = 1;
                cur = l, run = 0;
            }
            run++, q++;
        }
        Iu[cur * K] += run;
        if (hit)
            hit[prim[cur]] = 1;
    }
}

/* Add mask idx[0..m) (m >= 1) to Iu[label * K] for every layer and mark the
 * primary categories met in hit (if not NULL).  Runs of one tuple are
 * counted in a register and added once: incrementing per pixel would make
 * each add wait for the previous store to the same slot. */
static void count_tuples(tuples *tp, const int *idx, int m, size_t nl, int64_t *Iu, size_t K, unsigned char *hit,
                         const unsigned char *prim)
{
    const uint16_t *id = tp->id;
    int nt = 0;
    uint16_t cur = id[idx[0]];
    int64_t run = 0;
    for (int q = 0; q < m;) {
        if (same8(id, idx, q, m, cur)) {
            run += 8, q += 8;
            continue;
        }
        uint16_t t = id[idx[q]];
        if (t != cur) {
            if (!tp->cnt[cur])
                tp->touch[nt++] = cur;
            tp->cnt[cur] += run;
            cur = t, run = 0;
        }
        run++, q++;
    }
    if (!tp->cnt[cur])
        tp->touch[nt++] = cur;
    tp->cnt[cur] += run;
    for (int s = 0; s < nt; s++) {
        uint16_t t = tp->touch[s];
        const uint16_t *lab = tp->lab + (size_t)t * nl;
        for (size_t k = 0; k < nl; k++) {
            Iu[lab[k] * K] += tp->cnt[t];
            if (hit)
                hit[prim[lab[k]]] = 1;
        }
        tp->cnt[t] = 0;
    }
}

/* Tally one image whose activations are x[K*h*w]. */
static int tally_image(tally_job *j, up_cache *pc, tuples *tp, size_t i, const float *x, int *idx,
                       unsigned char *present, unsigned char *hit)
{
    const broden *ds = j->ds;
    const nd_features *f = j->f;
    nd_tally *t = &j->t;
    size_t C = t->C, hw = f->h * f->w;
    int hit_rule = j->prof->a_where_hit, once = j->prof->image_labels_once;
    float *maxact = j->o->maxact ? j->o->maxact + i * f->K : NULL;
    if (!broden_image_has_data(ds, i)) {
        for (size_t u = 0; maxact && u < f->K; u++)
            maxact[u] = nd_map_max(x + u * hw, hw);
        return 0;
    }
    int ih, iw, sh, sw;
    broden_image_size(ds, i, &ih, &iw, &sh, &sw);
    if (up_cache_get(pc, j->prof->upsample_field, (int)f->h, (int)f->w, sh, sw, iw, j->o->field_offset,
                     j->o->field_size, j->o->field_stride))
        return -1;
    const broden_layer *layers;
    const broden_imglabel *ils;
    size_t nl, ni;
    broden_image_layers(ds, i, &layers, &nl);
    broden_image_labels(ds, i, &ils, &ni);
    size_t npix = (size_t)sh * (size_t)sw;
    int by_tuples = nl >= 2 && npix <= 65536;
    if (by_tuples) {
        if (tuples_reserve(tp, npix, nl))
            return -1;
        tuples_build(tp, layers, nl, npix);
    }

    /* ground truth comes from the dataset's cache: G is added once per
     * tally (nd_tally_run), and the categories present here are a bit mask */
    uint64_t pres = broden_present(ds, i);
    for (size_t c = 0; c < C; c++)
        present[c] = (unsigned char)((pres >> c) & 1);

    for (size_t u = 0; u < f->K; u++) {
        const float *a = x + u * hw;
        if (maxact)
            maxact[u] = nd_map_max(a, hw);
        /* a map with no value above the threshold has no mask: up_mask's
         * first test (bilinear weights are non-negative, sum to one) */
        int m = up_mask(&pc->plan, a, j->thr32[u], idx);
        if (m == 0)
            continue;
        t->M[u] += m;
        /* label-major: an image's few labels over all units are a few
         * contiguous rows of K counts, where unit-major rows of L counts
         * (2.4 MB per thread) missed the cache on most adds */
        int64_t *Iu = t->I + u;
        if (hit_rule)
            memset(hit, 0, C + 1);
        /* unlabelled pixels count into slot 0 (cleared at the end of the
         * tally) and unselected categories into hit[C] */
        if (by_tuples)
            count_tuples(tp, idx, m, nl, Iu, f->K, hit_rule ? hit : NULL, j->prim);
        else
            count_layers(layers, idx, m, nl, Iu, f->K, hit_rule ? hit : NULL, j->prim);
        for (size_t k = 0; k < ni; k++) {
            int dup = 0;
            for (size_t q = 0; q < k && once; q++)
                dup |= ils[q].label == ils[k].label;
            if (dup)
                continue;
            Iu[(size_t)ils[k].label * f->K] += m;
            if (hit_rule)
                hit[j->prim[ils[k].label]] = 1;
        }
        const unsigned char *use = hit_rule ? hit : present;
        for (size_t c = 0; c < C; c++)
            if (use[c])
                t->A[u * C + c] += m;
    }
    return 0;
}

static void *tally_worker(void *arg)
{
    tally_job *j = arg;
    const nd_features *f = j->f;
    size_t per = f->K * f->h * f->w;
    int maxpix = 0;
    for (size_t i = j->i0; i < j->i1; i++) {
        int sh, sw;
        broden_image_size(j->ds, i, NULL, NULL, &sh, &sw);
        if (sh * sw > maxpix)
            maxpix = sh * sw;
    }
    size_t C = j->t.C;
    float *buf = nd_malloc(j->chunk * per * sizeof *buf);
    int *idx = nd_malloc(sizeof *idx * (size_t)(maxpix + 1));
    unsigned char *present = nd_malloc(C + 1), *hit = nd_malloc(C + 1); /* slot C: no category */
    up_cache pc = {0};
    tuples tp = {0};
    if (!buf || !idx || !present || !hit) {
        j->rc = -1;
        snprintf(j->err, sizeof j->err, "the tally: %s", nd_errmsg());
        goto done;
    }
    size_t nchunks = (j->i1 - j->i0 + j->chunk - 1) / j->chunk;
    for (size_t ck = (size_t)j->tid; ck < nchunks; ck += (size_t)j->nt) {
        size_t a = j->i0 + ck * j->chunk, n = j->i1 - a < j->chunk ? j->i1 - a : j->chunk;
        const float *x;
        if (f->get(f->ctx, a, n, buf, &x)) {
            j->rc = -1;
            snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
            break;
        }
        for (size_t i = 0; i < n; i++)
            if (tally_image(j, &pc, &tp, a + i, x + i * per, idx, present, hit)) {
                j->rc = -1;
                snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
                goto done;
            }
    }
done:
    up_cache_free(&pc);
    tuples_free(&tp);
    free(buf), free(idx), free(present), free(hit);
    return NULL;
}

/* Add job tally s, whose I is label-major ([L][K]: tally_image), to t
 * (unit-major); slot 0, unlabelled, is not a label and is left out. */
static void fold_job(nd_tally *t, nd_tally *s)
{
    size_t K = t->K, L = t->L;
    for (size_t l = 1; l < L; l++)
        for (size_t u = 0; u < K; u++)
            t->I[u * L + l] += s->I[l * K + u];
    memset(s->I, 0, K * L * sizeof *s->I);
    nd_tally_add(t, s); /* G, A and M */
}

/* Per-job tallies over [i0, i1) in rounds, so the calling thread can report
 * progress between them; summed into t (slot 0, unlabelled, cleared). */
static int run_rounds(tally_job *jobs, int nt, size_t i0, size_t i1, nd_progress progress, nd_tally *t)
{
    int rc = 0;
    size_t round = progress.fn ? (size_t)nt * 16 * 8 : i1 - i0;
    if (round == 0)
        round = 1;
    for (int k = 0; k < nt && !rc; k++)
        if (nd_tally_alloc(&jobs[k].t, t->K, t->L, t->C))
            rc = -1;
    for (size_t r0 = i0; r0 < i1 && !rc; r0 += round) {
        size_t r1 = r0 + round < i1 ? r0 + round : i1;
        for (int k = 0; k < nt; k++)
            jobs[k].i0 = r0, jobs[k].i1 = r1, jobs[k].chunk = 8, jobs[k].tid = k, jobs[k].nt = nt;
        nd_run_jobs(tally_worker, jobs, sizeof *jobs, nt);
        for (int k = 0; k < nt; k++)
            if (jobs[k].rc && !rc)
                rc = nd_fail("%s", jobs[k].err);
        if (!rc)
            nd_report(progress, "tally", r1 - i0, i1 - i0);
    }
    for (int k = 0; k < nt; k++) {
        if (!rc)
            fold_job(t, &jobs[k].t);
        nd_tally_free(&jobs[k].t);
    }
    return rc;
}

int nd_tally_run(const broden *ds, const nd_features *f, const nd_options *o,
                 const double *thresholds, size_t i0, size_t i1, nd_tally *t)
{
    const nd_profile_info *prof = nd_profile_get(o->profile);
    if (prof->upsample_field && !o->have_field)
        return nd_fail("the %s profile needs the layer's receptive field (offset, size, stride)", prof->name);
    if (i1 > f->N || i0 > i1)
        return nd_fail("image range [%zu, %zu) outside the %zu images", i0, i1, f->N);
    float *thr32 = nd_malloc(f->K * sizeof *thr32);
    unsigned char *prim = nd_malloc(t->L + 1);
    int nt = nd_threads(o->threads);
    tally_job *jobs = nd_calloc((size_t)nt, sizeof *jobs);
    if (!thr32 || !prim || !jobs) {
        free(thr32), free(prim), free(jobs);
        return -1;
    }
    /* the references compare float32 maps with the float32 threshold */
    for (size_t u = 0; u < f->K; u++)
        thr32[u] = (float)thresholds[u];
    for (size_t l = 0; l < t->L; l++) {
        int c = broden_primary(ds, (int)l);
        prim[l] = (unsigned char)(c < 0 ? t->C : (size_t)c);
    }
    for (int k = 0; k < nt; k++)
        jobs[k].ds = ds, jobs[k].f = f, jobs[k].o = o, jobs[k].prof = prof, jobs[k].thr32 = thr32,
        jobs[k].prim = prim;
    int rc = run_rounds(jobs, nt, i0, i1, o->progress, t);
    /* G does not depend on the units: the whole dataset's comes from the
     * dataset's cache; a shard sums its own images */
    if (!rc) {
        if (i0 == 0 && i1 == f->N) {
            const int64_t *G = broden_truth(ds, prof->image_labels_once);
            for (size_t l = 0; l < t->L; l++)
                t->G[l] += G[l];
        } else
            shard_truth(ds, prof->image_labels_once, i0, i1, t->G);
    }
    free(jobs), free(thr32), free(prim);
    return rc;
}
