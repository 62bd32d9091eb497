/* ablate.c - unit sets, removing them from one image's activations, and the
 * rest of the network over many images (see ablate.h). */
#include "models/ablate.h"

#include "core/blas.h"
#include "core/err.h"
#include "core/jobs.h"

#include <cblas.h>
#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Channels in 0..K-1, each once. */
static int check_units(int K, const int *u, int k, const char *what)
{
    if (k < 0 || k > K)
        return nd_fail("%s: %d units asked for, the layer has %d", what, k, K);
    unsigned char *seen = nd_calloc((size_t)K, 1);
    if (!seen)
        return -1;
    int rc = 0;
    for (int j = 0; j < k && !rc; j++) {
        if (u[j] < 0 || u[j] >= K)
            rc = nd_fail("%s: unit %d is out of range (the layer has units 1..%d)", what, u[j] + 1, K);
        else if (seen[u[j]]++)
            rc = nd_fail("%s: unit %d is listed twice", what, u[j] + 1);
    }
    free(seen);
    return rc;
}

int abl_units(abl_set *s, int K, const int *units, int k, const char *what)
{
    memset(s, 0, sizeof *s);
    if (check_units(K, units, k, what))
        return -1;
    s->K = K;
    s->k = k;
    if (k > 0) {
        if (!(s->units = nd_malloc(sizeof(int) * (size_t)k)))
            return -1;
        memcpy(s->units, units, sizeof(int) * (size_t)k);
    }
    return 0;
}

int abl_dirs(abl_set *s, int K, const double *R, const int *rows, int k, const char *what)
{
    memset(s, 0, sizeof *s);
    if (check_units(K, rows, k, what))
        return -1;
    s->K = K;
    s->k = k;
    if (k > 0) {
        if (!(s->dirs = nd_malloc(sizeof(float) * (size_t)k * K)))
            return -1;
        for (int j = 0; j < k; j++)
            for (int i = 0; i < K; i++)
                s->dirs[(size_t)j * K + i] = (float)R[(size_t)rows[j] * K + i];
    }
    return 0;
}

void abl_free(abl_set *s)
{
    free(s->units);
    free(s->dirs);
    memset(s, 0, sizeof *s);
}

size_t abl_scratch(const abl_set *s, size_t hw) { return s->dirs ? (size_t)s->k * hw : 0; }

void abl_apply(const abl_set *s, float *act, size_t hw, float *scratch)
{
    if (s->k == 0)
        return;
    if (s->units) {
        for (int j = 0; j < s->k; j++)
            memset(act + (size_t)s->units[j] * hw, 0, sizeof(float) * hw);
        return;
    }
    int K = s->K, k = s->k, n = (int)hw;
    /* C = D act (k x hw), then act = act - D^T C */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, n, K, 1.0f, s->dirs, K, act, n, 0.0f,
                scratch, n);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, n, k, -1.0f, s->dirs, K, scratch, n,
                1.0f, act, n);
}

void abl_top_units(const double *score, int K, int k, int *out)
{
    /* k passes of selection: K and k are small (a layer's units) */
    for (int j = 0; j < k; j++) {
        int b = -1;
        for (int u = 0; u < K; u++) {
            int used = 0;
            for (int t = 0; t < j && !used; t++)
                used = out[t] == u;
            if (!used && (b < 0 || score[u] > score[b]))
                b = u;
        }
        out[j] = b;
    }
}

int abl_random_units(int K, int k, unsigned long seed, int *out)
{
    if (k < 1 || k > K)
        return nd_fail("random units: %d of %d asked for", k, K);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r)
        return nd_fail("out of memory");
    gsl_rng_set(r, seed);
    /* selection sampling (Knuth's algorithm S, as gsl_ran_choose): unit u
     * is taken with probability (still needed) / (still left) */
    int j = 0;
    for (int u = 0; u < K && j < k; u++)
        if ((double)(K - u) * gsl_rng_uniform(r) < (double)(k - j))
            out[j++] = u;
    gsl_rng_free(r);
    return 0;
}

/* ---------- the rest of the network over many images ---------- */

typedef struct {
    const abl_runner *r;
    const abl_set *s;
    float *out;
    int t, T, rc;
    char err[512];
} job;

static void *worker(void *arg)
{
    job *j = arg;
    const abl_runner *r = j->r;
    const net_layer *L = &r->net->layers[r->layer];
    size_t hw = (size_t)L->h * L->w, per = (size_t)L->c * hw;
    size_t C = (size_t)r->net->layers[r->last].c * r->net->layers[r->last].h *
               r->net->layers[r->last].w;
    net_ws *ws = net_ws_alloc(r->net, r->last);
    float *a = nd_malloc(sizeof(float) * per);
    float *sc = nd_malloc(sizeof(float) * (abl_scratch(j->s, hw) + 1));
    if (!ws || !a || !sc) {
        snprintf(j->err, sizeof j->err, "%s", nd_errmsg());
        j->rc = -1;
    }
    for (size_t i = (size_t)j->t; j->rc == 0 && i < r->N; i += (size_t)j->T) {
        memcpy(a, r->act + i * per, sizeof(float) * per);
        abl_apply(j->s, a, hw, sc);
        net_forward_from(r->net, ws, r->layer, a, r->last, j->out + i * C);
    }
    net_ws_free(ws);
    free(a);
    free(sc);
    return NULL;
}

int abl_run(const abl_runner *r, const abl_set *s, float *out)
{
    const net_t *net = r->net;
    if (r->layer < 0 || r->layer >= r->last || r->last >= net->nlayers)
        return nd_fail("%s: cannot run from layer %d to %d", net->name, r->layer, r->last);
    int bad = net_reads_only_from(net, r->layer);
    if (bad >= 0 && bad <= r->last)
        return nd_fail("%s: layer %s reads a layer before %s: the rest of the network cannot "
                       "start there", net->name, net->layers[bad].def->name,
                       net->layers[r->layer].def->name);
    if (s->K != net->layers[r->layer].c)
        return nd_fail("%s: a set for %d units at %s, which has %d", net->name, s->K,
                       net->layers[r->layer].def->name, net->layers[r->layer].c);
    int T = nd_threads(r->threads);
    if ((size_t)T > r->N)
        T = r->N > 0 ? (int)r->N : 1;
    job *jobs = nd_calloc((size_t)T, sizeof *jobs);
    if (!jobs)
        return -1;
    for (int t = 0; t < T; t++)
        jobs[t] = (job){r, s, out, t, T, 0, ""};
    /* one BLAS thread per worker: the same sums whatever the thread count */
    int blas = nd_blas_serial_begin();
    nd_run_jobs(worker, jobs, sizeof *jobs, T);
    nd_blas_serial_end(blas);
    int rc = 0;
    for (int t = 0; t < T && !rc; t++)
        if (jobs[t].rc)
            rc = nd_fail("%s", jobs[t].err);
    free(jobs);
    return rc;
}
