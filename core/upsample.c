#include "core/upsample.h"
#include "core/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Python's floor division, which ND's node arithmetic uses. */
static int floordiv(int a, int b)
{
    int q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int plan_supports(up_plan *p);

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
    p->y0 = nd_malloc(sizeof(int) * (size_t)sh), p->y1 = nd_malloc(sizeof(int) * (size_t)sh);
    p->x0 = nd_malloc(sizeof(int) * (size_t)sw), p->x1 = nd_malloc(sizeof(int) * (size_t)sw);
    p->hy0 = nd_malloc(sizeof(double) * (size_t)sh), p->hy1 = nd_malloc(sizeof(double) * (size_t)sh);
    p->hx0 = nd_malloc(sizeof(double) * (size_t)sw), p->hx1 = nd_malloc(sizeof(double) * (size_t)sw);
    if (!p->y0 || !p->y1 || !p->x0 || !p->x1 || !p->hy0 || !p->hy1 || !p->hx0 || !p->hx1) {
        up_plan_free(p);
        return nd_fail("out of memory");
    }
    nd_axis(h, sh, start, step, p->y0, p->y1, p->hy0, p->hy1);
    nd_axis(w, sw, start, step, p->x0, p->x1, p->hx0, p->hx1);
    if (!(p->xend = nd_malloc(sizeof(int) * (size_t)sw))) {
        up_plan_free(p);
        return nd_fail("out of memory");
    }
    for (int x = sw - 1; x >= 0; x--)
        p->xend[x] = x + 1 < sw && p->x0[x + 1] == p->x0[x] && p->x1[x + 1] == p->x1[x] ? p->xend[x + 1] : x + 1;
    if (plan_supports(p)) {
        up_plan_free(p);
        return -1;
    }
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
    *xmin = nd_malloc(sizeof(int) * (size_t)out);
    *xn = nd_malloc(sizeof(int) * (size_t)out);
    *wk = nd_calloc((size_t)out * (size_t)ksize, sizeof(double));
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
        lite_axis(h, sh, &p->ky, &p->ymin, &p->yn, &p->wy) || plan_supports(p)) {
        up_plan_free(p);
        return -1;
    }
    return 0;
}

/* Support of each source index: the outputs whose taps include it. */
static int supports(int n, int out, int *lo, int *hi, const int *a, const int *b, const int *first,
                    const int *count)
{
    for (int j = 0; j < n; j++)
        lo[j] = out, hi[j] = -1;
    for (int x = 0; x < out; x++) {
        int t0, t1;
        if (a)
            t0 = a[x] < b[x] ? a[x] : b[x], t1 = a[x] < b[x] ? b[x] : a[x];
        else
            t0 = first[x], t1 = first[x] + count[x] - 1;
        for (int j = t0; j <= t1; j++) {
            if (x < lo[j])
                lo[j] = x;
            if (x > hi[j])
                hi[j] = x;
        }
    }
    return 0;
}

static int plan_supports(up_plan *p)
{
    p->ry0 = nd_malloc(sizeof(int) * (size_t)p->h), p->ry1 = nd_malloc(sizeof(int) * (size_t)p->h);
    p->rx0 = nd_malloc(sizeof(int) * (size_t)p->w), p->rx1 = nd_malloc(sizeof(int) * (size_t)p->w);
    if (!p->ry0 || !p->ry1 || !p->rx0 || !p->rx1)
        return nd_fail("out of memory");
    if (p->nd) {
        supports(p->h, p->sh, p->ry0, p->ry1, p->y0, p->y1, NULL, NULL);
        supports(p->w, p->sw, p->rx0, p->rx1, p->x0, p->x1, NULL, NULL);
    } else {
        supports(p->h, p->sh, p->ry0, p->ry1, NULL, NULL, p->ymin, p->yn);
        supports(p->w, p->sw, p->rx0, p->rx1, NULL, NULL, p->xmin, p->xn);
    }
    return 0;
}

void up_plan_free(up_plan *p)
{
    free(p->ry0), free(p->ry1), free(p->rx0), free(p->rx1);
    free(p->y0), free(p->y1), free(p->x0), free(p->x1);
    free(p->hy0), free(p->hy1), free(p->hx0), free(p->hx1), free(p->xend);
    free(p->xmin), free(p->xn), free(p->ymin), free(p->yn), free(p->wx), free(p->wy);
    memset(p, 0, sizeof *p);
}

/* the obvious ND rule, one pixel at a time (the reference) */
static void apply_nd_ref(const up_plan *p, const float *in, float *out)
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

