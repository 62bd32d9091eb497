/* dissect.c - thresholds, tally, IoU and labels of one layer.
 *
 * Memory stays bounded: activations are read in blocks of images through
 * the feature source, and only one unit map is upsampled at a time per
 * thread.  Work is split over threads by fixed image chunks, each thread
 * owning a private tally that is summed at the end; all counts are
 * integers, so the result does not depend on the number of threads.
 */
#include "core/dissect.h"
#include "core/err.h"
#include "core/quantile.h"
#include "core/topk.h"
#include "core/upsample.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void nd_options_default(nd_options *o)
{
    memset(o, 0, sizeof *o);
    o->profile = ND_PROFILE_NETDISSECT;
    o->quantile = 0.005;
    o->iou_threshold = 0.04;
}

const char *nd_profile_name(nd_profile p)
{
    return p == ND_PROFILE_LITE ? "netdissect-lite" : "netdissect";
}

int nd_profile_parse(const char *s, nd_profile *p)
{
    if (!strcmp(s, "netdissect") || !strcmp(s, "nd"))
        *p = ND_PROFILE_NETDISSECT;
    else if (!strcmp(s, "netdissect-lite") || !strcmp(s, "ndl") || !strcmp(s, "lite"))
        *p = ND_PROFILE_LITE;
    else
        return -1;
    return 0;
}

static double eps_of(nd_profile p) { return p == ND_PROFILE_LITE ? 1e-10 : 1e-20; }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int n_threads(int want)
{
    if (want > 0)
        return want;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 64 ? 64 : n) : 1;
}

/* Run fn on jobs[0..nt) (each jobsize bytes): job 0 here, the others on
 * threads.  A job whose thread cannot start runs here too, so a result
 * never depends on how many threads actually ran.  nt <= 64. */
static void run_jobs(void *(*fn)(void *), void *jobs, size_t jobsize, int nt)
{
    pthread_t th[64];
    int started[64] = {0};
    ND_ASSERT(nt >= 1 && nt <= 64);
    for (int t = 1; t < nt; t++)
        started[t] = pthread_create(&th[t], NULL, fn, (char *)jobs + (size_t)t * jobsize) == 0;
    fn(jobs);
    for (int t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            fn((char *)jobs + (size_t)t * jobsize);
    }
}

/* ------------------------------------------------------------ thresholds */

typedef struct {
    float *vals;
    size_t n, u0, u1;
    double level;
    double *out;
    int tid, nt;
} qt_job;

static void *qt_worker(void *arg)
{
    qt_job *j = arg;
    for (size_t u = j->u0 + (size_t)j->tid; u < j->u1; u += (size_t)j->nt)
        j->out[u] = qt_select(j->vals + (u - j->u0) * j->n, j->n, j->level);
    return NULL;
}

int nd_thresholds(const nd_features *f, double quantile, int threads, double *out)
{
    return nd_thresholds_progress(f, quantile, threads, out, NULL, NULL);
}

typedef struct {
    const nd_features *f;
    qt_stream *q;
    qt_part *part;
    int pass, tid, nt, rc;
    char err[1024];
} hist_job;

static void *hist_worker(void *arg)
{
    hist_job *j = arg;
    const nd_features *f = j->f;
    size_t B = 16, per = f->K * f->h * f->w;
    float *buf = malloc(B * per * sizeof *buf);
    if (!buf) {
        j->rc = -1;
        snprintf(j->err, sizeof j->err, "out of memory");
        return NULL;
    }
    size_t nchunks = (f->N + B - 1) / B;
    for (size_t ck = (size_t)j->tid; ck < nchunks; ck += (size_t)j->nt) {
        size_t a = ck * B, n = f->N - a < B ? f->N - a : B;
        const float *x;
        if (f->get(f->ctx, a, n, buf, &x)) {
            j->rc = -1;
            snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
            break;
        }
        qt_part_add(j->q, j->part, j->pass, x, n, f->h * f->w);
    }
    free(buf);
    return NULL;
}

/* ---- thresholds in one pass: per-thread top-k streams (core/topk.h) ----
 *
 * Each thread streams its chunks of images into its own qt_top; the
 * quantile is exact from their union.  The floors start from a small
 * sample (TOP_SAMPLE images in blocks of 8 consecutive ones, which a
 * rotated source produces at the cost of 8) at about three times the
 * wanted tail, so that only ~1.5% of the values are ever kept; a floor
 * guessed too high is detected and the pass is run again without guesses. */
