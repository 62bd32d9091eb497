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

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *nd_thr_method_name(nd_thr_method m)
{
    switch (m) {
    case ND_THR_WINDOW: return "window";
    case ND_THR_HISTOGRAM: return "histogram";
    case ND_THR_SELECT: return "select";
    default: return "auto";
    }
}

/* ---- two histogram passes (qt_stream) ---- */

typedef struct {
    const nd_features *f;
    qt_stream *q;
    qt_part *part;
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
    j->rc = nd_features_blocks(j->f, j->tid, j->nt, hist_block, j, j->err, sizeof j->err);
    return NULL;
}

static int thresholds_histogram(const nd_features *f, double level, int nt, nd_progress progress, double *out)
{
    int rc = 0;
    qt_stream *q = qt_stream_new(f->K, (uint64_t)f->N * f->h * f->w, level);
    if (!q)
        return -1;
    hist_job jobs[ND_MAX_THREADS];
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
        nd_run_jobs(hist_worker, jobs, sizeof *jobs, nt);
        for (int t = 0; t < nt; t++) {
            if (jobs[t].rc && !rc)
                rc = nd_fail("%s", jobs[t].err);
            qt_part_merge(q, jobs[t].part, pass);
        }
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

/* ---- one full pass, when a sample brackets the quantile ----
 *
 * A sample of about 1,024 images gives, per unit, a value window [lo, hi]
 * around the wanted quantile (sample levels p -/+ 0.004); one pass over all
 * images then counts, per unit, the values below lo and keeps those inside
 * the window (about 0.8% of them).  If the window holds both order
 * statistics the quantile is exact from them; if not (or if the window
 * would take too much memory), the method reports a miss. */
#define WINDOW_HALF 0.004

typedef struct {
    const nd_features *f;
    const float *lo, *hi;
    int tid, nt;
    uint64_t *below;   /* [K] */
    float **cand;      /* [K] growable */
    size_t *ncand, *capc;
    size_t total, cap_total;
    int overflow, rc;
    char err[1024];
} win_job;

/* Keep value v of unit u (inside the window); 0 when the job's budget is spent. */
static int win_keep(win_job *j, size_t u, float v)
{
    if (j->ncand[u] == j->capc[u]) {
        size_t nc = j->capc[u] ? 2 * j->capc[u] : 1024;
        float *np = j->total + nc - j->capc[u] > j->cap_total ? NULL : realloc(j->cand[u], nc * sizeof(float));
        if (!np)
            return 0;
        j->total += nc - j->capc[u];
        j->cand[u] = np, j->capc[u] = nc;
    }
    j->cand[u][j->ncand[u]++] = v;
    return 1;
}

/* Count and keep one block's values; nonzero (stop) once the budget is spent. */
static int win_block(void *ctx, const float *x, size_t i0, size_t n)
{
    (void)i0;
    win_job *j = ctx;
    const nd_features *f = j->f;
    size_t hw = f->h * f->w;
    for (size_t u = 0; u < f->K && !j->overflow; u++) {
        float lo = j->lo[u], hi = j->hi[u];
        for (size_t i = 0; i < n && !j->overflow; i++) {
            const float *v = x + (i * f->K + u) * hw;
            for (size_t k = 0; k < hw; k++) {
                if (v[k] < lo)
                    j->below[u]++;
                else if (v[k] <= hi && !win_keep(j, u, v[k])) {
                    j->overflow = 1;
                    break;
                }
            }
        }
    }
    return j->overflow;
}

static void *win_worker(void *arg)
{
    win_job *j = arg;
    if (!j->overflow) /* overflow here: its counters could not be allocated */
        j->rc = nd_features_blocks(j->f, j->tid, j->nt, win_block, j, j->err, sizeof j->err);
    return NULL;
}

/* The window [lo[u], hi[u]] of every unit from every stride-th image.
 * Returns 1 done, 0 no memory for the sample (a miss), -1 source error. */
static int sample_window(const nd_features *f, size_t stride, double level, float *lo, float *hi)
{
    size_t hw = f->h * f->w, K = f->K, ns = (f->N + stride - 1) / stride, m = ns * hw;
    float *sample = nd_malloc(K * m * sizeof *sample), *buf = nd_malloc(K * hw * sizeof *buf);
    int rc = 1;
    if (!sample || !buf)
        rc = 0; /* a miss, not an error: the histograms need far less memory */
    for (size_t s = 0; s < ns && rc == 1; s++) {
        const float *x;
        if (f->get(f->ctx, s * stride, 1, buf, &x))
            rc = -1;
        else
            for (size_t u = 0; u < K; u++)
                memcpy(sample + u * m + s * hw, x + u * hw, hw * sizeof(float));
    }
    double plo = level - WINDOW_HALF < 0 ? 0 : level - WINDOW_HALF;
    double phi = level + WINDOW_HALF > 1 ? 1 : level + WINDOW_HALF;
    for (size_t u = 0; u < K && rc == 1; u++) {
        lo[u] = qt_kth(sample + u * m, m, (size_t)floor(plo * (double)(m - 1)));
        hi[u] = qt_kth(sample + u * m, m, (size_t)ceil(phi * (double)(m - 1)));
    }
    free(sample), free(buf);
    return rc;
}

/* Unit u's quantile from the candidates of all jobs: 1 done, 0 miss. */
static int window_unit(win_job *jobs, int nt, size_t u, size_t n, double level, double *out)
{
    size_t r0, r1;
    double tt;
    qt_ranks(n, level, &r0, &r1, &tt);
    uint64_t below = 0;
    size_t nc = 0;
    for (int t = 0; t < nt; t++)
        below += jobs[t].below[u], nc += jobs[t].ncand[u];
    if (below > r0 || below + nc <= r1)
        return 0; /* the window missed an order statistic */
    float *all = nd_malloc((nc ? nc : 1) * sizeof *all);
    if (!all)
        return 0;
    size_t k = 0;
    for (int t = 0; t < nt; t++) {
        memcpy(all + k, jobs[t].cand[u], jobs[t].ncand[u] * sizeof(float));
        k += jobs[t].ncand[u];
    }
    float a = qt_kth(all, nc, r0 - below);
    float b = r1 == r0 ? a : qt_kth(all, nc, r1 - below);
    *out = r1 == r0 ? (double)a : qt_lerp(a, b, tt);
    free(all);
    return 1;
}

/* Returns 1 if the thresholds were computed, 0 on a miss, -1 on error.
 * Memory failures of this optional method are misses, not errors (the
 * caller clears their message). */
static int thresholds_window(const nd_features *f, double level, int nt, double *out)
{
    size_t stride = f->N / 1024, hw = f->h * f->w, K = f->K;
    if (stride < 4)
        return 0; /* small inputs: two passes cost little */
    float *lo = nd_malloc(K * sizeof *lo), *hi = nd_malloc(K * sizeof *hi);
    int rc = lo && hi ? sample_window(f, stride, level, lo, hi) : 0;
    if (rc != 1) {
        free(lo), free(hi);
        return rc;
    }
    win_job jobs[ND_MAX_THREADS];
    /* generous: about 4x the expected window, and at most 1 GiB in all */
    size_t expect = (size_t)((2 * WINDOW_HALF) * (double)f->N * (double)hw * (double)K);
    size_t cap = 4 * expect / (size_t)nt + 65536;
    if (cap * (size_t)nt > ((size_t)1 << 28))
        cap = ((size_t)1 << 28) / (size_t)nt;
    for (int t = 0; t < nt; t++) {
        jobs[t] = (win_job){.f = f, .lo = lo, .hi = hi, .tid = t, .nt = nt, .cap_total = cap};
        jobs[t].below = nd_calloc(K, sizeof(uint64_t));
        jobs[t].cand = nd_calloc(K, sizeof(float *));
        jobs[t].ncand = nd_calloc(K, sizeof(size_t));
        jobs[t].capc = nd_calloc(K, sizeof(size_t));
        if (!jobs[t].below || !jobs[t].cand || !jobs[t].ncand || !jobs[t].capc)
            jobs[t].overflow = 1;
    }
    nd_run_jobs(win_worker, jobs, sizeof *jobs, nt);
    int ok = 1;
    rc = 0;
    for (int t = 0; t < nt; t++) {
        if (jobs[t].rc && !rc)
            rc = nd_fail("%s", jobs[t].err);
        if (jobs[t].overflow)
            ok = 0;
    }
    for (size_t u = 0; u < K && ok && !rc; u++)
        ok = window_unit(jobs, nt, u, f->N * hw, level, &out[u]);
    for (int t = 0; t < nt; t++) {
        if (jobs[t].cand)
            for (size_t u = 0; u < K; u++)
                free(jobs[t].cand[u]);
        free(jobs[t].below), free(jobs[t].cand), free(jobs[t].ncand), free(jobs[t].capc);
    }
    free(lo), free(hi);
    return rc ? -1 : ok;
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
    if (method == ND_THR_AUTO || method == ND_THR_WINDOW) {
        int w = thresholds_window(f, level, nt, out);
        if (w < 0)
            return -1;
        if (w == 0 && method == ND_THR_WINDOW)
            return nd_fail("thresholds: the sampled window did not bracket every unit's quantile "
                           "(or the input is too small to sample); use the histogram method");
        if (w == 1) {
            nd_report(progress, "thresholds", f->K, f->K);
            m = ND_THR_WINDOW;
        } else {
            nd_clear_error(); /* a memory miss recorded a message; the fallback needs none */
            m = ND_THR_HISTOGRAM;
        }
    }
    if (m == ND_THR_HISTOGRAM)
        rc = thresholds_histogram(f, level, nt, progress, out);
    else if (m == ND_THR_SELECT)
        rc = thresholds_select(f, level, nt, progress, out);
    else
        rc = 0; /* the window did it */
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
