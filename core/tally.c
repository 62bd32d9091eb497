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


/* A thread's scratch for counting masks by label tuples (core/labeltuples.h:
 * a unit's mask is counted once against the image's tuple runs, and each
 * tuple's count then goes to its nl labels, instead of one pass over the
 * mask per layer; the counts are the same integers either way). */
typedef struct {
    int64_t *cnt;     /* [npix] mask pixels per tuple (zero between units) */
    uint16_t *touch;  /* [npix] tuples met by the current mask */
    size_t npix_cap;
} tuples;

static void tuples_free(tuples *tp)
{
    free(tp->cnt), free(tp->touch);
    memset(tp, 0, sizeof *tp);
}

static int tuples_reserve(tuples *tp, size_t npix)
{
    if (npix <= tp->npix_cap)
        return 0;
    tuples_free(tp);
    tp->cnt = nd_calloc(npix, sizeof *tp->cnt);
    tp->touch = nd_malloc(npix * sizeof *tp->touch);
    if (!tp->cnt || !tp->touch) {
        tuples_free(tp);
        return -1;
    }
    tp->npix_cap = npix;
    return 0;
}

int nd_tally_by_layers;

/* The direct count, pixel by pixel in every layer: for label maps too
 * large for 16-bit tuple numbers (no tuples, core/labeltuples.h). */
static void count_layers(const broden_layer *layers, size_t nl, const int *rs, const int *rl, int nr, int64_t *Iu,
                         size_t K, unsigned char *hit, const unsigned char *prim)
{
    for (size_t k = 0; k < nl; k++)
        for (int r = 0; r < nr; r++)
            for (int p = rs[r]; p < rs[r] + rl[r]; p++) {
                uint16_t v = layers[k].map[p];
                Iu[v * K]++;
                if (hit)
                    hit[prim[v]] = 1;
            }
}

/* Add the mask's runs rs/rl[0..nr) (ascending, up_mask_runs) to Iu[label *
 * K] for every layer and mark the primary categories met in hit (if not
 * NULL): the mask's runs cut at the tuple runs' starts - from the tuple run
 * holding the row's first pixel (ti->row), since mask and tuple runs both
 * ascend - counted per tuple, then each tuple met to its labels once. */
static void count_runs(tuples *tp, const nd_ltuples_image *ti, const int *rs, const int *rl, int nr, size_t sw,
                       size_t npix, int64_t *Iu, size_t K, unsigned char *hit, const unsigned char *prim)
{
    int nt = 0, j = 0, last = ti->nrun - 1;
    size_t y = (size_t)rs[0] / sw; /* the row of run r's start: one division per mask */
    for (int r = 0; r < nr; r++) {
        int s = rs[r], e = s + rl[r];
        while ((y + 1) * sw <= (size_t)s)
            y++;
        j = ti->row[y] > j ? ti->row[y] : j;
        while (j < last && ti->start[j + 1] <= s)
            j++;
        for (;; j++) { /* tuple run j holds pixel s */
            int te = j < last ? ti->start[j + 1] : (int)npix;
            uint16_t t = ti->tup[j];
            if (!tp->cnt[t])
                tp->touch[nt++] = t;
            tp->cnt[t] += (e < te ? e : te) - s;
            if (e <= te)
                break;
            s = te;
        }
    }
    size_t nl = ti->nl;
    for (int q = 0; q < nt; q++) {
        uint16_t t = tp->touch[q];
        const uint16_t *lab = ti->lab + (size_t)t * nl;
        int64_t c = tp->cnt[t];
        for (size_t k = 0; k < nl; k++) {
            Iu[lab[k] * K] += c;
            if (hit)
                hit[prim[lab[k]]] = 1;
        }
        tp->cnt[t] = 0;
    }
}

/* Tally one image whose activations are x[K*h*w]. */
static int tally_image(tally_job *j, up_cache *pc, tuples *tp, size_t i, const float *x, int *rs, int *rl,
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
    const nd_ltuples_image *ti = nd_tally_by_layers ? NULL : broden_image_tuples(ds, i); /* NULL: layer by layer */
    if (ti && tuples_reserve(tp, npix))
        return -1;

    /* ground truth comes from the dataset's cache: G is added once per
     * tally (nd_tally_run), and the categories present here are a bit mask */
    uint64_t pres = broden_present(ds, i);
    for (size_t c = 0; c < C; c++)
        present[c] = (unsigned char)((pres >> c) & 1);

    for (size_t u = 0; u < f->K; u++) {
        const float *a = x + u * hw;
        /* up_mask's scan is the first read of a map (from the page cache):
         * the map four units on is asked for now, so the compute of these
         * maps hides its misses (measured: 5-10% of the tally's CPU) */
        for (size_t o = 0; u + 4 < f->K && o < hw * sizeof *a; o += 64)
            __builtin_prefetch((const char *)(a + 4 * hw) + o);
        if (maxact)
            maxact[u] = nd_map_max(a, hw);
        /* a map with no value above the threshold has no mask: up_mask's
         * first test (bilinear weights are non-negative, sum to one) */
        int nr = up_mask_runs(&pc->plan, a, j->thr32[u], rs, rl), m = 0;
        if (nr == 0)
            continue;
        for (int r = 0; r < nr; r++)
            m += rl[r];
        t->M[u] += m;
        /* label-major: an image's few labels over all units are a few
         * contiguous rows of K counts, where unit-major rows of L counts
         * (2.4 MB per thread) missed the cache on most adds */
        int64_t *Iu = t->I + u;
        if (hit_rule)
            memset(hit, 0, C + 1);
        /* unlabelled pixels count into slot 0 (cleared at the end of the
         * tally) and unselected categories into hit[C] */
        if (ti)
            count_runs(tp, ti, rs, rl, nr, (size_t)sw, npix, Iu, f->K, hit_rule ? hit : NULL, j->prim);
        else
            count_layers(layers, nl, rs, rl, nr, Iu, f->K, hit_rule ? hit : NULL, j->prim);
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
    int *rs = nd_malloc(sizeof *rs * (size_t)(maxpix + 1)), *rl = nd_malloc(sizeof *rl * (size_t)(maxpix + 1));
    unsigned char *present = nd_malloc(C + 1), *hit = nd_malloc(C + 1); /* slot C: no category */
    up_cache pc = {0};
    tuples tp = {0};
    if (!buf || !rs || !rl || !present || !hit) {
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
            if (tally_image(j, &pc, &tp, a + i, x + i * per, rs, rl, present, hit)) {
                j->rc = -1;
                snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
                goto done;
            }
    }
done:
    up_cache_free(&pc);
    tuples_free(&tp);
    free(buf), free(rs), free(rl), free(present), free(hit);
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