enum { TOP_CHUNK = 16, TOP_SAMPLE = 32 };

typedef struct {
    const nd_features *f;
    qt_top *t;
    int tid, nt, rc;
    char err[1024];
} top_job;

static void *top_worker(void *arg)
{
    top_job *j = arg;
    const nd_features *f = j->f;
    size_t per = f->K * f->h * f->w;
    float *buf = malloc(TOP_CHUNK * per * sizeof *buf);
    if (!buf) {
        j->rc = -1;
        snprintf(j->err, sizeof j->err, "out of memory");
        return NULL;
    }
    size_t nchunks = (f->N + TOP_CHUNK - 1) / TOP_CHUNK;
    for (size_t ck = (size_t)j->tid; ck < nchunks; ck += (size_t)j->nt) {
        size_t a = ck * TOP_CHUNK, n = f->N - a < TOP_CHUNK ? f->N - a : TOP_CHUNK;
        const float *x;
        if (f->get(f->ctx, a, n, buf, &x)) {
            j->rc = -1;
            snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
            break;
        }
        if (qt_top_add(j->t, x, n, f->h * f->w)) {
            j->rc = -1;
            snprintf(j->err, sizeof j->err, "out of memory for the thresholds' candidates");
            break;
        }
    }
    free(buf);
    return NULL;
}

/* Floors from a sample: per unit a value with about 10 q of the sample's
 * values above it (loose, because a few images of a rare concept can
 * crowd a small sample's tail), from a 256-bin histogram of the sample
 * (cheaper than a selection; a guess only needs to be roughly right, and
 * one that is too high is detected).  Returns 1 with floors, 0 if not
 * worth it, -1 on a read error. */
static int guess_floors(const nd_features *f, double quantile, float *floor)
{
    size_t hw = f->h * f->w, K = f->K, per = K * hw;
    if (f->N < 8 * TOP_SAMPLE)
        return 0; /* a small input: streaming from nothing costs less than a sample */
    size_t m = TOP_SAMPLE * hw, tail = (size_t)ceil(10 * quantile * (double)m) + 32;
    if (tail >= m)
        return 0;
    float *blk = malloc(TOP_SAMPLE * per * sizeof *blk), *lo = malloc(K * sizeof *lo), *hi = malloc(K * sizeof *hi);
    int rc = blk && lo && hi ? 1 : 0;
    size_t stride = f->N / (TOP_SAMPLE / 8);
    for (size_t s = 0; s < TOP_SAMPLE / 8 && rc == 1; s++) {
        const float *x;
        size_t i0 = s * stride / 8 * 8; /* aligned blocks of 8 */
        if (f->get(f->ctx, i0, 8, blk + s * 8 * per, &x))
            rc = -1;
        else if (x != blk + s * 8 * per)
            memcpy(blk + s * 8 * per, x, 8 * per * sizeof *x);
    }
    for (size_t u = 0; u < K && rc == 1; u++) {
        float a = INFINITY, b = -INFINITY;
        for (size_t i = 0; i < TOP_SAMPLE; i++)
            for (size_t p = 0; p < hw; p++) {
                float v = blk[i * per + u * hw + p];
                a = v < a ? v : a, b = v > b ? v : b;
            }
        unsigned cnt[256] = {0};
        double scale = b > a ? 255.999 / ((double)b - a) : 0;
        for (size_t i = 0; i < TOP_SAMPLE; i++)
            for (size_t p = 0; p < hw; p++)
                cnt[(int)(((double)blk[i * per + u * hw + p] - a) * scale)]++;
        size_t above = 0;
        int bin = 255;
        while (bin > 0 && above + cnt[bin] < tail)
            above += cnt[bin--];
        /* the lower edge of the bin that completes the tail, nudged down */
        floor[u] = (float)(a + (double)bin / scale) - (b - a) * 1e-6f;
        if (!(scale > 0) || bin == 0)
            floor[u] = -INFINITY;
    }
    free(blk), free(lo), free(hi);
    return rc;
}

