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

/* What a layer sees of one input: its shape and receptive field. */
typedef struct {
    int c, h, w, off, size, str;
} in_geom;

/* Resolve layer i's inputs (by name, earlier layers only) into g[]. */
static int layer_inputs(net_t *net, const net_def *defs, int i, in_geom g[2])
{
    net_layer *L = &net->layers[i];
    const net_def *d = &defs[i];
    for (int j = 0; j < L->nin; j++) {
        if (!d->in[j]) {
            if (j > 0)
                return nd_fail("%s: layer %s: concat needs two named inputs", net->name, d->name);
            L->in[j] = -1;
            g[j] = (in_geom){net->in_c, net->in_h, net->in_w, 0, 1, 1};
            continue;
        }
        int k = -1;
        for (int t = 0; t < i; t++)
            if (strcmp(defs[t].name, d->in[j]) == 0)
                k = t;
        if (k < 0)
            return nd_fail("%s: layer %s: input '%s' is not an earlier layer", net->name, d->name, d->in[j]);
        L->in[j] = k;
        const net_layer *P = &net->layers[k];
        g[j] = (in_geom){P->c, P->h, P->w, P->field_off, P->field_size, P->field_stride};
    }
    return 0;
}

static int shape_window(const net_t *net, net_layer *L, const in_geom *g, size_t *np)
{
    const net_def *d = L->def;
    if (d->k < 1 || d->stride < 1 || d->pad < 0 || g->h + 2 * d->pad < d->k || g->w + 2 * d->pad < d->k)
        return nd_fail("%s: layer %s: kernel %d stride %d pad %d does not fit a %dx%d input", net->name,
                       d->name, d->k, d->stride, d->pad, g->h, g->w);
    if (d->kind == NET_CONV) {
        L->c = d->cout;
        L->cin = g->c;
        L->h = (g->h + 2 * d->pad - d->k) / d->stride + 1;
        L->w = (g->w + 2 * d->pad - d->k) / d->stride + 1;
        L->nweights = (size_t)d->cout * g->c * d->k * d->k;
        *np += L->nweights + (size_t)d->cout;
    } else {
        L->c = g->c;
        L->h = net_pool_size(g->h, d->k, d->stride, d->pad);
        L->w = net_pool_size(g->w, d->k, d->stride, d->pad);
    }
    L->field_off = g->off - d->pad * g->str;
    L->field_size = g->size + (d->k - 1) * g->str;
    L->field_stride = g->str * d->stride;
    return 0;
}

static int shape_concat(const net_t *net, net_layer *L, const in_geom g[2])
{
    /* centres compared doubled to stay in integers */
    int c0 = 2 * g[0].off + g[0].size - 1, c1 = 2 * g[1].off + g[1].size - 1;
    if (g[0].h != g[1].h || g[0].w != g[1].w || g[0].str != g[1].str || c0 != c1)
        return nd_fail("%s: layer %s: concat of %dx%d (field centre %.1f, stride %d) and "
                       "%dx%d (centre %.1f, stride %d) does not line up",
                       net->name, L->def->name, g[0].h, g[0].w, c0 / 2.0, g[0].str, g[1].h, g[1].w,
                       c1 / 2.0, g[1].str);
    int big = g[1].size > g[0].size;
    L->c = g[0].c + g[1].c;
    L->h = g[0].h;
    L->w = g[0].w;
    L->field_off = g[big].off;
    L->field_size = g[big].size;
    L->field_stride = g[0].str;
    return 0;
}

/* Output shape, receptive field and parameter counts of one layer. */
static int layer_shape(const net_t *net, net_layer *L, const in_geom g[2], size_t *np, size_t *ns)
{
    const net_def *d = L->def;
    switch (d->kind) {
    case NET_CONV:
    case NET_MAXPOOL:
        if (shape_window(net, L, &g[0], np))
            return -1;
        break;
    case NET_CONCAT:
        if (shape_concat(net, L, g))
            return -1;
        break;
    case NET_GLOBAL_AVGPOOL:
    case NET_FC: /* both see the whole input */
        L->c = d->kind == NET_FC ? d->cout : g[0].c;
        L->h = L->w = 1;
        L->field_off = 0;
        L->field_size = net->in_h > net->in_w ? net->in_h : net->in_w;
        L->field_stride = L->field_size;
        if (d->kind == NET_FC) {
            L->cin = g[0].c * g[0].h * g[0].w;
            L->nweights = (size_t)d->cout * L->cin;
            *np += L->nweights + (size_t)d->cout;
        }
        break;
    case NET_BATCHNORM:
    case NET_RELU:
    case NET_DROPOUT: /* elementwise: shape and field pass through */
        L->c = g[0].c, L->h = g[0].h, L->w = g[0].w;
        L->field_off = g[0].off, L->field_size = g[0].size, L->field_stride = g[0].str;
        if (d->kind == NET_BATCHNORM) {
            L->cin = g[0].c;
            L->nweights = (size_t)g[0].c;
            *np += 2 * (size_t)g[0].c;
            *ns += 2 * (size_t)g[0].c;
        }
        break;
    }
    if (L->c < 1 || L->h < 1 || L->w < 1)
        return nd_fail("%s: layer %s: empty output %dx%dx%d", net->name, d->name, L->c, L->h, L->w);
    return 0;
}

