/* thresholds.c - exact per-unit quantile thresholds (methods: thresholds.h).
 *
 * Every method reads the activations in blocks of images through the
 * feature source and splits work over threads by fixed chunk or unit
 * indices; counts are integers and order statistics are exact, so the
 * thresholds do not depend on the number of threads or on the method.
 */
#include "core/thresholds.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/quantile.h"
#include "core/topk.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__SSE__)
#include <xmmintrin.h>
#endif

const char *nd_thr_method_name(nd_thr_method m)
{
    switch (m) {
    case ND_THR_STREAM: return "stream";
    case ND_THR_HISTOGRAM: return "histogram";
    case ND_THR_SELECT: return "select";
    default: return "auto";
    }
}

/* The passes read images through nd_features_blocks[_range]: blocks of
 * ND_FEATURES_BLOCK aligned to global image indices, so a shard of the
 * images reads the same blocks as one process over all of them (a source
 * whose values depend on the block, a rotation's sgemm, rounds the same). */

/* ---- two histogram passes (qt_stream) ---- */

typedef struct {
    const nd_features *f;
    qt_stream *q;
    qt_part *part;
    size_t i0, i1;
    int pass, tid, nt, rc;
    char err[1024];
} hist_job;

static int hist_block(void *ctx, const float *x, size_t i0, size_t n)
{
    (void)i0;
    hist_job *j = ctx;
    qt_part_add(j->q, j->part, j->pass, x, n, j->f->h * j->f->w);
    return 0;
}

static void *hist_worker(void *arg)
{
    hist_job *j = arg;
    j->rc = nd_features_blocks_range(j->f, j->i0, j->i1, j->tid, j->nt, hist_block, j, j->err, sizeof j->err);
    return NULL;
}

int nd_thresholds_pass(const nd_features *f, qt_stream *q, int pass, size_t i0, size_t i1, int threads)
{
    if (i1 > f->N || i0 > i1)
        return nd_fail("image range [%zu, %zu) outside the %zu images", i0, i1, f->N);
    int nt = nd_threads(threads), rc = 0;
    hist_job jobs[ND_MAX_THREADS];
    for (int t = 0; t < nt; t++) {
        jobs[t] = (hist_job){.f = f, .q = q, .i0 = i0, .i1 = i1, .pass = pass, .tid = t, .nt = nt};
        if (!(jobs[t].part = qt_part_new(q, pass))) {
            for (int k = 0; k < t; k++)
                qt_part_merge(q, jobs[k].part, pass);
            return nd_fail("out of memory for quantile histograms");
        }
    }
    nd_run_jobs(hist_worker, jobs, sizeof *jobs, nt);
    for (int t = 0; t < nt; t++) {
        if (jobs[t].rc && !rc)
            rc = nd_fail("%s", jobs[t].err);
        qt_part_merge(q, jobs[t].part, pass);
    }
    return rc;
}

static int thresholds_histogram(const nd_features *f, double level, int nt, nd_progress progress, double *out)
{
    int rc = 0;
    qt_stream *q = qt_stream_new(f->K, (uint64_t)f->N * f->h * f->w, level);
    if (!q)
        return -1;
    for (int pass = 1; pass <= 2 && !rc; pass++) {
        rc = nd_thresholds_pass(f, q, pass, 0, f->N, nt);
        if (!rc)
            rc = qt_stream_end_pass(q, pass);
        if (!rc)
            nd_report(progress, "thresholds", (size_t)pass * f->K / 2, f->K);
    }
    if (!rc)
        qt_stream_result(q, out);
    qt_stream_free(q);
    return rc;
}

/* ---- one pass: each unit's top candidates (core/topk.h) ----
 *
 * Each thread streams its blocks into its own qt_top; the quantile is
 * exact from their union.  The floors start from a small sample (32
 * images in blocks of 8 consecutive ones, evenly spaced; 64 from 1,024
 * images on, where it costs under 7% of a pass), so that only a few
 * percent of the values are ever kept; a unit whose floor was guessed too
 * high is detected by qt_top_result_units and read again without a guess
 * (the other units are not). */
enum { STREAM_SAMPLE = 64, SAMPLE_SMALL = 32 };

typedef struct {
    const nd_features *f;
    qt_top *t;
    const size_t *units; /* NULL: every unit; else t's unit j is f's unit units[j] */
    size_t nunits;
    int tid, nt, rc, oom;
    char err[1024];
} top_job;

/* Map v[0..hw)'s lines towards the caches: a pass over a few units reads
 * one map per image, each on its own pages, and without this each map's
 * first lines wait on memory (the prefetcher has no stream to follow). */
static void prefetch_map(const float *v, size_t hw)
{
    for (size_t p = 0; p < hw; p += 16)
        __builtin_prefetch(v + p);
    __builtin_prefetch(v + hw - 1);
}

