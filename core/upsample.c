#include "core/upsample.h"
#include "core/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Python's floor division, which ND's node arithmetic uses. */
static int floordiv(int a, int b)
{
    int q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int nd_axis(int n, int out, int start, int step, int *i0, int *i1, double *w0, double *w1)
{
    int first = start, last = start + (n - 1) * step;
    for (int x = 0; x < out; x++) {
        if (n == 1 || x <= first) {
            i0[x] = i1[x] = 0, w0[x] = 1, w1[x] = 0;
        } else if (x >= last) {
            i0[x] = i1[x] = n - 1, w0[x] = 1, w1[x] = 0;
        } else {
            int j = (x - first) / step;
            int t0 = first + j * step, t1 = t0 + step;
            i0[x] = j, i1[x] = j + 1;
            w0[x] = (double)(t1 - x) / (double)(t1 - t0);
            w1[x] = (double)(x - t0) / (double)(t1 - t0);
        }
    }
    return 0;
}

int up_plan_nd(up_plan *p, int h, int w, int sh, int sw, int iw, int offset, int size, int stride)
{
    memset(p, 0, sizeof *p);
    p->h = h, p->w = w, p->sh = sh, p->sw = sw, p->nd = 1;
    int r = (int)lround((double)iw / (double)sw);
    if (r < 1)
        r = 1;
    int start = floordiv(floordiv(size, 2) + offset, r), step = floordiv(stride, r);
    if (step < 1 && (h > 1 || w > 1))
        return nd_fail("receptive field stride %d is smaller than the label reduction %d", stride, r);
    p->y0 = malloc(sizeof(int) * (size_t)sh), p->y1 = malloc(sizeof(int) * (size_t)sh);
    p->x0 = malloc(sizeof(int) * (size_t)sw), p->x1 = malloc(sizeof(int) * (size_t)sw);
    p->hy0 = malloc(sizeof(double) * (size_t)sh), p->hy1 = malloc(sizeof(double) * (size_t)sh);
    p->hx0 = malloc(sizeof(double) * (size_t)sw), p->hx1 = malloc(sizeof(double) * (size_t)sw);
    if (!p->y0 || !p->y1 || !p->x0 || !p->x1 || !p->hy0 || !p->hy1 || !p->hx0 || !p->hx1) {
        up_plan_free(p);
        return nd_fail("out of memory");
    }
    nd_axis(h, sh, start, step, p->y0, p->y1, p->hy0, p->hy1);
    nd_axis(w, sw, start, step, p->x0, p->x1, p->hx0, p->hx1);
    return 0;
}

/* Resampling coefficients of a triangle (bilinear) filter with half-pixel
 * centres: support widens with the scale when shrinking; weights are
 * normalised to sum to one. */
static int lite_axis(int in, int out, int *ksize_out, int **xmin, int **xn, double **wk)
{
    double scale = (double)in / (double)out, fscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * fscale;
    int ksize = (int)ceil(support) * 2 + 1;
    *xmin = malloc(sizeof(int) * (size_t)out);
    *xn = malloc(sizeof(int) * (size_t)out);
    *wk = calloc((size_t)out * (size_t)ksize, sizeof(double));
    if (!*xmin || !*xn || !*wk)
        return nd_fail("out of memory");
    for (int xx = 0; xx < out; xx++) {
        double center = ((double)xx + 0.5) * scale, ss = 1.0 / fscale, ww = 0;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > in)
            hi = in;
        int n = hi - lo;
        double *k = *wk + (size_t)xx * (size_t)ksize;
        for (int x = 0; x < n; x++) {
            double t = fabs(((double)(x + lo) - center + 0.5) * ss);
            k[x] = t < 1.0 ? 1.0 - t : 0.0;
            ww += k[x];
        }
        if (ww != 0.0)
            for (int x = 0; x < n; x++)
                k[x] /= ww;
        (*xmin)[xx] = lo;
        (*xn)[xx] = n;
    }
    *ksize_out = ksize;
    return 0;
}

int up_plan_lite(up_plan *p, int h, int w, int sh, int sw)
{
    memset(p, 0, sizeof *p);
    p->h = h, p->w = w, p->sh = sh, p->sw = sw, p->nd = 0;
    if (lite_axis(w, sw, &p->kx, &p->xmin, &p->xn, &p->wx) ||
        lite_axis(h, sh, &p->ky, &p->ymin, &p->yn, &p->wy)) {
        up_plan_free(p);
        return -1;
    }
    return 0;
}

void up_plan_free(up_plan *p)
{
    free(p->y0), free(p->y1), free(p->x0), free(p->x1);
    free(p->hy0), free(p->hy1), free(p->hx0), free(p->hx1);
    free(p->xmin), free(p->xn), free(p->ymin), free(p->yn), free(p->wx), free(p->wy);
    memset(p, 0, sizeof *p);
}

static void apply_nd(const up_plan *p, const float *in, float *out)
{
    for (int y = 0; y < p->sh; y++) {
        const float *r0 = in + (size_t)p->y0[y] * (size_t)p->w, *r1 = in + (size_t)p->y1[y] * (size_t)p->w;
        double hy0 = p->hy0[y], hy1 = p->hy1[y];
        float *o = out + (size_t)y * (size_t)p->sw;
        for (int x = 0; x < p->sw; x++) {
            int a = p->x0[x], b = p->x1[x];
            double hx0 = p->hx0[x], hx1 = p->hx1[x];
            double v = (((double)r0[a] * hy0) * hx0) + (((double)r0[b] * hy0) * hx1) +
                       (((double)r1[a] * hy1) * hx0) + (((double)r1[b] * hy1) * hx1);
            o[x] = (float)v;
        }
    }
}

static void apply_lite(const up_plan *p, const float *in, float *out, float *tmp)
{
    for (int y = 0; y < p->h; y++) {
        const float *r = in + (size_t)y * (size_t)p->w;
        float *t = tmp + (size_t)y * (size_t)p->sw;
        for (int xx = 0; xx < p->sw; xx++) {
            const double *k = p->wx + (size_t)xx * (size_t)p->kx;
            const float *s = r + p->xmin[xx];
            double acc = 0.0;
            for (int j = 0; j < p->xn[xx]; j++)
                acc += (double)s[j] * k[j];
            t[xx] = (float)acc;
        }
    }
    for (int yy = 0; yy < p->sh; yy++) {
        const double *k = p->wy + (size_t)yy * (size_t)p->ky;
        const float *s = tmp + (size_t)p->ymin[yy] * (size_t)p->sw;
        float *o = out + (size_t)yy * (size_t)p->sw;
        for (int xx = 0; xx < p->sw; xx++) {
            double acc = 0.0;
            for (int j = 0; j < p->yn[yy]; j++)
                acc += (double)s[(size_t)j * (size_t)p->sw + (size_t)xx] * k[j];
            o[xx] = (float)acc;
        }
    }
}

void up_apply(const up_plan *p, const float *in, float *out, float *tmp)
{
    if (p->nd)
        apply_nd(p, in, out);
    else
        apply_lite(p, in, out, tmp);
}

int up_mask(const up_plan *p, const float *in, float thr, int *idx, float *out, float *tmp)
{
    up_apply(p, in, out, tmp);
    int n = 0, np = p->sh * p->sw;
    for (int i = 0; i < np; i++)
        if (out[i] > thr)
            idx[n++] = i;
    return n;
}
