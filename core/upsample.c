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
    if (!(p->xend = nd_malloc(sizeof(int) * (size_t)sw)) || !(p->yend = nd_malloc(sizeof(int) * (size_t)sh))) {
        up_plan_free(p);
        return nd_fail("out of memory");
    }
    for (int x = sw - 1; x >= 0; x--)
        p->xend[x] = x + 1 < sw && p->x0[x + 1] == p->x0[x] && p->x1[x + 1] == p->x1[x] ? p->xend[x + 1] : x + 1;
    for (int y = sh - 1; y >= 0; y--)
        p->yend[y] = y + 1 < sh && p->y0[y + 1] == p->y0[y] && p->y1[y + 1] == p->y1[y] ? p->yend[y + 1] : y + 1;
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
    free(p->hy0), free(p->hy1), free(p->hx0), free(p->hx1), free(p->xend), free(p->yend);
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

/* ---- the sparse mask (up_mask) ----
 *
 * What it reads (core/onepass.c stores kept maps sparsely on this): every
 * node is compared with thr to find the hot ones (> thr); with at most
 * UP_MASK_MAX_HOT hot nodes, values are read only of the nodes x0/x1 of the pixels
 * in a hot node's column support on the rows y0/y1 of the rows in its row
 * support - the 3x3 neighbourhood for upsampling plans - so any other node
 * may hold any value <= thr.  Only the dense path (more hot nodes, or maps
 * wider than 1024) reads every node's value. */

/* The hot nodes (> thr) of an n-node map of width w, in ascending order,
 * as (row, column); -1 if more than UP_MASK_MAX_HOT.  Four or sixteen compares per
 * test: most maps have none or a few. */
static int hot_nodes(const float *in, int n, int w, float thr, int *hj, int *hi)
{
    int nh = 0, k = 0;
#if defined(__SSE2__)
    __m128 t = _mm_set1_ps(thr);
    for (; k + 16 <= n; k += 16) {
        __m128 c0 = _mm_cmpgt_ps(_mm_loadu_ps(in + k), t), c1 = _mm_cmpgt_ps(_mm_loadu_ps(in + k + 4), t),
               c2 = _mm_cmpgt_ps(_mm_loadu_ps(in + k + 8), t), c3 = _mm_cmpgt_ps(_mm_loadu_ps(in + k + 12), t);
        if (!_mm_movemask_ps(_mm_or_ps(_mm_or_ps(c0, c1), _mm_or_ps(c2, c3))))
            continue;
        unsigned bits = (unsigned)_mm_movemask_ps(c0) | (unsigned)_mm_movemask_ps(c1) << 4 |
                        (unsigned)_mm_movemask_ps(c2) << 8 | (unsigned)_mm_movemask_ps(c3) << 12;
        for (; bits; bits &= bits - 1) {
            int q = k + __builtin_ctz(bits);
            if (nh == UP_MASK_MAX_HOT)
                return -1;
            hj[nh] = q / w, hi[nh] = q % w, nh++;
        }
    }
#endif
    for (; k < n; k++)
        if (in[k] > thr) {
            if (nh == UP_MASK_MAX_HOT)
                return -1;
            hj[nh] = k / w, hi[nh] = k % w, nh++;
        }
    return nh;
}

/* The ND rule's mask on the rows y..ye-1 of one row group (rows with the
 * same node rows y0, y1) over its segments: runs of columns between the
 * same two node columns (a, b), with the four nodes' values in double.
 * Per row and segment the products v * hy of the four nodes are formed
 * once (the same products as apply_nd's, so the same doubles), then two
 * (SSE2) or four (AVX2) pixels per step with the scalar expression's
 * operations in its order, so the same values.  The pixels whose value is
 * > thr are appended to idx as y * sw + x, in ascending order.
 *
 * A row of a segment is mostly decided without its pixels: each pixel's
 * exact value is a convex combination (hx0 + hx1 = 1, to a rounding) of
 * the two node columns' sums p0 + p1, and its computed value differs from
 * that by a few double roundings of the terms - less than 1e-15 of their
 * magnitude mag, so less than the margin 1e-12 * mag.  So if the larger sum
 * is below thr by more than the margin, no pixel's double value reaches
 * thr and none rounds to a float above it (most rows at the edge of a hot
 * node's support: 41% of the rows of segments in the benchmark); if the
 * smaller sum less the margin still rounds to a float above thr, every
 * pixel's value is at least that (float rounding is monotone) and all are
 * in the mask (inside blobs of neighbouring hot nodes: 21% of the rows,
 * 65% of the mask pixels).  Only the other rows are evaluated.
 *
 * The indices are stored unconditionally and kept by advancing n, since a
 * row's mask pixels start and stop unpredictably; the stores stay inside
 * idx[sh*sw]: a step stores at most as many indices as it evaluates
 * pixels, and no pixel is evaluated twice. */