static int top_block(void *ctx, const float *x, size_t i0, size_t n)
{
    (void)i0;
    top_job *j = ctx;
    size_t hw = j->f->h * j->f->w, K = j->f->K;
    if (!j->units) {
        if (qt_top_add(j->t, x, n, hw))
            return j->oom = 1;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t u = 0; u < j->nunits; u++) {
            if (i + 1 < n)
                prefetch_map(x + ((i + 1) * K + j->units[u]) * hw, hw);
            if (qt_top_add_unit(j->t, u, x + (i * K + j->units[u]) * hw, hw))
                return j->oom = 1;
        }
    return 0;
}

static void *top_worker(void *arg)
{
    top_job *j = arg;
    j->rc = nd_features_blocks(j->f, j->tid, j->nt, top_block, j, j->err, sizeof j->err);
    return NULL;
}

/* The units [u0, u1) of the sample on one thread, image by image (a unit's
 * maps are one image apart: read unit by unit they would be scattered
 * reads that the prefetcher does not follow):
 *   1. each unit's range;
 *   2. a 256-bin histogram over it of a quarter of the values (the first 4
 *      of every 16);
 *   3. the floor: the lower edge of the highest bin with a quarter of
 *      `tail` of the counted values at or above it.
 * Histogram adds are the cost (a load and a store per value, and runs of
 * equal bins wait on each other), hence the quarter; bin 0 is never needed
 * (tails are found from the top), so its values go to one of 8 spare slots
 * by position: post-ReLU zeros, most values, would otherwise each wait for
 * the previous add.  The bin's lower edge only lowers the floor.  Until
 * 2026-12-03 a third read packed the values above a cut from the histogram
 * and selected the exact tail-th largest of them: at 400 images on the
 * EPYC host that read and selection took 0.5 of the guess's 1.3 ms, and
 * the exact floors missed more units (5 per call against 2). */
typedef struct {
    const float *const *img;
    size_t ns, hw, tail, u0, u1;
    float *floor, *lo, *hi;
    uint32_t *cnt; /* (u1 - u0) x 264 */
} guess_job;

enum { GUESS_BINS = 256, GUESS_ROW = 264 };

/* Adds the first 4 of every 16 values of map v[0..hw) to histogram c over
 * [a, a + 255.99 / scale]. */
static void guess_hist(uint32_t *c, const float *v, size_t hw, float a, float scale)
{
    size_t p = 0;
#if defined(__SSE2__)
    /* the bins 4 at a time (the scalar loop below is the same) */
    __m128 va = _mm_set1_ps(a), vs = _mm_set1_ps(scale), top = _mm_set1_ps(GUESS_BINS - 1);
    __m128i spare0 = _mm_setr_epi32(GUESS_BINS, GUESS_BINS + 1, GUESS_BINS + 2, GUESS_BINS + 3);
    __m128i spare1 = _mm_add_epi32(spare0, _mm_set1_epi32(4)), zero = _mm_setzero_si128();
    for (; p + 16 <= hw; p += 16) {
        __m128i b0 = _mm_cvttps_epi32(_mm_min_ps(_mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(v + p), va), vs), top));
        b0 = _mm_or_si128(b0, _mm_and_si128(_mm_cmpeq_epi32(b0, zero), (p & 16) ? spare1 : spare0));
        uint32_t ix[4];
        _mm_storeu_si128((__m128i *)ix, b0);
        c[ix[0]]++, c[ix[1]]++, c[ix[2]]++, c[ix[3]]++;
    }
#endif
    for (; p < hw; p += (p & 3) == 3 ? 13 : 1) {
        unsigned bin = (unsigned)(int)((v[p] - a) * scale);
        bin = bin < GUESS_BINS - 1 ? bin : GUESS_BINS - 1;
        c[bin ? bin : GUESS_BINS + (p & 7)]++;
    }
}

/* The bin (> 0) whose lower edge has at least `tail` counted values at or
 * above it, or 0. */
static int guess_bin(const uint32_t *c, size_t tail)
{
    size_t above = 0;
    int bin = GUESS_BINS - 1;
    while (bin > 0 && above + c[bin] < tail)
        above += c[bin], bin--;
    return bin;
}

static float guess_scale(float a, float b)
{
    return b > a && (double)b - a < 1e38 ? (float)(255.99 / ((double)b - a)) : 0;
}