/* 1 done in one pass, 3 done in two (a guessed floor missed), 0 to fall
 * back (the candidates would take too much memory), -1 on error */
static int thresholds_top(const nd_features *f, double quantile, int nt, double *out)
{
    uint64_t n = (uint64_t)f->N * f->h * f->w;
    size_t keep = qt_top_keep(n, 1.0 - quantile), hw = f->h * f->w;
    /* candidates: 2 keep + hw floats per unit and thread, at most 1 GiB */
    if ((double)(2 * keep + hw) * (double)f->K * (double)nt * sizeof(float) > (double)((size_t)1 << 30))
        return 0;
    float *floor = malloc(f->K * sizeof *floor);
    if (!floor)
        return nd_fail("out of memory");
    int g = guess_floors(f, quantile, floor), rc = g < 0 ? -1 : 1;
    for (int attempt = 0; rc == 1; attempt++) {
        top_job jobs[64];
        int ok = 1;
        for (int t = 0; t < nt; t++) {
            jobs[t] = (top_job){.f = f, .tid = t, .nt = nt};
            ok &= (jobs[t].t = qt_top_new(f->K, keep, g == 1 && attempt == 0 ? floor : NULL)) != NULL;
        }
        if (ok)
            run_jobs(top_worker, jobs, sizeof *jobs, nt);
        for (int t = 0; t < nt && ok; t++)
            if (jobs[t].rc && rc == 1)
                rc = nd_fail("%s", jobs[t].err);
        if (!ok)
            rc = nd_fail("out of memory for the thresholds' candidates");
        qt_top *parts[64];
        for (int t = 0; t < nt; t++)
            parts[t] = jobs[t].t;
        if (rc == 1) {
            int r = qt_top_result(parts, nt, n, 1.0 - quantile, out);
            if (r < 0)
                rc = nd_fail("out of memory");
            else if (r == 0)
                rc = attempt == 0 ? 2 : 3; /* done */
            else
                ND_ASSERT(attempt == 0 && g == 1); /* only a guessed floor can miss */
        }
        for (int t = 0; t < nt; t++)
            qt_top_free(jobs[t].t);
    }
    free(floor);
    return rc == 2 ? 1 : rc;
}

static _Thread_local int last_method;
int nd_thresholds_last_method(void) { return last_method; }

/* Exact thresholds: one pass with a sampled window when that works, else
 * two passes of histograms (see qt_stream). */
int nd_thresholds_progress(const nd_features *f, double quantile, int threads, double *out,
                           void (*progress)(void *, const char *, size_t, size_t), void *pctx)
{
    if (!(quantile > 0 && quantile < 1))
        return nd_fail("quantile %g must be in (0, 1)", quantile);
    int nt = n_threads(threads), rc = 0;
    if (!getenv("ND_NO_WINDOW")) {
        int w = thresholds_top(f, quantile, nt, out);
        if (w < 0)
            return -1;
        if (w == 1 || w == 3) {
            last_method = w;
            if (progress)
                progress(pctx, "thresholds", f->K, f->K);
            return 0;
        }
    }
    last_method = 2;
    qt_stream *q = qt_stream_new(f->K, (uint64_t)f->N * f->h * f->w, 1.0 - quantile);
    if (!q)
        return -1;
    hist_job jobs[64];
    for (int pass = 1; pass <= 2 && !rc; pass++) {
        for (int t = 0; t < nt; t++) {
            jobs[t] = (hist_job){.f = f, .q = q, .pass = pass, .tid = t, .nt = nt};
            if (!(jobs[t].part = qt_part_new(q, pass))) {
                for (int k = 0; k < t; k++)
                    qt_part_merge(q, jobs[k].part, pass);
                qt_stream_free(q);
                return nd_fail("out of memory for quantile histograms");
            }
        }
        run_jobs(hist_worker, jobs, sizeof *jobs, nt);
        for (int t = 0; t < nt; t++) {
            if (jobs[t].rc && !rc)
                rc = nd_fail("%s", jobs[t].err);
            qt_part_merge(q, jobs[t].part, pass);
        }
        if (!rc)
            rc = qt_stream_end_pass(q, pass);
        if (progress && !rc)
            progress(pctx, "thresholds", (size_t)pass * f->K / 2, f->K);
    }
    if (!rc)
        qt_stream_result(q, out);
    qt_stream_free(q);
    return rc;
}

