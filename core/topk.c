/* topk.c - exact upper quantiles in one streaming pass (see topk.h). */
#include "core/topk.h"
#include "core/err.h"
#include "core/jobs.h"
#include "core/quantile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

typedef struct {
    float *v;
    size_t n;
    float floor;
    int has_floor;
} unit_buf;

struct qt_top {
    size_t K, keep, cap;
    float *tmp; /* cap / 16 + 1 floats: compact()'s subsample */
    int floor_given; /* started from guessed floors (qt_top_result checks them) */
    unit_buf *u;
};

size_t qt_top_keep(uint64_t n, double level)
{
    size_t r0, r1;
    double t;
    qt_ranks((size_t)n, level, &r0, &r1, &t);
    return (size_t)n - r0;
}

qt_top *qt_top_new(size_t K, size_t keep, const float *floor0)
{
    qt_top *t = nd_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->K = K, t->keep = keep, t->floor_given = floor0 != NULL;
    t->u = nd_calloc(K, sizeof *t->u);
    if (!t->u) {
        free(t);
        return NULL;
    }
    for (size_t k = 0; k < K; k++)
        if (floor0)
            t->u[k].floor = floor0[k], t->u[k].has_floor = 1;
    return t;
}

void qt_top_free(qt_top *t)
{
    if (!t)
        return;
    for (size_t k = 0; t->u && k < t->K; k++)
        free(t->u[k].v);
    free(t->u);
    free(t->tmp);
    free(t);
}

float qt_top_floor(const qt_top *t, size_t k)
{
    return t->u[k].has_floor ? t->u[k].floor : -INFINITY;
}

int qt_any_above(const float *v, size_t n, float thr)
{
    size_t p = 0;
#if defined(__SSE__)
    __m128 th = _mm_set1_ps(thr), m = _mm_setzero_ps();
    for (; p + 8 <= n; p += 8)
        m = _mm_or_ps(m, _mm_or_ps(_mm_cmpgt_ps(_mm_loadu_ps(v + p), th), _mm_cmpgt_ps(_mm_loadu_ps(v + p + 4), th)));
    if (_mm_movemask_ps(m))
        return 1;
#endif
    int any = 0;
    for (; p < n; p++)
        any |= v[p] > thr;
    return any;
}

/* Raise the floor and drop the values at or below it, keeping at least
 * keep values.  The new floor is guessed from every 16th buffered value,
 * at the rank where about 1.25 keep values should stay above it; a guess
 * that leaves fewer than keep (rare) is replaced by the exact keep-th
 * largest (quickselect).  Either way every value above the floor is kept
 * and at least keep of them remain, so nothing dropped can be among the
 * keep largest. */
static void compact(unit_buf *b, size_t keep, float *tmp)
{
    if (b->n <= keep)
        return;
    size_t ns = 0;
    for (size_t q = 0; q < b->n; q += 16)
        tmp[ns++] = b->v[q];
    size_t want = keep + keep / 4, above = (size_t)((double)want * (double)ns / (double)b->n) + 1;
    if (above < ns) {
        float f = qt_kth(tmp, ns, ns - above);
        size_t m = 0;
        for (size_t q = 0; q < b->n; q++)
            m += b->v[q] > f;
        if (m >= keep) {
            m = 0;
            for (size_t q = 0; q < b->n; q++) { /* branch-free filter */
                float v = b->v[q];
                b->v[m] = v;
                m += v > f;
            }
            b->n = m;
            if (!b->has_floor || f > b->floor)
                b->floor = f, b->has_floor = 1;
            return;
        }
    }
    size_t cut = b->n - keep;
    qt_kth(b->v, b->n, cut); /* [cut, n) now holds the keep largest, v[cut] their minimum */
    float f = b->v[cut];
    memmove(b->v, b->v + cut, keep * sizeof *b->v);
    b->n = keep;
    if (!b->has_floor || f > b->floor)
        b->floor = f, b->has_floor = 1;
}