static void *guess_worker(void *arg)
{
    guess_job *j = arg;
    size_t hw = j->hw, nu = j->u1 - j->u0, ns = j->ns;
    for (size_t u = 0; u < nu; u++)
        j->lo[u] = INFINITY, j->hi[u] = -INFINITY;
    for (size_t i = 0; i < ns; i++)
        for (size_t u = 0; u < nu; u++)
            qt_minmax(j->img[i] + (j->u0 + u) * hw, hw, &j->lo[u], &j->hi[u]);
    memset(j->cnt, 0, nu * GUESS_ROW * sizeof *j->cnt);
    for (size_t i = 0; i < ns; i++)
        for (size_t u = 0; u < nu; u++) {
            float sc = guess_scale(j->lo[u], j->hi[u]);
            if (sc > 0)
                guess_hist(j->cnt + u * GUESS_ROW, j->img[i] + (j->u0 + u) * hw, hw, j->lo[u], sc);
        }
    for (size_t u = 0; u < nu; u++) {
        float sc = guess_scale(j->lo[u], j->hi[u]);
        int bin = sc > 0 ? guess_bin(j->cnt + u * GUESS_ROW, (j->tail + 3) / 4) : 0;
        j->floor[j->u0 + u] = bin > 0 ? (float)(j->lo[u] + (double)bin / sc) : -INFINITY;
    }
    return NULL;
}

/* Floors from a sample (32 or 64 images): per unit a value with about 2 q
 * of the sample's values, plus 32, at or above it (q = the quantile: the
 * keep largest of all values are a fraction q), by guess_worker's
 * histogram.  The margin is tight because a floor that turns out too high
 * costs little: qt_top_result_units names the units it was too high for,
 * and only those are read again (thresholds_stream).  On the benchmark's
 * data (planted concepts, 256 units) 1-2 units of 256 miss per call at
 * 400-2,000 images; the old 6 q / 10 q floors missed none but left 60-80%
 * of the maps with values above them to pack.  Rare concepts are why a sample misleads:
 * with b evenly spaced blocks of 8 images, a concept on a fraction r of
 * the images holds up to r + 1/b of the sample.  The sample is read where
 * the source puts it, each thread taking a share of the units.  1 with
 * floors, 0 if not worth it (small inputs, where streaming from nothing is
 * cheaper), -1 on error. */
static int guess_floors(const nd_features *f, double quantile, int nt, float *floor)
{
    size_t hw = f->h * f->w, K = f->K, per = K * hw;
    size_t ns = f->N >= 16 * STREAM_SAMPLE ? STREAM_SAMPLE : SAMPLE_SMALL;
    size_t m = ns * hw, tail = (size_t)ceil(2 * quantile * (double)m) + 32;
    if (f->N < 8 * ns || tail >= m)
        return 0;
    float *blk = nd_malloc(ns * per * sizeof *blk);
    if (!blk)
        return -1;
    const float *img[STREAM_SAMPLE];
    size_t stride = f->N / (ns / 8);
    for (size_t s = 0; s < ns / 8; s++) {
        const float *x;
        if (f->get(f->ctx, s * stride / 8 * 8, 8, blk + s * 8 * per, &x)) {
            free(blk);
            return -1;
        }
        for (size_t i = 0; i < 8; i++)
            img[s * 8 + i] = x + i * per;
    }
    guess_job jobs[ND_MAX_THREADS];
    size_t share = (K + (size_t)nt - 1) / (size_t)nt;
    float *lh = nd_malloc(2 * K * sizeof *lh);
    uint32_t *cnt = nd_malloc(K * GUESS_ROW * sizeof *cnt);
    if (!lh || !cnt) {
        free(blk), free(lh), free(cnt);
        return -1;
    }
    for (int t = 0; t < nt; t++) {
        size_t u0 = (size_t)t * share < K ? (size_t)t * share : K, u1 = u0 + share < K ? u0 + share : K;
        jobs[t] = (guess_job){img, ns, hw, tail, u0, u1, floor, lh + u0, lh + K + u0, cnt + u0 * GUESS_ROW};
    }
    nd_run_jobs(guess_worker, jobs, sizeof *jobs, nt);
    free(blk), free(lh), free(cnt);
    return 1;
}

/* One pass of the candidate stream over units[0..nu) of f (all of them if
 * units is NULL), starting from floors floor0 (or NULL), on nt threads:
 * their thresholds in out[nu] (units' order).  Returns the number of units
 * whose guessed floor was too high (flagged in missed[nu], out not
 * written), or -1 on error. */
static long stream_pass(const nd_features *f, const size_t *units, size_t nu, size_t keep, double level,
                        const float *floor0, int nt, double *out, unsigned char *missed)
{
    uint64_t n = (uint64_t)f->N * f->h * f->w;
    top_job jobs[ND_MAX_THREADS];
    long rc = 0;
    int made = 0;
    for (; made < nt; made++) {
        jobs[made] = (top_job){.f = f, .units = units, .nunits = nu, .tid = made, .nt = nt};
        if (!(jobs[made].t = qt_top_new(nu, keep, floor0)))
            break;
    }
    if (made < nt)
        rc = nd_fail("out of memory for the thresholds' candidates");
    else
        nd_run_jobs(top_worker, jobs, sizeof *jobs, nt);
    for (int t = 0; t < made && rc == 0; t++)
        if (jobs[t].rc || jobs[t].oom)
            rc = jobs[t].rc ? nd_fail("%s", jobs[t].err) : nd_fail("out of memory for the thresholds' candidates");
    if (rc == 0) {
        qt_top *parts[ND_MAX_THREADS];
        for (int t = 0; t < nt; t++)
            parts[t] = jobs[t].t;
        rc = qt_top_result_units(parts, nt, n, level, out, missed);
        if (rc < 0)
            rc = nd_fail("out of memory for the thresholds' candidates");
    }
    for (int t = 0; t < made; t++)
        qt_top_free(jobs[t].t);
    return rc;
}

