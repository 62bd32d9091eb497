/* qtop.c - one-pass exact top quantiles (see qtop.h). */
#include "core/qtop.h"

#include "core/err.h"
#include "core/jobs.h"
#include "core/quantile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float *v;       /* cap values */
    size_t len;     /* values held */
    float floor;    /* values <= floor cannot enter the top m (valid when full) */
    int full;       /* a compaction happened: floor is valid */
    uint64_t seen;  /* values offered */
    uint64_t bad;   /* non-finite values offered */
} unit_buf;

struct qt_top {
    size_t K;
    uint64_t n;
    double level;
    size_t m, cap; /* keep m largest; buffer of cap */
    unit_buf *u;
};

qt_top *qt_top_new(size_t K, uint64_t n, double level)
{
    if (K == 0 || n == 0 || !(level >= 0 && level <= 1)) {
        nd_fail("top quantile: %zu units, %llu values each, level %g (need K, n >= 1, level in [0, 1])",
                K, (unsigned long long)n, level);
        return NULL;
    }
    qt_top *q = nd_calloc(1, sizeof *q);
    if (!q)
        return NULL;
    size_t r0, r1;
    double t;
    qt_ranks((size_t)n, level, &r0, &r1, &t);
    q->K = K;
    q->n = n;
    q->level = level;
    q->m = (size_t)n - r0;
    /* twice the kept count amortises the selections to linear time; a small
     * minimum avoids selecting after every few values */
    q->cap = 2 * q->m < 4096 ? 4096 : 2 * q->m;
    if (q->cap > n)
        q->cap = (size_t)n;
    q->u = nd_calloc(K, sizeof *q->u);
    if (!q->u) {
        free(q);
        return NULL;
    }
    for (size_t k = 0; k < K; k++)
        if (!(q->u[k].v = nd_malloc(q->cap * sizeof(float)))) {
            qt_top_free(q);
            return NULL;
        }
    return q;
}

void qt_top_free(qt_top *q)
{
    if (!q)
        return;
    if (q->u)
        for (size_t k = 0; k < q->K; k++)
            free(q->u[k].v);
    free(q->u);
    free(q);
}

/* Keep the m largest of the buffer; their minimum becomes the floor. */
static void compact(const qt_top *q, unit_buf *b)
{
    size_t drop = b->len - q->m;
    /* quickselect partitions: v[drop] is the m-th largest and v[drop..] >= it */
    qt_kth(b->v, b->len, drop);
    memmove(b->v, b->v + drop, q->m * sizeof(float));
    b->len = q->m;
    b->floor = b->v[0];
    b->full = 1;
}

static void add_values(const qt_top *q, unit_buf *b, const float *x, size_t n)
{
    b->seen += n;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (!isfinite(v)) {
            b->bad++;
            continue;
        }
        if (b->full && !(v > b->floor))
            continue;
        if (b->len == q->cap)
            compact(q, b);
        if (b->full && !(v > b->floor))
            continue;
        b->v[b->len++] = v;
    }
}

typedef struct {
    const qt_top *q;
    const float *x;
    size_t n_img, hw, k0, k1;
} add_job;

static void *add_worker(void *arg)
{
    add_job *j = arg;
    for (size_t k = j->k0; k < j->k1; k++)
        for (size_t i = 0; i < j->n_img; i++)
            add_values(j->q, &j->q->u[k], j->x + (i * j->q->K + k) * j->hw, j->hw);
    return NULL;
}

int qt_top_add(qt_top *q, const float *x, size_t n_img, size_t hw, int threads)
{
    int nt = nd_threads(threads);
    if ((size_t)nt > q->K)
        nt = (int)q->K;
    add_job j[ND_MAX_THREADS];
    for (int t = 0; t < nt; t++) {
        j[t] = (add_job){q, x, n_img, hw, q->K * t / nt, q->K * (t + 1) / nt};
    }
    nd_run_jobs(add_worker, j, sizeof j[0], nt);
    return 0;
}

int qt_top_result(qt_top *q, double *out)
{
    size_t r0, r1;
    double t;
    qt_ranks((size_t)q->n, q->level, &r0, &r1, &t);
    for (size_t k = 0; k < q->K; k++) {
        unit_buf *b = &q->u[k];
        if (b->bad)
            return nd_fail("unit %zu: %llu non-finite activations", k, (unsigned long long)b->bad);
        if (b->seen != q->n)
            return nd_fail("unit %zu: %llu activations, expected %llu", k,
                           (unsigned long long)b->seen, (unsigned long long)q->n);
        /* the buffer holds the top len values: global ascending rank r is
         * buffer rank r - (n - len) */
        size_t off = (size_t)q->n - b->len;
        ND_ASSERT(r0 >= off);
        double a = qt_kth(b->v, b->len, r0 - off);
        /* as qt_select: no interpolation at the last order statistic */
        out[k] = r1 == r0 ? a : qt_lerp(a, qt_kth(b->v, b->len, r1 - off), t);
    }
    return 0;
}
