/* net.c - layer table -> shapes, receptive fields, parameters; forward pass.
 *
 * Convolution is im2col + one cblas_sgemm per image (OpenBLAS does the
 * threading inside the product), followed by bias and ReLU; a 1x1 stride-1
 * unpadded convolution (most of SqueezeNet) multiplies the input directly.
 * Max pooling uses Caffe's rounded-up output size, with Caffe's rule that
 * the last window must start inside the (unpadded + pad) input, and clips
 * windows at the border.  The forward pass runs one image at a time through
 * per-layer buffers of one image, so memory stays ~30 MB for SqueezeNet
 * whatever the batch; callers wanting parallelism over images use one
 * net_ws per thread (parameters are read-only).
 *
 * Receptive fields follow the usual recurrence in input pixels: a layer of
 * kernel k, stride s, pad p on a field (off, size, stride) gives
 * (off - p*stride, size + (k-1)*stride, stride*s).  A concat's branches must
 * share stride and centre (off + (size-1)/2); we report the largest branch.
 * Network Dissection's upsampling uses only the centre and the stride, so
 * this choice of size does not change any result.
 */
#include "models/net.h"

#include "core/err.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct net_ws {
    int upto;
    float **buf; /* per layer, one image */
    float *col;
};

int net_pool_size(int in, int k, int stride, int pad)
{
    int out = (in + 2 * pad - k + stride - 1) / stride + 1;
    if (pad > 0 && (out - 1) * stride >= in + pad)
        out--;
    return out;
}

int net_find(const net_t *net, const char *name)
{
    for (int i = 0; i < net->nlayers; i++)
        if (strcmp(net->layers[i].def->name, name) == 0)
            return i;
    return -1;
}

void net_free(net_t *net)
{
    if (!net)
        return;
    free(net->name);
    free(net->layers);
    free(net->params);
    free(net->stats);
    memset(net, 0, sizeof *net);
}