/* 1 done, 0 if the candidates would take more than 1 GiB, -1 on error.
 * A unit whose guessed floor was too high is read again on its own, from
 * no floor: the other units' values are not touched again (a source that
 * computes whole images, a rotation, does compute them again). */
static int thresholds_stream(const nd_features *f, double quantile, int nt, double *out)
{
    uint64_t n = (uint64_t)f->N * f->h * f->w;
    size_t keep = qt_top_keep(n, 1.0 - quantile), hw = f->h * f->w, K = f->K;
    if ((double)(2 * keep + 2 * hw) * (double)K * (double)nt * sizeof(float) > (double)((size_t)1 << 30))
        return 0;
    float *floor = nd_malloc(K * sizeof *floor);
    unsigned char *missed = nd_calloc(K, 1);
    size_t *units = nd_malloc(K * sizeof *units);
    double *again = nd_malloc(K * sizeof *again);
    int g = floor && missed && units && again ? guess_floors(f, quantile, nt, floor) : -1;
    long r = g < 0 ? -1 : stream_pass(f, NULL, K, keep, 1.0 - quantile, g == 1 ? floor : NULL, nt, out, missed);
    if (r > 0) {
        ND_ASSERT(g == 1); /* only a guessed floor can miss */
        size_t nu = 0;
        for (size_t k = 0; k < K; k++)
            if (missed[k])
                units[nu++] = k;
        r = stream_pass(f, units, nu, keep, 1.0 - quantile, NULL, nt, again, NULL);
        ND_ASSERT(r <= 0);
        for (size_t u = 0; u < nu && r == 0; u++)
            out[units[u]] = again[u];
    }
    free(floor), free(missed), free(units), free(again);
    return r < 0 ? -1 : 1;
}

/* ---- the reference: gather each unit's values, select ---- */

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

static int thresholds_select(const nd_features *f, double level, int nt, nd_progress progress, double *out)
{
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
    int rc = 0;
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
        qt_job jobs[ND_MAX_THREADS];
        for (int t = 0; t < nt; t++)
            jobs[t] = (qt_job){vals, n, u0, u1, level, out, t, nt};
        nd_run_jobs(qt_worker, jobs, sizeof *jobs, nt);
        nd_report(progress, "thresholds", u1, f->K);
    }
    free(vals);
    free(buf);
    return rc;
}

/* ---- the entry points ---- */

int nd_thresholds_by(const nd_features *f, double quantile, int threads, nd_thr_method method,
                     nd_progress progress, double *out, nd_thr_method *used)
{
    if (!(quantile > 0 && quantile < 1))
        return nd_fail("quantile %g must be in (0, 1)", quantile);
    int nt = nd_threads(threads);
    double level = 1.0 - quantile;
    nd_thr_method m = method;
    int rc;
    if (method == ND_THR_AUTO || method == ND_THR_STREAM) {
        int w = thresholds_stream(f, quantile, nt, out);
        if (w < 0)
            return -1;
        if (w == 0 && method == ND_THR_STREAM)
            return nd_fail("thresholds: the candidates of %zu units would take more than 1 GiB at quantile %g; "
                           "use the histogram method", f->K, quantile);
        if (w == 1) {
            nd_report(progress, "thresholds", f->K, f->K);
            m = ND_THR_STREAM;
        } else {
            m = ND_THR_HISTOGRAM;
        }
    }
    if (m == ND_THR_HISTOGRAM)
        rc = thresholds_histogram(f, level, nt, progress, out);
    else if (m == ND_THR_SELECT)
        rc = thresholds_select(f, level, nt, progress, out);
    else
        rc = 0; /* the stream did it */
    if (!rc && used)
        *used = m;
    return rc;
}

int nd_thresholds(const nd_features *f, double quantile, int threads, double *out)
{
    return nd_thresholds_by(f, quantile, threads, ND_THR_AUTO, (nd_progress){0}, out, NULL);
}

int nd_thresholds_select(const nd_features *f, double quantile, int threads, double *out)
{
    return nd_thresholds_by(f, quantile, threads, ND_THR_SELECT, (nd_progress){0}, out, NULL);
}
