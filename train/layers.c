/* layers.c - training-mode forward and backward passes of every net.h
 * layer kind over a batch (see train.h).
 *
 * Convolution: forward is models/net.c's net_conv per image (im2col +
 * sgemm); backward per image: dW += dY col^T and dcol = W^T dY by sgemm,
 * then col2im adds dcol into the input gradient.  Images are summed into dW
 * in order, so the result does not depend on threads.  A fused ReLU is
 * undone first by masking dY where the output is 0.
 * Batch norm in training mode: statistics over (N, H, W) in double, biased
 * variance for normalising, unbiased for the running variance (PyTorch).
 * Its backward is the closed form dx = g*istd/M (M dy - sum dy - xhat sum
 * dy*xhat).  Max pooling's backward sends each output's gradient to the
 * first maximum of its window, the element the forward pass picked.
 */
#include "train/train.h"

#include "core/blas.h"
#include "core/err.h"
#include "core/jobs.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t tr_layer_size(const net_layer *L)
{
    return (size_t)L->c * L->h * L->w;
}

/* input of layer L: pointer, and shape of one image */
static const float *in_of(const tr_net *t, const net_layer *L, int j, const float *x, int *c,
                          int *h, int *w)
{
    const net_t *net = t->net;
    if (L->in[j] < 0) {
        *c = net->in_c, *h = net->in_h, *w = net->in_w;
        return x;
    }
    const net_layer *P = &net->layers[L->in[j]];
    *c = P->c, *h = P->h, *w = P->w;
    return t->y[L->in[j]];
}

static float *din_of(tr_net *t, const net_layer *L, int j)
{
    return L->in[j] < 0 ? t->dx : t->dy[L->in[j]];
}

/* ---------- batch norm ---------- */

static void bn_forward_train(tr_net *t, int li, const float *x, int n)
{
    const net_layer *L = &t->net->layers[li];
    size_t hw = (size_t)L->h * L->w, M = (size_t)n * hw;
    float *y = t->y[li];
    for (int c = 0; c < L->c; c++) {
        double s = 0, ss = 0;
        for (int b = 0; b < n; b++) {
            const float *p = x + ((size_t)b * L->c + c) * hw;
            for (size_t k = 0; k < hw; k++)
                s += p[k];
        }
        double mean = s / (double)M;
        for (int b = 0; b < n; b++) {
            const float *p = x + ((size_t)b * L->c + c) * hw;
            for (size_t k = 0; k < hw; k++)
                ss += (p[k] - mean) * (p[k] - mean);
        }
        double var = ss / (double)M, istd = 1.0 / sqrt(var + NET_BN_EPS);
        t->bn_mean[li][c] = mean;
        t->bn_istd[li][c] = istd;
        double g = L->wt[c], beta = L->bias[c];
        for (int b = 0; b < n; b++) {
            const float *p = x + ((size_t)b * L->c + c) * hw;
            float *q = y + ((size_t)b * L->c + c) * hw;
            for (size_t k = 0; k < hw; k++)
                q[k] = (float)((p[k] - mean) * istd * g + beta);
        }
        double unb = M > 1 ? ss / (double)(M - 1) : var;
        L->rmean[c] = (float)((1 - NET_BN_MOMENTUM) * L->rmean[c] + NET_BN_MOMENTUM * mean);
        L->rvar[c] = (float)((1 - NET_BN_MOMENTUM) * L->rvar[c] + NET_BN_MOMENTUM * unb);
    }
}

static void bn_backward(tr_net *t, int li, const float *x, int n, float *dx, float *gw,
                        float *gb)
{
    const net_layer *L = &t->net->layers[li];
    size_t hw = (size_t)L->h * L->w, M = (size_t)n * hw;
    const float *dy = t->dy[li];
    for (int c = 0; c < L->c; c++) {
        double mean = t->bn_mean[li][c], istd = t->bn_istd[li][c];
        double sdy = 0, sdyx = 0;
        for (int b = 0; b < n; b++) {
            size_t o = ((size_t)b * L->c + c) * hw;
            for (size_t k = 0; k < hw; k++) {
                sdy += dy[o + k];
                sdyx += dy[o + k] * (x[o + k] - mean) * istd;
            }
        }
        gw[c] = (float)sdyx;
        gb[c] = (float)sdy;
        if (!dx)
            continue;
        double a = L->wt[c] * istd / (double)M;
        for (int b = 0; b < n; b++) {
            size_t o = ((size_t)b * L->c + c) * hw;
            for (size_t k = 0; k < hw; k++) {
                double xh = (x[o + k] - mean) * istd;
                dx[o + k] += (float)(a * ((double)M * dy[o + k] - sdy - xh * sdyx));
            }
        }
    }
}

/* ---------- convolution ---------- */