typedef struct {
    int x, e;                 /* columns x..e-1 */
    double r0a, r0b, r1a, r1b; /* nodes (y0, a), (y0, b), (y1, a), (y1, b) */
} nd_seg;

/* Where a mask goes, appended in ascending pixel order after the n entries
 * already there: indices (rl NULL: idx[n++] = pixel) or runs (idx[n] =
 * first pixel, rl[n] = length, a run adjoining the last one extending it,
 * so no two runs adjoin).  The tally counts runs: a mask of a few hundred
 * pixels is a dozen row runs (up_mask_runs). */
typedef int (*group_fn)(const up_plan *p, const nd_seg *sg, int ns, int y, int ye, float thr, int *idx, int *rl,
                        int n);

/* Pixels s..s+l-1 (l >= 1) appended to the runs idx/rl[0..n); the new n. */
static inline int run_add(int *idx, int *rl, int n, int s, int l)
{
    if (n && idx[n - 1] + rl[n - 1] == s) {
        rl[n - 1] += l;
        return n;
    }
    idx[n] = s, rl[n] = l;
    return n + 1;
}

/* Pixels s + i for the set bits i of mk appended to the runs: each block
 * of set bits one run (a row's mask pixels mostly form one block). */
static inline int run_bits(int *idx, int *rl, int n, int s, unsigned mk)
{
    while (mk) {
        int o = __builtin_ctz(mk), l = __builtin_ctz(~(mk >> o));
        n = run_add(idx, rl, n, s + o, l);
        mk &= ~(((1u << l) - 1) << o);
    }
    return n;
}

/* Pixel px appended if in. */
static inline int mask_px(int *idx, int *rl, int n, int px, int in)
{
    if (rl)
        return in ? run_add(idx, rl, n, px, 1) : n;
    idx[n] = px;
    return n + in;
}

/* A segment's row (see above): SEG_OUT if no pixel can exceed thr, SEG_IN
 * if every one does, else SEG_EVAL; sa, sb are p0 + p1 at its two node
 * columns, ma, mb the terms' magnitudes |p0| + |p1|. */
enum { SEG_OUT, SEG_EVAL, SEG_IN };
static inline int segment_class(double sa, double sb, double ma, double mb, float thr)
{
    double mx = sa > sb ? sa : sb, mn = sa > sb ? sb : sa, mag = ma > mb ? ma : mb;
    if (mx < (double)thr - 1e-12 * mag)
        return SEG_OUT;
    return (float)(mn - 1e-12 * mag) > thr ? SEG_IN : SEG_EVAL;
}

/* Columns x..e-1 (x < e) of row base all in the mask: one run, or indices. */
static inline int segment_all(int base, int x, int e, int *idx, int *rl, int n)
{
    if (rl)
        return run_add(idx, rl, n, base + x, e - x);
#if defined(__SSE2__)
    for (; x + 4 <= e; x += 4, n += 4)
        _mm_storeu_si128((__m128i *)(void *)(idx + n), _mm_add_epi32(_mm_set1_epi32(base + x), _mm_setr_epi32(0, 1, 2, 3)));
#endif
    for (; x < e; x++)
        idx[n++] = base + x;
    return n;
}