int net_create(net_t *net, const char *name, const net_def *defs, int ndefs, int in_c,
               int in_h, int in_w)
{
    memset(net, 0, sizeof *net);
    net->name = strdup(name);
    net->layers = nd_calloc((size_t)ndefs, sizeof *net->layers);
    if (!net->name || !net->layers) {
        net_free(net);
        return nd_fail("%s: out of memory", name);
    }
    net->nlayers = ndefs;
    net->in_c = in_c;
    net->in_h = in_h;
    net->in_w = in_w;
    size_t np = 0, ns = 0;
    for (int i = 0; i < ndefs; i++) {
        net_layer *L = &net->layers[i];
        const net_def *d = &defs[i];
        L->def = d;
        L->nin = d->kind == NET_CONCAT ? 2 : 1;
        int c[2], h[2], w[2], off[2], size[2], str[2];
        for (int j = 0; j < L->nin; j++) {
            if (!d->in[j]) {
                if (j > 0) {
                    net_free(net);
                    return nd_fail("%s: layer %s: concat needs two named inputs", name, d->name);
                }
                L->in[j] = -1;
                c[j] = in_c, h[j] = in_h, w[j] = in_w;
                off[j] = 0, size[j] = 1, str[j] = 1;
                continue;
            }
            int k = -1;
            for (int t = 0; t < i; t++)
                if (strcmp(defs[t].name, d->in[j]) == 0)
                    k = t;
            if (k < 0) {
                nd_fail("%s: layer %s: input '%s' is not an earlier layer", name, d->name,
                        d->in[j]);
                net_free(net);
                return -1;
            }
            L->in[j] = k;
            const net_layer *P = &net->layers[k];
            c[j] = P->c, h[j] = P->h, w[j] = P->w;
            off[j] = P->field_off, size[j] = P->field_size, str[j] = P->field_stride;
        }
        switch (d->kind) {
        case NET_CONV:
        case NET_MAXPOOL:
            if (d->k < 1 || d->stride < 1 || d->pad < 0 ||
                h[0] + 2 * d->pad < d->k || w[0] + 2 * d->pad < d->k) {
                nd_fail("%s: layer %s: kernel %d stride %d pad %d does not fit a %dx%d input",
                        name, d->name, d->k, d->stride, d->pad, h[0], w[0]);
                net_free(net);
                return -1;
            }
            if (d->kind == NET_CONV) {
                L->c = d->cout;
                L->cin = c[0];
                L->h = (h[0] + 2 * d->pad - d->k) / d->stride + 1;
                L->w = (w[0] + 2 * d->pad - d->k) / d->stride + 1;
                L->nweights = (size_t)d->cout * c[0] * d->k * d->k;
                np += L->nweights + (size_t)d->cout;
            } else {
                L->c = c[0];
                L->h = net_pool_size(h[0], d->k, d->stride, d->pad);
                L->w = net_pool_size(w[0], d->k, d->stride, d->pad);
            }
            L->field_off = off[0] - d->pad * str[0];
            L->field_size = size[0] + (d->k - 1) * str[0];
            L->field_stride = str[0] * d->stride;
            break;
        case NET_CONCAT: {
            /* centres compared doubled to stay in integers */
            int c0 = 2 * off[0] + size[0] - 1, c1 = 2 * off[1] + size[1] - 1;
            if (h[0] != h[1] || w[0] != w[1] || str[0] != str[1] || c0 != c1) {
                nd_fail("%s: layer %s: concat of %dx%d (field centre %.1f, stride %d) and "
                        "%dx%d (centre %.1f, stride %d) does not line up",
                        name, d->name, h[0], w[0], c0 / 2.0, str[0], h[1], w[1], c1 / 2.0,
                        str[1]);
                net_free(net);
                return -1;
            }
            int big = size[1] > size[0];
            L->c = c[0] + c[1];
            L->h = h[0];
            L->w = w[0];
            L->field_off = off[big];
            L->field_size = size[big];
            L->field_stride = str[0];
            break;
        }
        case NET_GLOBAL_AVGPOOL:
        case NET_FC: /* both see the whole input */
            L->c = d->kind == NET_FC ? d->cout : c[0];
            L->h = L->w = 1;
            L->field_off = 0;
            L->field_size = in_h > in_w ? in_h : in_w;
            L->field_stride = L->field_size;
            if (d->kind == NET_FC) {
                L->cin = c[0] * h[0] * w[0];
                L->nweights = (size_t)d->cout * L->cin;
                np += L->nweights + (size_t)d->cout;
            }
            break;
        case NET_BATCHNORM:
        case NET_RELU:
        case NET_DROPOUT: /* elementwise: shape and field pass through */
            L->c = c[0], L->h = h[0], L->w = w[0];
            L->field_off = off[0], L->field_size = size[0], L->field_stride = str[0];
            if (d->kind == NET_BATCHNORM) {
                L->cin = c[0];
                L->nweights = (size_t)c[0];
                np += 2 * (size_t)c[0];
                ns += 2 * (size_t)c[0];
            }
            break;
        }
        if (L->c < 1 || L->h < 1 || L->w < 1) {
            nd_fail("%s: layer %s: empty output %dx%dx%d", name, d->name, L->c, L->h, L->w);
            net_free(net);
            return -1;
        }
    }
    net->nparams = np;
    net->nstats = ns;
    net->params = nd_calloc(np ? np : 1, sizeof(float));
    net->stats = nd_calloc(ns ? ns : 1, sizeof(float));
    if (!net->params || !net->stats) {
        net_free(net);
        return nd_fail_prefix("%s", name);
    }
    float *p = net->params, *st = net->stats;
    for (int i = 0; i < ndefs; i++) {
        net_layer *L = &net->layers[i];
        if (!net_has_params(L))
            continue;
        L->wt = p;
        p += L->nweights;
        L->bias = p;
        p += L->c;
        if (L->def->kind == NET_BATCHNORM) {
            L->rmean = st;
            L->rvar = st + L->c;
            st += 2 * (size_t)L->c;
            for (int c = 0; c < L->c; c++)
                L->rvar[c] = 1.0f;
        }
    }
    return 0;
}

int net_has_params(const net_layer *L)
{
    net_kind k = L->def->kind;
    return k == NET_CONV || k == NET_FC || k == NET_BATCHNORM;
}

double net_macs(const net_t *net, int upto)
{
    double m = 0;
    for (int i = 0; i <= upto && i < net->nlayers; i++) {
        const net_layer *L = &net->layers[i];
        if (L->def->kind == NET_CONV)
            m += (double)L->nweights * L->h * L->w;
        else if (L->def->kind == NET_FC)
            m += (double)L->nweights;
    }
    return m;
}

