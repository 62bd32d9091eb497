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
#if defined(__SSE__)
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
 * percent of the values are ever kept; a floor guessed too high is
 * detected by qt_top_result and the pass runs again without guesses. */
enum { STREAM_SAMPLE = 64, SAMPLE_SMALL = 32 };

typedef struct {
    const nd_features *f;
    qt_top *t;
    int tid, nt, rc, oom;
    char err[1024];
} top_job;

static int top_block(void *ctx, const float *x, size_t i0, size_t n)
{
    (void)i0;
    top_job *j = ctx;
    if (qt_top_add(j->t, x, n, j->f->h * j->f->w))
        return j->oom = 1;
    return 0;
}

static void *top_worker(void *arg)
{
    top_job *j = arg;
    j->rc = nd_features_blocks(j->f, j->tid, j->nt, top_block, j, j->err, sizeof j->err);
    return NULL;
}

/* The smallest and largest of the sample's values of one unit: maps
 * m[0..n) of hw values each. */
static void sample_range(const float *const *m, size_t n, size_t hw, float *lo, float *hi)
{
    float a = INFINITY, b = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        const float *v = m[i];
        size_t p = 0;
#if defined(__SSE__)
        __m128 va = _mm_set1_ps(a), vb = _mm_set1_ps(b);
        for (; p + 4 <= hw; p += 4) {
            __m128 x = _mm_loadu_ps(v + p);
            va = _mm_min_ps(va, x), vb = _mm_max_ps(vb, x);
        }
        float ta[4], tb[4];
        _mm_storeu_ps(ta, va), _mm_storeu_ps(tb, vb);
        for (int k = 0; k < 4; k++)
            a = ta[k] < a ? ta[k] : a, b = tb[k] > b ? tb[k] : b;
#endif
        for (; p < hw; p++)
            a = v[p] < a ? v[p] : a, b = v[p] > b ? v[p] : b;
    }
    *lo = a, *hi = b;
}

/* Floors from a sample: per unit a value with about 10 q (32 images) or
 * 6 q (64) of the sample's values above it - loose, because a few images
 * of a rare concept can crowd a small sample's tail: with b evenly spaced
 * blocks, a concept on a fraction r of the images holds at most r + 1/b
 * of the sample, and both choices tolerate the same r (about 2%) - from a
 * 256-bin histogram of the sample
 * (cheaper than a selection: a guess only needs to be roughly right, and
 * one that is too high is detected).  The bins are float arithmetic and
 * four interleaved histograms (post-ReLU zeros all land in one bin: a
 * single array would make each count wait for the previous one); the
 * sample is read where the source puts it.  1 with floors, 0 if not worth
 * it (small inputs, where streaming from nothing is cheaper), -1 on error. */
static int guess_floors(const nd_features *f, double quantile, float *floor)
{
    size_t hw = f->h * f->w, K = f->K, per = K * hw;
    size_t ns = f->N >= 16 * STREAM_SAMPLE ? STREAM_SAMPLE : SAMPLE_SMALL;
    size_t m = ns * hw, tail = (size_t)ceil((ns == STREAM_SAMPLE ? 6 : 10) * quantile * (double)m) + 32;
    if (f->N < 8 * ns || tail >= m)
        return 0;
    float *blk = nd_malloc(ns * per * sizeof *blk);
    if (!blk)
        return -1;
    const float *img[STREAM_SAMPLE], *maps[STREAM_SAMPLE];
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
    for (size_t u = 0; u < K; u++) {
        for (size_t i = 0; i < ns; i++)
            maps[i] = img[i] + u * hw;
        float a, b;
        sample_range(maps, ns, hw, &a, &b);
        floor[u] = -INFINITY;
        if (!(b > a) || !((double)b - a < 1e38))
            continue;
        uint32_t cnt[4][256] = {{0}};
        float scale = (float)(255.99 / ((double)b - a));
        for (size_t i = 0; i < ns; i++) {
            const float *v = maps[i];
            size_t p = 0;
            for (; p + 4 <= hw; p += 4)
                for (int k = 0; k < 4; k++) {
                    unsigned bin = (unsigned)(int)((v[p + k] - a) * scale);
                    cnt[k][bin < 255 ? bin : 255]++;
                }
            for (; p < hw; p++) {
                unsigned bin = (unsigned)(int)((v[p] - a) * scale);
                cnt[0][bin < 255 ? bin : 255]++;
            }
        }
        size_t above = 0;
        int bin = 255;
        while (bin > 0 && above + cnt[0][bin] + cnt[1][bin] + cnt[2][bin] + cnt[3][bin] < tail)
            above += cnt[0][bin] + cnt[1][bin] + cnt[2][bin] + cnt[3][bin], bin--;
        if (bin > 0) /* the lower edge of the bin that completes the tail */
            floor[u] = (float)(a + (double)bin / scale);
    }
    free(blk);
    return 1;
}

/* 1 done, 0 if the candidates would take more than 1 GiB, -1 on error */
static int thresholds_stream(const nd_features *f, double quantile, int nt, double *out)
{
    uint64_t n = (uint64_t)f->N * f->h * f->w;
    size_t keep = qt_top_keep(n, 1.0 - quantile), hw = f->h * f->w;
    if ((double)(2 * keep + 2 * hw) * (double)f->K * (double)nt * sizeof(float) > (double)((size_t)1 << 30))
        return 0;
    float *floor = nd_malloc(f->K * sizeof *floor);
    if (!floor)
        return -1;
    int g = guess_floors(f, quantile, floor), rc = g < 0 ? -1 : 1;
    for (int attempt = 0; rc == 1; attempt++) {
        top_job jobs[ND_MAX_THREADS];
        int made = 0;
        for (; made < nt; made++) {
            jobs[made] = (top_job){.f = f, .tid = made, .nt = nt};
            if (!(jobs[made].t = qt_top_new(f->K, keep, g == 1 && attempt == 0 ? floor : NULL)))
                break;
        }
        if (made < nt)
            rc = nd_fail("out of memory for the thresholds' candidates");
        else
            nd_run_jobs(top_worker, jobs, sizeof *jobs, nt);
        for (int t = 0; t < made && rc == 1; t++)
            if (jobs[t].rc || jobs[t].oom)
                rc = jobs[t].rc ? nd_fail("%s", jobs[t].err) : nd_fail("out of memory for the thresholds' candidates");
        if (rc == 1) {
            qt_top *parts[ND_MAX_THREADS];
            for (int t = 0; t < nt; t++)
                parts[t] = jobs[t].t;
            int r = qt_top_result(parts, nt, n, 1.0 - quantile, out);
            if (r < 0)
                rc = nd_fail("out of memory for the thresholds' candidates");
            else if (r == 0)
                rc = 2; /* done */
            else
                ND_ASSERT(attempt == 0 && g == 1); /* only a guessed floor can miss */
        }
        for (int t = 0; t < made; t++)
            qt_top_free(jobs[t].t);
    }
    free(floor);
    return rc == 2 ? 1 : rc;
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