/* One parameter and one statistics buffer; layers point into them. */
static int bind_params(net_t *net, size_t np, size_t ns)
{
    net->nparams = np;
    net->nstats = ns;
    net->params = nd_calloc(np ? np : 1, sizeof(float));
    net->stats = nd_calloc(ns ? ns : 1, sizeof(float));
    if (!net->params || !net->stats)
        return nd_fail_prefix("%s", net->name);
    float *p = net->params, *st = net->stats;
    for (int i = 0; i < net->nlayers; i++) {
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
        L->def = &defs[i];
        L->nin = defs[i].kind == NET_CONCAT ? 2 : 1;
        in_geom g[2];
        if (layer_inputs(net, defs, i, g) || layer_shape(net, L, g, &np, &ns)) {
            net_free(net);
            return -1;
        }
    }
    if (bind_params(net, np, ns)) {
        net_free(net);
        return -1;
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

const float *net_ws_output(const net_ws *ws, int i)
{
    ND_ASSERT(i >= 0 && i <= ws->upto);
    return ws->buf[i];
}

/* Layer i of one image (img: the network input), into ws->buf[i]. */
static void layer_forward(const net_t *net, net_ws *ws, const float *img, int i)
{
    const net_layer *L = &net->layers[i];
    const net_def *d = L->def;
    const float *in0 = L->in[0] < 0 ? img : ws->buf[L->in[0]];
    int ic = L->in[0] < 0 ? net->in_c : net->layers[L->in[0]].c;
    int ih = L->in[0] < 0 ? net->in_h : net->layers[L->in[0]].h;
    int iw = L->in[0] < 0 ? net->in_w : net->layers[L->in[0]].w;
    float *o = ws->buf[i];
    switch (d->kind) {
    case NET_CONV:
        net_conv(o, in0, L->wt, L->bias, ic, ih, iw, L->c, d->k, d->stride, d->pad, d->relu,
                 ws->col);
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
        cblas_sgemv(CblasRowMajor, CblasNoTrans, L->c, L->cin, 1.0f, L->wt, L->cin, in0, 1, 1.0f,
                    o, 1);
        break;
    }
}

void net_forward(const net_t *net, net_ws *ws, const float *x, int n, int upto, float *out)
{
    ND_ASSERT(upto <= ws->upto);
    size_t in_sz = (size_t)net->in_c * net->in_h * net->in_w;
    const net_layer *U = &net->layers[upto];
    size_t out_sz = (size_t)U->c * U->h * U->w;
    for (int b = 0; b < n; b++) {
        for (int i = 0; i <= upto; i++)
            layer_forward(net, ws, x + b * in_sz, i);
        memcpy(out + b * out_sz, ws->buf[upto], sizeof(float) * out_sz);
    }
}

int net_reads_only_from(const net_t *net, int from)
{
    for (int i = from + 1; i < net->nlayers; i++)
        for (int j = 0; j < net->layers[i].nin; j++)
            if (net->layers[i].in[j] < from)
                return i;
    return -1;
}

void net_forward_from(const net_t *net, net_ws *ws, int from, const float *act, int upto,
                      float *out)
{
    ND_ASSERT(from >= 0 && from < upto && upto <= ws->upto);
    ND_ASSERT(net_reads_only_from(net, from) < 0 || net_reads_only_from(net, from) > upto);
    const net_layer *F = &net->layers[from], *U = &net->layers[upto];
    memcpy(ws->buf[from], act, sizeof(float) * (size_t)F->c * F->h * F->w);
    for (int i = from + 1; i <= upto; i++)
        layer_forward(net, ws, NULL, i);
    memcpy(out, ws->buf[upto], sizeof(float) * (size_t)U->c * U->h * U->w);
}