/* adjoint of net_im2col: add each col entry back to the pixel it came from */
static void col2im_add(float *dx, const float *col, int cin, int h, int w, int k, int stride,
                       int pad, int oh, int ow)
{
    for (int c = 0; c < cin; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                const float *row = col + (((size_t)c * k + i) * k + j) * oh * ow;
                float *dst = dx + (size_t)c * h * w;
                for (int y = 0; y < oh; y++) {
                    int iy = y * stride - pad + i;
                    if (iy < 0 || iy >= h)
                        continue;
                    for (int x = 0; x < ow; x++) {
                        int ix = x * stride - pad + j;
                        if (ix >= 0 && ix < w)
                            dst[(size_t)iy * w + ix] += row[(size_t)y * ow + x];
                    }
                }
            }
}

/* Convolutions run on t->threads threads over TR_GROUPS fixed groups of
 * images (group g: images [g n / G, (g+1) n / G)), each group with the same
 * single-threaded BLAS calls whoever runs it; weight gradients are summed
 * per group, then over groups in order.  So results never depend on the
 * thread count. */
typedef struct {
    tr_net *t;
    int li, n, job, backward;
    const float *x; /* layer input */
    float *dx;      /* backward: input gradient (NULL: not needed) */
} conv_job;

static void conv_group(conv_job *j, int g, int groups)
{
    tr_net *t = j->t;
    const net_layer *L = &t->net->layers[j->li];
    const net_def *d = L->def;
    int ic = L->cin, ih, iw;
    if (L->in[0] < 0)
        ih = t->net->in_h, iw = t->net->in_w;
    else
        ih = t->net->layers[L->in[0]].h, iw = t->net->layers[L->in[0]].w;
    int hw = L->h * L->w, kk = ic * d->k * d->k;
    int direct = d->k == 1 && d->stride == 1 && d->pad == 0;
    size_t osz = tr_layer_size(L), isz = (size_t)ic * ih * iw;
    float *col = t->col[j->job], *dc = t->dcol[j->job];
    float *gw = t->part + (size_t)g * t->part_stride;
    if (j->backward)
        memset(gw, 0, sizeof(float) * L->nweights);
    for (int b = g * j->n / groups; b < (g + 1) * j->n / groups; b++) {
        const float *in = j->x + b * isz;
        if (!j->backward) {
            net_conv(t->y[j->li] + b * osz, in, L->wt, L->bias, ic, ih, iw, L->c, d->k,
                     d->stride, d->pad, d->relu, col);
            continue;
        }
        const float *gy = t->dy[j->li] + b * osz, *cb = in;
        if (!direct) {
            net_im2col(col, in, ic, ih, iw, d->k, d->stride, d->pad, L->h, L->w);
            cb = col;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L->c, kk, hw, 1.0f, gy, hw, cb,
                    hw, 1.0f, gw, kk);
        if (!j->dx)
            continue;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kk, hw, L->c, 1.0f, L->wt, kk, gy,
                    hw, 0.0f, dc, hw);
        if (direct)
            for (size_t e = 0; e < isz; e++)
                j->dx[b * isz + e] += dc[e];
        else
            col2im_add(j->dx + b * isz, dc, ic, ih, iw, d->k, d->stride, d->pad, L->h, L->w);
    }
}

static void *conv_worker(void *arg)
{
    conv_job *j = arg;
    int groups = j->n < TR_GROUPS ? j->n : TR_GROUPS;
    for (int g = j->job; g < groups; g += j->t->threads)
        conv_group(j, g, groups);
    return NULL;
}

static void conv_run(tr_net *t, int li, const float *x, int n, int backward, float *dx)
{
    conv_job jobs[ND_MAX_THREADS];
    for (int k = 0; k < t->threads; k++)
        jobs[k] = (conv_job){t, li, n, k, backward, x, dx};
    nd_run_jobs(conv_worker, jobs, sizeof jobs[0], t->threads);
}

static void conv_backward(tr_net *t, int li, const float *x, int n, float *dx, float *gw,
                          float *gb)
{
    const net_layer *L = &t->net->layers[li];
    size_t osz = tr_layer_size(L);
    int hw = L->h * L->w;
    float *dy = t->dy[li];
    if (L->def->relu)
        for (size_t e = 0; e < (size_t)n * osz; e++)
            if (!(t->y[li][e] > 0))
                dy[e] = 0;
    conv_run(t, li, x, n, 1, dx);
    int groups = n < TR_GROUPS ? n : TR_GROUPS;
    memcpy(gw, t->part, sizeof(float) * L->nweights);
    for (int g = 1; g < groups; g++) {
        const float *p = t->part + (size_t)g * t->part_stride;
        for (size_t e = 0; e < L->nweights; e++)
            gw[e] += p[e];
    }
    for (int o = 0; o < L->c; o++) {
        double s = 0;
        for (int b = 0; b < n; b++)
            for (int e = 0; e < hw; e++)
                s += dy[b * osz + (size_t)o * hw + e];
        gb[o] = (float)s;
    }
}