/* group_nd for either output (inlined twice: rl NULL or not is known). */
static inline __attribute__((always_inline)) int group_nd_body(const up_plan *p, const nd_seg *sg, int ns, int y,
                                                               int ye, float thr, int *idx, int *rl, int n)
{
    for (; y < ye; y++) {
        double hy0 = p->hy0[y], hy1 = p->hy1[y];
        int base = y * p->sw;
        for (const nd_seg *g = sg; g < sg + ns; g++) {
            double p0a = g->r0a * hy0, p0b = g->r0b * hy0, p1a = g->r1a * hy1, p1b = g->r1b * hy1;
            int c = segment_class(p0a + p1a, p0b + p1b, fabs(p0a) + fabs(p1a), fabs(p0b) + fabs(p1b), thr);
            if (c != SEG_EVAL) {
                n = c == SEG_IN ? segment_all(base, g->x, g->e, idx, rl, n) : n;
                continue;
            }
            int x = g->x;
#if defined(__SSE2__)
            __m128 th = _mm_set1_ps(thr);
            __m128d q0a = _mm_set1_pd(p0a), q0b = _mm_set1_pd(p0b), q1a = _mm_set1_pd(p1a), q1b = _mm_set1_pd(p1b);
            for (; x + 2 <= g->e; x += 2) {
                __m128d v = nd_two(p, x, q0a, q0b, q1a, q1b);
                int mk = _mm_movemask_ps(_mm_cmpgt_ps(_mm_cvtpd_ps(v), th));
                if (rl) {
                    n = run_bits(idx, rl, n, base + x, (unsigned)mk & 3u);
                    continue;
                }
                idx[n] = base + x;
                n += mk & 1;
                idx[n] = base + x + 1;
                n += (mk >> 1) & 1;
            }
#endif
            for (; x < g->e; x++) {
                double hx0 = p->hx0[x], hx1 = p->hx1[x];
                double v = ((p0a * hx0) + (p0b * hx1)) + (p1a * hx0) + (p1b * hx1);
                n = mask_px(idx, rl, n, base + x, (float)v > thr);
            }
        }
    }
    return n;
}

static int group_nd(const up_plan *p, const nd_seg *sg, int ns, int y, int ye, float thr, int *idx, int *rl, int n)
{
    return rl ? group_nd_body(p, sg, ns, y, ye, thr, idx, rl, n) : group_nd_body(p, sg, ns, y, ye, thr, idx, NULL, n);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define ND_HAVE_AVX2_PATH 1
#include <immintrin.h>

/* For a 4-bit mask of kept lanes: the byte shuffle that packs the kept
 * 32-bit lanes to the front (pshufb), and their number. */
#define L_(k) 4 * (k), 4 * (k) + 1, 4 * (k) + 2, 4 * (k) + 3
static const unsigned char pack4[16][16] = {
    {0},           {L_(0)},        {L_(1)},        {L_(0), L_(1)},
    {L_(2)},       {L_(0), L_(2)}, {L_(1), L_(2)}, {L_(0), L_(1), L_(2)},
    {L_(3)},       {L_(0), L_(3)}, {L_(1), L_(3)}, {L_(0), L_(1), L_(3)},
    {L_(2), L_(3)}, {L_(0), L_(2), L_(3)}, {L_(1), L_(2), L_(3)}, {L_(0), L_(1), L_(2), L_(3)},
};
#undef L_
static const unsigned char count4[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};

/* group_nd with four pixels per step (the same double operations per
 * lane, in the same order: the same values), the kept indices packed by
 * one shuffle and one store (or their runs appended); two, then one pixel
 * at a segment's end. */
static inline __attribute__((always_inline, target("avx2"))) int
group_nd_avx2_body(const up_plan *p, const nd_seg *sg, int ns, int y, int ye, float thr, int *idx, int *rl, int n)
{
    __m128 th = _mm_set1_ps(thr);
    const __m128i lanes = _mm_setr_epi32(0, 1, 2, 3);
    for (; y < ye; y++) {
        double hy0 = p->hy0[y], hy1 = p->hy1[y];
        int base = y * p->sw;
        for (const nd_seg *g = sg; g < sg + ns; g++) {
            double p0a = g->r0a * hy0, p0b = g->r0b * hy0, p1a = g->r1a * hy1, p1b = g->r1b * hy1;
            int c = segment_class(p0a + p1a, p0b + p1b, fabs(p0a) + fabs(p1a), fabs(p0b) + fabs(p1b), thr);
            if (c != SEG_EVAL) {
                n = c == SEG_IN ? segment_all(base, g->x, g->e, idx, rl, n) : n;
                continue;
            }
            int x = g->x;
            __m256d q0a = _mm256_set1_pd(p0a), q0b = _mm256_set1_pd(p0b), q1a = _mm256_set1_pd(p1a),
                    q1b = _mm256_set1_pd(p1b);
            for (; x + 4 <= g->e; x += 4) {
                __m256d h0 = _mm256_loadu_pd(p->hx0 + x), h1 = _mm256_loadu_pd(p->hx1 + x);
                __m256d v = _mm256_add_pd(
                    _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(q0a, h0), _mm256_mul_pd(q0b, h1)), _mm256_mul_pd(q1a, h0)),
                    _mm256_mul_pd(q1b, h1));
                int mk = _mm_movemask_ps(_mm_cmpgt_ps(_mm256_cvtpd_ps(v), th));
                if (rl) {
                    n = mk == 15 ? run_add(idx, rl, n, base + x, 4) : run_bits(idx, rl, n, base + x, (unsigned)mk);
                    continue;
                }
                __m128i iv = _mm_add_epi32(_mm_set1_epi32(base + x), lanes);
                _mm_storeu_si128((__m128i *)(void *)(idx + n),
                                 _mm_shuffle_epi8(iv, _mm_loadu_si128((const __m128i *)(const void *)pack4[mk])));
                n += count4[mk];
            }
            if (x + 2 <= g->e) {
                __m128d v = nd_two(p, x, _mm256_castpd256_pd128(q0a), _mm256_castpd256_pd128(q0b),
                                   _mm256_castpd256_pd128(q1a), _mm256_castpd256_pd128(q1b));
                int mk = _mm_movemask_ps(_mm_cmpgt_ps(_mm_cvtpd_ps(v), th));
                if (rl)
                    n = run_bits(idx, rl, n, base + x, (unsigned)mk & 3u);
                else {
                    idx[n] = base + x;
                    n += mk & 1;
                    idx[n] = base + x + 1;
                    n += (mk >> 1) & 1;
                }
                x += 2;
            }
            if (x < g->e) {
                double hx0 = p->hx0[x], hx1 = p->hx1[x];
                double v = ((p0a * hx0) + (p0b * hx1)) + (p1a * hx0) + (p1b * hx1);
                n = mask_px(idx, rl, n, base + x, (float)v > thr);
            }
        }
    }
    return n;
}