/* apply_nd_ref with each row's products v*hy formed once per node and,
 * over a segment of columns between the same two nodes, two pixels per
 * step: the same double operations in the same order, so the same floats.
 * The probes' scoring upsamples every concept's map of every image. */
#define ND_ROW_MAX 256
#if defined(__SSE2__)
/* The ND rule at columns x and x + 1 of one segment (nodes a, b; p0a = row
 * y0's product at a, ...): the scalar expression's operations in its order,
 * so the same doubles. */
static inline __m128d nd_two(const up_plan *p, int x, __m128d p0a, __m128d p0b, __m128d p1a, __m128d p1b)
{
    __m128d h0 = _mm_loadu_pd(p->hx0 + x), h1 = _mm_loadu_pd(p->hx1 + x);
    return _mm_add_pd(_mm_add_pd(_mm_add_pd(_mm_mul_pd(p0a, h0), _mm_mul_pd(p0b, h1)), _mm_mul_pd(p1a, h0)),
                      _mm_mul_pd(p1b, h1));
}
#endif

static void apply_nd(const up_plan *p, const float *in, float *out)
{
    if (p->w > ND_ROW_MAX) {
        apply_nd_ref(p, in, out);
        return;
    }
    double a0[ND_ROW_MAX], a1[ND_ROW_MAX];
    for (int y = 0; y < p->sh; y++) {
        const float *r0 = in + (size_t)p->y0[y] * (size_t)p->w, *r1 = in + (size_t)p->y1[y] * (size_t)p->w;
        double hy0 = p->hy0[y], hy1 = p->hy1[y];
        float *o = out + (size_t)y * (size_t)p->sw;
        for (int i = 0; i < p->w; i++)
            a0[i] = (double)r0[i] * hy0, a1[i] = (double)r1[i] * hy1;
        int x = 0;
#if defined(__SSE2__)
        while (x < p->sw) {
            int a = p->x0[x], b = p->x1[x], e = p->xend[x];
            __m128d p0a = _mm_set1_pd(a0[a]), p0b = _mm_set1_pd(a0[b]), p1a = _mm_set1_pd(a1[a]),
                    p1b = _mm_set1_pd(a1[b]);
            for (; x + 2 <= e; x += 2) {
                __m128d v = nd_two(p, x, p0a, p0b, p1a, p1b);
                _mm_storel_pi((__m64 *)(void *)(o + x), _mm_cvtpd_ps(v));
            }
            if (x < e) { /* the segment's odd last column */
                double hx0 = p->hx0[x], hx1 = p->hx1[x];
                o[x] = (float)((a0[a] * hx0) + (a0[b] * hx1) + (a1[a] * hx0) + (a1[b] * hx1));
                x++;
            }
        }
#endif
        for (; x < p->sw; x++) {
            int a = p->x0[x], b = p->x1[x];
            double hx0 = p->hx0[x], hx1 = p->hx1[x];
            o[x] = (float)((a0[a] * hx0) + (a0[b] * hx1) + (a1[a] * hx0) + (a1[b] * hx1));
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

void up_apply_ref(const up_plan *p, const float *in, float *out, float *tmp)
{
    if (p->nd)
        apply_nd_ref(p, in, out);
    else
        apply_lite(p, in, out, tmp);
}

void up_apply(const up_plan *p, const float *in, float *out, float *tmp)
{
    if (p->nd)
        apply_nd(p, in, out);
    else
        apply_lite(p, in, out, tmp);
}

/* One upsampled value, with exactly the operations of apply_nd/apply_lite. */
static inline float pixel_nd(const up_plan *p, const float *in, int y, int x)
{
    const float *r0 = in + (size_t)p->y0[y] * (size_t)p->w, *r1 = in + (size_t)p->y1[y] * (size_t)p->w;
    double hy0 = p->hy0[y], hy1 = p->hy1[y], hx0 = p->hx0[x], hx1 = p->hx1[x];
    int a = p->x0[x], b = p->x1[x];
    double v = (((double)r0[a] * hy0) * hx0) + (((double)r0[b] * hy0) * hx1) +
               (((double)r1[a] * hy1) * hx0) + (((double)r1[b] * hy1) * hx1);
    return (float)v;
}

static inline float pixel_lite(const up_plan *p, const float *in, int y, int x)
{
    const double *kx = p->wx + (size_t)x * (size_t)p->kx, *ky = p->wy + (size_t)y * (size_t)p->ky;
    double acc = 0.0;
    for (int j = 0; j < p->yn[y]; j++) {
        const float *s = in + (size_t)(p->ymin[y] + j) * (size_t)p->w + p->xmin[x];
        double h = 0.0;
        for (int k = 0; k < p->xn[x]; k++)
            h += (double)s[k] * kx[k];
        acc += (double)(float)h * ky[j];
    }
    return (float)acc;
}

/* Mask pixels of row y, columns xa..xb, appended to idx.  For the ND rule
 * the row's products v*hy are formed once per node (the same products, so
 * the same doubles), leaving two multiplies per node pair per pixel. */
static int row_interval(const up_plan *p, const float *in, float thr, int y, int xa, int xb, int *idx,
                        double *a0, double *a1)
{
    int n = 0;
    if (p->nd) {
        const float *r0 = in + (size_t)p->y0[y] * (size_t)p->w, *r1 = in + (size_t)p->y1[y] * (size_t)p->w;
        double hy0 = p->hy0[y], hy1 = p->hy1[y];
        int ia = p->x0[xa] < p->x1[xa] ? p->x0[xa] : p->x1[xa], ib = p->x0[xb] > p->x1[xb] ? p->x0[xb] : p->x1[xb];
        double mx = -INFINITY, mag = 0;
        for (int i = ia; i <= ib; i++) {
            a0[i] = (double)r0[i] * hy0, a1[i] = (double)r1[i] * hy1;
            /* compares, not fmax (a libm call at -O2); the maps are finite */
            double sum = a0[i] + a1[i], abs = fabs(a0[i]) + fabs(a1[i]);
            mx = sum > mx ? sum : mx;
            mag = abs > mag ? abs : mag;
        }
        /* every pixel of the row is a convex combination (hx0 + hx1 = 1) of
         * the node columns' a0 + a1, so a row whose largest is below thr -
         * by more than the few double roundings of the terms - has no mask
         * pixel: most rows at the edge of a hot node's support */
        if (mx < (double)thr - 1e-12 * mag)
            return 0;
        int x = xa, base = y * p->sw;
#if defined(__SSE2__)
        /* by segments of columns between the same two nodes, whose
         * products are loaded once, two pixels per step: the same double
         * operations in the same order (so the same values).  The indices
         * are stored unconditionally and kept by advancing n, since a
         * row's mask pixels start and stop unpredictably; idx[n] is
         * inside idx: n never exceeds the pixels evaluated so far. */
        __m128 th = _mm_set1_ps(thr);
        while (x + 1 <= xb) {
            int a = p->x0[x], b = p->x1[x], e = p->xend[x] <= xb + 1 ? p->xend[x] : xb + 1;
            __m128d p0a = _mm_set1_pd(a0[a]), p0b = _mm_set1_pd(a0[b]), p1a = _mm_set1_pd(a1[a]),
                    p1b = _mm_set1_pd(a1[b]);
            for (; x + 2 <= e; x += 2) {
                __m128d v = nd_two(p, x, p0a, p0b, p1a, p1b);
                int mk = _mm_movemask_ps(_mm_cmpgt_ps(_mm_cvtpd_ps(v), th));
                idx[n] = base + x;
                n += mk & 1;
                idx[n] = base + x + 1;
                n += (mk >> 1) & 1;
            }
            if (x < e) { /* an odd segment's last column */
                double hx0 = p->hx0[x], hx1 = p->hx1[x];
                double v = ((a0[a] * hx0) + (a0[b] * hx1)) + (a1[a] * hx0) + (a1[b] * hx1);
                idx[n] = base + x;
                n += (float)v > thr;
                x++;
            }
        }
#endif
        for (; x <= xb; x++) {
            int a = p->x0[x], b = p->x1[x];
            double hx0 = p->hx0[x], hx1 = p->hx1[x];
            double v = ((a0[a] * hx0) + (a0[b] * hx1)) + (a1[a] * hx0) + (a1[b] * hx1);
            if ((float)v > thr)
                idx[n++] = base + x;
        }
    } else {
        for (int x = xa; x <= xb; x++)
            if (pixel_lite(p, in, y, x) > thr)
                idx[n++] = y * p->sw + x;
    }
    return n;
}

int up_mask(const up_plan *p, const float *in, float thr, int *idx)
{
    /* hot nodes; a map has few, since thresholds sit at the top 0.5% */
    enum { MAXHOT = 64 };
    int hj[MAXHOT], hi[MAXHOT], nh = 0;
    double a0[1024], a1[1024]; /* per-node row products; w <= 1024 checked below */
    for (int j = 0; j < p->h; j++)
        for (int i = 0; i < p->w; i++)
            if (in[j * p->w + i] > thr) {
                if (nh == MAXHOT)
                    goto dense;
                hj[nh] = j, hi[nh] = i, nh++;
            }
    if (nh == 0)
        return 0;
    if (p->w > 1024)
        goto dense;
    int ylo = p->sh, yhi = -1;
    for (int k = 0; k < nh; k++) {
        if (p->ry0[hj[k]] < ylo)
            ylo = p->ry0[hj[k]];
        if (p->ry1[hj[k]] > yhi)
            yhi = p->ry1[hj[k]];
    }
    int n = 0;
    for (int y = ylo; y <= yhi; y++) {
        /* merged column intervals of the hot nodes whose support covers y */
        int a[MAXHOT], b[MAXHOT], m = 0;
        for (int k = 0; k < nh; k++)
            if (p->ry0[hj[k]] <= y && y <= p->ry1[hj[k]]) {
                int lo = p->rx0[hi[k]], up = p->rx1[hi[k]], q = m++;
                while (q > 0 && a[q - 1] > lo) {
                    a[q] = a[q - 1], b[q] = b[q - 1];
                    q--;
                }
                a[q] = lo, b[q] = up;
            }
        int x = 0;
        for (int q = 0; q < m; q++) {
            if (x < a[q])
                x = a[q];
            if (x <= b[q]) {
                n += row_interval(p, in, thr, y, x, b[q], idx + n, a0, a1);
                x = b[q] + 1;
            }
        }
    }
    return n;
dense:
    /* many hot nodes: evaluating everything is as cheap; row by row, so no
     * scratch buffer is needed */
    n = 0;
    for (int y = 0; y < p->sh; y++)
        for (int x = 0; x < p->sw; x++) {
            float v = p->nd ? pixel_nd(p, in, y, x) : pixel_lite(p, in, y, x);
            if (v > thr)
                idx[n++] = y * p->sw + x;
        }
    return n;
}

int up_mask_dense(const up_plan *p, const float *in, float thr, int *idx, float *out, float *tmp)
{
    up_apply(p, in, out, tmp);
    int n = 0, np = p->sh * p->sw;
    for (int i = 0; i < np; i++)
        if (out[i] > thr)
            idx[n++] = i;
    return n;
}

int up_cache_get(up_cache *c, int nd, int h, int w, int sh, int sw, int iw, int offset, int size,
                 int stride)
{
    if (c->have && c->sh == sh && c->sw == sw && c->iw == iw)
        return 0;
    up_cache_free(c);
    if (nd ? up_plan_nd(&c->plan, h, w, sh, sw, iw, offset, size, stride) : up_plan_lite(&c->plan, h, w, sh, sw))
        return -1;
    c->have = 1, c->sh = sh, c->sw = sw, c->iw = iw;
    return 0;
}

void up_cache_free(up_cache *c)
{
    if (c->have)
        up_plan_free(&c->plan);
    c->have = 0;
}

/* The farthest node (along one axis) that a pixel in node j's support
 * reads, over every node j: ND pixels read their two nodes x0/x1, NDL
 * pixels their taps xmin .. xmin + xn - 1 (zero-weight taps included). */
static int axis_reach(int n, const int *lo, const int *hi, const int *a, const int *b, const int *first,
                      const int *count)
{
    int r = 0;
    for (int j = 0; j < n; j++)
        for (int x = lo[j]; x <= hi[j]; x++) {
            int t0 = a ? (a[x] < b[x] ? a[x] : b[x]) : first[x];
            int t1 = a ? (a[x] < b[x] ? b[x] : a[x]) : first[x] + count[x] - 1;
            r = j - t0 > r ? j - t0 : r;
            r = t1 - j > r ? t1 - j : r;
        }
    return r;
}

int up_plan_reach(const up_plan *p)
{
    if (p->w > 1024) /* up_mask reads every node of such maps */
        return p->h > p->w ? p->h : p->w;
    int ry = p->nd ? axis_reach(p->h, p->ry0, p->ry1, p->y0, p->y1, NULL, NULL)
                   : axis_reach(p->h, p->ry0, p->ry1, NULL, NULL, p->ymin, p->yn);
    int rx = p->nd ? axis_reach(p->w, p->rx0, p->rx1, p->x0, p->x1, NULL, NULL)
                   : axis_reach(p->w, p->rx0, p->rx1, NULL, NULL, p->xmin, p->xn);
    return ry > rx ? ry : rx;
}