/* The obvious version: gather each unit's values, select (kept for tests). */
int nd_thresholds_select(const nd_features *f, double quantile, int threads, double *out)
{
    void (*progress)(void *, const char *, size_t, size_t) = NULL;
    void *pctx = NULL;
    if (!(quantile > 0 && quantile < 1))
        return nd_fail("quantile %g must be in (0, 1)", quantile);
    size_t hw = f->h * f->w, n = f->N * hw, per = f->K * hw;
    /* gather as many units as fit in ~1 GiB, so large inputs take a few
     * passes instead of one pass per unit */
    size_t budget = (size_t)1 << 30, ub = budget / (n * sizeof(float) + 1);
    if (ub < 1)
        ub = 1;
    if (ub > f->K)
        ub = f->K;
    size_t B = 32;
    float *vals = nd_malloc(ub * n * sizeof *vals);
    float *buf = nd_malloc(B * per * sizeof *buf);
    if (!vals || !buf) {
        free(vals);
        free(buf);
        return -1;
    }
    int nt = n_threads(threads), rc = 0;
    for (size_t u0 = 0; u0 < f->K && !rc; u0 += ub) {
        size_t u1 = u0 + ub < f->K ? u0 + ub : f->K;
        for (size_t i0 = 0; i0 < f->N; i0 += B) {
            size_t m = f->N - i0 < B ? f->N - i0 : B;
            const float *x;
            if (f->get(f->ctx, i0, m, buf, &x)) {
                rc = -1;
                break;
            }
            for (size_t i = 0; i < m; i++)
                for (size_t u = u0; u < u1; u++)
                    memcpy(vals + (u - u0) * n + (i0 + i) * hw, x + i * per + u * hw, hw * sizeof(float));
        }
        if (rc)
            break;
        qt_job jobs[64];
        for (int t = 0; t < nt; t++)
            jobs[t] = (qt_job){vals, n, u0, u1, 1.0 - quantile, out, t, nt};
        run_jobs(qt_worker, jobs, sizeof *jobs, nt);
        if (progress)
            progress(pctx, "thresholds", u1, f->K);
    }
    free(vals);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------ tally */

int nd_tally_alloc(nd_tally *t, size_t K, size_t L, size_t C)
{
    memset(t, 0, sizeof *t);
    t->K = K, t->L = L, t->C = C;
    t->G = calloc(L, sizeof *t->G);
    t->I = calloc(K * L, sizeof *t->I);
    t->A = calloc(K * C, sizeof *t->A);
    t->M = calloc(K, sizeof *t->M);
    if (!t->G || !t->I || !t->A || !t->M) {
        nd_tally_free(t);
        return nd_fail("out of memory for a %zu x %zu tally", K, L);
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
    const float *thr32;
    const unsigned char *prim; /* [L] selected primary category, C for none */
    size_t i0, i1, chunk;
    int tid, nt;
    nd_tally t;
    int rc;
    char err[1024];
} tally_job;

typedef struct {
    up_plan plan;
    int have, sh, sw, iw;
} plan_cache;

static int get_plan(plan_cache *pc, const nd_features *f, const nd_options *o, int sh, int sw, int iw)
{
    if (pc->have && pc->sh == sh && pc->sw == sw && pc->iw == iw)
        return 0;
    if (pc->have)
        up_plan_free(&pc->plan);
    pc->have = 0;
    int rc = o->profile == ND_PROFILE_LITE
                 ? up_plan_lite(&pc->plan, (int)f->h, (int)f->w, sh, sw)
                 : up_plan_nd(&pc->plan, (int)f->h, (int)f->w, sh, sw, iw, o->field_offset,
                              o->field_size, o->field_stride);
    if (rc)
        return -1;
    pc->have = 1, pc->sh = sh, pc->sw = sw, pc->iw = iw;
    return 0;
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

/* Tally one image whose activations are x[K*h*w]. */
static int tally_image(tally_job *j, plan_cache *pc, size_t i, const float *x, int *idx,
                       unsigned char *present, unsigned char *hit)
{
    const broden *ds = j->ds;
    const nd_features *f = j->f;
    nd_tally *t = &j->t;
    size_t C = t->C, L = t->L, hw = f->h * f->w;
    int lite = j->o->profile == ND_PROFILE_LITE;
    if (!broden_image_has_data(ds, i))
        return 0;
    int ih, iw, sh, sw;
    broden_image_size(ds, i, &ih, &iw, &sh, &sw);
    if (get_plan(pc, f, j->o, sh, sw, iw))
        return -1;
    const broden_layer *layers;
    const broden_imglabel *ils;
    size_t nl, ni;
    broden_image_layers(ds, i, &layers, &nl);
    broden_image_labels(ds, i, &ils, &ni);
    size_t npix = (size_t)sh * (size_t)sw;

    /* ground truth comes from the dataset's cache: G is added once per
     * tally (nd_tally_run), and the categories present here are a bit mask */
    uint64_t pres = broden_present(ds, i);
    for (size_t c = 0; c < C; c++)
        present[c] = (unsigned char)((pres >> c) & 1);
    (void)npix;

    for (size_t u = 0; u < f->K; u++) {
        const float *a = x + u * hw;
        float mx = a[0];
        for (size_t p = 1; p < hw; p++)
            if (a[p] > mx)
                mx = a[p];
        /* bilinear weights are non-negative and sum to one, so a map whose
         * maximum is not above the threshold cannot produce a mask */
        if (!(mx > j->thr32[u]))
            continue;
        int m = up_mask(&pc->plan, a, j->thr32[u], idx);
        if (m == 0)
            continue;
        t->M[u] += m;
        int64_t *Iu = t->I + u * L;
        if (lite)
            memset(hit, 0, C + 1);
        /* branch-free: unlabelled pixels count into slot 0 (cleared at the
         * end of the tally) and unselected categories into hit[C] */
        for (size_t k = 0; k < nl; k++) {
            const uint16_t *map = layers[k].map;
            if (lite)
                for (int q = 0; q < m; q++) {
                    uint16_t l = map[idx[q]];
                    Iu[l]++;
                    hit[j->prim[l]] = 1;
                }
            else
                for (int q = 0; q < m; q++)
                    Iu[map[idx[q]]]++;
        }
        for (size_t k = 0; k < ni; k++) {
            int dup = 0;
            for (size_t q = 0; q < k && !lite; q++)
                dup |= ils[q].label == ils[k].label;
            if (dup)
                continue;
            Iu[ils[k].label] += m;
            if (lite)
                hit[j->prim[ils[k].label]] = 1;
        }
        const unsigned char *use = lite ? hit : present;
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
    float *buf = malloc(j->chunk * per * sizeof *buf);
    int *idx = malloc(sizeof *idx * (size_t)(maxpix + 1));
    unsigned char *present = malloc(C + 1), *hit = malloc(C + 1); /* slot C: no category */
    plan_cache pc = {0};
    if (!buf || !idx || !present || !hit) {
        j->rc = -1;
        snprintf(j->err, sizeof j->err, "out of memory in the tally");
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
            if (tally_image(j, &pc, a + i, x + i * per, idx, present, hit)) {
                j->rc = -1;
                snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
                goto done;
            }
    }
done:
    if (pc.have)
        up_plan_free(&pc.plan);
    free(buf), free(idx), free(present), free(hit);
    return NULL;
}

int nd_tally_run(const broden *ds, const nd_features *f, const nd_options *o,
                 const double *thresholds, size_t i0, size_t i1, nd_tally *t)
{
    if (o->profile == ND_PROFILE_NETDISSECT && !o->have_field)
        return nd_fail("the netdissect profile needs the layer's receptive field (offset, size, stride)");
    if (i1 > f->N || i0 > i1)
        return nd_fail("image range [%zu, %zu) outside the %zu images", i0, i1, f->N);
    float *thr32 = nd_malloc(f->K * sizeof *thr32);
    if (!thr32)
        return -1;
    /* the references compare float32 maps with the float32 threshold */
    for (size_t u = 0; u < f->K; u++)
        thr32[u] = (float)thresholds[u];
    unsigned char *prim = malloc(t->L + 1);
    if (!prim) {
        free(thr32);
        return nd_fail("out of memory");
    }
    for (size_t l = 0; l < t->L; l++) {
        int c = broden_primary(ds, (int)l);
        prim[l] = (unsigned char)(c < 0 ? t->C : (size_t)c);
    }
    int nt = n_threads(o->threads);
    tally_job *jobs = calloc((size_t)nt, sizeof *jobs);
    int rc = 0;
    if (!jobs) {
        free(thr32), free(prim);
        return nd_fail("out of memory");
    }
    /* progress: run in rounds so the calling thread can report */
    size_t round = o->progress ? (size_t)nt * 16 * 8 : i1 - i0;
    if (round == 0)
        round = 1;
    for (int k = 0; k < nt && !rc; k++)
        if (nd_tally_alloc(&jobs[k].t, t->K, t->L, t->C))
            rc = -1;
    for (size_t r0 = i0; r0 < i1 && !rc; r0 += round) {
        size_t r1 = r0 + round < i1 ? r0 + round : i1;
        for (int k = 0; k < nt; k++) {
            jobs[k].ds = ds, jobs[k].f = f, jobs[k].o = o, jobs[k].thr32 = thr32, jobs[k].prim = prim;
            jobs[k].i0 = r0, jobs[k].i1 = r1, jobs[k].chunk = 8, jobs[k].tid = k, jobs[k].nt = nt;
        }
        run_jobs(tally_worker, jobs, sizeof *jobs, nt);
        for (int k = 0; k < nt; k++)
            if (jobs[k].rc && !rc)
                rc = nd_fail("%s", jobs[k].err);
        if (o->progress && !rc)
            o->progress(o->progress_ctx, "tally", r1 - i0, i1 - i0);
    }
    for (int k = 0; k < nt; k++) {
        if (!rc) {
            for (size_t u = 0; u < t->K; u++)
                jobs[k].t.I[u * t->L] = 0; /* unlabelled pixels are not a label */
            nd_tally_add(t, &jobs[k].t);
        }
        nd_tally_free(&jobs[k].t);
    }
    /* G does not depend on the units: the whole dataset's comes from the
     * dataset's cache; a shard sums its own images */
    if (!rc) {
        if (i0 == 0 && i1 == f->N) {
            const int64_t *G = broden_truth(ds, o->profile != ND_PROFILE_LITE);
            for (size_t l = 0; l < t->L; l++)
                t->G[l] += G[l];
        } else
            shard_truth(ds, o->profile != ND_PROFILE_LITE, i0, i1, t->G);
    }
    free(jobs), free(thr32), free(prim);
    return rc;
}

/* ------------------------------------------------------------ scoring */

static int count_distinct(int *v, int n)
{
    /* small n; insertion-sort then count */
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && v[k - 1] > v[k]; k--) {
            int t = v[k];
            v[k] = v[k - 1];
            v[k - 1] = t;
        }
    int d = 0;
    for (int i = 0; i < n; i++)
        d += i == 0 || v[i] != v[i - 1];
    return d;
}

int nd_score(const broden *ds, nd_result *r)
{
    size_t K = r->tally.K, L = r->tally.L, C = r->tally.C;
    const nd_tally *t = &r->tally;
    double eps = eps_of(r->opt.profile), thr = r->opt.iou_threshold;
    r->K = K, r->L = L, r->C = C;
    r->iou = calloc(K * L, sizeof *r->iou);
    r->cat_label = calloc(K * C, sizeof *r->cat_label);
    r->cat_iou = calloc(K * C, sizeof *r->cat_iou);
    r->unit_cat = calloc(K, sizeof *r->unit_cat);
    r->unit_label = calloc(K, sizeof *r->unit_label);
    r->unit_score = calloc(K, sizeof *r->unit_score);
    nd_counts *cn = &r->counts;
    cn->cat_detectors = calloc(C, sizeof(int));
    cn->cat_unique_percat = calloc(C, sizeof(int));
    cn->cat_unique_toplabel = calloc(C, sizeof(int));
    int *tmp = calloc(K + 1, sizeof *tmp);
    if (!r->iou || !r->cat_label || !r->cat_iou || !r->unit_cat || !r->unit_label || !r->unit_score ||
        !cn->cat_detectors || !cn->cat_unique_percat || !cn->cat_unique_toplabel || !tmp) {
        free(tmp);
        return nd_fail("out of memory");
    }
    for (size_t u = 0; u < K; u++) {
        for (size_t c = 0; c < C; c++)
            r->cat_label[u * C + c] = 0, r->cat_iou[u * C + c] = -1;
        for (size_t l = 1; l < L; l++) {
            int c = broden_primary(ds, (int)l);
            if (c < 0)
                continue;
            int64_t I = t->I[u * L + l], A = t->A[u * C + (size_t)c], G = t->G[l];
            double iou = (double)I / ((double)(A + G - I) + eps);
            r->iou[u * L + l] = iou;
            /* strict >: ties keep the lowest label number */
            if (iou > r->cat_iou[u * C + (size_t)c])
                r->cat_iou[u * C + (size_t)c] = iou, r->cat_label[u * C + (size_t)c] = (int)l;
        }
        /* a category with no overlap at all has no best label, as in both
         * references (rather than the lowest-numbered label at IoU 0) */
        for (size_t c = 0; c < C; c++)
            if (r->cat_iou[u * C + c] <= 0)
                r->cat_iou[u * C + c] = 0, r->cat_label[u * C + c] = 0;
        int bc = 0;
        double bs = -1;
        for (size_t c = 0; c < C; c++)
            if (r->cat_iou[u * C + c] >= bs) /* >=: ties go to the later category */
                bs = r->cat_iou[u * C + c], bc = (int)c;
        r->unit_cat[u] = bc;
        r->unit_label[u] = r->cat_label[u * C + (size_t)bc];
        r->unit_score[u] = bs;
    }
    cn->detectors = cn->unique_percat = cn->unique_toplabel = 0;
    for (size_t c = 0; c < C; c++) {
        int n = 0, nd = 0;
        for (size_t u = 0; u < K; u++)
            if (r->cat_iou[u * C + c] > thr)
                tmp[n++] = r->cat_label[u * C + c];
        cn->cat_unique_percat[c] = count_distinct(tmp, n);
        cn->unique_percat += cn->cat_unique_percat[c];
        for (size_t u = 0; u < K; u++)
            if (r->unit_score[u] > thr && r->unit_cat[u] == (int)c)
                tmp[nd++] = r->unit_label[u];
        cn->cat_detectors[c] = nd;
        cn->detectors += nd;
        cn->cat_unique_toplabel[c] = count_distinct(tmp, nd);
        cn->unique_toplabel += cn->cat_unique_toplabel[c];
    }
    free(tmp);
    return 0;
}

int nd_dissect(const broden *ds, const nd_features *f, const nd_options *o, nd_result *r)
{
    memset(r, 0, sizeof *r);
    r->opt = *o;
    r->opt.thresholds = NULL;
    if (f->N != broden_num_images(ds))
        return nd_fail("activations have %zu images but %s/index.csv has %zu rows", f->N,
                       broden_dir(ds), broden_num_images(ds));
    r->K = f->K;
    r->thresholds = nd_malloc(f->K * sizeof *r->thresholds);
    if (!r->thresholds)
        return -1;
    double t0 = now();
    if (o->thresholds) {
        memcpy(r->thresholds, o->thresholds, f->K * sizeof *r->thresholds);
        r->thresholds_given = 1;
    } else if (nd_thresholds_progress(f, o->quantile, o->threads, r->thresholds, o->progress,
                                      o->progress_ctx)) {
        nd_result_free(r);
        return -1;
    }
    double t1 = now();
    if (nd_tally_alloc(&r->tally, f->K, broden_num_labels(ds), broden_num_categories(ds)) ||
        nd_tally_run(ds, f, o, r->thresholds, 0, f->N, &r->tally) || nd_score(ds, r)) {
        nd_result_free(r);
        return -1;
    }
    r->seconds_threshold = t1 - t0;
    r->seconds_tally = now() - t1;
    return 0;
}

void nd_result_free(nd_result *r)
{
    free(r->thresholds);
    nd_tally_free(&r->tally);
    free(r->iou), free(r->cat_label), free(r->cat_iou);
    free(r->unit_cat), free(r->unit_label), free(r->unit_score);
    free(r->counts.cat_detectors), free(r->counts.cat_unique_percat), free(r->counts.cat_unique_toplabel);
    memset(r, 0, sizeof *r);
}