__attribute__((target("avx2"))) static int group_nd_avx2(const up_plan *p, const nd_seg *sg, int ns, int y, int ye,
                                                         float thr, int *idx, int *rl, int n)
{
    return rl ? group_nd_avx2_body(p, sg, ns, y, ye, thr, idx, rl, n)
              : group_nd_avx2_body(p, sg, ns, y, ye, thr, idx, NULL, n);
}
#endif

/* The ND rule's mask around nh >= 1 hot nodes (hj, hi ascending).  Rows
 * come in groups with the same two node rows (y0, y1), and a hot node's
 * row support is the groups with it as y0 or y1: the merged column
 * intervals of the group's hot nodes' supports, cut into segments, are
 * found once per group.  A node's column support is two column groups, so
 * a row group has at most 2 * UP_MASK_MAX_HOT segments. */
static int mask_nd(const up_plan *p, const float *in, float thr, const int *hj, const int *hi, int nh, int *idx,
                   int *rl, group_fn group)
{
    int ylo = p->sh, yhi = -1, n = 0;
    for (int k = 0; k < nh; k++) {
        ylo = p->ry0[hj[k]] < ylo ? p->ry0[hj[k]] : ylo;
        yhi = p->ry1[hj[k]] > yhi ? p->ry1[hj[k]] : yhi;
    }
    for (int y = ylo; y <= yhi;) {
        int j0 = p->y0[y], j1 = p->y1[y], ye = p->yend[y] <= yhi + 1 ? p->yend[y] : yhi + 1;
        int a[UP_MASK_MAX_HOT], b[UP_MASK_MAX_HOT], m = 0;
        for (int k = 0; k < nh; k++)
            if (hj[k] == j0 || hj[k] == j1) { /* insert, sorted by start */
                int lo = p->rx0[hi[k]], up = p->rx1[hi[k]], q = m++;
                for (; q > 0 && a[q - 1] > lo; q--)
                    a[q] = a[q - 1], b[q] = b[q - 1];
                a[q] = lo, b[q] = up;
            }
        const float *r0 = in + (size_t)j0 * (size_t)p->w, *r1 = in + (size_t)j1 * (size_t)p->w;
        nd_seg sg[2 * UP_MASK_MAX_HOT];
        int ns = 0;
        for (int q = 0, x = 0; q < m; q++)
            for (x = x < a[q] ? a[q] : x; x <= b[q];) {
                int ia = p->x0[x], ib = p->x1[x], e = p->xend[x] <= b[q] + 1 ? p->xend[x] : b[q] + 1;
                sg[ns++] = (nd_seg){x, e, (double)r0[ia], (double)r0[ib], (double)r1[ia], (double)r1[ib]};
                x = e;
            }
        n = group(p, sg, ns, y, ye, thr, idx, rl, n);
        y = ye;
    }
    return n;
}

