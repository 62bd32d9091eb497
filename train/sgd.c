/* sgd.c - the trainer's state (tr_alloc/tr_free), the SGD step and the
 * learning-rate schedules (see train.h). */
#include "train/train.h"

#include "core/err.h"
#include "core/jobs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tr_free(tr_net *t)
{
    if (!t || !t->net)
        return;
    for (int i = 0; i < t->net->nlayers; i++) {
        if (t->y)
            free(t->y[i]);
        if (t->dy)
            free(t->dy[i]);
        if (t->mask)
            free(t->mask[i]);
        if (t->bn_mean)
            free(t->bn_mean[i]);
        if (t->bn_istd)
            free(t->bn_istd[i]);
    }
    free(t->y), free(t->dy), free(t->mask), free(t->bn_mean), free(t->bn_istd);
    for (int k = 0; k < t->nscratch; k++) {
        if (t->col)
            free(t->col[k]);
        if (t->dcol)
            free(t->dcol[k]);
    }
    free(t->dx), free(t->grad), free(t->mom), free(t->col), free(t->dcol), free(t->part);
    if (t->rng)
        gsl_rng_free(t->rng);
    memset(t, 0, sizeof *t);
}

static int alloc_layer(tr_net *t, int i)
{
    const net_layer *L = &t->net->layers[i];
    size_t m = (size_t)t->batch * tr_layer_size(L);
    if (!(t->y[i] = nd_malloc(sizeof(float) * m)) || !(t->dy[i] = nd_malloc(sizeof(float) * m)))
        return -1;
    if (L->def->kind == NET_DROPOUT && !(t->mask[i] = nd_malloc(sizeof(float) * m)))
        return -1;
    if (L->def->kind == NET_BATCHNORM &&
        (!(t->bn_mean[i] = nd_calloc((size_t)L->c, sizeof(double))) ||
         !(t->bn_istd[i] = nd_calloc((size_t)L->c, sizeof(double)))))
        return -1;
    return 0;
}

int tr_alloc(tr_net *t, net_t *net, int batch, int want_dx)
{
    memset(t, 0, sizeof *t);
    t->net = net;
    t->batch = batch;
    int nl = net->nlayers;
    size_t colmax = 1, wmax = 1;
    for (int i = 0; i < nl; i++) {
        const net_layer *L = &net->layers[i];
        if (L->def->kind == NET_CONV) {
            size_t s = (size_t)L->cin * L->def->k * L->def->k * L->h * L->w;
            colmax = s > colmax ? s : colmax;
            wmax = L->nweights > wmax ? L->nweights : wmax;
        }
    }
    t->threads = t->nscratch = nd_threads(0);
    t->part_stride = wmax;
    size_t insz = (size_t)batch * net->in_c * net->in_h * net->in_w;
    if (!(t->y = nd_calloc((size_t)nl, sizeof *t->y)) ||
        !(t->dy = nd_calloc((size_t)nl, sizeof *t->dy)) ||
        !(t->mask = nd_calloc((size_t)nl, sizeof *t->mask)) ||
        !(t->bn_mean = nd_calloc((size_t)nl, sizeof *t->bn_mean)) ||
        !(t->bn_istd = nd_calloc((size_t)nl, sizeof *t->bn_istd)) ||
        !(t->grad = nd_calloc(net->nparams + 1, sizeof(float))) ||
        !(t->mom = nd_calloc(net->nparams + 1, sizeof(float))) ||
        !(t->col = nd_calloc((size_t)t->threads, sizeof *t->col)) ||
        !(t->dcol = nd_calloc((size_t)t->threads, sizeof *t->dcol)) ||
        !(t->part = nd_malloc(sizeof(float) * wmax * TR_GROUPS)) ||
        (want_dx && !(t->dx = nd_malloc(sizeof(float) * insz))))
        goto fail;
    for (int i = 0; i < nl; i++)
        if (alloc_layer(t, i))
            goto fail;
    for (int k = 0; k < t->threads; k++)
        if (!(t->col[k] = nd_malloc(sizeof(float) * colmax)) ||
            !(t->dcol[k] = nd_malloc(sizeof(float) * colmax)))
            goto fail;
    if (!(t->rng = gsl_rng_alloc(gsl_rng_mt19937))) {
        nd_fail("cannot allocate a random generator");
        goto fail;
    }
    gsl_rng_set(t->rng, 0);
    return 0;
fail:
    tr_free(t);
    return nd_fail_prefix("%s: trainer for batch %d", net->name, batch);
}

void tr_sgd(tr_net *t, double lr, double momentum, double weight_decay)
{
    float *w = t->net->params;
    for (size_t i = 0; i < t->net->nparams; i++) {
        double g = (double)t->grad[i] + weight_decay * w[i];
        double v = t->have_mom ? momentum * t->mom[i] + g : g;
        t->mom[i] = (float)v;
        w[i] = (float)(w[i] - lr * v);
    }
    t->have_mom = 1;
}

double tr_lr(tr_lr_kind kind, double base, long it, long total, long step_size, double gamma)
{
    switch (kind) {
    case TR_LR_STEP:
        return step_size > 0 ? base * pow(gamma, (double)(it / step_size)) : base;
    case TR_LR_COSINE:
        return total > 0 ? base * 0.5 * (1 + cos(M_PI * (double)it / (double)total)) : base;
    default:
        return base;
    }
}
