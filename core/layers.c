/* layers.c - several layers dissected in two streaming passes (see layers.h). */
#include "core/layers.h"

#include "core/err.h"
#include "core/jobs.h"
#include "core/topk.h"

#include <stdlib.h>
#include <string.h>

/* An nd_features view of the current block of one layer: nd_tally_run
 * asks only for images inside the block it was given. */
typedef struct {
    const float *x;
    size_t i0, n, per;
} block_view;

static int block_get(void *ctx, size_t i0, size_t n, float *buf, const float **out)
{
    (void)buf;
    const block_view *b = ctx;
    if (i0 < b->i0 || i0 + n > b->i0 + b->n)
        return nd_fail("internal: images [%zu, %zu) asked outside the block [%zu, %zu)", i0, i0 + n,
                       b->i0, b->i0 + b->n);
    *out = b->x + (i0 - b->i0) * b->per;
    return 0;
}

typedef struct {
    const broden *ds;
    const nd_layer_source *s;
    const nd_options *o;
    nd_result *r;
    int nt;                                  /* threads of pass 1 */
    qt_top *(*q)[ND_MAX_THREADS];            /* [layer][thread] top candidates */
    float **buf;
} run_ctx;

/* Pass 1 on one thread: images [a, b) of the block, every layer, into this
 * thread's parts (core/topk.h: the union of the parts is exact whatever the
 * split, so the thresholds do not depend on the thread count). */
typedef struct {
    run_ctx *c;
    size_t n;
    int tid, rc;
} top_job;

static void *top_worker(void *arg)
{
    top_job *j = arg;
    const nd_layer_source *s = j->c->s;
    size_t a = j->n * (size_t)j->tid / (size_t)j->c->nt, b = j->n * (size_t)(j->tid + 1) / (size_t)j->c->nt;
    for (int l = 0; l < s->nl && !j->rc && b > a; l++) {
        size_t hw = s->h[l] * s->w[l];
        j->rc = qt_top_add(j->c->q[l][j->tid], j->c->buf[l] + a * s->K[l] * hw, b - a, hw);
    }
    return NULL;
}

static int top_block(run_ctx *c, size_t n)
{
    top_job jobs[ND_MAX_THREADS];
    for (int t = 0; t < c->nt; t++)
        jobs[t] = (top_job){c, n, t, 0};
    nd_run_jobs(top_worker, jobs, sizeof *jobs, c->nt);
    for (int t = 0; t < c->nt; t++)
        if (jobs[t].rc)
            return -1;
    return 0;
}

static int pass(run_ctx *c, int which, nd_progress p)
{
    const nd_layer_source *s = c->s;
    const char *stage = which == 1 ? "thresholds" : "tally";
    for (size_t i0 = 0; i0 < s->N; i0 += s->block) {
        size_t n = s->N - i0 < s->block ? s->N - i0 : s->block;
        if (s->run(s->ctx, i0, n, c->buf))
            return -1;
        if (which == 1) {
            if (top_block(c, n))
                return -1;
            nd_report(p, stage, i0 + n, s->N);
            continue;
        }
        for (int l = 0; l < s->nl; l++) {
            size_t hw = s->h[l] * s->w[l];
            block_view bv = {c->buf[l], i0, n, s->K[l] * hw};
            nd_features f = {s->N, s->K[l], s->h[l], s->w[l], block_get, &bv};
            nd_options o = c->o[l];
            o.progress = (nd_progress){0}; /* progress is ours, per block */
            if (nd_tally_run(c->ds, &f, &o, c->r[l].thresholds, i0, i0 + n, &c->r[l].tally))
                return -1;
        }
        nd_report(p, stage, i0 + n, s->N);
    }
    return 0;
}

static int prepare(run_ctx *c)
{
    const nd_layer_source *s = c->s;
    for (int l = 0; l < s->nl; l++) {
        nd_result *r = &c->r[l];
        r->opt = c->o[l];
        r->K = s->K[l];
        r->threshold_method = ND_THR_STREAM; /* the stream's rule, fed by the forward pass */
        if (c->o[l].thresholds)
            return nd_fail("layer %d: given thresholds are not supported when dissecting layers "
                           "from a forward pass", l);
        if (!(c->buf[l] = nd_malloc(s->block * s->K[l] * s->h[l] * s->w[l] * sizeof(float))) ||
            !(r->thresholds = nd_malloc(s->K[l] * sizeof(double))) ||
            nd_tally_alloc(&r->tally, s->K[l], broden_num_labels(c->ds),
                           broden_num_categories(c->ds)))
            return -1;
        size_t keep = qt_top_keep((uint64_t)s->N * s->h[l] * s->w[l], 1.0 - c->o[l].quantile);
        for (int t = 0; t < c->nt; t++)
            if (!(c->q[l][t] = qt_top_new(s->K[l], keep, NULL)))
                return -1;
    }
    return 0;
}

int nd_dissect_layers(const broden *ds, const nd_layer_source *s, const nd_options *o,
                      nd_result *r, nd_progress p)
{
    if (s->nl < 1 || s->nl > ND_MAX_LAYERS || s->block < 1)
        return nd_fail("dissecting layers: %d layers (1..%d), block %zu", s->nl, ND_MAX_LAYERS,
                       s->block);
    if (s->N != broden_num_images(ds))
        return nd_fail("the network source has %zu images but %s/index.csv has %zu rows", s->N,
                       broden_dir(ds), broden_num_images(ds));
    memset(r, 0, sizeof *r * (size_t)s->nl);
    qt_top *(*q)[ND_MAX_THREADS] = nd_calloc(ND_MAX_LAYERS, sizeof *q);
    if (!q)
        return -1;
    float *buf[ND_MAX_LAYERS] = {0};
    run_ctx c = {ds, s, o, r, nd_threads(o[0].threads), q, buf};
    double t0 = nd_now(), t1 = t0;
    int rc = prepare(&c) || pass(&c, 1, p);
    for (int l = 0; l < s->nl && !rc; l++)
        rc = qt_top_result(q[l], c.nt, (uint64_t)s->N * s->h[l] * s->w[l], 1.0 - o[l].quantile,
                           r[l].thresholds) ? -1 : 0; /* no guessed floors: only out of memory */
    for (int l = 0; l < s->nl; l++)
        for (int t = 0; t < c.nt; t++)
            qt_top_free(q[l][t]);
    free(q);
    if (!rc)
        t1 = nd_now(), rc = pass(&c, 2, p);
    for (int l = 0; l < s->nl && !rc; l++) {
        rc = nd_score(ds, &r[l]);
        r[l].seconds_threshold = t1 - t0;
        r[l].seconds_tally = nd_now() - t1;
    }
    for (int l = 0; l < s->nl; l++)
        free(buf[l]);
    if (rc)
        for (int l = 0; l < s->nl; l++)
            nd_result_free(&r[l]);
    return rc ? -1 : 0;
}