/* Mask pixels of row y, columns xa..xb, under the NDL rule, appended. */
static int row_lite(const up_plan *p, const float *in, float thr, int y, int xa, int xb, int *idx, int *rl, int n)
{
    for (int x = xa; x <= xb; x++)
        n = mask_px(idx, rl, n, y * p->sw + x, pixel_lite(p, in, y, x) > thr);
    return n;
}

/* The NDL rule's mask around nh >= 1 hot nodes: row by row, the merged
 * column intervals of the hot nodes whose row support covers the row. */
static int mask_lite(const up_plan *p, const float *in, float thr, const int *hj, const int *hi, int nh, int *idx,
                     int *rl)
{
    int ylo = p->sh, yhi = -1, n = 0;
    for (int k = 0; k < nh; k++) {
        ylo = p->ry0[hj[k]] < ylo ? p->ry0[hj[k]] : ylo;
        yhi = p->ry1[hj[k]] > yhi ? p->ry1[hj[k]] : yhi;
    }
    for (int y = ylo; y <= yhi; y++) {
        int a[UP_MASK_MAX_HOT], b[UP_MASK_MAX_HOT], m = 0;
        for (int k = 0; k < nh; k++)
            if (p->ry0[hj[k]] <= y && y <= p->ry1[hj[k]]) {
                int lo = p->rx0[hi[k]], up = p->rx1[hi[k]], q = m++;
                for (; q > 0 && a[q - 1] > lo; q--)
                    a[q] = a[q - 1], b[q] = b[q - 1];
                a[q] = lo, b[q] = up;
            }
        int x = 0;
        for (int q = 0; q < m; q++) {
            x = x < a[q] ? a[q] : x;
            if (x <= b[q]) {
                n = row_lite(p, in, thr, y, x, b[q], idx, rl, n);
                x = b[q] + 1;
            }
        }
    }
    return n;
}

/* Every pixel, row by row (no scratch buffer). */
static int mask_all(const up_plan *p, const float *in, float thr, int *idx, int *rl)
{
    int n = 0;
    for (int y = 0; y < p->sh; y++)
        for (int x = 0; x < p->sw; x++) {
            float v = p->nd ? pixel_nd(p, in, y, x) : pixel_lite(p, in, y, x);
            n = mask_px(idx, rl, n, y * p->sw + x, v > thr);
        }
    return n;
}

/* The mask as indices (rl NULL) or runs; the number of entries. */
static int mask_isa(const up_plan *p, const float *in, float thr, int *idx, int *rl, int isa)
{
    /* hot nodes; a map has few, since thresholds sit at the top 0.5% */
    int hj[UP_MASK_MAX_HOT], hi[UP_MASK_MAX_HOT];
    int nh = hot_nodes(in, p->h * p->w, p->w, thr, hj, hi);
    if (nh == 0)
        return 0;
    if (nh < 0 || p->w > 1024) /* many hot nodes: evaluating everything is as cheap */
        return mask_all(p, in, thr, idx, rl);
    if (!p->nd)
        return mask_lite(p, in, thr, hj, hi, nh, idx, rl);
    group_fn group = group_nd;
#if defined(ND_HAVE_AVX2_PATH)
    if (isa != UP_ISA_BASELINE && __builtin_cpu_supports("avx2"))
        group = group_nd_avx2;
#else
    (void)isa;
#endif
    return mask_nd(p, in, thr, hj, hi, nh, idx, rl, group);
}

int up_mask_isa(const up_plan *p, const float *in, float thr, int *idx, int isa)
{
    return mask_isa(p, in, thr, idx, NULL, isa);
}

int up_mask(const up_plan *p, const float *in, float thr, int *idx)
{
    return up_mask_isa(p, in, thr, idx, UP_ISA_BEST);
}

int up_mask_runs_isa(const up_plan *p, const float *in, float thr, int *start, int *len, int isa)
{
    return mask_isa(p, in, thr, start, len, isa);
}

int up_mask_runs(const up_plan *p, const float *in, float thr, int *start, int *len)
{
    return up_mask_runs_isa(p, in, thr, start, len, UP_ISA_BEST);
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