/* ---------- max pooling ---------- */

static void maxpool_backward(const net_layer *L, const float *x, int ic, int ih, int iw,
                             const float *dy, float *dx)
{
    const net_def *d = L->def;
    for (int c = 0; c < ic; c++) {
        const float *src = x + (size_t)c * ih * iw;
        float *dst = dx + (size_t)c * ih * iw;
        for (int oy = 0; oy < L->h; oy++)
            for (int ox = 0; ox < L->w; ox++) {
                int y0 = oy * d->stride - d->pad, x0 = ox * d->stride - d->pad;
                int y1 = y0 + d->k, x1 = x0 + d->k;
                y0 = y0 < 0 ? 0 : y0, x0 = x0 < 0 ? 0 : x0;
                y1 = y1 > ih ? ih : y1, x1 = x1 > iw ? iw : x1;
                float m = -FLT_MAX;
                size_t at = (size_t)y0 * iw + x0;
                for (int yy = y0; yy < y1; yy++)
                    for (int xx = x0; xx < x1; xx++)
                        if (src[(size_t)yy * iw + xx] > m)
                            m = src[(size_t)yy * iw + xx], at = (size_t)yy * iw + xx;
                dst[at] += dy[((size_t)c * L->h + oy) * L->w + ox];
            }
    }
}

/* ---------- forward ---------- */

static void dropout_forward(tr_net *t, int li, const float *x, int n, int train)
{
    size_t m = (size_t)n * tr_layer_size(&t->net->layers[li]);
    float *y = t->y[li], *mask = t->mask[li];
    if (!train || t->dropout <= 0) {
        memcpy(y, x, sizeof(float) * m);
        for (size_t e = 0; e < m; e++)
            mask[e] = 1.0f;
        return;
    }
    /* inverted dropout: kept units scaled by 1/(1-p) so evaluation is the identity */
    float keep = (float)(1.0 / (1.0 - t->dropout));
    for (size_t e = 0; e < m; e++) {
        mask[e] = gsl_rng_uniform(t->rng) < t->dropout ? 0.0f : keep;
        y[e] = x[e] * mask[e];
    }
}

static void layer_forward(tr_net *t, int li, const float *x, int n, int train)
{
    const net_layer *L = &t->net->layers[li];
    const net_def *d = L->def;
    int ic, ih, iw;
    const float *in = in_of(t, L, 0, x, &ic, &ih, &iw);
    size_t isz = (size_t)ic * ih * iw, osz = tr_layer_size(L);
    float *y = t->y[li];
    switch (d->kind) {
    case NET_CONV:
        conv_run(t, li, in, n, 0, NULL);
        break;
    case NET_MAXPOOL:
        for (int b = 0; b < n; b++)
            net_maxpool(y + b * osz, in + b * isz, ic, ih, iw, d->k, d->stride, d->pad, L->h,
                        L->w);
        break;
    case NET_CONCAT: {
        int c1, h1, w1;
        const float *in1 = in_of(t, L, 1, x, &c1, &h1, &w1);
        size_t s1 = (size_t)c1 * h1 * w1;
        for (int b = 0; b < n; b++) {
            memcpy(y + b * osz, in + b * isz, sizeof(float) * isz);
            memcpy(y + b * osz + isz, in1 + b * s1, sizeof(float) * s1);
        }
        break;
    }
    case NET_GLOBAL_AVGPOOL:
        for (int b = 0; b < n; b++)
            net_global_avgpool(y + b * osz, in + b * isz, ic, (size_t)ih * iw);
        break;
    case NET_BATCHNORM:
        if (train)
            bn_forward_train(t, li, in, n);
        else
            for (int b = 0; b < n; b++)
                net_bn_eval(y + b * osz, in + b * isz, L, (size_t)ih * iw);
        break;
    case NET_RELU:
        for (size_t e = 0; e < (size_t)n * osz; e++)
            y[e] = in[e] < 0 ? 0 : in[e];
        break;
    case NET_DROPOUT:
        dropout_forward(t, li, in, n, train);
        break;
    case NET_FC:
        for (int b = 0; b < n; b++)
            memcpy(y + b * osz, L->bias, sizeof(float) * L->c);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, L->c, L->cin, 1.0f, in, L->cin,
                    L->wt, L->cin, 1.0f, y, L->c);
        break;
    }
}

void tr_forward(tr_net *t, const float *x, int n, int train)
{
    ND_ASSERT(n >= 1 && n <= t->batch);
    int blas = nd_blas_serial_begin(); /* we thread over image groups ourselves */
    for (int li = 0; li < t->net->nlayers; li++)
        layer_forward(t, li, x, n, train);
    nd_blas_serial_end(blas);
}