/* ---------- layers on one image ---------- */

void net_conv_naive(float *out, const float *in, const float *wt, const float *bias, int cin,
                    int h, int w, int cout, int k, int stride, int pad, int relu)
{
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    for (int o = 0; o < cout; o++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                double acc = bias[o];
                for (int c = 0; c < cin; c++)
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) {
                            int iy = y * stride - pad + i, ix = x * stride - pad + j;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                continue;
                            acc += (double)wt[(((size_t)o * cin + c) * k + i) * k + j] *
                                   in[((size_t)c * h + iy) * w + ix];
                        }
                float v = (float)acc;
                out[((size_t)o * oh + y) * ow + x] = relu && v < 0 ? 0 : v;
            }
}

void net_im2col(float *col, const float *in, int cin, int h, int w, int k, int stride,
                   int pad, int oh, int ow)
{
    for (int c = 0; c < cin; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                float *row = col + (((size_t)c * k + i) * k + j) * oh * ow;
                const float *src = in + (size_t)c * h * w;
                for (int y = 0; y < oh; y++) {
                    int iy = y * stride - pad + i;
                    float *dst = row + (size_t)y * ow;
                    if (iy < 0 || iy >= h) {
                        memset(dst, 0, sizeof(float) * ow);
                        continue;
                    }
                    const float *s = src + (size_t)iy * w;
                    for (int x = 0; x < ow; x++) {
                        int ix = x * stride - pad + j;
                        dst[x] = ix >= 0 && ix < w ? s[ix] : 0.0f;
                    }
                }
            }
}

void net_conv(float *out, const float *in, const float *wt, const float *bias, int cin, int h,
              int w, int cout, int k, int stride, int pad, int relu, float *col)
{
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    int n = oh * ow, kk = cin * k * k;
    const float *b = in;
    if (!(k == 1 && stride == 1 && pad == 0)) {
        net_im2col(col, in, cin, h, w, k, stride, pad, oh, ow);
        b = col;
    }
    for (int o = 0; o < cout; o++) {
        float *r = out + (size_t)o * n;
        for (int t = 0; t < n; t++)
            r[t] = bias[o];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout, n, kk, 1.0f, wt, kk, b, n,
                1.0f, out, n);
    if (relu) /* "< 0" rather than "!(> 0)": a NaN stays visible downstream */
        for (size_t t = 0; t < (size_t)cout * n; t++)
            if (out[t] < 0)
                out[t] = 0;
}

void net_maxpool(float *out, const float *in, int c, int h, int w, int k, int stride,
                    int pad, int oh, int ow)
{
    for (int ch = 0; ch < c; ch++) {
        const float *src = in + (size_t)ch * h * w;
        float *dst = out + (size_t)ch * oh * ow;
        for (int y = 0; y < oh; y++) {
            int y0 = y * stride - pad, y1 = y0 + k;
            if (y0 < 0)
                y0 = 0;
            if (y1 > h)
                y1 = h;
            for (int x = 0; x < ow; x++) {
                int x0 = x * stride - pad, x1 = x0 + k;
                if (x0 < 0)
                    x0 = 0;
                if (x1 > w)
                    x1 = w;
                float m = -FLT_MAX;
                for (int yy = y0; yy < y1; yy++)
                    for (int xx = x0; xx < x1; xx++)
                        if (src[(size_t)yy * w + xx] > m)
                            m = src[(size_t)yy * w + xx];
                dst[(size_t)y * ow + x] = m;
            }
        }
    }
}

void net_global_avgpool(float *out, const float *in, int c, size_t hw)
{
    for (int ch = 0; ch < c; ch++) {
        double s = 0;
        for (size_t t = 0; t < hw; t++)
            s += in[(size_t)ch * hw + t];
        out[ch] = (float)(s / (double)hw);
    }
}

/* Evaluation-mode batch norm of one image: y = (x - mean) / sqrt(var + eps)
 * * scale + shift, with the running statistics. */
void net_bn_eval(float *out, const float *in, const net_layer *L, size_t hw)
{
    for (int c = 0; c < L->c; c++) {
        double a = L->wt[c] / sqrt((double)L->rvar[c] + NET_BN_EPS);
        double b = L->bias[c] - a * L->rmean[c];
        for (size_t t = 0; t < hw; t++)
            out[c * hw + t] = (float)(a * in[c * hw + t] + b);
    }
}

