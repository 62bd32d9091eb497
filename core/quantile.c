#include "core/quantile.h"
#include "core/err.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

double qt_lerp(double a, double b, double t)
{
    double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

static void swapf(float *a, float *b)
{
    float t = *a;
    *a = *b;
    *b = t;
}

/* Ranges up to this many values are partitioned through a stack buffer
 * without branches on the data (16 KiB). */
enum { BF_MAX = 4096 };

/* Split v[0..m) into the values < pv (moved to the front, their count
 * returned) and the rest, through buf: each value is written at both ends
 * of the unfilled part of buf and the end it belongs to advances, so there
 * is no branch to mispredict (the quickselect's cost on random data). */
static size_t split_below(float *v, size_t m, float pv, float *buf)
{
    size_t lo = 0, hi = m; /* buf[0, lo) < pv, buf[hi, m) >= pv */
    for (size_t i = 0; i < m; i++) {
        float x = v[i];
        size_t c = x < pv;
        buf[lo] = x;
        buf[hi - 1] = x;
        lo += c, hi -= 1 - c;
    }
    memcpy(v, buf, m * sizeof *v);
    return lo;
}

/* The same split by x <= pv (for a pivot that is the range's minimum, so
 * that the values equal to it leave the range). */
static size_t split_at_most(float *v, size_t m, float pv, float *buf)
{
    size_t lo = 0, hi = m;
    for (size_t i = 0; i < m; i++) {
        float x = v[i];
        size_t c = x <= pv;
        buf[lo] = x;
        buf[hi - 1] = x;
        lo += c, hi -= 1 - c;
    }
    memcpy(v, buf, m * sizeof *v);
    return lo;
}

/* After return v[k] is the k-th smallest; smaller values before it, larger
 * after.  Ranges above BF_MAX take the 3-way (Dutch-flag) partition; the
 * rest the branch-free splits.  The value found is the same either way;
 * only the order of the others differs. */
static void select_k(float *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* search range [lo, hi) */
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ n;
    float buf[BF_MAX];
    while (hi - lo > 1) {
        /* a fixed-seed pseudo-random pivot: deterministic, and no bad
         * orderings for sorted or constant inputs */
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        float pv = v[lo + rng % (hi - lo)];
        if (hi - lo <= BF_MAX) {
            size_t lt = lo + split_below(v + lo, hi - lo, pv, buf);
            if (k < lt) {
                hi = lt;
                continue;
            }
            if (lt > lo) { /* pv is in [lt, hi): the range shrinks */
                lo = lt;
                continue;
            }
            size_t le = lo + split_at_most(v + lo, hi - lo, pv, buf); /* [lo, le) == pv */
            if (k < le)
                return;
            lo = le;
            continue;
        }
        /* Dutch-flag partition: [lo,lt) < pv, [lt,gt) == pv, [gt,hi) > pv */
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (v[i] < pv)
                swapf(&v[lt++], &v[i++]);
            else if (v[i] > pv)
                swapf(&v[i], &v[--gt]);
            else
                i++;
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return;
    }
}

float qt_kth(float *v, size_t n, size_t k)
{
    ND_ASSERT(k < n);
    select_k(v, n, k);
    return v[k];
}

void qt_ranks(size_t n, double p, size_t *r0, size_t *r1, double *t)
{
    double pos = p * (double)(n - 1);
    size_t i = (size_t)floor(pos);
    if (i >= n - 1)
        i = n - 1;
    *r0 = i;
    *r1 = i + 1 < n ? i + 1 : i;
    *t = pos - (double)i;
}

double qt_select(float *v, size_t n, double p)
{
    ND_ASSERT(n >= 1 && p >= 0 && p <= 1);
    double pos = p * (double)(n - 1);
    size_t i = (size_t)floor(pos);
    if (i >= n - 1)
        i = n - 1;
    double t = pos - (double)i;
    select_k(v, n, i);
    double a = v[i];
    if (i + 1 >= n)
        return a;
    float b = v[i + 1];
    for (size_t j = i + 2; j < n; j++)
        if (v[j] < b)
            b = v[j];
    return qt_lerp(a, b, t);
}

static int cmp_float(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

double qt_sorted(const float *v, size_t n, double p)
{
    float *s = nd_malloc(n * sizeof *s);
    ND_ASSERT(s);
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_float);
    double pos = p * (double)(n - 1);
    size_t i = (size_t)floor(pos);
    if (i >= n - 1)
        i = n - 1;
    double r = i + 1 < n ? qt_lerp(s[i], s[i + 1], pos - (double)i) : s[i];
    free(s);
    return r;
}

/* ---------------------------------------------------------------- streaming */

#define QT_BINS 65536u

struct qt_stream {
    size_t K;
    uint64_t n;
    uint64_t rank[2];   /* 0-based order statistics needed (rank[1] = rank[0] + 1, clamped) */
    double t;           /* interpolation fraction */
    uint32_t *hi;       /* [K][BINS] pass-1 counts */
    uint32_t *bin[2];   /* [K] top-16 bin of each rank */
    uint64_t *rest[2];  /* [K] rank within that bin */
    uint32_t *lo[2];    /* [K][BINS] pass-2 counts inside bin[r]; lo[1] = lo[0] + K*BINS (one block) */
    uint32_t *key[2];   /* [K] final keys */
};

struct qt_part {
    uint32_t *h[2];
};

static inline uint32_t f2key(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

static inline float key2f(uint32_t k)
{
    uint32_t b = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

qt_stream *qt_stream_new(size_t K, uint64_t n, double level)
{
    if (n == 0 || n >= ((uint64_t)1 << 32)) {
        nd_fail("cannot take quantiles over %llu values per unit (1 .. 2^32-1)", (unsigned long long)n);
        return NULL;
    }
    qt_stream *q = nd_calloc(1, sizeof *q);
    if (!q) {
        nd_fail("out of memory");
        return NULL;
    }
    q->K = K, q->n = n;
    double pos = level * (double)(n - 1);
    uint64_t i = (uint64_t)floor(pos);
    if (i >= n - 1)
        i = n - 1;
    q->t = pos - (double)i;
    q->rank[0] = i;
    q->rank[1] = i + 1 < n ? i + 1 : i;
    q->hi = nd_calloc(K * QT_BINS, sizeof *q->hi);
    for (int r = 0; r < 2; r++) {
        q->bin[r] = nd_calloc(K, sizeof(uint32_t));
        q->rest[r] = nd_calloc(K, sizeof(uint64_t));
        q->key[r] = nd_calloc(K, sizeof(uint32_t));
    }
    if (!q->hi || !q->bin[0] || !q->bin[1] || !q->rest[0] || !q->rest[1] || !q->key[0] || !q->key[1]) {
        qt_stream_free(q);
        nd_fail("out of memory for quantile histograms (%zu units)", K);
        return NULL;
    }
    return q;
}

void qt_stream_free(qt_stream *q)
{
    if (!q)
        return;
    free(q->hi);
    for (int r = 0; r < 2; r++)
        free(q->bin[r]), free(q->rest[r]), free(q->key[r]);
    free(q->lo[0]);
    free(q);
}

qt_part *qt_part_new(const qt_stream *q, int pass)
{
    qt_part *p = nd_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    int nh = pass == 1 ? 1 : 2;
    for (int r = 0; r < nh; r++)
        if (!(p->h[r] = nd_calloc(q->K * QT_BINS, sizeof(uint32_t)))) {
            free(p->h[0]);
            free(p);
            return NULL;
        }
    return p;
}

void qt_part_add(const qt_stream *q, qt_part *p, int pass, const float *x, size_t n, size_t hw)
{
    size_t K = q->K;
    /* unit-major, so one unit's histogram stays in cache across the block */
    for (size_t u = 0; u < K; u++)
        for (size_t i = 0; i < n; i++) {
            const float *v = x + (i * K + u) * hw;
            if (pass == 1) {
                /* post-ReLU maps are mostly exact zeros: count them apart */
                uint32_t *h = p->h[0] + u * QT_BINS, zeros = 0;
                for (size_t k = 0; k < hw; k++) {
                    if (v[k] == 0.0f && !signbit(v[k]))
                        zeros++;
                    else
                        h[f2key(v[k]) >> 16]++;
                }
                h[0x80000000u >> 16] += zeros;
            } else {
                uint32_t b0 = q->bin[0][u], b1 = q->bin[1][u];
                uint32_t *h0 = p->h[0] + u * QT_BINS, *h1 = p->h[1] + u * QT_BINS;
                for (size_t k = 0; k < hw; k++) {
                    uint32_t key = f2key(v[k]), top = key >> 16;
                    if (top == b0)
                        h0[key & 0xffffu]++;
                    if (top == b1)
                        h1[key & 0xffffu]++;
                }
            }
        }
}

void qt_part_merge(qt_stream *q, qt_part *p, int pass)
{
    size_t m = q->K * QT_BINS;
    if (pass == 1)
        for (size_t i = 0; i < m; i++)
            q->hi[i] += p->h[0][i];
    else
        for (int r = 0; r < 2; r++)
            for (size_t i = 0; i < m; i++)
                q->lo[r][i] += p->h[r][i];
    free(p->h[0]), free(p->h[1]);
    free(p);
}

/* bin holding 0-based rank r in a histogram; *rest = rank inside it */
static uint32_t find_bin(const uint32_t *h, uint64_t r, uint64_t *rest)
{
    uint64_t c = 0;
    for (uint32_t b = 0; b < QT_BINS; b++) {
        if (c + h[b] > r) {
            *rest = r - c;
            return b;
        }
        c += h[b];
    }
    ND_ASSERT(!"rank beyond histogram");
    return 0;
}

int qt_stream_end_pass(qt_stream *q, int pass)
{
    size_t K = q->K;
    if (pass == 1) {
        for (size_t u = 0; u < K; u++) {
            uint64_t tot = 0;
            for (uint32_t b = 0; b < QT_BINS; b++)
                tot += q->hi[u * QT_BINS + b];
            if (tot != q->n)
                return nd_fail("quantile pass 1 saw %llu values of unit %zu, expected %llu",
                               (unsigned long long)tot, u, (unsigned long long)q->n);
            for (int r = 0; r < 2; r++)
                q->bin[r][u] = find_bin(q->hi + u * QT_BINS, q->rank[r], &q->rest[r][u]);
        }
        free(q->hi);
        q->hi = NULL;
        /* one block, so a shard's pass-2 counts are one array to reduce */
        if (!(q->lo[0] = nd_calloc(2 * K * QT_BINS, sizeof(uint32_t))))
            return nd_fail("out of memory for quantile histograms");
        q->lo[1] = q->lo[0] + K * QT_BINS;
    } else {
        for (size_t u = 0; u < K; u++)
            for (int r = 0; r < 2; r++) {
                uint64_t rest;
                uint32_t low = find_bin(q->lo[r] + u * QT_BINS, q->rest[r][u], &rest);
                q->key[r][u] = q->bin[r][u] << 16 | low;
            }
    }
    return 0;
}

uint32_t *qt_stream_counts(qt_stream *q, int pass, size_t *n)
{
    *n = (pass == 1 ? 1 : 2) * q->K * QT_BINS;
    return pass == 1 ? q->hi : q->lo[0];
}

void qt_stream_result(const qt_stream *q, double *out)
{
    for (size_t u = 0; u < q->K; u++)
        out[u] = q->rank[1] == q->rank[0] ? (double)key2f(q->key[0][u])
                                          : qt_lerp(key2f(q->key[0][u]), key2f(q->key[1][u]), q->t);
}

void qt_minmax(const float *v, size_t n, float *lo, float *hi)
{
    float a = *lo, b = *hi;
    size_t p = 0;
#if defined(__SSE__)
    __m128 va = _mm_set1_ps(a), vb = _mm_set1_ps(b);
    for (; p + 4 <= n; p += 4) {
        __m128 x = _mm_loadu_ps(v + p);
        va = _mm_min_ps(va, x), vb = _mm_max_ps(vb, x);
    }
    float ta[4], tb[4];
    _mm_storeu_ps(ta, va), _mm_storeu_ps(tb, vb);
    for (int k = 0; k < 4; k++)
        a = ta[k] < a ? ta[k] : a, b = tb[k] > b ? tb[k] : b;
#endif
    for (; p < n; p++)
        a = v[p] < a ? v[p] : a, b = v[p] > b ? v[p] : b;
    *lo = a, *hi = b;
}