/* Append the values of v[0..hw) above the floor (all of them before there is one). */
static int add_map(qt_top *t, unit_buf *b, const float *v, size_t hw)
{
    if (!b->v && !(b->v = nd_malloc(t->cap * sizeof *b->v)))
        return -1;
    if (b->n + hw > t->cap)
        compact(b, t->keep, t->tmp);
    if (!b->has_floor) {
        memcpy(b->v + b->n, v, hw * sizeof *v);
        b->n += hw;
        return 0;
    }
    float f = b->floor, *dst = b->v + b->n; /* locals: through b the compiler would reload them */
    size_t p = 0;
#if defined(__SSE__)
    __m128 th = _mm_set1_ps(f);
    /* 16 values per test: most groups have nothing above the floor */
    for (; p + 16 <= hw; p += 16) {
        __m128 c0 = _mm_cmpgt_ps(_mm_loadu_ps(v + p), th), c1 = _mm_cmpgt_ps(_mm_loadu_ps(v + p + 4), th);
        __m128 c2 = _mm_cmpgt_ps(_mm_loadu_ps(v + p + 8), th), c3 = _mm_cmpgt_ps(_mm_loadu_ps(v + p + 12), th);
        if (!_mm_movemask_ps(_mm_or_ps(_mm_or_ps(c0, c1), _mm_or_ps(c2, c3))))
            continue;
        unsigned mk = (unsigned)_mm_movemask_ps(c0) | (unsigned)_mm_movemask_ps(c1) << 4 |
                      (unsigned)_mm_movemask_ps(c2) << 8 | (unsigned)_mm_movemask_ps(c3) << 12;
        while (mk) {
            *dst++ = v[p + (unsigned)__builtin_ctz(mk)];
            mk &= mk - 1;
        }
    }
#endif
    for (; p < hw; p++)
        if (v[p] > f)
            *dst++ = v[p];
    b->n = (size_t)(dst - b->v);
    return 0;
}

int qt_top_add(qt_top *t, const float *x, size_t n, size_t hw)
{
    if (t->cap == 0) {
        t->cap = 2 * t->keep + 2 * hw; /* room for one more map after a compaction (<= 1.25 keep + 1 left) */
        if (!(t->tmp = nd_malloc((t->cap / 16 + 2) * sizeof *t->tmp)))
            return -1;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < t->K; k++) {
            unit_buf *b = &t->u[k];
            const float *v = x + (i * t->K + k) * hw;
            if (add_map(t, b, v, hw))
                return -1;
        }
    return 0;
}

/* The final selection, one job per thread over units tid, tid + nt, ...
 * (after a pass the calling thread would otherwise do it alone). */
typedef struct {
    qt_top *const *parts;
    int nparts, tid, nt;
    size_t r0, r1;
    double t;
    double *out;
    float *all, *tmp; /* the union of one unit's candidates; compact()'s subsample */
    int missed;
} result_job;

static void *result_worker(void *arg)
{
    result_job *j = arg;
    size_t K = j->parts[0]->K, keep = j->parts[0]->keep;
    for (size_t k = (size_t)j->tid; k < K && !j->missed; k += (size_t)j->nt) {
        /* values below the highest floor are not among the keep largest:
         * that part alone holds keep values at or above it */
        float hi_floor = -INFINITY;
        for (int p = 0; p < j->nparts; p++) {
            const unit_buf *b = &j->parts[p]->u[k];
            if (b->has_floor && b->n >= keep && b->floor > hi_floor)
                hi_floor = b->floor;
        }
        unit_buf u = {j->all, 0, 0, 0};
        for (int p = 0; p < j->nparts; p++) {
            const unit_buf *b = &j->parts[p]->u[k];
            for (size_t q = 0; q < b->n; q++)
                if (b->v[q] >= hi_floor)
                    u.v[u.n++] = b->v[q];
        }
        /* with guessed floors, fewer than keep values above them means a
         * guess was too high: the caller starts again without */
        if (u.n < keep) {
            j->missed = 1;
            break;
        }
        compact(&u, keep, j->tmp); /* about 1.25 keep left: a cheaper selection */
        size_t i0 = u.n - keep;
        float a = qt_kth(u.v, u.n, i0), b = a;
        if (j->r1 != j->r0) {
            b = u.v[i0 + 1];
            for (size_t q = i0 + 2; q < u.n; q++)
                if (u.v[q] < b)
                    b = u.v[q];
        }
        j->out[k] = qt_lerp(a, b, j->t);
    }
    return NULL;
}

int qt_top_result(qt_top *const *parts, int nparts, uint64_t n, double level, double *out)
{
    size_t keep = parts[0]->keep, r0, r1, cap = 0;
    double tt;
    qt_ranks((size_t)n, level, &r0, &r1, &tt);
    for (int p = 0; p < nparts; p++)
        cap += parts[p]->cap > keep ? parts[p]->cap : keep;
    result_job jobs[ND_MAX_THREADS];
    int nt = nparts < ND_MAX_THREADS ? nparts : ND_MAX_THREADS, made = 0, rc = 0;
    for (; made < nt; made++) {
        jobs[made] = (result_job){parts, nparts, made, nt, r0, r1, tt, out, NULL, NULL, 0};
        jobs[made].all = nd_malloc((cap ? cap : 1) * sizeof(float));
        jobs[made].tmp = nd_malloc((cap / 16 + 2) * sizeof(float));
        if (!jobs[made].all || !jobs[made].tmp) {
            free(jobs[made].all), free(jobs[made].tmp);
            rc = -1;
            break;
        }
    }
    if (!rc)
        nd_run_jobs(result_worker, jobs, sizeof *jobs, nt);
    for (int t = 0; t < made; t++) {
        rc = rc ? rc : jobs[t].missed;
        free(jobs[t].all), free(jobs[t].tmp);
    }
    return rc;
}