/* ---------- backward ---------- */

static void layer_backward(tr_net *t, int li, const float *x, int n)
{
    const net_layer *L = &t->net->layers[li];
    int ic, ih, iw;
    const float *in = in_of(t, L, 0, x, &ic, &ih, &iw);
    float *dx = din_of(t, L, 0);
    size_t isz = (size_t)ic * ih * iw, osz = tr_layer_size(L), m = (size_t)n * osz;
    const float *dy = t->dy[li];
    float *gw = L->wt ? t->grad + (L->wt - t->net->params) : NULL;
    float *gb = L->bias ? t->grad + (L->bias - t->net->params) : NULL;
    switch (L->def->kind) {
    case NET_CONV:
        conv_backward(t, li, in, n, dx, gw, gb);
        break;
    case NET_BATCHNORM:
        bn_backward(t, li, in, n, dx, gw, gb);
        break;
    case NET_FC:
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L->c, L->cin, n, 1.0f, dy, L->c,
                    in, L->cin, 0.0f, gw, L->cin);
        for (int o = 0; o < L->c; o++) {
            double s = 0;
            for (int b = 0; b < n; b++)
                s += dy[(size_t)b * L->c + o];
            gb[o] = (float)s;
        }
        if (dx)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, L->cin, L->c, 1.0f, dy,
                        L->c, L->wt, L->cin, 1.0f, dx, L->cin);
        break;
    default:
        if (!dx)
            break;
        switch (L->def->kind) {
        case NET_MAXPOOL:
            for (int b = 0; b < n; b++)
                maxpool_backward(L, in + b * isz, ic, ih, iw, dy + b * osz, dx + b * isz);
            break;
        case NET_CONCAT: {
            const net_layer *B = &t->net->layers[L->in[1]];
            size_t s1 = tr_layer_size(B);
            float *dx1 = din_of(t, L, 1);
            for (int b = 0; b < n; b++) {
                for (size_t e = 0; e < isz; e++)
                    dx[b * isz + e] += dy[b * osz + e];
                for (size_t e = 0; e < s1; e++)
                    dx1[b * s1 + e] += dy[b * osz + isz + e];
            }
            break;
        }
        case NET_GLOBAL_AVGPOOL:
            for (int b = 0; b < n; b++)
                for (int c = 0; c < ic; c++) {
                    float g = (float)(dy[b * osz + c] / ((double)ih * iw));
                    for (int e = 0; e < ih * iw; e++)
                        dx[b * isz + (size_t)c * ih * iw + e] += g;
                }
            break;
        case NET_RELU:
            for (size_t e = 0; e < m; e++)
                if (t->y[li][e] > 0)
                    dx[e] += dy[e];
            break;
        case NET_DROPOUT:
            for (size_t e = 0; e < m; e++)
                dx[e] += dy[e] * t->mask[li][e];
            break;
        default:
            ND_ASSERT(0);
        }
    }
}

void tr_backward(tr_net *t, const float *x, int n)
{
    const net_t *net = t->net;
    int last = net->nlayers - 1;
    /* gradients accumulate into each input (branches share inputs) */
    for (int li = 0; li < last; li++)
        memset(t->dy[li], 0, sizeof(float) * n * tr_layer_size(&net->layers[li]));
    if (t->dx)
        memset(t->dx, 0, sizeof(float) * n * (size_t)net->in_c * net->in_h * net->in_w);
    memset(t->grad, 0, sizeof(float) * net->nparams);
    int blas = nd_blas_serial_begin();
    for (int li = last; li >= 0; li--)
        layer_backward(t, li, x, n);
    nd_blas_serial_end(blas);
}

double tr_loss(tr_net *t, const int *labels, int n, int *correct)
{
    const net_layer *L = &t->net->layers[t->net->nlayers - 1];
    int k = (int)tr_layer_size(L);
    const float *z = t->y[t->net->nlayers - 1];
    float *dz = t->dy[t->net->nlayers - 1];
    double loss = 0;
    int hits = 0;
    for (int b = 0; b < n; b++) {
        const float *zb = z + (size_t)b * k;
        int arg = 0;
        for (int j = 1; j < k; j++)
            if (zb[j] > zb[arg])
                arg = j;
        hits += arg == labels[b];
        double s = 0; /* log-sum-exp shifted by the maximum, so exp never overflows */
        for (int j = 0; j < k; j++)
            s += exp((double)zb[j] - zb[arg]);
        double lse = zb[arg] + log(s);
        loss += lse - zb[labels[b]];
        for (int j = 0; j < k; j++)
            dz[(size_t)b * k + j] =
                (float)((exp((double)zb[j] - lse) - (j == labels[b])) / (double)n);
    }
    if (correct)
        *correct = hits;
    return loss / n;
}