/* ---------- forward ---------- */

net_ws *net_ws_alloc(const net_t *net, int upto)
{
    ND_ASSERT(upto >= 0 && upto < net->nlayers);
    net_ws *ws = nd_calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    ws->upto = upto;
    ws->buf = nd_calloc((size_t)upto + 1, sizeof *ws->buf);
    size_t colmax = 1;
    for (int i = 0; ws->buf && i <= upto; i++) {
        const net_layer *L = &net->layers[i];
        ws->buf[i] = nd_malloc(sizeof(float) * (size_t)L->c * L->h * L->w);
        if (!ws->buf[i]) {
            net_ws_free(ws);
            return NULL;
        }
        if (L->def->kind == NET_CONV) {
            size_t s = (size_t)L->cin * L->def->k * L->def->k * L->h * L->w;
            if (s > colmax)
                colmax = s;
        }
    }
    ws->col = ws->buf ? nd_malloc(sizeof(float) * colmax) : NULL;
    if (!ws->col) {
        net_ws_free(ws);
        return NULL;
    }
    return ws;
}

void net_ws_free(net_ws *ws)
{
    if (!ws)
        return;
    if (ws->buf)
        for (int i = 0; i <= ws->upto; i++)
            free(ws->buf[i]);
    free(ws->buf);
    free(ws->col);
    free(ws);
}

void net_forward(const net_t *net, net_ws *ws, const float *x, int n, int upto, float *out)
{
    ND_ASSERT(upto <= ws->upto);
    size_t in_sz = (size_t)net->in_c * net->in_h * net->in_w;
    const net_layer *U = &net->layers[upto];
    size_t out_sz = (size_t)U->c * U->h * U->w;
    for (int b = 0; b < n; b++) {
        const float *img = x + b * in_sz;
        for (int i = 0; i <= upto; i++) {
            const net_layer *L = &net->layers[i];
            const net_def *d = L->def;
            const float *in0 = L->in[0] < 0 ? img : ws->buf[L->in[0]];
            int ic = L->in[0] < 0 ? net->in_c : net->layers[L->in[0]].c;
            int ih = L->in[0] < 0 ? net->in_h : net->layers[L->in[0]].h;
            int iw = L->in[0] < 0 ? net->in_w : net->layers[L->in[0]].w;
            float *o = ws->buf[i];
            switch (d->kind) {
            case NET_CONV:
                net_conv(o, in0, L->wt, L->bias, ic, ih, iw, L->c, d->k, d->stride, d->pad,
                         d->relu, ws->col);
                break;
            case NET_MAXPOOL:
                net_maxpool(o, in0, ic, ih, iw, d->k, d->stride, d->pad, L->h, L->w);
                break;
            case NET_CONCAT: {
                size_t n0 = (size_t)ic * ih * iw;
                const net_layer *B = &net->layers[L->in[1]];
                memcpy(o, in0, sizeof(float) * n0);
                memcpy(o + n0, ws->buf[L->in[1]], sizeof(float) * (size_t)B->c * B->h * B->w);
                break;
            }
            case NET_GLOBAL_AVGPOOL:
                net_global_avgpool(o, in0, ic, (size_t)ih * iw);
                break;
            case NET_BATCHNORM:
                net_bn_eval(o, in0, L, (size_t)ih * iw);
                break;
            case NET_RELU:
                for (size_t t = 0; t < (size_t)ic * ih * iw; t++)
                    o[t] = in0[t] < 0 ? 0 : in0[t];
                break;
            case NET_DROPOUT: /* evaluation mode: inverted dropout is the identity */
                memcpy(o, in0, sizeof(float) * (size_t)ic * ih * iw);
                break;
            case NET_FC:
                memcpy(o, L->bias, sizeof(float) * L->c);
                cblas_sgemv(CblasRowMajor, CblasNoTrans, L->c, L->cin, 1.0f, L->wt, L->cin, in0,
                            1, 1.0f, o, 1);
                break;
            }
        }
        memcpy(out + b * out_sz, ws->buf[upto], sizeof(float) * out_sz);
    }
}
